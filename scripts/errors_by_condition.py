"""Where a model errs: its per-map MAE on simulated maps, grouped by how each map was simulated.

Reads the maps of a data folder (its validation maps, and with ``--train-maps N`` the first N of
its training maps: use a folder the model never trained on), runs the model on each, and prints
the mean per-map MAE and bias (Å) by SNR, noise spectrum, field kind, post-hoc B, effective B
(median atomic B + extra B + global B + post-hoc B), input voxel size and the truth's 10th
percentile (how fine its best regions are). Maps with non-finite stored features are skipped.

    python scripts/errors_by_condition.py high data_cache/high_sparse600_s10 runs/high_v16.pt --train-maps 200
"""

from __future__ import annotations

import argparse
import json

import numpy as np
import torch

from deepres.model import load_model
from deepres.samples import as_read_by
from deepres.shards import load_shards
from deepres.train import validation_predictions

GROUPS = {  # key: bin edges (None: each value its own group)
    "snr": [0, 1, 2, 5, 100],
    "noise": None,
    "field": None,
    "post_b_A2": [-61, -30, -1e-9, 1e-9, 41],
    "effective_b_A2": [-100, 0, 20, 40, 60, 300],
    "input_voxel_A": [0.0, 0.75, 1.0, 1.3, 2.0, 2.6],
    "truth_p10_A": [0, 2.5, 3.5, 4.5, 7, 14],
}


def describe(sample: dict, pred: np.ndarray, truth: np.ndarray) -> dict:
    q = json.loads(sample["params"])
    post_b = q.get("post_b_A2") or 0.0
    return {
        "mae": float(np.mean(np.abs(pred - truth))), "bias": float(np.mean(pred - truth)),
        "snr": q["snr"], "noise": q["noise_spectrum"], "field": q["field"]["kind"], "post_b_A2": post_b,
        "effective_b_A2": q["median_atom_b_A2"] + (q.get("extra_b_A2") or 0.0) + (q.get("global_b_A2") or 0.0) + post_b,
        "input_voxel_A": q.get("input_voxel_size_A", q["voxel_size_A"]), "truth_p10_A": float(np.percentile(truth, 10)),
    }


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("range")
    ap.add_argument("data_dir")
    ap.add_argument("model")
    ap.add_argument("--train-maps", type=int, default=0, metavar="N", help="also the first N training maps")
    args = ap.parse_args()
    torch.set_num_threads(2)
    lm = load_model(args.range, path=args.model)
    samples = load_shards(args.data_dir, "val") + (load_shards(args.data_dir, "train")[: args.train_maps]
                                                   if args.train_maps else [])
    mine = [s for s in as_read_by(lm.features, samples, [args.data_dir])
            if np.asarray(s["weight"]).any() and np.isfinite(np.asarray(s["features"])).all()]
    preds, truths = validation_predictions(lm.net, mine, lm.net.radius, lm.features, per_map=True)
    rows = [describe(s, p, t) for s, p, t in zip(mine, preds, truths)]
    mae = np.array([r["mae"] for r in rows])
    bias = np.array([r["bias"] for r in rows])
    print(f"{lm.model_id} on {len(rows)} maps of {args.data_dir}: mean per-map MAE {mae.mean():.3f} A, "
          f"bias {bias.mean():+.3f}")
    for key, edges in GROUPS.items():
        v = np.array([r[key] for r in rows])
        groups = ([(f"{u}", v == u) for u in sorted(set(v.tolist()))] if edges is None else
                  [(f"[{lo:g}, {hi:g})", (v >= lo) & (v < hi)) for lo, hi in zip(edges[:-1], edges[1:])])
        cells = [f"{name}: n={m.sum()} MAE {mae[m].mean():.3f} bias {bias[m].mean():+.3f}" for name, m in groups if m.any()]
        print(f"  {key}: " + "; ".join(cells))
