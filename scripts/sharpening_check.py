"""How often deepres reports a held-out map as sharpened: as simulated, and after a global B.

For every case of the given case files (default: the usual cases of the range), the map as
simulated and the same map with each B of ``--b-values`` applied to signal and noise alike
(``apply_bfactor``, its factor held constant beyond the map's Nyquist frequency, as sharpening
programs do) go through the measurement the pipeline makes (``deepres.sharpening``: the
slope of the radial power over 60-95 % of the highest frequency the network sees, below a
low-pass filter's edge when one is found). No network runs. Prints a table and the share of maps
reported as sharpened per B; writes benchmarks/results/sharpening_check_<range>.md.

    .venv/bin/python scripts/sharpening_check.py low src/deepres/data/benchmark_cases_low.json \\
        src/deepres/data/benchmark_cases_low_draw2.json src/deepres/data/benchmark_cases_low_draw3.json \\
        src/deepres/data/benchmark_cases_low_draw4.json
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from deepres.benchmark_cases import load_cases, simulate, structures_dir
from deepres.lowpass import bin_width_cpv, detect_lowpass, radial_log_power
from deepres.ranges import get_range
from deepres.sharpening import SHARPENED_B_A2, band_top_Ainv, measure_sharpening
from deepres.simulate.noise import apply_bfactor

OUT = Path(__file__).resolve().parents[1] / "benchmarks" / "results"


def tail(data: np.ndarray, voxel_size_A: float, working_voxel_A: float):
    """The pipeline's measurement (``deepres.pipeline.estimate_volume``) on one map."""
    radial = radial_log_power(data, bin_width_cpv(data.shape))
    cut = detect_lowpass(data, voxel_size_A, radial)
    return measure_sharpening(*radial, voxel_size_A, band_top_Ainv(voxel_size_A, working_voxel_A, cut))


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("range", choices=["low", "high"])
    p.add_argument("cases_files", nargs="*", help="case files (default: the usual cases of the range)")
    p.add_argument("--b-values", type=float, nargs="+", default=[-25.0, -50.0, -100.0, 50.0])
    p.add_argument("--stem", default=None)
    a = p.parse_args(argv)
    t0 = time.time()
    spec = get_range(a.range)
    bs = [0.0] + [float(b) for b in a.b_values]
    rows = []
    for f in a.cases_files or [None]:
        for case in load_cases(a.range, f):
            sc = simulate(case, structures_dir(None))
            v = sc.map.voxel_size_A
            t = {}
            for b in bs:
                mp = apply_bfactor(sc.map.data, v, b, max_freq_Ainv=0.5 / v) if b else sc.map.data
                s = tail(mp, v, spec.voxel_size_A)
                t[b] = None if s is None else s.tail_b_A2
            rows.append((case.id, sc.params.get("noise_spectrum"), sc.params.get("snr"), t))
            print(case.id, {b: None if x is None else round(x, 1) for b, x in t.items()}, flush=True)
    head = " | ".join(f"B {b:+g}" for b in bs)
    lines = [f"# Sharpening check ({a.range} range): the tail B deepres measures", "",
             f"Command: `.venv/bin/python scripts/sharpening_check.py {a.range} {' '.join(a.cases_files)}`"
             f" ({time.time() - t0:.0f} s). Tail B in Å² (power ∝ exp(−B s²/2) over the top of the band the network "
             f"sees); a map is reported as sharpened below {SHARPENED_B_A2:g} Å². B: applied to the map as "
             "simulated (signal and noise; constant beyond Nyquist); '–': too few bins to measure (a filter far below Nyquist).", "",
             "| B applied (Å²) | maps | reported as sharpened | median tail B | 10th–90th percentile |", "|---|---|---|---|---|"]
    for b in bs:
        x = np.array([r[3][b] for r in rows if r[3][b] is not None])
        flagged = int((x < SHARPENED_B_A2).sum())
        lines.append(f"| {b:+g} | {len(rows)} ({len(rows) - x.size} not measured) | {flagged} ({100 * flagged / len(rows):.0f} %) | "
                     f"{np.median(x):+.1f} | {np.percentile(x, 10):+.1f} … {np.percentile(x, 90):+.1f} |")
    lines += ["", "Per noise spectrum, B = 0 and B = −50 Å² (reported as sharpened / maps):", "",
              "| noise | B 0 | B −50 |", "|---|---|---|"]
    for noise in ("white", "coloured", "lowpass"):
        sel = [r for r in rows if r[1] == noise]
        f0 = sum(1 for r in sel if r[3][0.0] is not None and r[3][0.0] < SHARPENED_B_A2)
        f50 = sum(1 for r in sel if r[3].get(-50.0) is not None and r[3][-50.0] < SHARPENED_B_A2)
        lines.append(f"| {noise} | {f0} / {len(sel)} | {f50 if -50.0 in bs else '–'} / {len(sel)} |")
    lines += ["", f"| case | noise | SNR | {head} |", "|---|---|---|" + "---|" * len(bs)]
    for cid, noise, snr, t in rows:
        lines.append(f"| {cid} | {noise} | {snr:.1f} | " + " | ".join("–" if t[b] is None else f"{t[b]:+.0f}" for b in bs) + " |")
    out = OUT / f"{a.stem or 'sharpening_check_' + a.range}.md"
    out.write_text("\n".join(lines) + "\n")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
