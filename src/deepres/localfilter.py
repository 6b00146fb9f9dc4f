"""Spatially varying low-pass filtering: each voxel low-passed to its own resolution.

Used twice: the simulator imposes a known local-resolution field on a density with it
(:func:`apply_local_resolution`, the labels' definition), and ``deepres filter`` low-passes a map
by a local-resolution map (:func:`local_lowpass`), as cryoSPARC's local filtering or RELION's
local-resolution-filtered map do: detail finer than a region's resolution, which there is noise,
is removed region by region.

Filter shape
------------
Every voxel with resolution ``r`` Å gets the content of the density low-passed by
:func:`deepres.filters.raised_cosine_lowpass` with cutoff ``1/r`` Å⁻¹ and a raised-cosine
roll-off ``rolloff_Ainv`` Å⁻¹ wide (in cycles/voxel: cutoff ``v/r``, roll-off
``rolloff_Ainv * v``). This is the project's resolution convention (the original DeepRes's
training filter) so the label of a voxel means the same thing whatever the voxel size, and a
uniform field reproduces exactly the single global filter used for the original's labels.

How
---
A bank of low-passed copies at cutoffs ``f_j`` (Å⁻¹) evenly spaced in frequency across the
field's range is computed one copy at a time (only the density's transform and one copy are
held); each voxel is the linear interpolation, in ``1/r``, between the two copies that bracket
its own ``1/r``. The effective transfer function of a voxel between two levels is the same
interpolation of the two raised cosines, whose error against the exact raised cosine is at most
``pi**2 * d**2 / (16 * w**2)`` for a level spacing ``d`` and roll-off ``w``: the default
spacing ``min(0.01, w / 4)`` Å⁻¹ (≤ 0.01 Å⁻¹; 0.005 Å⁻¹ for the low range, 0.01 Å⁻¹ for the
high range) keeps it below 4 %, and only inside the roll-off band. When the field has no more
distinct values than the bank would have levels (uniform fields, sharp domains), the levels are
the distinct values themselves and the result is exact at every voxel.

The blend is not a band limit: where the field changes in space, the interpolation weights change
too, and their product with the copies leaks a little content above every voxel's cut-off (about 4 %
of the amplitude in the coarse regions of a simulated high-range map, up to Nyquist). A global
sharpening applied *after* the blend multiplies that leak by its gain; the simulator therefore
sharpens the density before it blends (section "Sharpening before the field" of docs/training-history.md).
"""


from __future__ import annotations

import numpy as np
import scipy.fft as sfft

from deepres.errors import InputError
from deepres.filters import radial_frequency, raised_cosine_lowpass
from deepres.volume import Volume


def default_level_spacing(rolloff_Ainv: float) -> float:
    """Bank spacing (Å⁻¹): ``min(0.01, rolloff / 4)``; 0.0025 for a hard cut (no roll-off)."""
    return float(min(0.01, rolloff_Ainv / 4.0)) if rolloff_Ainv > 0 else 0.0025


def resolution_levels(field_A: np.ndarray, rolloff_Ainv: float, n_levels: int | None = None,
                      spacing_Ainv: float | None = None) -> np.ndarray:
    """Frequencies (Å⁻¹, increasing) of the filter bank for a field.

    Distinct field values are used directly when there are at most as many as the even bank
    would need (and ``n_levels`` is not given); otherwise ``n`` levels evenly spaced from the
    field's lowest to highest frequency, ``n = ceil(span / spacing) + 1`` or ``n_levels``.
    """
    f = 1.0 / np.asarray(field_A, dtype=np.float64)
    f_lo, f_hi = float(f.min()), float(f.max())
    if n_levels is None:
        d = default_level_spacing(rolloff_Ainv) if spacing_Ainv is None else float(spacing_Ainv)
        n = int(np.ceil((f_hi - f_lo) / d - 1e-9)) + 1
        uniq = np.unique(np.asarray(field_A, dtype=np.float32))
        if uniq.size <= max(n, 1):
            return np.sort(1.0 / uniq.astype(np.float64))
    else:
        n = int(n_levels)
    if n <= 1 or f_hi <= f_lo:
        return np.array([f_lo]) if f_hi <= f_lo else np.array([f_lo, f_hi])
    return np.linspace(f_lo, f_hi, n)


def apply_local_resolution(density: Volume | np.ndarray, field_A: np.ndarray | Volume, voxel_size_A: float,
                           rolloff_Ainv: float, n_levels: int | None = None, spacing_Ainv: float | None = None,
                           workers: int = 1) -> np.ndarray:
    """Low-pass ``density`` locally so that each voxel has the resolution ``field_A`` gives it.

    Parameters
    ----------
    density : `(z, y, x)` map (array or :class:`Volume`).
    field_A : resolution (Å) of every voxel, same shape, all > 0.
    voxel_size_A : grid spacing in Å.
    rolloff_Ainv : raised-cosine roll-off width in Å⁻¹ (``spec.rolloff_cpv / spec.voxel_size_A``).
    n_levels : number of bank levels evenly spaced in 1/r (default: from ``spacing_Ainv``).
    spacing_Ainv : bank spacing in Å⁻¹ (default ``min(0.01, rolloff_Ainv / 4)``).
    workers : FFT threads.

    Returns
    -------
    `(z, y, x)` float32 map. Periodic boundaries (the box has a solvent margin).
    """
    data = density.data if isinstance(density, Volume) else density
    field = field_A.data if isinstance(field_A, Volume) else field_A
    data = np.asarray(data, dtype=np.float32)
    field = np.asarray(field, dtype=np.float32)
    if field.shape != data.shape:
        raise ValueError(f"field shape {field.shape} != density shape {data.shape}")
    if not np.all(np.isfinite(field)) or field.min() <= 0:
        raise ValueError("field values must be finite and > 0")
    v = float(voxel_size_A)
    levels = resolution_levels(field, rolloff_Ainv, n_levels, spacing_Ainv)
    kfreq = radial_frequency(data.shape)
    ft = sfft.rfftn(data, workers=workers)
    roll_cpv = float(rolloff_Ainv) * v

    def copy_at(f_Ainv: float) -> np.ndarray:
        h = raised_cosine_lowpass(kfreq, f_Ainv * v, roll_cpv)
        return sfft.irfftn(ft * h, s=data.shape, workers=workers).astype(np.float32, copy=False)

    if levels.size == 1:
        return copy_at(float(levels[0]))

    out = np.zeros(data.size, dtype=np.float32)
    f = (1.0 / field.astype(np.float64)).ravel()
    # bracket: j0 with levels[j0] <= f <= levels[j0 + 1], t in [0, 1]
    j0 = np.clip(np.searchsorted(levels, f, side="right") - 1, 0, levels.size - 2)
    t = (f - levels[j0]) / (levels[j0 + 1] - levels[j0])
    t = np.clip(t, 0.0, 1.0).astype(np.float32)
    order = np.argsort(j0, kind="stable")
    bounds = np.searchsorted(j0[order], np.arange(levels.size), side="left")
    bounds = np.append(bounds, f.size)
    for j in range(levels.size):
        below = order[bounds[j - 1]:bounds[j]] if j >= 1 else order[:0]   # voxels in [f_{j-1}, f_j]
        above = order[bounds[j]:bounds[j + 1]] if j <= levels.size - 2 else order[:0]  # in [f_j, f_{j+1}]
        if below.size == 0 and above.size == 0:
            continue
        c = copy_at(float(levels[j])).ravel()
        if above.size:
            out[above] += (1.0 - t[above]) * c[above]
        if below.size:
            out[below] += t[below] * c[below]
    return out.reshape(data.shape)


#: Roll-off of ``deepres filter`` (Å⁻¹): the low range's convention (0.02 cycles/voxel at 1 Å/voxel).
ROLLOFF_AINV = 0.02


def local_lowpass(data: np.ndarray, resolution_A: np.ndarray, voxel_size_A: float,
                  rolloff_Ainv: float = ROLLOFF_AINV, workers: int = -1) -> np.ndarray:
    """``data`` low-passed voxel by voxel to ``resolution_A`` (both `(z, y, x)` on one grid), with
    :func:`apply_local_resolution`. Voxels without an estimate (0 or less, as outside deepres'
    mask) are low-passed to the coarsest resolution found.

    Raises
    ------
    InputError
        If the grids differ, no voxel has a resolution, or the roll-off is negative.
    """
    data = np.asarray(data, dtype=np.float32)
    res = np.asarray(resolution_A, dtype=np.float32)
    if data.shape != res.shape:
        raise InputError(f"the local-resolution map ({res.shape}) is not on the map's grid ({data.shape})")
    if not np.all(np.isfinite(res)):
        raise InputError("the local-resolution map holds NaN or infinite values")
    if not (res > 0).any():
        raise InputError("the local-resolution map holds no positive value (no estimate)")
    if not rolloff_Ainv >= 0:
        raise InputError(f"the roll-off must be >= 0 Å⁻¹, got {rolloff_Ainv}")
    field = np.where(res > 0, res, res.max())
    return apply_local_resolution(data, field, voxel_size_A, rolloff_Ainv, workers=workers)
