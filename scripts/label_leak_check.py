"""Do the simulated maps hold what their labels say? The held-out cases simulated without noise, with
the simulator's global B applied after the local-resolution field (the order of every record before
2026-12-07, eighth session) and before it (the order since), and for each the share of the noise-free
map's power, inside the mask, that lies beyond the end of each voxel's roll-off (1/r + roll-off),
where by the resolution convention there should be none. Run from the repository root (about 2 s per
case, low range, 4 s high, on 2 cores)::

    .venv/bin/python scripts/label_leak_check.py low|high CASE_FILE [CASE_FILE ...]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from deepres.benchmark_cases import load_cases, simulate, structures_dir
from deepres.localfilter import local_lowpass
from deepres.ranges import get_range

#: A case whose share is above this is counted as one whose labels do not describe the map.
DOMINATED = 0.25


def beyond_share(case, rolloff_Ainv: float) -> float:
    d, t, m = case.map.data, case.truth.data, case.mask.data > 0.5
    d = d - np.median(d[~m])
    rest = d - local_lowpass(d, 1.0 / (1.0 / t + rolloff_Ainv), case.map.voxel_size_A, 0.0)
    return float((rest[m] ** 2).sum() / (d[m] ** 2).sum())


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("range", choices=("low", "high"))
    p.add_argument("case_files", nargs="+")
    a = p.parse_args(argv)
    spec = get_range(a.range)
    roll = spec.rolloff_cpv / spec.voxel_size_A
    print(f"range {a.range}, cases {' '.join(a.case_files)}: share of the noise-free map's power beyond each voxel's "
          f"roll-off end (1/r + {roll:g} A^-1)\n")
    print("| case | global B (Å²) | finest truth (Å) | B after the field (old) | B before the field (now) |")
    print("|---|---|---|---|---|")
    rows, t0 = [], time.perf_counter()
    for f in a.case_files:
        for case in load_cases(a.range, f):
            shares = []
            for first in (False, True):
                c = simulate(case, structures_dir(), noise="none", global_b_first=first)
                shares.append(beyond_share(c, roll))
            rows.append(shares)
            print(f"| {case.id} | {c.params['global_b_A2']:.1f} | {float(c.truth.data[c.mask.data > 0.5].min()):.2f} | "
                  f"{shares[0]:.4f} | {shares[1]:.4f} |", flush=True)
    arr = np.array(rows)
    print(f"\n{len(rows)} cases, {time.perf_counter() - t0:.0f} s. Share above {DOMINATED}: "
          f"{int(np.sum(arr[:, 0] > DOMINATED))} (old order), {int(np.sum(arr[:, 1] > DOMINATED))} (now); "
          f"median {np.median(arr[:, 0]):.4f} / {np.median(arr[:, 1]):.4f}; max {arr[:, 0].max():.4f} / {arr[:, 1].max():.4f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
