"""Fourier-space filters, including the raised-cosine low-pass that *defines* our resolution
convention.

Convention (the same as the original DeepRes training labels): a region has resolution ``r`` Å
when its content passes a low-pass filter whose pass band ends at ``1/r`` and then falls to zero
along a raised cosine ``rolloff_cpv`` cycles/voxel wide (0.02 at the model's working sampling).
"""

from __future__ import annotations

import numpy as np
import scipy.fft as sfft


def radial_frequency(shape: tuple[int, int, int], real: bool = True) -> np.ndarray:
    """|k| in cycles/voxel for an rfftn (``real=True``) or fftn layout of a `(z, y, x)` grid."""
    fz = sfft.fftfreq(shape[0]).astype(np.float32)
    fy = sfft.fftfreq(shape[1]).astype(np.float32)
    fx = (sfft.rfftfreq if real else sfft.fftfreq)(shape[2]).astype(np.float32)
    return np.sqrt(fz[:, None, None] ** 2 + fy[None, :, None] ** 2 + fx[None, None, :] ** 2)


def raised_cosine_lowpass(freq_cpv: np.ndarray, cutoff_cpv: float, rolloff_cpv: float = 0.02) -> np.ndarray:
    """Transfer function: 1 below ``cutoff_cpv``, raised-cosine fall to 0 at ``cutoff + rolloff``."""
    f = np.asarray(freq_cpv, dtype=np.float32)
    if rolloff_cpv <= 0:
        return (f <= cutoff_cpv).astype(np.float32)
    t = np.clip((f - cutoff_cpv) / rolloff_cpv, 0.0, 1.0)
    return (0.5 * (1.0 + np.cos(np.pi * t))).astype(np.float32)


def lowpass(data: np.ndarray, cutoff_cpv: float, rolloff_cpv: float = 0.02, workers: int = -1) -> np.ndarray:
    """Low-pass a `(z, y, x)` array with :func:`raised_cosine_lowpass` (periodic boundaries)."""
    data = np.asarray(data, dtype=np.float32)
    ft = sfft.rfftn(data, workers=workers)
    ft *= raised_cosine_lowpass(radial_frequency(data.shape), cutoff_cpv, rolloff_cpv)
    return sfft.irfftn(ft, s=data.shape, workers=workers).astype(np.float32)


def lowpass_to_resolution(data: np.ndarray, resolution_A: float, voxel_size_A: float, rolloff_cpv: float = 0.02) -> np.ndarray:
    """Low-pass ``data`` to ``resolution_A`` following the resolution convention."""
    return lowpass(data, voxel_size_A / float(resolution_A), rolloff_cpv)
