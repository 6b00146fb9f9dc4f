"""Noise and global B-factor (sharpening / blurring) for simulated maps.

Noise model
-----------
Noise is Gaussian, independent for each half map, stationary over the box, with one of these
power spectra:

white
    flat up to Nyquist (a raw, unfiltered reconstruction's noise, roughly).
coloured
    power ∝ ``1 / (s + s0) ** beta`` (``s`` in Å⁻¹, ``s0 = 0.02`` Å⁻¹, ``beta`` ~ 1 by default):
    1/f-like noise, stronger at low frequency, as in maps whose noise is dominated by
    structured background / misaligned particles.
lowpass
    white noise low-passed by the resolution-convention raised cosine at ``lowpass_A`` (the map's
    best resolution): what a map that was globally filtered at its FSC resolution looks like.
Any spectrum can also be low-passed by passing ``lowpass_A``.

The noise is scaled so that ``snr = P_signal / var(noise)`` where ``P_signal`` is the variance
of the map over ``signal_mask`` (the molecule) or over the whole box when no mask is given.
"""

from __future__ import annotations

import numpy as np
import scipy.fft as sfft

from deepres.filters import radial_frequency, raised_cosine_lowpass

NOISE_SPECTRA = ("white", "coloured", "lowpass")


def add_noise(map_data: np.ndarray, voxel_size_A: float, rng: np.random.Generator, snr: float | None,
              spectrum: str = "white", lowpass_A: float | None = None, *, signal_mask: np.ndarray | None = None,
              colour_exponent: float = 1.0, rolloff_Ainv: float = 0.02, workers: int = 1) -> np.ndarray:
    """Draw a noise volume for ``map_data`` (returned, not added: ``noisy = map + noise``).

    Parameters
    ----------
    map_data : `(z, y, x)` signal (sets the noise level through ``snr``).
    voxel_size_A : grid spacing in Å.
    rng : random generator.
    snr : signal-to-noise variance ratio (see module docstring); None or inf gives zeros.
    spectrum : ``"white"``, ``"coloured"`` or ``"lowpass"``.
    lowpass_A : low-pass the noise at this resolution (required for ``"lowpass"``).
    signal_mask : bool `(z, y, x)`: where the signal variance is measured.
    colour_exponent : ``beta`` of the coloured spectrum.
    rolloff_Ainv : raised-cosine roll-off of the low-pass, Å⁻¹.
    workers : FFT threads.

    Returns
    -------
    `(z, y, x)` float32 noise.
    """
    data = np.asarray(map_data, dtype=np.float32)
    if spectrum not in NOISE_SPECTRA:
        raise ValueError(f"unknown noise spectrum {spectrum!r}; use one of {NOISE_SPECTRA}")
    if snr is None or not np.isfinite(snr):
        return np.zeros_like(data)
    if snr <= 0:
        raise ValueError("snr must be > 0")
    if spectrum == "lowpass" and lowpass_A is None:
        raise ValueError("spectrum 'lowpass' needs lowpass_A")
    v = float(voxel_size_A)
    noise = rng.standard_normal(data.shape, dtype=np.float32)
    if spectrum != "white" or lowpass_A is not None:
        k = radial_frequency(data.shape)
        ft = sfft.rfftn(noise, workers=workers)
        if spectrum == "coloured":
            s = k / np.float32(v)
            ft *= ((s + np.float32(0.02)) ** np.float32(-colour_exponent / 2.0)).astype(np.float32)
        if lowpass_A is not None:
            ft *= raised_cosine_lowpass(k, v / float(lowpass_A), float(rolloff_Ainv) * v)
        noise = sfft.irfftn(ft, s=data.shape, workers=workers).astype(np.float32)
    region = data if signal_mask is None or not np.any(signal_mask) else data[np.asarray(signal_mask, bool)]
    p_signal = float(np.var(region, dtype=np.float64))
    sd = float(noise.std(dtype=np.float64))
    target = np.sqrt(p_signal / float(snr)) if p_signal > 0 else 0.0
    return (noise * np.float32(target / sd if sd > 0 else 0.0)).astype(np.float32)


def apply_bfactor(map_data: np.ndarray, voxel_size_A: float, b_A2: float, max_freq_Ainv: float | None = None,
                  workers: int = 1) -> np.ndarray:
    """Multiply the map's transform by ``exp(-B s² / 4)`` (``s`` = |k| in Å⁻¹).

    Negative ``b_A2`` sharpens, positive blurs. With ``max_freq_Ainv`` the factor is held constant
    above that frequency (bounded sharpening gain).
    """
    data = np.asarray(map_data, dtype=np.float32)
    if b_A2 == 0:
        return data.copy()
    s = radial_frequency(data.shape) / np.float32(voxel_size_A)
    if max_freq_Ainv is not None:
        s = np.minimum(s, np.float32(max_freq_Ainv))
    ft = sfft.rfftn(data, workers=workers)
    ft *= np.exp(np.float32(-b_A2 / 4.0) * s * s)
    return sfft.irfftn(ft, s=data.shape, workers=workers).astype(np.float32)
