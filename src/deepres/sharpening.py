"""Detect a map sharpened after reconstruction, and (on request) flatten it before the network.

Post-processing multiplies a map's transform by ``exp(-B s² / 4)`` with a negative B: signal and
noise alike gain power toward high frequency. The single-map models read such a map finer than
it is (on the 24 usual held-out cases, B = -50 Å² doubles the error; ``benchmarks/sharpening.py``),
although part of their training maps were sharpened.

:func:`measure_sharpening` fits the slope of the map's radially averaged log power against s² over
the top of the frequencies the network sees (60-95 % of the lowest of: the input's Nyquist
frequency, the working grid's, and the edge of a low-pass filter found by :mod:`deepres.lowpass`).
Written as a B-factor of the power, ``P ∝ exp(-B s² / 2)``, it is the *tail B*. A map whose noise
dominates that band gives about 0 with white noise and a positive value with noise that falls
toward high frequency, as in the training maps (held-out cases: ≥ -22 Å² in 209 of 210 maps as
simulated); a sharpened map gives its sharpening B on top of that. A tail B below
:data:`SHARPENED_B_A2` (power rising toward high frequency) is reported as sharpening.
:func:`flatten` applies the opposite B, bringing the tail to 0 (``--desharpen``).

A map whose band is dominated by signal can also show a rising tail without being sharpened (the
protein Wilson plot rises from ~6 to ~4.5 Å), so the correction is not applied by default.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from deepres.lowpass import LowpassCut

#: Tail B (Å²) below which a map is reported as sharpened.
SHARPENED_B_A2 = -10.0
#: The band of the fit, as fractions of the highest frequency the network sees.
TAIL_WINDOW = (0.6, 0.95)
#: Fewest radial bins the fit needs.
MIN_BINS = 4


@dataclass(frozen=True)
class Sharpening:
    """The slope of a map's power spectrum at the top of the band the network sees.

    Attributes
    ----------
    tail_b_A2 : equivalent B of the power's slope, ``P ∝ exp(-B s² / 2)`` (negative: rising).
    window_A : the band of the fit, (coarse end, fine end) in Å.
    """

    tail_b_A2: float
    window_A: tuple[float, float]

    @property
    def sharpened(self) -> bool:
        return self.tail_b_A2 < SHARPENED_B_A2

    def as_dict(self) -> dict:
        return {"tail_b_A2": round(self.tail_b_A2, 1), "window_A": [round(w, 3) for w in self.window_A],
                "sharpened": self.sharpened}


def band_top_Ainv(voxel_size_A: float, working_voxel_A: float, cut: LowpassCut | None = None) -> float:
    """The highest frequency (Å⁻¹) of a map sampled at ``voxel_size_A`` that the network working at
    ``working_voxel_A`` sees: the lower Nyquist frequency of the two, or the edge of the map's
    low-pass filter ``cut`` when it lies lower."""
    return min(0.5 / float(voxel_size_A), 0.5 / float(working_voxel_A),
               1.0 / cut.edge_A if cut is not None else np.inf)


def measure_sharpening(freq_cpv: np.ndarray, log10_power: np.ndarray, voxel_size_A: float,
                       top_Ainv: float) -> Sharpening | None:
    """Tail B of a radial power spectrum (bin centres in cycles/voxel of a map sampled at
    ``voxel_size_A``, log10 power; :func:`deepres.lowpass.radial_log_power`), fitted between
    :data:`TAIL_WINDOW` times ``top_Ainv`` (Å⁻¹). None when fewer than :data:`MIN_BINS` bins fall there."""
    s = np.asarray(freq_cpv, dtype=np.float64) / float(voxel_size_A)
    lp = np.asarray(log10_power, dtype=np.float64)
    lo, hi = TAIL_WINDOW[0] * float(top_Ainv), TAIL_WINDOW[1] * float(top_Ainv)
    sel = (s >= lo) & (s <= hi) & np.isfinite(lp)
    if int(sel.sum()) < MIN_BINS:
        return None
    slope = np.polyfit(s[sel] ** 2, lp[sel], 1)[0]
    return Sharpening(tail_b_A2=float(-2.0 * np.log(10.0) * slope), window_A=(1.0 / lo, 1.0 / hi))


def flatten(data: np.ndarray, voxel_size_A: float, sharpening: Sharpening) -> tuple[np.ndarray, float]:
    """``data`` with the B that brings its tail B to 0 (a blur, for a sharpened map), and that B (Å²)."""
    from deepres.simulate.noise import apply_bfactor

    b = -float(sharpening.tail_b_A2)
    return apply_bfactor(data, voxel_size_A, b, workers=-1), b
