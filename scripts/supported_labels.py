"""Which labels do the data hold? The held-out cases' true resolution against the finest resolution
at which each voxel's signal stands above the map's noise, and the shipped model scored on both.

The simulator knows the signal and the noise apart. For each case this script simulates it twice,
as the benchmark does and without noise (the same draws: the signal, scale and offset are the same),
so the noise of the map is their difference. For band centres log-spaced over the range it band-
passes both (a Gaussian in ln f, the front end's width) and takes each band's local energy in a
Gaussian window of half a wavelength (at least 2 voxels), like the front end. A voxel's *supported*
frequency is the finest band where the local signal energy is at least TAU times the noise energy
(TAU = 1/3 is the full map's SNR where two half maps give an FSC of 0.143); its *supported label*
is the coarser of its true label and that band's resolution. Where the label is finer than the
data hold, no single-map reader can see it; the half maps cannot either (their noise is the same).

Per case: the true median, the share of mask voxels whose supported label is more than 0.25 Å
coarser than the truth, the model's MAE against the truth (what the benchmark scores), against the
supported labels, and its MAE against the truth in the voxels that the data do hold. Run from the
repository root (about 10-20 s per case on 2 cores)::

    .venv/bin/python scripts/supported_labels.py low|high [--cases-file PATH] [--tau T] [--cases N]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from scipy import fft as sfft
from scipy import ndimage

import deepres
from deepres.benchmark_cases import load_cases, simulate, structures_dir
from deepres.features import FeatureConfig
from deepres.model import load_model
from deepres.ranges import get_range

N_CENTRES = 32
GAP_A = 0.25  # a voxel counts as unsupported when its supported label is this much coarser


def local_band_energies(vol: np.ndarray, voxel_size_A: float, centres_Ainv: np.ndarray,
                        sigma_ln: float) -> np.ndarray:
    """(n_centres, *vol.shape): each band's squared values smoothed over half a wavelength."""
    ft = sfft.rfftn(vol, workers=2)
    fz = sfft.fftfreq(vol.shape[0])[:, None, None]
    fy = sfft.fftfreq(vol.shape[1])[None, :, None]
    fx = sfft.rfftfreq(vol.shape[2])[None, None, :]
    f = np.sqrt(fz ** 2 + fy ** 2 + fx ** 2) / voxel_size_A
    lnf = np.log(np.maximum(f, 1e-9))
    out = np.empty((len(centres_Ainv), *vol.shape), np.float32)
    for k, fc in enumerate(centres_Ainv):
        h = np.exp(-0.5 * ((lnf - np.log(fc)) / sigma_ln) ** 2)
        h[0, 0, 0] = 0.0
        band = sfft.irfftn(ft * h, s=vol.shape, workers=2)
        sigma_vox = max(2.0, 0.5 / (fc * voxel_size_A))
        out[k] = ndimage.gaussian_filter(band * band, sigma_vox, mode="constant")
    return out


def supported_label(signal: np.ndarray, noise: np.ndarray, truth: np.ndarray, voxel_size_A: float,
                    range_name: str, tau: float) -> np.ndarray:
    """Per voxel, the coarser of ``truth`` and the resolution of the finest band whose local signal
    energy is at least ``tau`` times the noise's (the range's coarsest end where no band is)."""
    spec = get_range(range_name)
    f_lo = 1.0 / (1.5 * spec.max_A)
    f_hi = min(1.0 / (0.8 * float(truth.min())), 0.5 / voxel_size_A)
    centres = np.exp(np.linspace(np.log(f_lo), np.log(f_hi), N_CENTRES))
    cfg = FeatureConfig()
    # the front end's band width in ln f (its bands are defined in cycles/voxel: the same width)
    es = local_band_energies(signal, voxel_size_A, centres, cfg.band_sigma_ln)
    en = local_band_energies(noise, voxel_size_A, centres, cfg.band_sigma_ln)
    ok = es >= tau * en
    # finest band that passes: the last True along axis 0
    idx = np.where(ok.any(0), N_CENTRES - 1 - np.argmax(ok[::-1], axis=0), -1)
    f_star = np.where(idx >= 0, centres[np.clip(idx, 0, None)], 1.0 / spec.max_A)
    return np.maximum(truth, np.minimum(1.0 / f_star, spec.max_A)).astype(np.float32)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("range", choices=("low", "high"))
    p.add_argument("--cases-file", default=None, help="a case file (default: the usual cases of the range)")
    p.add_argument("--cases", type=int, default=None, help="only the first N cases")
    p.add_argument("--tau", type=float, default=1.0 / 3.0, help="local signal/noise energy ratio (default 1/3)")
    p.add_argument("--model-file", default=None, help="model file (default: the shipped one)")
    a = p.parse_args(argv)
    print(f"range {a.range}, tau {a.tau:.3g}, cases {a.cases_file or 'usual'}, model {a.model_file or 'shipped'}")
    print("| case | noise | SNR | truth median | unsupported share | MAE vs truth | MAE vs supported | MAE vs truth, supported voxels |")
    print("|---|---|---|---|---|---|---|---|")
    model = load_model(a.range, a.model_file)
    rows = []
    t0 = time.perf_counter()
    for case in load_cases(a.range, a.cases_file)[: a.cases]:
        sc = simulate(case, structures_dir())
        clean = simulate(case, structures_dir(), noise="none")
        v = sc.map.voxel_size_A
        signal = clean.map.data.astype(np.float64)
        noise = sc.map.data.astype(np.float64) - signal
        m = sc.mask.data > 0.5
        t = sc.truth.data
        if np.abs(noise).max() == 0:
            sup = t.copy()
        else:
            sup = supported_label(signal, noise, t, v, a.range, a.tau)
        est = deepres.estimate(sc.map, sc.mask.data, range=a.range, model=model).resolution.data
        e, tt, ss = est[m], t[m], sup[m]
        held = ss - tt <= GAP_A
        r = (float(np.mean(~held)), float(np.mean(np.abs(e - tt))), float(np.mean(np.abs(e - ss))),
             float(np.mean(np.abs(e[held] - tt[held]))) if held.any() else float("nan"))
        rows.append(r)
        o = case.options
        print(f"| {case.id} | {o.get('noise')} | {o.get('snr')} | {np.median(tt):.2f} | {r[0]:.2f} | {r[1]:.3f} | "
              f"{r[2]:.3f} | {r[3]:.3f} |", flush=True)
    arr = np.array(rows)
    print(f"\n{len(rows)} cases, {time.perf_counter() - t0:.0f} s: mean unsupported share {arr[:, 0].mean():.3f}; "
          f"MAE vs truth {arr[:, 1].mean():.4f}, vs supported labels {arr[:, 2].mean():.4f}, "
          f"vs truth in supported voxels {np.nanmean(arr[:, 3]):.4f} Å")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
