"""Does a model's error follow the atoms' own B-factors? Per-voxel error against the local atomic B.

The simulator imposes a resolution field that knows nothing of the atoms' B-factors: a region of
flexible atoms (high B, blurred density) can carry a label of 2 Å although its density holds little
beyond 4 Å, and the global B (drawn around the *median* atomic B) restores only the typical atom.
This script measures how much of a model's error that explains. For maps simulated from the
validation structures (never trained on) at the working sampling, as the training maps are (no
post-hoc B), it runs ``deepres.estimate`` and, at every mask voxel, compares the error (estimate −
truth, Å) with the local atomic B: the B-weighted mean of the atoms' density there (gemmi density
with occupancy = B over density with occupancy = 1, both with one blur), minus the map's median of
it. Prints MAE and bias by bins of that offset, and their rank correlation, per range.

    python scripts/errors_by_local_b.py high --maps 40 [--model runs/high_v16.pt]
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import gemmi
import numpy as np

import deepres
from deepres.model import load_model
from deepres.metrics import spearman
from deepres.simulate import simulate_case
from deepres.simulate.density import load_structure
from deepres.samples import split_structures

ROOT = Path(__file__).resolve().parent.parent
BINS = [-1e9, -20, -10, -5, 5, 10, 20, 40, 1e9]
KERNEL_B_A2 = 20.0  # one blur for the two weighting densities


def _with_occupancy(st: gemmi.Structure, by_b: bool) -> gemmi.Structure:
    out = st.clone()
    for m in out:
        for ch in m:
            for r in ch:
                for a in r:
                    a.occ = float(a.b_iso) if by_b else 1.0
                    a.b_iso = KERNEL_B_A2
                    a.aniso = gemmi.SMat33f(0, 0, 0, 0, 0, 0)
    return out


def local_b(st: gemmi.Structure, spec: str, seed: int) -> np.ndarray:
    """The B-weighted mean atomic B (Å²) at every voxel of the case ``simulate_case(st, spec, seed=seed)``
    (the same rotation, box and crop: they depend on the seed and the positions only)."""
    dens = []
    for by_b in (True, False):
        c = simulate_case(_with_occupancy(st, by_b), spec, seed=seed, noise="none", field_A=99.0)
        dens.append(c.density.data.astype(np.float64))
    w = dens[1]
    return np.where(w > 1e-3 * w.max(), dens[0] / np.maximum(w, 1e-30), np.nan)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("range", choices=["low", "high"])
    p.add_argument("--maps", type=int, default=40)
    p.add_argument("--model", default=None, help="model file (default: the shipped one)")
    p.add_argument("--structures", default=str(ROOT.parent / "shared/data/structures/bm5"))
    p.add_argument("--seed", type=int, default=500)
    a = p.parse_args(argv)
    model = load_model(a.range, path=a.model) if a.model else None
    _, val = split_structures(a.structures)
    val = sorted(val)
    errs, offs, rows = [], [], []
    t0 = time.time()
    for i in range(a.maps):
        path, seed = val[i % len(val)], a.seed + i
        st = load_structure(path)
        case = simulate_case(st, a.range, seed=seed)
        lb = local_b(st, a.range, seed)
        m = case.mask.data > 0.5
        res = deepres.estimate(case.map, case.mask.data, range=a.range, model=model)
        est, truth = res.resolution.data, case.truth.data
        ok = m & np.isfinite(lb) & (est > 0)
        off = lb[ok] - np.median(lb[ok])
        e = (est - truth)[ok]
        errs.append(e)
        offs.append(off)
        q = case.params
        rows.append((os.path.basename(path), seed, q["field"]["kind"], float(np.mean(np.abs(e))), float(np.mean(e)),
                     spearman(off, e), float(np.percentile(off, 90) - np.percentile(off, 10))))
        print(f"{rows[-1][0]:<20} seed {seed} {rows[-1][2]:<8} MAE {rows[-1][3]:.3f} bias {rows[-1][4]:+.3f} "
              f"rho(err, local B) {rows[-1][5]:+.2f}  local-B p10-p90 spread {rows[-1][6]:.0f} A^2  "
              f"{time.time() - t0:.0f} s", flush=True)
    e, off = np.concatenate(errs), np.concatenate(offs)
    print(f"\n{a.range}: {len(rows)} maps, {e.size} mask voxels; model "
          f"{(model or load_model(a.range)).model_id}")
    print(f"rank correlation of the error with the local-B offset: pooled {spearman(off, e):+.3f}, "
          f"mean per map {np.nanmean([r[5] for r in rows]):+.3f}")
    print("| local B − map median (Å²) | voxels | MAE (Å) | bias (Å) |")
    print("|---|---|---|---|")
    for lo, hi in zip(BINS[:-1], BINS[1:]):
        s = (off >= lo) & (off < hi)
        if s.any():
            lab = f"{lo:g} … {hi:g}".replace("-1e+09", "−∞").replace("1e+09", "∞")
            print(f"| {lab} | {s.mean():.1%} | {np.mean(np.abs(e[s])):.3f} | {np.mean(e[s]):+.3f} |")
    print(f"| all | 100% | {np.mean(np.abs(e)):.3f} | {np.mean(e):+.3f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
