"""Linear probe: do some feature channels say anything about a model's errors?

For the validation maps of a data folder, the model's log-error (log estimate - log truth) at up
to 3000 mask voxels per map is regressed (ridge) on feature channels, fitted on the even maps and
scored (R^2) on the odd ones (``--constant``: the errors of each map's true median instead, a
positive control: the features explain those), three ways: within maps (each map's means removed: spatial
information), between maps (per-map means: the map's overall level), and within maps with each
probed channel times the log-share of its band (the channel may matter only where its band holds
energy). R^2 near or below zero: the channels carry nothing about the errors that a linear read
can find. Used for the band-sparsity pilot (docs/models.md, "Pilot: band sparsity").

    python scripts/probe_residual.py high data_cache/high_sparse600_s10 runs/high_v16.pt 18:30
"""

from __future__ import annotations

import argparse

import numpy as np
import torch

from deepres.model import load_model
from deepres.train import channels_read, load_shards, made_with, validation_predictions


def ridge_r2(x_fit, y_fit, x_test, y_test, lam):
    coef = np.linalg.solve(x_fit.T @ x_fit + lam * np.eye(x_fit.shape[1]), x_fit.T @ y_fit)
    return 1.0 - float(np.var(y_test - x_test @ coef) / np.var(y_test))


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
    ap.add_argument("--constant", action="store_true",
                    help="positive control: probe the errors of a constant estimate (each map's true median) "
                         "instead of the model's, which the features do explain")
    args = ap.parse_args()
    torch.set_num_threads(2)
    lm = load_model(args.range, path=args.model)
    samples = load_shards(args.data_dir, "val")
    mine = [{**s, "features": s["features"][: channels_read(lm.features, made_with(s), s["features"].shape[0],
                                                              [args.data_dir])]} for s in samples]
    preds, labs = validation_predictions(lm.net, mine, lm.net.radius, lm.features, per_map=True)
    if args.constant:
        preds = [np.full_like(t, np.median(t)) for t in labs]
    probe_samples = samples
    if args.features_from:
        probe_samples = load_shards(args.features_from, "val")
        if [s["seed"] for s in probe_samples] != [s["seed"] for s in samples] or not all(
                np.array_equal(a["weight"], b["weight"]) for a, b in zip(probe_samples, samples)):
            raise SystemExit(f"{args.features_from} does not hold the same maps as {args.data_dir}")
    rng = np.random.default_rng(0)
    xs, ys, gs = [], [], []
    for i, (s, p, t) in enumerate(zip(probe_samples, preds, labs)):
        f = np.asarray(s["features"])[:, np.asarray(s["weight"], dtype=bool)].astype(np.float32).T
        idx = np.flatnonzero(np.isfinite(f).all(1))
        idx = rng.choice(idx, min(3000, idx.size), replace=False)
        xs.append(f[idx])
        ys.append(np.log(p[idx]) - np.log(t[idx]))
        gs.append(np.full(idx.size, i))
    x, y, g = np.concatenate(xs), np.concatenate(ys), np.concatenate(gs)
    lo, hi = (int(v) for v in args.channels.split(":"))
    probed = list(range(lo, hi))
    n_b = made_with(probe_samples[0])["n_bands"]
    usual = list(range(n_b + 2))  # the probed folder's log-shares, total energy and mask fraction
    fit = g % 2 == 0
    xd, yd = demean(x, g), demean(y, g)
    print(f"{'constant (true median)' if args.constant else lm.model_id} on {len(samples)} validation maps of {args.data_dir}, {len(y)} voxels; log-error std "
          f"{y.std():.3f}, within maps {yd.std():.3f}")
    for name, cols in (("usual channels", usual), (f"channels {lo}:{hi}", probed)):
        if name == "usual channels" and args.features_from:
            name = f"{args.features_from}'s usual channels"
        r_w = ridge_r2(xd[fit][:, cols], yd[fit], xd[~fit][:, cols], yd[~fit], 1e-3 * fit.sum())
        maps = np.unique(g)
        ym = np.array([y[g == i].mean() for i in maps])
        xm = np.array([np.r_[1.0, x[g == i][:, cols].mean(0)] for i in maps])
        r_b = ridge_r2(xm[maps % 2 == 0], ym[maps % 2 == 0], xm[maps % 2 == 1], ym[maps % 2 == 1], 0.1)
        print(f"  {name:18s} R^2 within maps {r_w:+.4f}, between maps {r_b:+.3f}")
    share = x[:, n_b - len(probed): n_b] if len(probed) <= n_b and lo >= n_b + 2 else None
    if share is not None:  # sparsity-like channels of the finest bands
        z = np.c_[xd[:, probed], demean(x[:, probed] * share, g)]
        r_i = ridge_r2(z[fit], yd[fit], z[~fit], yd[~fit], 1e-3 * fit.sum())
        print(f"  channels {lo}:{hi} and their products with their bands' log-shares: R^2 within maps {r_i:+.4f}")
