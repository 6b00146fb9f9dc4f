"""The low-pass floor on the held-out cases: which maps :func:`deepres.lowpass.detect_lowpass` finds,
whether the floor it sets ever lies above the truth, and what it does to the error.

The simulator's noise is white, coloured or low-pass filtered at the field's finest resolution (then
the map holds nothing finer: signal and noise end there, as in a map filtered at its FSC resolution).
For each case this script simulates the map as the benchmark does, runs the detection on it, and
compares the floor with the case's finest true label. It estimates every case without the floor
(``lowpass_floor=False``, what the pipeline did before the floor) and the cases where a filter is
found again with it, and reports the mean absolute error over the mask both ways. Run from the
repository root::

    .venv/bin/python scripts/lowpass_check.py low|high CASE_FILE [CASE_FILE ...] [--model-file PATH] [--half-maps]

(``map`` of a simulated case is the mean of its half maps, so the filter found is the same.)
"""

from __future__ import annotations

import argparse
import time

import numpy as np

import deepres
from deepres.benchmark_cases import load_cases, simulate, structures_dir
from deepres.lowpass import detect_lowpass
from deepres.model import load_model
from deepres.ranges import get_range


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("range", choices=("low", "high"))
    p.add_argument("case_files", nargs="+", help="case files (e.g. src/deepres/data/benchmark_cases_low.json)")
    p.add_argument("--model-file", default=None, help="model file (default: the shipped one)")
    p.add_argument("--half-maps", action="store_true",
                   help="give the half maps too (the half-map model; the filter is looked for in their mean)")
    a = p.parse_args(argv)
    spec = get_range(a.range)
    roll_Ainv = spec.rolloff_cpv / spec.voxel_size_A
    model = load_model(a.range, a.model_file, half_maps=a.half_maps)
    print(f"range {a.range}, model {model.model_id}, cases {' '.join(a.case_files)}\n")
    print("| case | noise | SNR | noise cut-off (Å) | finest truth (Å) | found: content end (Å) | floor (Å) | "
          "share of mask below the floor | MAE without / with floor (Å) |")
    print("|---|---|---|---|---|---|---|---|---|")
    t0 = time.perf_counter()
    rows = []
    for f in a.case_files:
        for case in load_cases(a.range, f):
            sc = simulate(case, structures_dir())
            prm, v = sc.params, sc.map.voxel_size_A
            m = sc.mask.data > 0.5
            truth = sc.truth.data[m]
            cut = detect_lowpass(sc.map.data, v)
            kw = dict(range=a.range, model=model, half_maps=(sc.half1, sc.half2) if a.half_maps else None)
            est0 = deepres.estimate(sc.map, sc.mask.data, lowpass_floor=False, **kw).resolution.data[m]
            mae0 = float(np.mean(np.abs(est0 - truth)))
            lp = prm["noise_lowpass_A"]
            # a filter at or beyond the input's Nyquist limit leaves nothing to find
            findable = lp is not None and lp > spec.floor_A(v) * 1.05
            row = dict(noise=prm["noise_spectrum"], findable=findable, found=cut is not None, mae0=mae0, mae1=mae0,
                       above_truth=False)
            text = "–", "–", "–"
            if cut is not None:
                floor = max(spec.floor_A(v), min(cut.label_floor_A(roll_Ainv), spec.max_A))
                est1 = deepres.estimate(sc.map, sc.mask.data, lowpass_floor=True, **kw).resolution.data[m]
                row["mae1"] = float(np.mean(np.abs(est1 - truth)))
                row["above_truth"] = floor > float(truth.min()) + 0.01
                text = f"{cut.content_end_A:.2f}", f"{floor:.2f}", f"{np.mean(est0 < floor):.2f}"
            rows.append(row)
            print(f"| {case.id} | {prm['noise_spectrum']} | {prm['snr']:.1f} | "
                  f"{'–' if lp is None else f'{lp:.2f}'} | {truth.min():.2f} | {text[0]} | {text[1]} | {text[2]} | "
                  f"{row['mae0']:.3f} / {row['mae1']:.3f} |", flush=True)
    n = len(rows)
    findable = [r for r in rows if r["findable"]]
    others = [r for r in rows if r["noise"] != "lowpass"]
    found = [r for r in rows if r["found"]]
    print(f"\n{n} cases, {time.perf_counter() - t0:.0f} s.")
    print(f"- found in {sum(r['found'] for r in findable)} of {len(findable)} maps whose noise is low-pass filtered "
          f"below the input's Nyquist limit; in {sum(r['found'] for r in others)} of {len(others)} maps with white or "
          f"coloured noise; floor above the finest true label in {sum(r['above_truth'] for r in found)} of {len(found)}")
    if found:
        print(f"- MAE on the {len(found)} maps where a filter is found: {np.mean([r['mae0'] for r in found]):.4f} Å "
              f"without the floor, {np.mean([r['mae1'] for r in found]):.4f} with it")
    print(f"- MAE over all {n} cases: {np.mean([r['mae0'] for r in rows]):.4f} Å without the floor, "
          f"{np.mean([r['mae1'] for r in rows]):.4f} with it")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
