"""Score model files on the fixed validation shards of a training data folder, alone and as a
geometric-mean ensemble (how the shipped model of a range is chosen; see docs/models.md, "How a file is chosen").

Usage: python scripts/eval_val.py RANGE DATA_DIR[,DATA_DIR ...] A.pt [B.pt ...]
       [--split train] [--max-maps N] [--by-noise] [--by-post-b] [--by-finest]
(several folders joined by commas: their validation samples together, as `deepres train --more-data` joins them;
--split train scores training samples instead, e.g. maps a model has trained on against maps it has not;
--max-maps N keeps the first N samples of each folder;
--by-noise also scores the maps of each noise spectrum at SNR < 3 and >= 3 apart;
--by-post-b also scores apart the maps with and without a B applied after the noise (sharpened, blurred),
each by input voxel size up to 0.9 Å (the held-out cases' range) and above;
--by-finest also scores apart the maps by their finest true resolution, high range 1.5-2.2 / 2.2-3 / 3+ Å,
low range 2.5-4 / 4-6 / 6+ Å)
e.g.   python scripts/eval_val.py low data_cache/low src/deepres/models/low.pt runs/low_v4.pt

Prints, for each model and for the ensemble of all of them, the validation MAE, bias and Pearson r
in Å over every mask voxel of the validation samples (the same numbers `deepres train` logs), and the
mean per-map Pearson r (maps whose truth spans at least 0.1 Å, as the benchmark's per-case r).
"""

import argparse
import json

import numpy as np
import torch

from deepres.model import load_model
from deepres.samples import as_read_by
from deepres.shards import load_shards
from deepres.train import map_set_scores, validation_predictions


def scores(preds, labs):
    v = map_set_scores(preds, labs)
    return (f"MAE {v['mae_A']:.3f} A  bias {v['bias_A']:+.3f} A  r {v['pearson']:.3f}  "
            f"r per map {v['pearson_per_map']:.3f} ({v['n_maps_varying']} maps)")


def noise_groups(samples) -> dict[str, list[int]]:
    """Indices of the samples by noise spectrum and SNR (< 3, >= 3), from their simulation parameters."""
    groups: dict[str, list[int]] = {}
    for i, s in enumerate(samples):
        par = json.loads(s["params"])
        groups.setdefault(f"{par['noise_spectrum']}, SNR {'< 3' if par['snr'] < 3 else '>= 3'}", []).append(i)
    return dict(sorted(groups.items()))


def post_b_groups(samples) -> dict[str, list[int]]:
    """Indices of the samples by the B applied after the noise (none, < 0, > 0) and input voxel size."""
    groups: dict[str, list[int]] = {}
    for i, s in enumerate(samples):
        par = json.loads(s["params"])
        b = par.get("post_b_A2")
        kind = "no post B" if not b else ("post B < 0" if b < 0 else "post B > 0")
        vox = par.get("input_voxel_size_A") or par["voxel_size_A"]
        groups.setdefault(f"{kind}, {'<=' if vox <= 0.9 else '> '} 0.9 A/vox", []).append(i)
    return dict(sorted(groups.items()))


FINEST_EDGES_A = {"high": (2.2, 3.0), "low": (4.0, 6.0)}


def finest_groups(truth, range_name: str) -> dict[str, list[int]]:
    """Indices of the maps by their finest true resolution (the smallest label over the mask), in three bins."""
    a, b = FINEST_EDGES_A[range_name]
    names = [f"finest < {a} A", f"finest {a}-{b} A", f"finest >= {b} A"]
    groups: dict[str, list[int]] = {n: [] for n in names}
    for i, t in enumerate(truth):
        if len(t) == 0:  # no voxel scored in this map
            continue
        f = float(np.min(t))
        groups[names[0] if f < a else (names[1] if f < b else names[2])].append(i)
    return {n: g for n, g in groups.items() if g}


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("range")
    ap.add_argument("data_dir", help="folder, or folders joined by commas")
    ap.add_argument("paths", nargs="+", metavar="MODEL.pt")
    ap.add_argument("--split", choices=["val", "train"], default="val")
    ap.add_argument("--max-maps", type=int, default=None, help="the first N samples of each folder")
    ap.add_argument("--by-noise", action="store_true", help="also score each noise spectrum at SNR < 3 and >= 3")
    ap.add_argument("--by-post-b", action="store_true",
                    help="also score the maps with no post-hoc B, sharpened and blurred apart, by input voxel size")
    ap.add_argument("--by-finest", action="store_true", help="also score the maps apart by their finest true resolution")
    args = ap.parse_args()
    torch.set_num_threads(2)
    paths = args.paths
    samples = [s for d in args.data_dir.split(",") for s in load_shards(d, args.split)[: args.max_maps]]
    logs = []
    for path in paths:
        lm = load_model(args.range, path)
        mine = as_read_by(lm.features, samples, [args.data_dir])  # refused where it cannot read them
        p, truth = validation_predictions(lm.net, mine, lm.net.radius, lm.features, per_map=True)
        logs.append([np.log(a) for a in p])
        print(f"{lm.model_id:24s} {path}: {scores(p, truth)}")
        groupings = ([noise_groups(samples)] if args.by_noise else []) + ([post_b_groups(samples)] if args.by_post_b else [])
        groupings += [finest_groups(truth, args.range)] if args.by_finest else []
        for groups in groupings:
            for name, group in groups.items():
                print(f"    {name:26s} {len(group):3d} maps: {scores([p[i] for i in group], [truth[i] for i in group])}")
    if len(paths) > 1:
        ens = [np.exp(np.mean([lg[i] for lg in logs], axis=0)) for i in range(len(truth))]
        print(f"{'geometric-mean ensemble':24s}: {scores(ens, truth)}")
