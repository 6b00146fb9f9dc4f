"""Linear probe: do some feature channels say anything about a model's errors?

For the validation maps of a data folder, the model's log-error (log estimate - log truth) at up
to 3000 mask voxels per map is regressed (ridge) on feature channels, fitted on the even maps and
scored (R^2) on the odd ones (``--constant``: the errors of each map's true median instead, a
positive control: the features explain those), three ways: within maps (each map's means removed: spatial
information), between maps (per-map means: the map's overall level), and within maps with each
probed channel times the log-share of its band (the channel may matter only where its band holds
energy). R^2 near or below zero: the channels carry nothing about the errors that a linear read
can find. Used for the band-sparsity pilot (docs/training-history.md, "Pilot: band sparsity").

    python scripts/probe_residual.py high data_cache/high_sparse600_s10 runs/high_v16.pt 18:30
"""

from __future__ import annotations

import argparse

import numpy as np
import torch

from deepres.model import load_model
from deepres.samples import as_read_by, made_with
from deepres.shards import load_shards
from deepres.train import validation_predictions


def ridge_r2(x_fit, y_fit, x_test, y_test, lam):
    coef = np.linalg.solve(x_fit.T @ x_fit + lam * np.eye(x_fit.shape[1]), x_fit.T @ y_fit)
    return 1.0 - float(np.var(y_test - x_test @ coef) / np.var(y_test))


def mlp_test_mae(inputs, log_est, log_truth, fit, seed=0, steps=3000):
    """Test MAE (Å) of a small per-voxel network that predicts the log-truth from the log-estimate
    and ``inputs`` (fitted on ``fit``, L1 loss on the log, standardised inputs)."""
    torch.manual_seed(seed)
    z = np.c_[log_est, inputs].astype(np.float32)
    mu, sd = z[fit].mean(0), z[fit].std(0) + 1e-6
    z = torch.from_numpy((z - mu) / sd)
    t = torch.from_numpy((log_truth - log_est).astype(np.float32))  # the correction
    net = torch.nn.Sequential(torch.nn.Linear(z.shape[1], 64), torch.nn.ReLU(), torch.nn.Linear(64, 64),
                              torch.nn.ReLU(), torch.nn.Linear(64, 1))
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    idx_fit = torch.from_numpy(np.flatnonzero(fit))
    gen = torch.Generator().manual_seed(seed)
    for _ in range(steps):
        b = idx_fit[torch.randint(len(idx_fit), (2048,), generator=gen)]
        loss = (net(z[b])[:, 0] - t[b]).abs().mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        corr = net(z[~fit])[:, 0].numpy()
    return float(np.mean(np.abs(np.exp(log_est[~fit] + corr) - np.exp(log_truth[~fit]))))


def demean(a, groups):
    out = a.copy()
    for i in np.unique(groups):
        m = groups == i
        out[m] -= out[m].mean(0)
    return out


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("range")
    ap.add_argument("data_dir")
    ap.add_argument("model")
    ap.add_argument("channels", help="the probed channels of the stored samples, START:STOP")
    ap.add_argument("--features-from", default=None, metavar="DIR",
                    help="probe the channels of the samples in DIR instead: the same maps (same --data-seed and "
                         "simulation options) made with another front end, e.g. --n-train 0 --n-val 96 "
                         "--smooth-wavelengths 0.25 (checked by seed)")
    ap.add_argument("--mlp", action="store_true",
                    help="also a non-linear probe: a small per-voxel network that corrects the model's log-estimate "
                         "from the probed channels, against one that sees the estimate alone (test MAE in A)")
    ap.add_argument("--fit-train-maps", type=int, default=None, metavar="N",
                    help="fit the probes on the first N training maps of the folder(s) instead of the even "
                         "validation maps, and score them on all validation maps (maps the model never saw)")
    ap.add_argument("--constant", action="store_true",
                    help="positive control: probe the errors of a constant estimate (each map's true median) "
                         "instead of the model's, which the features do explain")
    args = ap.parse_args()
    torch.set_num_threads(2)
    lm = load_model(args.range, path=args.model)

    def collect(split: str, max_maps: int | None, group0: int, seed: int):
        """Probed channels, log-errors, log-estimates and map ids at up to 3000 voxels per map."""
        samples = load_shards(args.data_dir, split)[:max_maps]
        mine = as_read_by(lm.features, samples, [args.data_dir])
        preds, labs = validation_predictions(lm.net, mine, lm.net.radius, lm.features, per_map=True)
        if args.constant:
            preds = [np.full_like(t, np.median(t)) for t in labs]
        probe_samples = samples
        if args.features_from:
            probe_samples = load_shards(args.features_from, split)[:max_maps]
            if [s["seed"] for s in probe_samples] != [s["seed"] for s in samples] or not all(
                    np.array_equal(a["weight"], b["weight"]) for a, b in zip(probe_samples, samples)):
                raise SystemExit(f"{args.features_from} does not hold the same maps as {args.data_dir}")
        rng = np.random.default_rng(seed)
        xs, ys, gs, es = [], [], [], []
        for i, (s, p, t) in enumerate(zip(probe_samples, preds, labs)):
            f = np.asarray(s["features"])[:, np.asarray(s["weight"], dtype=bool)].astype(np.float32).T
            idx = np.flatnonzero(np.isfinite(f).all(1) & np.isfinite(p))  # (a map with NaN features: see
            # docs/models.md, "Architecture": the energies now clamped at zero; its stored samples still hold them)
            idx = rng.choice(idx, min(3000, idx.size), replace=False)
            xs.append(f[idx])
            ys.append(np.log(p[idx]) - np.log(t[idx]))
            es.append(np.log(p[idx]))
            gs.append(np.full(idx.size, group0 + i))
        return (np.concatenate(xs), np.concatenate(ys), np.concatenate(es), np.concatenate(gs),
                made_with(probe_samples[0])["n_bands"], len(samples))

    x, y, log_est, g, n_b, n_val = collect("val", None, 0, 0)
    if args.fit_train_maps:
        xf, yf, ef, gf, _, n_fit = collect("train", args.fit_train_maps, 10**6, 1)
        fit = np.r_[np.ones(len(yf), bool), np.zeros(len(y), bool)]
        x, y, log_est, g = np.r_[xf, x], np.r_[yf, y], np.r_[ef, log_est], np.r_[gf, g]
        how = f"fitted on {n_fit} training maps, scored on {n_val} validation maps"
    else:
        fit = g % 2 == 0
        how = f"fitted on the even and scored on the odd of {n_val} validation maps"
    lo, hi = (int(v) for v in args.channels.split(":"))
    probed = list(range(lo, hi))
    usual = list(range(n_b + 2))  # the probed folder's log-shares, total energy and mask fraction
    xd, yd = demean(x, g), demean(y, g)
    who = "constant (true median)" if args.constant else lm.model_id
    print(f"{who} on {args.data_dir}, {how}; {len(y)} voxels; log-error std {y[~fit].std():.3f}, within maps "
          f"{yd[~fit].std():.3f}")
    maps = np.unique(g)
    fit_maps = np.isin(maps, np.unique(g[fit]))
    ym = np.array([y[g == i].mean() for i in maps])
    for name, cols in (("usual channels", usual), (f"channels {lo}:{hi}", probed)):
        if name == "usual channels" and args.features_from:
            name = f"{args.features_from}'s usual channels"
        r_w = ridge_r2(xd[fit][:, cols], yd[fit], xd[~fit][:, cols], yd[~fit], 1e-3 * fit.sum())
        xm = np.array([np.r_[1.0, x[g == i][:, cols].mean(0)] for i in maps])
        r_b = ridge_r2(xm[fit_maps], ym[fit_maps], xm[~fit_maps], ym[~fit_maps], 0.1)
        print(f"  {name:18s} R^2 within maps {r_w:+.4f}, between maps {r_b:+.3f}")
    if len(probed) <= n_b and lo >= n_b + 2:  # sparsity-like channels of the finest bands
        share = x[:, n_b - len(probed): n_b]
        z = np.c_[xd[:, probed], demean(x[:, probed] * share, g)]
        r_i = ridge_r2(z[fit], yd[fit], z[~fit], yd[~fit], 1e-3 * fit.sum())
        print(f"  channels {lo}:{hi} and their products with their bands' log-shares: R^2 within maps {r_i:+.4f}")
    if args.mlp:
        log_truth = log_est - y
        raw = float(np.mean(np.abs(np.exp(log_est[~fit]) - np.exp(log_truth[~fit]))))
        alone = mlp_test_mae(np.zeros((len(y), 0)), log_est, log_truth, fit)
        with_usual = mlp_test_mae(x[:, usual], log_est, log_truth, fit)
        with_probed = mlp_test_mae(x[:, sorted(set(usual) | set(probed))], log_est, log_truth, fit)
        print(f"  per-voxel network, test MAE (A): estimate as it is {raw:.4f}; corrected from the estimate alone "
              f"{alone:.4f}, with the usual channels {with_usual:.4f}, with those and channels {lo}:{hi} "
              f"{with_probed:.4f}")
