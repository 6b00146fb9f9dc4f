"""Making a mask from the map itself (``deepres mask``), for maps deposited without one.

The mask that :func:`deepres.estimate` needs covers the molecule and little else. Built here as
RELION's ``relion_mask_create`` and ChimeraX users do it by hand:

1. low-pass the map (default 8 Å, the resolution convention's raised cosine): a smooth envelope,
   no side-chain holes, little noise;
2. threshold it at a level given in the map's units (``threshold``, e.g. the contour level EMDB
   recommends) or at the level that encloses the molecule's volume for its mass (``mass_kDa``,
   1.21 Å³ per Da: protein at 1.37 g/cm³; nucleic acids are denser, so their mask is looser);
3. drop connected pieces smaller than ``min_piece_fraction`` of the largest (specks of noise;
   :func:`keep_pieces`);
4. extend it outward by ``extend_A`` (a Euclidean ball, :func:`dilate_ball`), so that the
   surface side chains and the density's edge are inside.

The simulator's masks (:mod:`deepres.simulate.masks`, those the models were trained and
benchmarked with) are made by the same steps, with their own rule for the level.

The defaults were chosen on EMD-3488 with its deposited model 5ME2 (README, "Making a mask"):
threshold at 63 kDa's volume, 8 Å low-pass, 3 Å extension keep every atom inside at twice the
molecular volume. A mask always deserves a look over the map before it is used.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import scipy.fft as sfft
from scipy import ndimage

from deepres.errors import InputError
from deepres.filters import lowpass_to_resolution
from deepres.volume import Volume

#: Å³ per dalton of protein (density 1.37 g/cm³).
PROTEIN_A3_PER_DA = 1.21
LOWPASS_A = 8.0
EXTEND_A = 3.0
#: Pieces smaller than this fraction of the largest are dropped (as users "hide dust").
MIN_PIECE_FRACTION = 0.02


@dataclass
class MaskResult:
    """The mask (`(z, y, x)` bool on the map's grid) and how it was made."""

    mask: np.ndarray
    level: float
    n_voxels: int
    volume_A3: float
    n_pieces_kept: int
    n_pieces_dropped: int
    touches_edge: bool
    parameters: dict = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)


def keep_pieces(region: np.ndarray, min_piece_fraction: float = MIN_PIECE_FRACTION) -> tuple[np.ndarray, int, int]:
    """``region`` without its connected pieces (6-connected) smaller than ``min_piece_fraction`` of
    the largest; also the numbers of pieces kept and dropped."""
    lab, n = ndimage.label(region)
    if n <= 1:
        return region, n, 0
    sizes = np.bincount(lab.ravel())[1:]
    keep = np.flatnonzero(sizes >= min_piece_fraction * sizes.max()) + 1
    return np.isin(lab, keep), int(keep.size), int(n - keep.size)


def dilate_ball(mask: np.ndarray, radius_vox: float) -> np.ndarray:
    """Binary dilation by a Euclidean ball of ``radius_vox`` voxels (FFT convolution on a
    zero-padded box, so nothing wraps; the same result as thresholding the distance transform
    at ``radius_vox``, much faster for large radii)."""
    m = np.asarray(mask, dtype=bool)
    r = int(np.floor(radius_vox))
    if r < 1 or not m.any():
        return m.copy()
    # work on the mask's bounding box grown by r (clipped to the box)
    nz = np.nonzero(m)
    lo = [max(int(a.min()) - r, 0) for a in nz]
    hi = [min(int(a.max()) + r + 1, n) for a, n in zip(nz, m.shape)]
    full = m
    m = m[lo[0]:hi[0], lo[1]:hi[1], lo[2]:hi[2]]
    g = np.arange(-r, r + 1, dtype=np.float32)
    ball = (g[:, None, None] ** 2 + g[None, :, None] ** 2 + g[None, None, :] ** 2) <= np.float32(radius_vox) ** 2
    shape = [sfft.next_fast_len(n + 2 * r, real=True) for n in m.shape]
    fm = sfft.rfftn(m.astype(np.float32), s=shape, workers=1)
    fb = sfft.rfftn(ball.astype(np.float32), s=shape, workers=1)
    conv = sfft.irfftn(fm * fb, s=shape, workers=1)
    # the ball is centred at index r: output voxel i is conv[i + r]
    out = np.zeros(full.shape, dtype=bool)
    out[lo[0]:hi[0], lo[1]:hi[1], lo[2]:hi[2]] = conv[r:r + m.shape[0], r:r + m.shape[1], r:r + m.shape[2]] > 0.5
    return out


def molecular_volume_A3(mass_kDa: float) -> float:
    """Volume (Å³) of ``mass_kDa`` of protein."""
    return float(mass_kDa) * 1000.0 * PROTEIN_A3_PER_DA


def make_mask(volume: Volume, *, threshold: float | None = None, mass_kDa: float | None = None,
              lowpass_A: float = LOWPASS_A, extend_A: float = EXTEND_A,
              min_piece_fraction: float = MIN_PIECE_FRACTION) -> MaskResult:
    """A binary mask of the molecule in ``volume`` (exactly one of ``threshold`` and ``mass_kDa``).

    Parameters
    ----------
    volume : the map.
    threshold : level in the map's units, applied to the low-passed map.
    mass_kDa : the molecule's mass: the level is the one that encloses its volume.
    lowpass_A : resolution (Å) of the low-pass before thresholding; 0 for none (also when it is
        finer than the map's Nyquist limit, where it would do nothing).
    extend_A : outward extension in Å (0 for none).
    min_piece_fraction : connected pieces smaller than this fraction of the largest are dropped.

    Raises
    ------
    InputError
        For contradictory or out-of-range parameters, a mass whose volume does not fit in the box,
        or a level that nothing (or everything) reaches.
    """
    if (threshold is None) == (mass_kDa is None):
        raise InputError("give either a threshold (--threshold) or the molecule's mass (--mass-kda), not both or neither")
    vs = float(volume.voxel_size_A)
    for name, val in (("--lowpass", lowpass_A), ("--extend", extend_A)):
        if not (np.isfinite(val) and val >= 0):
            raise InputError(f"{name} must be 0 or a positive number of Å, got {val}")
    if not (0 <= min_piece_fraction <= 1):
        raise InputError(f"--min-piece must be in [0, 1], got {min_piece_fraction}")
    if threshold is not None and not np.isfinite(threshold):
        raise InputError(f"--threshold must be a number, got {threshold}")
    data = np.asarray(volume.data, dtype=np.float32)
    n_box = data.size
    lowpassed = lowpass_A > 2 * vs
    smooth = lowpass_to_resolution(data, lowpass_A, vs) if lowpassed else data

    if mass_kDa is not None:
        if not (np.isfinite(mass_kDa) and mass_kDa > 0):
            raise InputError(f"--mass-kda must be a positive mass in kDa, got {mass_kDa}")
        n_target = int(round(molecular_volume_A3(mass_kDa) / vs ** 3))
        if n_target < 1:
            raise InputError(f"{mass_kDa:g} kDa is less than one voxel of {vs:g} Å: check the mass and the voxel size")
        if n_target >= n_box:
            raise InputError(
                f"{mass_kDa:g} kDa of protein ({molecular_volume_A3(mass_kDa):.3g} Å³) does not fit in the box "
                f"({n_box * vs ** 3:.3g} Å³): check the mass (in kDa) and the voxel size"
            )
        flat = smooth.ravel()
        level = float(np.partition(flat, n_box - n_target)[n_box - n_target])
    else:
        level = float(threshold)
    region = smooth >= level
    n_above = int(region.sum())
    if n_above in (0, n_box):  # the map's range, for the message only
        what = f"the map low-passed to {lowpass_A:g} Å" if lowpassed else "the map"
        lo, hi = float(smooth.min()), float(smooth.max())
        if n_above == 0:
            raise InputError(f"no voxel of {what} reaches the level {level:g} (its values run from {lo:.4g} to "
                             f"{hi:.4g}): lower the threshold")
        raise InputError(f"every voxel of {what} is at or above the level {level:g} (values {lo:.4g} to {hi:.4g}): "
                         "raise the threshold")

    region, n_kept, n_dropped = keep_pieces(region, min_piece_fraction)
    if extend_A > 0:
        region = dilate_ball(region, extend_A / vs)

    touches = bool(region[0].any() or region[-1].any() or region[:, 0].any() or region[:, -1].any()
                   or region[:, :, 0].any() or region[:, :, -1].any())
    n_vox = int(region.sum())
    warnings = []
    if touches:
        warnings.append("the mask reaches the edge of the box: the level may be too low (noise or a neighbour "
                        "included) or the box too tight; look at it over the map")
    if n_vox > 0.5 * n_box:
        warnings.append(f"the mask fills {100 * n_vox / n_box:.0f}% of the box: the level is probably too low")
    params = {
        "threshold": threshold, "mass_kDa": mass_kDa, "level": level,
        "lowpass_A": float(lowpass_A) if lowpassed else None, "extend_A": float(extend_A),
        "min_piece_fraction": float(min_piece_fraction),
        "protein_A3_per_Da": PROTEIN_A3_PER_DA if mass_kDa is not None else None,
    }
    return MaskResult(region, level, n_vox, n_vox * vs ** 3, n_kept, n_dropped, touches, params, warnings)
