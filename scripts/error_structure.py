"""How the held-out error splits: each map's level against the detail within it, what a
calibration of the output could gain, and the error by the true resolution.

For the cases of one or more case files, the model's estimate and the truth at up to 20,000 mask
voxels per case (a fixed random subset), then:

- MAE as the benchmark scores it (the mean over cases of each case's MAE);
- the same after an *oracle* correction of each map: shifting the estimate by the map's own median
  error (what a perfect per-map level would give), or fitting log truth on log estimate per map
  (a perfect per-map level and contrast);
- a global contrast change around each map's median, log e' = m + k (log e − m), for several k
  (k > 1 stretches): what a calibration that needs no truth could gain;
- within each map, the slope of log truth on log estimate (1: the estimate's contrast is right);
- MAE and bias (estimate − truth) by the true resolution, and by the estimate, pooled over the
  voxels: a bias by the truth that vanishes by the estimate is what an estimate that is right on
  average for what it says (the conditional median an L1 loss aims at) shows where the map leaves
  the answer uncertain, a pull toward the middle of the range that no calibration removes.

Run from the repository root (about 6 s per high case, 2 s per low case on 2 cores)::

    .venv/bin/python scripts/error_structure.py low|high [CASE_FILE ...] [--model-file PATH]

With no case file, the usual cases of the range.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

import deepres
from deepres.benchmark_cases import load_cases, simulate, structures_dir
from deepres.model import load_model

MAX_VOXELS = 20000
STRETCHES = (0.8, 0.9, 1.0, 1.1, 1.2)
BINS_A = {"low": (2.5, 4.0, 6.0, 8.0, 10.0, 12.0, 13.0), "high": (1.5, 2.5, 3.0, 3.5, 4.0, 5.0, 6.0)}


def collect(range_name: str, case_files: list[str | None], model) -> list[tuple[str, np.ndarray, np.ndarray]]:
    out = []
    for cf in case_files:
        for case in load_cases(range_name, cf):
            sc = simulate(case, structures_dir())
            m = sc.mask.data > 0.5
            est = deepres.estimate(sc.map, sc.mask.data, range=range_name, model=model).resolution.data
            idx = np.flatnonzero(m.ravel())
            if idx.size > MAX_VOXELS:
                idx = np.sort(np.random.default_rng(0).choice(idx, MAX_VOXELS, replace=False))
            out.append((case.id, est.ravel()[idx].astype(np.float64), sc.truth.data.ravel()[idx].astype(np.float64)))
            print(f"  {case.id}: MAE {np.mean(np.abs(out[-1][1] - out[-1][2])):.3f} Å", flush=True)
    return out


def summarise(rows, range_name: str) -> list[str]:
    lines = []
    mae = np.mean([np.mean(np.abs(e - t)) for _, e, t in rows])
    shift = np.mean([np.mean(np.abs(e + np.median(t - e) - t)) for _, e, t in rows])
    affine, slopes = [], []
    for _, e, t in rows:
        le, lt = np.log(e), np.log(t)
        if np.std(le) > 1e-6:
            a = np.vstack([le, np.ones_like(le)]).T
            affine.append(np.mean(np.abs(np.exp(a @ np.linalg.lstsq(a, lt, rcond=None)[0]) - t)))
            if np.std(lt) > 0.02:
                slopes.append(np.cov(le, lt)[0, 1] / np.var(le))
        else:
            affine.append(np.mean(np.abs(np.median(t) - t)))
    lines.append(f"{len(rows)} cases. MAE {mae:.4f} Å; with each map's median error removed (oracle) {shift:.4f}; "
                 f"with log truth fitted on log estimate per map (oracle) {np.mean(affine):.4f}")
    lines.append(f"within-map slope of log truth on log estimate ({len(slopes)} maps whose truth varies): "
                 f"median {np.median(slopes):.2f}, mean {np.mean(slopes):.2f}")
    lines.append("")
    lines.append("| contrast k around each map's median | " + " | ".join(f"{k:g}" for k in STRETCHES) + " |")
    lines.append("|---|" + "---|" * len(STRETCHES))
    vals = []
    for k in STRETCHES:
        per = []
        for _, e, t in rows:
            c = np.median(np.log(e))
            per.append(np.mean(np.abs(np.exp(c + k * (np.log(e) - c)) - t)))
        vals.append(np.mean(per))
    lines.append("| MAE (Å) | " + " | ".join(f"{v:.4f}" for v in vals) + " |")
    lines.append("")
    e_all = np.concatenate([e for _, e, _ in rows])
    t_all = np.concatenate([t for _, _, t in rows])
    lines.append("| true resolution (Å) | voxels | share | MAE (Å) | bias (Å) |")
    lines.append("|---|---|---|---|---|")
    b = BINS_A[range_name]
    for lo, hi in zip(b[:-1], b[1:]):
        s = (t_all >= lo) & ((t_all < hi) if hi < b[-1] else (t_all <= hi + 1e-3))
        if s.any():
            lines.append(f"| {lo:g}–{hi:g} | {s.sum()} | {s.mean():.2f} | {np.mean(np.abs(e_all[s] - t_all[s])):.2f} | "
                         f"{np.mean(e_all[s] - t_all[s]):+.2f} |")
    lines.append("")
    lines.append("| estimate (Å) | voxels | share | MAE (Å) | bias (Å) | median bias (Å) |")
    lines.append("|---|---|---|---|---|---|")
    edges = (0.0,) + b[1:-1] + (np.inf,)
    for lo, hi in zip(edges[:-1], edges[1:]):
        s = (e_all >= lo) & (e_all < hi)
        if s.any():
            d = e_all[s] - t_all[s]
            name = f"< {hi:g}" if lo == 0 else (f"≥ {lo:g}" if hi == np.inf else f"{lo:g}–{hi:g}")
            lines.append(f"| {name} | {s.sum()} | {s.mean():.2f} | {np.mean(np.abs(d)):.2f} | {np.mean(d):+.2f} | "
                         f"{np.median(d):+.2f} |")
    return lines


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("range", choices=("low", "high"))
    p.add_argument("case_files", nargs="*", help="case files (default: the usual cases of the range)")
    p.add_argument("--model-file", default=None, help="model file (default: the shipped one)")
    a = p.parse_args(argv)
    model = load_model(a.range, a.model_file)
    files = a.case_files or [None]
    print(f"range {a.range}, model {model.model_id}, cases: {', '.join(f or 'usual' for f in files)}")
    t0 = time.perf_counter()
    rows = collect(a.range, files, model)
    print(f"({time.perf_counter() - t0:.0f} s)\n")
    print("\n".join(summarise(rows, a.range)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
