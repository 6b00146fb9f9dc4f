"""Does the mask's edge move the estimate? The estimate (real map) or its error (simulated cases)
against each voxel's depth inside the mask.

For EMD-3488 (example map and mask) and each model, the median of (estimate − the map's median) in
shells of depth 0–1.5, 1.5–3, 3–4.5, 4.5–6, 6–9 and > 9 Å from the mask's edge; for the first N
held-out cases of a range, the median of (estimate − truth) in the same shells. A model that the
mask's edge fools shows a shell-0 value apart from the deeper ones in the simulated cases too.
Last, for tight and for loose masks, the median over cases of the rim's offset: the outer shell's
value minus the mean of the deeper shells'.
Run from the repository root (about 2 s per case on 2 cores)::

    .venv/bin/python scripts/estimate_by_depth.py [--range low|high] [--cases N] [--no-real]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from scipy import ndimage

import deepres
from deepres.benchmark import load_cases, simulate, structures_dir
from deepres.mrc import read_volume

ROOT = Path(__file__).resolve().parent.parent
SHELLS_A = (0.0, 1.5, 3.0, 4.5, 6.0, 9.0, np.inf)
MIN_VOXELS = 50


def by_depth(mask: np.ndarray, values: np.ndarray, voxel_size_A: float) -> list[float | None]:
    """Median of ``values`` in each shell of depth (Å from the outside) of ``mask``; None where a
    shell holds fewer than MIN_VOXELS voxels."""
    depth = ndimage.distance_transform_edt(mask) * voxel_size_A
    out = []
    for lo, hi in zip(SHELLS_A[:-1], SHELLS_A[1:]):
        sel = mask & (depth > lo) & (depth <= hi)
        out.append(float(np.median(values[sel])) if sel.sum() >= MIN_VOXELS else None)
    return out


def rim_offset(values: list[float | None]) -> float | None:
    """The outer shell's value minus the mean of the deeper shells' (None without both)."""
    deeper = [v for v in values[1:] if v is not None]
    return None if values[0] is None or not deeper else values[0] - float(np.mean(deeper))


def row(name: str, values: list[float | None]) -> str:
    return f"| {name} | " + " | ".join("–" if v is None else f"{v:+.2f}" for v in values) + " |"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--range", default="high", choices=("low", "high"), help="range of the simulated cases")
    p.add_argument("--cases", type=int, default=24, help="the first N held-out cases of the range")
    p.add_argument("--no-real", action="store_true", help="skip EMD-3488")
    a = p.parse_args(argv)
    shells = [f"{lo:g}–{hi:g} Å" for lo, hi in zip(SHELLS_A[:-1], SHELLS_A[1:])]
    print("| map | " + " | ".join(shells) + " |")
    print("|---|" + "---|" * len(shells))
    if not a.no_real:
        vol = read_volume(ROOT / "examples/emd_3488/emd_3488.mrc")
        m = read_volume(ROOT / "examples/emd_3488/emd_3488_mask.mrc").data > 0.5
        for rng in ("low", "high"):
            r = deepres.estimate(vol.data, m.astype(np.float32), voxel_size_A=vol.voxel_size_A, range=rng,
                                 origin_A=vol.origin_A).resolution.data
            print(row(f"EMD-3488, {rng} model: estimate − median ({np.median(r[m]):.2f} Å)",
                      by_depth(m, r - np.median(r[m]), vol.voxel_size_A)), flush=True)
    offsets: dict[str, list[float]] = {}
    for case in load_cases(a.range)[: a.cases]:
        sc = simulate(case, structures_dir())
        m = sc.mask.data > 0.5
        r = deepres.estimate(sc.map.data, sc.mask.data, voxel_size_A=sc.map.voxel_size_A, range=a.range,
                             origin_A=sc.map.origin_A).resolution.data
        mp = sc.params["mask"]
        values = by_depth(m, r - sc.truth.data, sc.map.voxel_size_A)
        print(row(f"{case.id} ({mp['style']}, dilated {mp['dilation_A']:.1f} Å): estimate − truth", values), flush=True)
        offset = rim_offset(values)
        if offset is not None:
            offsets.setdefault(mp["style"], []).append(offset)
    if offsets:
        print("\nRim offset (outer shell − mean of the deeper shells, median over cases): " + "; ".join(
            f"{style} masks {np.median(v):+.3f} Å ({len(v)} cases)" for style, v in sorted(offsets.items())))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
