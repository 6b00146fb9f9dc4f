"""Pilot: would a whole-map noise spectrum help the single-map model?

The single-map models cannot tell noise from fine detail where the two are equally strong; the
half-map models can, and on the held-out cases they are 0.06 Å better (high range). Most of what
the half maps add may be global: how much of each band of the map is noise. A single map carries
that too, in its solvent (outside the mask), which the pipeline now discards. Before building a
solvent feature, this pilot measures what such a number could be worth, with a stand-in that the
stored half-map samples already hold: for each of the 16 bands, the mean over the mask of the
band's local half-map correlation (a global per-band FSC).

Two arms, identical but for that context: a single-map network whose whole-map context grows from
32 to 48 values (the 16 new ones start with zero weights, so both arms start as the given model),
fine-tuned with the same seed, crops and schedule; the control arm is given zeros in place of the
16 values. Both are scored on the validation maps of each data folder given (MAE, bias, Pearson r
over the mask voxels, mean per-map r), before and after.

Usage (one thread per arm; the two arms can run side by side):
  python scripts/pilot_global_noise.py --init src/deepres/models/high.pt --arm fsc \
      --data-dir data_cache/high_halves_coarse1200 --val-dir data_cache/high_halves_2000 \
      --steps 1000 --lr 3e-4 --seed 21 --output runs/pilot_noise_fsc.json
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from dataclasses import replace

import numpy as np
import torch
import torch.nn.functional as F

from deepres.model import load_model
from deepres.network import DeepResNet
from deepres.shards import load_shards
from deepres.train import _crop_batch, map_set_scores, sample_context


def global_fsc(sample: dict, n_bands: int) -> np.ndarray:
    """Mean over the mask of each band's local half-map correlation (channels after the
    single-map ones); over the whole sample when no voxel is in the mask, as
    :func:`deepres.features.feature_context` does."""
    c = sample["features"][n_bands + 2 : 2 * n_bands + 2]
    w = sample["weight"]
    c = c[:, w] if w.any() else c.reshape(n_bands, -1)
    return c.astype(np.float32).mean(axis=1)


def prepare(samples: list[dict], lm, arm: str) -> list[dict]:
    """Samples cut to the single-map channels, each with its 48-value context."""
    k = lm.features.n_bands
    out = []
    for s in samples:
        if s["features"].shape[0] < 2 * k + 2:
            raise SystemExit("these samples have no half-map channels: use a folder made with --half-maps")
        extra = global_fsc(s, k) if arm == "fsc" else np.zeros(k, np.float32)
        single = {**s, "features": s["features"][: lm.features.n_channels]}
        ctx = torch.cat([sample_context(single, lm.features), torch.from_numpy(extra)])
        out.append({**single, "context": ctx})
    return out


@torch.no_grad()
def score(net, samples: list[dict]) -> dict:
    net.eval()
    R = net.radius
    preds, labs = [], []
    for s in samples:
        f = torch.from_numpy(s["features"].astype(np.float32))
        p = net(F.pad(f[None], (R,) * 6, mode="replicate"), s["context"][None])[0, 0].numpy()
        preds.append(p[s["weight"]])
        labs.append(s["label"][s["weight"]])
    net.train()
    v = map_set_scores(preds, labs)
    return {k: v[k] for k in ("mae_A", "bias_A", "pearson", "pearson_per_map")}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--init", required=True, help="single-map model file to start from")
    p.add_argument("--range", default="high")
    p.add_argument("--arm", choices=("fsc", "zeros"), required=True)
    p.add_argument("--data-dir", required=True, help="half-map samples to train on (and validate on)")
    p.add_argument("--val-dir", nargs="*", default=[], help="more folders whose validation maps are scored")
    p.add_argument("--steps", type=int, default=1000)
    p.add_argument("--lr", type=float, default=3e-4)
    p.add_argument("--seed", type=int, default=21)
    p.add_argument("--batch", type=int, default=4)
    p.add_argument("--crop", type=int, default=24)
    p.add_argument("--output", required=True, help="JSON record of the scores")
    a = p.parse_args(argv)

    torch.set_num_threads(1)
    torch.manual_seed(a.seed)
    lm = load_model(a.range, path=a.init)
    k = lm.features.n_bands
    net = DeepResNet(replace(lm.net.config, context_channels=lm.net.config.context_channels + k))
    state = lm.net.state_dict()
    state["ctx.weight"] = torch.cat([state["ctx.weight"], torch.zeros(state["ctx.weight"].shape[0], k)], 1)
    net.load_state_dict(state)

    train_s = prepare(load_shards(a.data_dir, "train"), lm, a.arm)
    vals = {d: prepare(load_shards(d, "val"), lm, a.arm) for d in [a.data_dir, *a.val_dir]}
    record = {"init": {"model_id": lm.model_id, "sha256": lm.sha256}, "arm": a.arm, "args": vars(a),
              "n_train": len(train_s), "before": {d: score(net, v) for d, v in vals.items()}}
    print(json.dumps(record["before"]), flush=True)

    net = net.to(memory_format=torch.channels_last_3d)
    contexts = [s["context"] for s in train_s]
    opt = torch.optim.AdamW(net.parameters(), lr=a.lr, weight_decay=1e-5)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=a.lr, total_steps=a.steps, pct_start=0.05)
    rng, t0, run_loss, skipped = random.Random(a.seed), time.time(), None, 0
    for step in range(1, a.steps + 1):
        idxs = [rng.randrange(len(train_s)) for _ in range(a.batch)]
        x, y, w, ctx = _crop_batch(train_s, idxs, a.crop, net.radius, rng, augment=True, contexts=contexts)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            pred = net(x.contiguous(memory_format=torch.channels_last_3d), ctx)
        loss = (torch.abs(pred.float() - y) * w).sum() / torch.clamp(w.sum(), min=1.0)
        opt.zero_grad()
        loss.backward()
        grad_norm = torch.nn.utils.clip_grad_norm_(net.parameters(), 1.0)
        if torch.isfinite(loss) and torch.isfinite(grad_norm):  # as deepres.train: skip a non-finite step
            opt.step()
            run_loss = loss.item() if run_loss is None else 0.98 * run_loss + 0.02 * loss.item()
        else:
            skipped += 1
        sched.step()
        if step % 100 == 0:
            print(f"step {step}/{a.steps} loss {run_loss:.3f} skipped {skipped} {time.time() - t0:.0f} s", flush=True)
    net = net.to(memory_format=torch.contiguous_format)
    record["after"] = {d: score(net, v) for d, v in vals.items()}
    record["train_seconds"] = time.time() - t0
    record["skipped_steps"] = skipped
    record["ctx_weight_norm_new"] = float(net.ctx.weight[:, -k:].detach().norm())
    print(json.dumps(record["after"]), flush=True)
    with open(a.output, "w") as fh:
        json.dump(record, fh, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
