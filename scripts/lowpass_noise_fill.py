"""Tried and dropped (2026-12-07, sixth session): fill a low-pass filtered map's spectrum beyond
the detected edge with white noise before the estimate, so that the single-map model sees a noise
floor as in unfiltered maps. For each held-out case where :func:`deepres.lowpass.detect_lowpass`
finds a filter, the MAE over the mask without the fill and with noise of ALPHA times the power at
the edge (comma-separated list; the floor is kept). Record: benchmarks/results/lowpass_noise_fill_low.txt.

    .venv/bin/python scripts/lowpass_noise_fill.py low 0.01,0.03,0.1,1 CASE_FILE [CASE_FILE ...]
"""

from __future__ import annotations

import sys

import numpy as np
from scipy import fft as sfft

import deepres
from deepres.benchmark_cases import load_cases, simulate, structures_dir
from deepres.filters import radial_frequency, raised_cosine_lowpass
from deepres.lowpass import detect_lowpass, radial_log_power
from deepres.model import load_model


def fill_beyond_edge(data: np.ndarray, voxel_size_A: float, cut, alpha: float, seed: int = 0) -> np.ndarray:
    """``data`` plus white noise whose power, from the cut's edge on (raised cosine up to the content's
    end), is ``alpha`` times the map's mean power per Fourier sample at the edge."""
    bin_cpv = max(0.01, 1.0 / min(data.shape))
    f, logp = radial_log_power(data, bin_cpv)
    f_edge, f_end = voxel_size_A / cut.edge_A, voxel_size_A / cut.content_end_A
    level = logp[int(np.argmin(np.abs(f - f_edge)))]
    beyond = 1.0 - raised_cosine_lowpass(radial_frequency(data.shape), f_edge, max(f_end - f_edge, 0.01))
    white = np.random.default_rng(seed).normal(size=data.shape).astype(np.float32)
    noise = sfft.irfftn(sfft.rfftn(white) * beyond, s=data.shape).astype(np.float32)
    # unnormalised FFT: white noise of variance s2 has E|F|^2 = s2 * N
    return data + noise * np.float32(np.sqrt(alpha * 10.0 ** level / data.size))


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    range_name, alphas, files = argv[0], [float(a) for a in argv[1].split(",")], argv[2:]
    model = load_model(range_name)
    maes: dict = {a: [] for a in [None] + alphas}
    for path in files:
        for case in load_cases(range_name, path):
            sc = simulate(case, structures_dir())
            v = sc.map.voxel_size_A
            cut = detect_lowpass(sc.map.data, v)
            if cut is None:
                continue
            m = sc.mask.data > 0.5
            truth = sc.truth.data[m]
            line = [case.id]
            for a in maes:
                data = sc.map.data if a is None else fill_beyond_edge(sc.map.data, v, cut, a)
                est = deepres.estimate(data, sc.mask.data, voxel_size_A=v, range=range_name,
                                       origin_A=sc.map.origin_A, model=model).resolution.data[m]
                maes[a].append(float(np.mean(np.abs(est - truth))))
                line.append(f"{maes[a][-1]:.3f}")
            print(*line, flush=True)
    for a, values in maes.items():
        print(a, len(values), np.mean(values))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
