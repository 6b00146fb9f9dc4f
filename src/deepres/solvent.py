"""The map's own noise reference: each band's power in the solvent against its power in the mask.

A single map cannot tell noise from fine detail where the two are equally strong, locally. But
the noise is also in the solvent (outside the mask), where there is nothing else: the solvent's
power in a band, against the power of the same band inside the mask, says how much of that band
is noise (MonoRes and ResMap use the solvent this way). For each band of the front end
(:class:`deepres.features.FeatureConfig`), the value is

    log( P_solvent(band) / P_mask(band) )

near 0 for a band that holds only noise, strongly negative for a band that holds signal. The
solvent is the map outside the mask grown by :data:`SOLVENT_MARGIN_A` (the tails of the density),
with its own mean removed. Both powers are computed on the input grid, with the bands' Gaussian
filters moved to the input sampling; a band beyond the input's Nyquist frequency has no power in
either and gets 0. The values enter the network as whole-map context (:func:`deepres.features.
feature_context` gives the rest), followed by a flag: 1 when the reference was measured, 0 (and
all values 0) when it could not be — too little solvent, or a solvent flattened to a constant
(a masked map). The network is trained with the reference withheld now and then, so it also
knows what to do without one.

The values do not depend on the map's scale or offset (a ratio of powers, each mean removed),
nor on rotations (radial bands), nor on tiling (one vector per map).

Tried for the high model and not shipped (docs/training-history.md, "Pilot: the solvent as a noise
reference"): it helped on low-pass noise and moved other maps coarser. No shipped model reads it.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import fft as sfft

from deepres.features import FeatureConfig
from deepres.filters import radial_frequency
from deepres.mask import dilate18

#: the solvent starts this far (Å) outside the dilated mask: the density's tails stay out
SOLVENT_MARGIN_A = 3.0
#: at least this many solvent voxels, and this share of the box, or no reference
MIN_SOLVENT_VOXELS = 8000
MIN_SOLVENT_FRACTION = 0.05
#: a solvent whose mean square is below this share of the mask's holds no usable noise: flattened
#: or masked (EMD-3488's deposited map: 1e-4). The 30 high third-draw cases (SNR 1-17) have
#: 0.028-0.44.
FLAT_SOLVENT_RATIO = 1e-3
#: the values are clipped to this range (a band with no power in the mask would be +inf)
CLIP = (-12.0, 4.0)
#: the radial spectra are summed in bins this fine (bins per cycle/voxel)
RADIAL_BINS_PER_CYCLE = 2000


def n_values(config: FeatureConfig) -> int:
    """Length of the solvent context: one value per band and the flag."""
    return config.n_solvent_values


def unavailable(config: FeatureConfig) -> np.ndarray:
    """The context of a map without a usable solvent (all zeros, flag 0)."""
    return np.zeros(n_values(config), dtype=np.float32)


def solvent_context(data: np.ndarray, mask: np.ndarray, voxel_size_A: float, working_A: float,
                    config: FeatureConfig) -> tuple[np.ndarray, str | None]:
    """The solvent noise reference of a map.

    Parameters
    ----------
    data : `(z, y, x)`, the map (unmasked) on its own grid.
    mask : `(z, y, x)` bool, the dilated mask (:func:`deepres.mask.mask_map`'s) on the same grid.
    voxel_size_A : the map's voxel size.
    working_A : the model's working sampling (the bands are defined there).
    config : the front end (its bands).

    Returns
    -------
    ``(values, reason)``: ``n_bands + 1`` float32 values (the last is the flag), and ``None`` or
    why there is no reference (then the values are :func:`unavailable`'s).
    """
    x = np.asarray(data, dtype=np.float32)
    inside = np.asarray(mask, dtype=bool)
    if x.shape != inside.shape:
        raise ValueError(f"map {x.shape} and mask {inside.shape} differ in shape")
    grow = max(1, int(math.ceil(SOLVENT_MARGIN_A / float(voxel_size_A))))
    solvent = ~dilate18(inside, grow)
    n_s, n_m = int(solvent.sum()), int(inside.sum())
    if n_m == 0:
        return unavailable(config), "the mask is empty"
    if n_s < max(MIN_SOLVENT_VOXELS, MIN_SOLVENT_FRACTION * x.size):
        return unavailable(config), (f"too little solvent outside the mask ({n_s} voxels more than "
                                     f"{SOLVENT_MARGIN_A:g} A from it)")
    v_s, v_m = x[solvent].astype(np.float64), x[inside].astype(np.float64)
    mu_s, mu_m = float(v_s.mean()), float(v_m.mean())
    ms_s, ms_m = float(v_s.var()), float(v_m.var())
    del v_s, v_m
    if not (ms_m > 0) or ms_s < FLAT_SOLVENT_RATIO * ms_m:
        return unavailable(config), "the solvent is flat (a masked map?)"
    # radial power spectra of the two regions (mean removed, zero elsewhere), per voxel of the region
    f = radial_frequency(x.shape)
    cols = np.full(f.shape[-1], 2.0)  # rfft: the half-spectrum columns count twice...
    cols[0] = 1.0  # ...except the first and (even length) the last
    if x.shape[2] % 2 == 0:
        cols[-1] = 1.0
    bins = np.minimum((f * RADIAL_BINS_PER_CYCLE).astype(np.int64), int(0.9 * RADIAL_BINS_PER_CYCLE)).ravel()
    del f
    spectra = []
    for region, mu, n in ((solvent, mu_s, n_s), (inside, mu_m, n_m)):
        p = _power(np.where(region, x - np.float32(mu), np.float32(0))) * cols
        spectra.append(np.bincount(bins, weights=p.ravel(), minlength=int(0.9 * RADIAL_BINS_PER_CYCLE) + 1) / n)
        del p
    f_bin = (np.arange(spectra[0].size) + 0.5) / RADIAL_BINS_PER_CYCLE
    ln_f = np.log(f_bin)
    centres = config.band_centres()
    sigma = config.band_sigma_ln
    scale = float(voxel_size_A) / float(working_A)  # cycles/working voxel -> cycles/input voxel
    values = np.zeros(n_values(config), dtype=np.float64)
    tiny = 1e-12 * (ms_m + ms_s) * x.size
    for k, fc in enumerate(centres):
        f_in = fc * scale
        if f_in >= 0.5:  # beyond the input's Nyquist: no power in either region
            continue
        h2 = np.exp(-((ln_f - math.log(f_in)) / sigma) ** 2)  # |Gaussian in ln f|^2
        h2[0] = 0.0  # the mean
        values[k] = math.log((float(spectra[0] @ h2) + tiny) / (float(spectra[1] @ h2) + tiny))
    values[: config.n_bands] = np.clip(values[: config.n_bands], *CLIP)
    values[-1] = 1.0
    return values.astype(np.float32), None


def _power(a: np.ndarray) -> np.ndarray:
    ft = sfft.rfftn(a, workers=-1)
    return (ft.real.astype(np.float64) ** 2 + ft.imag.astype(np.float64) ** 2)
