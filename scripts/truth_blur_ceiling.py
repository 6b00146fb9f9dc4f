"""How much per-case correlation does spatial blur alone cost? The held-out cases' truth against
the same truth blurred by a Gaussian (σ in Å), inside the mask.

For each case of a range whose truth varies in the mask (``deepres.metrics.truth_varies``, the
benchmark's rule for a per-case r), the Pearson r between the true field and the field blurred
with σ = 1, 2, 3, 4 and 6 Å; then the mean over cases. An estimator that were exact but blurred its answer that much
would score this per-case r. Run from the repository root (about 1 min per range)::

    .venv/bin/python scripts/truth_blur_ceiling.py low|high [--cases-file PATH]
"""

from __future__ import annotations

import argparse

import numpy as np
from scipy import ndimage

from deepres.benchmark_cases import load_cases, simulate, structures_dir
from deepres.metrics import pearson, truth_varies

SIGMAS_A = (1.0, 2.0, 3.0, 4.0, 6.0)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("range", choices=("low", "high"))
    p.add_argument("--cases-file", default=None, help="a case file (default: the usual cases of the range)")
    a = p.parse_args(argv)
    print("| case | " + " | ".join(f"σ {s:g} Å" for s in SIGMAS_A) + " |")
    print("|---|" + "---|" * len(SIGMAS_A))
    rows = []
    for case in load_cases(a.range, a.cases_file):
        sc = simulate(case, structures_dir())
        m = sc.mask.data > 0.5
        t = sc.truth.data.astype(np.float64)
        if not truth_varies(t[m]):
            continue
        r = [pearson(ndimage.gaussian_filter(t, s / sc.map.voxel_size_A)[m], t[m]) for s in SIGMAS_A]
        rows.append(r)
        print(f"| {case.id} | " + " | ".join(f"{x:.3f}" for x in r) + " |", flush=True)
    print(f"| mean of {len(rows)} | " + " | ".join(f"{x:.3f}" for x in np.mean(rows, axis=0)) + " |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
