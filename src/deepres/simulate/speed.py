"""Seconds per simulated case: ``OMP_NUM_THREADS=1 python -m deepres.simulate.speed [STRUCTURE] [--repeats N]``.

Prints, for each voxel size (1.0 Å low range, 0.5 Å high range) and each field kind, the box,
the number of filter-bank levels and the median time of ``simulate_case`` over ``N`` seeds
(structure loading excluded). Default structure: ``1AK4_target`` of bm5 (2387 atoms, the median
size).
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np

DEFAULT = os.path.join(os.environ.get("DEEPRES_BM5_DIR", "/work/shared/data/structures/bm5"),
                       "1AK4_target.pdb.gz")


def main(argv=None) -> int:
    from deepres.simulate import load_structure, simulate_case

    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("structure", nargs="?", default=DEFAULT)
    p.add_argument("--repeats", type=int, default=3)
    args = p.parse_args(argv)
    st = load_structure(args.structure)
    print(f"{os.path.basename(args.structure)}: {st[0].count_atom_sites()} atoms, "
          f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}")
    print("| voxel (Å) | range | field | box | levels | s/case (median) |")
    print("|---|---|---|---|---|---|")
    for rng_name, v in (("low", 1.0), ("high", 0.5)):
        for kind in ("uniform", "smooth", "domains", "radial", "mixed", None):
            ts, lev = [], []
            for seed in range(args.repeats):
                t = time.perf_counter()
                c = simulate_case(st, rng_name, v, seed=seed, field_kind=kind)
                ts.append(time.perf_counter() - t)
                lev.append(c.params["bank_levels"])
            print(f"| {v:g} | {rng_name} | {kind or 'drawn'} | {c.map.shape[0]}³ | {int(np.median(lev))} | "
                  f"{np.median(ts):.2f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
