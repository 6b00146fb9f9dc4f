"""Write the fixed accuracy-benchmark case lists ``src/deepres/data/benchmark_cases_{low,high}.json``.

Deterministic (seeded); rerunning it rewrites the same files. Run from the repository root::

    python benchmarks/make_cases.py

Design
------
- 24 cases per range, each on a different held-out bm5 structure (``heldout_structures.txt``),
  chosen to span small (~600 atoms) to large (~18,000 atoms) molecules; the two ranges use
  different draws.
- Input voxel size spread evenly over 0.8-1.6 Å (low) or 0.5-0.9 Å (high), shuffled.
- Field kinds cycle through uniform, smooth, domains, radial, mixed (about 5 of each).
- Noise spectra cycle white, coloured, lowpass with a log-uniform SNR per half map in
  [1, 20]; mask style alternates tight/loose. Everything else (rotation, B-factors, scale,
  offset, sub-box of large structures) is drawn by the simulator from the case seed.
- The order interleaves size terciles, so that any prefix (``--cases N``, ``--quick``) mixes
  small and large molecules, voxel sizes and field kinds.
- One extra ``invariance`` case per range: a uniform field (fixed value), so that the same
  structure simulated at two voxel sizes has the same truth.
- ``benchmark_cases_<range>_coarse.json``: the 24 cases again at coarser input sampling, high at its
  voxel size + 0.35 Å (0.85-1.25 Å, ids ``highc-NN``), low + 0.8 Å (1.6-2.4 Å, ``lowc-NN``): the high
  model works at 0.5 Å/voxel, and most maps of 1.5-6 Å come at 0.8-1.1 Å/voxel; low-resolution maps
  often come at 1.5-2.5 Å/voxel. Either way they hold nothing above their own Nyquist frequency. Run
  them with ``deepres benchmark --range high --cases-file
  high=src/deepres/data/benchmark_cases_high_coarse.json`` (and the same for low).
- ``benchmark_cases_<range>_draw2.json`` (added 2026-12-06): a second, independent draw of 21 cases per
  range (ids ``<range>2-NN``, seed + 1000) on the held-out structures that the first 24 cases of that
  range do not use (23 of 47; 7 per size tercile), made after the usual cases had been used to choose
  among several models in a row, to measure the chosen ones on cases that chose nothing.
- ``benchmark_cases_<range>_draw3.json`` (added 2026-12-07): a third draw of 30 cases per range (ids
  ``<range>3-NN``, seed + 2000) on all 47 held-out structures (10 per size tercile), made after the second
  draw had judged three high models in a row. Its structures overlap the other draws'; its seeds (field,
  noise, rotation, B-factors, voxel sizes) are new.
- ``benchmark_cases_<range>_draw4.json`` (added 2026-12-07, third session): a fourth draw made like the
  third (ids ``<range>4-NN``, seed + 3000), after the three draws had all judged the candidate low v13,
  to decide between it and v12 on cases neither has seen.
"""

from __future__ import annotations

import argparse
import gzip
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from deepres.benchmark import DEFAULT_STRUCTURES_DIR, heldout_structures  # noqa: E402

N_CASES = 24
#: Cases per range in the second draw (7 per size tercile of the 23 structures the first draw leaves).
N_CASES_DRAW2 = 21
#: Added to a range's seed for the second draw.
DRAW2_SEED_OFFSET = 1000
#: Cases per range in the third draw (10 per size tercile of all held-out structures) and its seed offset.
N_CASES_DRAW3 = 30
DRAW3_SEED_OFFSET = 2000
#: The fourth draw's seed offset (made like the third).
DRAW4_SEED_OFFSET = 3000
VOXELS = {"low": (0.8, 1.6), "high": (0.5, 0.9)}
KINDS = ("uniform", "smooth", "domains", "radial", "mixed")
NOISES = ("white", "coloured", "lowpass")
SNR = (1.0, 20.0)
SEEDS = {"low": 20261201, "high": 20261202}
#: Added to each case's voxel size for the coarse-input sets (Å).
COARSE_SHIFT_A = {"low": 0.8, "high": 0.35}
INVARIANCE = {
    "low": {"structure": "1WQ1_l_u.pdb.gz", "voxel_size_A": 1.0, "field_A": 6.0},
    "high": {"structure": "1NSN_l_u.pdb.gz", "voxel_size_A": 0.6, "field_A": 3.5},
}


def n_atoms(path: Path) -> int:
    """Number of ATOM/HETATM records (cheap; no gemmi needed)."""
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt") as fh:
        return sum(1 for line in fh if line.startswith(("ATOM", "HETATM")))


def make(range_name: str, structures: list[str], sizes: dict[str, int], *, n_cases: int = N_CASES,
         seed_offset: int = 0, id_prefix: str | None = None) -> dict:
    """``n_cases`` cases (a multiple of 3) on as many of ``structures``, ids ``<id_prefix>-NN``."""
    id_prefix = range_name if id_prefix is None else id_prefix
    rng = np.random.default_rng(SEEDS[range_name] + seed_offset)
    by_size = sorted(structures, key=lambda s: sizes[s])
    terciles = [list(t) for t in np.array_split(np.array(by_size, dtype=object), 3)]
    chosen: list[str] = []
    # 8 per tercile, drawn without replacement
    per = n_cases // 3
    picks = [list(rng.choice(t, size=per, replace=False)) for t in terciles]
    for i in range(per):
        for t in (0, 2, 1):  # small, large, medium, ...
            chosen.append(str(picks[t][i]))
    lo, hi = VOXELS[range_name]
    voxels = np.round(np.linspace(lo, hi, n_cases), 3)
    rng.shuffle(voxels)
    cases = []
    for i, s in enumerate(chosen):
        snr = float(np.exp(rng.uniform(np.log(SNR[0]), np.log(SNR[1]))))
        cases.append({
            "id": f"{id_prefix}-{i:02d}",
            "range": range_name,
            "structure": s,
            "n_atoms": sizes[s],
            "seed": int(rng.integers(1, 2**31 - 1)),
            "voxel_size_A": float(voxels[i]),
            "field_kind": KINDS[i % len(KINDS)],
            "options": {
                "noise": NOISES[i % len(NOISES)],
                "snr": round(snr, 3),
                "mask_style": "tight" if i % 2 == 0 else "loose",
            },
        })
    inv = INVARIANCE[range_name]
    invariance = {
        "id": f"{range_name}-inv",
        "range": range_name,
        "structure": inv["structure"],
        "n_atoms": sizes[inv["structure"]],
        "seed": SEEDS[range_name] + 7,
        "voxel_size_A": inv["voxel_size_A"],
        "field_kind": "uniform",
        "options": {"field_A": inv["field_A"], "noise": "white", "snr": 10.0, "mask_style": "tight"},
    }
    return {
        "format": "deepres-benchmark-cases/1",
        "range": range_name,
        "generated_by": "benchmarks/make_cases.py",
        "note": "held-out bm5 structures only; see docs/benchmark.md",
        "cases": cases,
        "invariance": invariance,
    }


def coarse(doc: dict, shift_A: float | None = None) -> dict:
    """The cases of ``doc`` at coarser input sampling (voxel size + ``shift_A``, default
    :data:`COARSE_SHIFT_A` of its range), ids ``<range>c-NN``."""
    shift_A = COARSE_SHIFT_A[doc["range"]] if shift_A is None else shift_A
    out = json.loads(json.dumps(doc))
    for c in out["cases"]:
        c["voxel_size_A"] = round(c["voxel_size_A"] + shift_A, 3)
        c["id"] = c["id"].replace(f"{doc['range']}-", f"{doc['range']}c-")
    out["note"] = doc["note"] + f"; the {doc['range']} cases at input voxel size + {shift_A} A (coarse inputs)"
    return out


def write(name: str, doc: dict, count: bool = False) -> None:
    """Write ``doc`` to ``src/deepres/data/<name>`` and say so (with its case and structure counts)."""
    out = ROOT / "src" / "deepres" / "data" / name
    out.write_text(json.dumps(doc, indent=1) + "\n")
    counts = f" ({len(doc['cases'])} cases, {len({c['structure'] for c in doc['cases']})} structures)" if count else ""
    print(f"wrote {out}{counts}")


def main() -> None:
    argparse.ArgumentParser(description=__doc__.split("\n")[0] + " Rewrites every case file; no options.").parse_args()
    structures = heldout_structures()
    root = Path(DEFAULT_STRUCTURES_DIR)
    sizes = {s: n_atoms(root / s) for s in structures}
    for r in ("low", "high"):
        doc = make(r, structures, sizes)
        write(f"benchmark_cases_{r}.json", doc, count=True)
        write(f"benchmark_cases_{r}_coarse.json", coarse(doc))
        used = {c["structure"] for c in doc["cases"]}
        rest = [s for s in structures if s not in used]
        doc2 = make(r, rest, sizes, n_cases=N_CASES_DRAW2, seed_offset=DRAW2_SEED_OFFSET, id_prefix=f"{r}2")
        doc2["note"] += f"; second draw: structures the {len(doc['cases'])} usual {r} cases do not use"
        write(f"benchmark_cases_{r}_draw2.json", doc2, count=True)
        doc3 = make(r, structures, sizes, n_cases=N_CASES_DRAW3, seed_offset=DRAW3_SEED_OFFSET, id_prefix=f"{r}3")
        doc3["note"] += "; third draw: all held-out structures, new seeds"
        write(f"benchmark_cases_{r}_draw3.json", doc3, count=True)
        doc4 = make(r, structures, sizes, n_cases=N_CASES_DRAW3, seed_offset=DRAW4_SEED_OFFSET, id_prefix=f"{r}4")
        doc4["note"] += "; fourth draw: all held-out structures, new seeds"
        write(f"benchmark_cases_{r}_draw4.json", doc4, count=True)


if __name__ == "__main__":
    main()
