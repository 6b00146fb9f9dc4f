"""Is it the noise? Re-simulate held-out cases with only their noise changed and score the model again.

The simulator draws the structure, field, density, noise and mask from separate random streams
(``deepres.simulate.case``), so changing a case's ``noise`` spectrum or ``snr`` leaves the signal
and the true field as they were (tested); the mask, made from the low-passed noisy map, moves a
little. For each case id this prints the MAE and bias (Å, inside
the mask) of the shipped model (or ``--model``) on the case as drawn and on variants: the same
noise at 4x and 16x the SNR, and white / coloured noise at the case's SNR. Note that at one SNR
(a variance ratio) low-pass noise puts all its power below its cut-off, so the white variant also
has less noise per band there: compare the SNR ladder within one spectrum first.

    python scripts/noise_swap.py high3-23 high3-08 --cases-file high=src/deepres/data/benchmark_cases_high_draw3.json
"""

from __future__ import annotations

import argparse

import numpy as np

import deepres
from deepres import benchmark as B
from deepres.metrics import score_map
from deepres.model import load_model


def variants(case: B.Case) -> list[tuple[str, dict]]:
    """(label, options) pairs: the case as drawn, its noise at 4x and 16x SNR, and the other spectra."""
    opts = dict(case.options)
    noise, snr = opts.get("noise"), float(opts.get("snr", 5.0))
    out = [(f"as drawn ({noise}, SNR {snr:.2f})", opts)]
    out += [(f"{noise}, SNR x{k}", {**opts, "snr": snr * k}) for k in (4, 16)]
    out += [(f"{other}, SNR {snr:.2f}", {**opts, "noise": other}) for other in ("white", "coloured", "lowpass")
            if other != noise]
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("ids", nargs="+", help="case ids, e.g. high3-23")
    p.add_argument("--cases-file", action="append", default=[], metavar="RANGE=PATH",
                   help="where the ids live (default: the usual case file of each range)")
    p.add_argument("--model", action="append", default=[], metavar="RANGE=PATH", help="model file per range")
    a = p.parse_args()
    files = dict(s.split("=", 1) for s in a.cases_file)
    models = dict(s.split("=", 1) for s in a.model)
    cases = {c.id: c for r in ("low", "high") for c in B.load_cases(r, files.get(r))}
    structures = B.structures_dir()
    for cid in a.ids:
        case = cases[cid]
        kw = {"model": load_model(case.range, models[case.range])} if case.range in models else {}
        print(f"{cid} ({case.structure}, {case.field_kind}, {case.voxel_size_A} A/voxel)")
        for label, opts in variants(case):
            sim = B.simulate(case, structures, **opts)
            m = np.asarray(sim.mask.data) > 0
            res = deepres.estimate(np.asarray(sim.map.data, np.float32), m, sim.map.voxel_size_A, range=case.range,
                                   origin_A=sim.map.origin_A, **kw)
            est, truth = np.asarray(res.resolution.data), np.asarray(sim.truth.data)
            sc = score_map(est, truth, m)
            est, truth = est[m], truth[m]
            print(f"  {label:28s} MAE {sc['mae_A']:.2f}  bias {sc['bias_A']:+.2f}  "
                  f"estimate p10-p90 {np.percentile(est, 10):.2f}-{np.percentile(est, 90):.2f}  "
                  f"truth p10-p90 {np.percentile(truth, 10):.2f}-{np.percentile(truth, 90):.2f}", flush=True)


if __name__ == "__main__":
    main()
