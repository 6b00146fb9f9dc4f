"""Does `deepres filter` bring a map closer to its noise-free signal? The held-out cases, simulated
twice (as the benchmark does, and without noise: the same draws), and the correlation inside the
mask of the noise-free map with: the map itself; the map low-passed globally at the median of
deepres' estimate; the map low-passed locally by deepres' estimate (`deepres.localfilter`); and
low-passed locally by the true field (what a perfect estimate would give). Run from the repository
root (about 5 s per case, low range, on 2 cores)::

    .venv/bin/python scripts/local_filter_check.py low|high [--cases-file PATH] [--cases N]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

import deepres
from deepres.benchmark_cases import load_cases, simulate, structures_dir
from deepres.filters import lowpass_to_resolution
from deepres.localfilter import local_lowpass
from deepres.model import load_model


def cc(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a - a.mean(), b - b.mean()
    return float(np.sum(a * b) / np.sqrt(np.sum(a * a) * np.sum(b * b)))


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("range", choices=("low", "high"))
    p.add_argument("--cases-file", default=None, help="a case file (default: the usual cases of the range)")
    p.add_argument("--cases", type=int, default=None, help="only the first N cases")
    a = p.parse_args(argv)
    model = load_model(a.range)
    cols = ("map", "global low-pass at the median", "local, deepres", "local, true field")
    print(f"range {a.range}, cases {a.cases_file or 'usual'}, model {model.model_id}: correlation with the noise-free map "
          "inside the mask\n")
    print("| case | noise | SNR | " + " | ".join(cols) + " |")
    print("|---|---|---|" + "---|" * len(cols))
    rows, t0 = [], time.perf_counter()
    for case in load_cases(a.range, a.cases_file)[: a.cases]:
        sc = simulate(case, structures_dir())
        clean = simulate(case, structures_dir(), noise="none").map.data
        v, m, data = sc.map.voxel_size_A, sc.mask.data > 0.5, sc.map.data
        est = deepres.estimate(sc.map, sc.mask.data, range=a.range, model=model)
        truth = np.where(m, sc.truth.data, 0).astype(np.float32)
        outs = (data, lowpass_to_resolution(data, est.median_A, v), local_lowpass(data, est.resolution.data, v),
                local_lowpass(data, truth, v))
        r = [cc(o[m], clean[m]) for o in outs]
        rows.append(r)
        o = case.options
        print(f"| {case.id} | {o.get('noise')} | {o.get('snr')} | " + " | ".join(f"{x:.3f}" for x in r) + " |", flush=True)
    arr = np.array(rows)
    print(f"\n{len(rows)} cases, {time.perf_counter() - t0:.0f} s. Mean: "
          + ", ".join(f"{c} {x:.3f}" for c, x in zip(cols, arr.mean(axis=0)))
          + f"; local (deepres) better than global in {int(np.sum(arr[:, 2] > arr[:, 1]))} of {len(rows)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
