"""Masks made the way users make them: low-pass, threshold, dilate.

A user low-passes the map to 10-15 Å, picks a contour level in a viewer and dilates the result by
a few voxels (often with a soft edge, which DeepRes binarises anyway). ``tight`` masks use a high
level and little dilation, ``loose`` masks a low level and more dilation:

========  ===============  ====================================  ===============
style     low-pass (Å)     level (fraction of max above median)  dilation (Å)
========  ===============  ====================================  ===============
tight     U(10, 15)        U(0.15, 0.35)                         U(0, 2)
loose     U(10, 15)        U(0.04, 0.12)                         U(2, 8)
========  ===============  ====================================  ===============

The level is raised, if needed, to 3 robust standard deviations of the background (from the
lower half of the low-passed map) above the median: users move the contour above the noise.
Islands smaller than 2 % of the largest component are removed (users' "hide dust").
"""

from __future__ import annotations

import numpy as np

from deepres.filters import lowpass
from deepres.masking import MIN_PIECE_FRACTION, dilate_ball, keep_pieces
from deepres.volume import Volume

__all__ = ["MASK_STYLES", "NOISE_SDS", "draw_mask_params", "make_mask", "dilate_ball"]

#: The level is at least this many robust SDs of the background above the median.
NOISE_SDS = 3.0

MASK_STYLES = {
    "tight": {"lowpass_A": (10.0, 15.0), "level": (0.15, 0.35), "dilation_A": (0.0, 2.0)},
    "loose": {"lowpass_A": (10.0, 15.0), "level": (0.04, 0.12), "dilation_A": (2.0, 8.0)},
}


def draw_mask_params(rng: np.random.Generator, style: str | None = None) -> dict:
    """Draw mask parameters for ``style`` (``tight``/``loose``; drawn 50/50 when None)."""
    if style is None:
        style = "tight" if rng.random() < 0.5 else "loose"
    if style not in MASK_STYLES:
        raise ValueError(f"unknown mask style {style!r}; use one of {tuple(MASK_STYLES)}")
    r = MASK_STYLES[style]
    return {"style": style, **{k: float(rng.uniform(*r[k])) for k in ("lowpass_A", "level", "dilation_A")}}


def make_mask(map_or_density: np.ndarray | Volume, voxel_size_A: float,
              rng_or_params: np.random.Generator | dict | None = None, *, return_params: bool = False):
    """Binary mask of a map: low-pass, threshold, remove dust, dilate.

    Parameters
    ----------
    map_or_density : `(z, y, x)` map (array or :class:`Volume`).
    voxel_size_A : grid spacing in Å.
    rng_or_params : a generator (parameters drawn with :func:`draw_mask_params`), a dict with
        ``lowpass_A``, ``level`` (fraction of ``max - median`` above the median of the
        low-passed map) and ``dilation_A`` (a missing key takes the middle of its range for the
        ``style`` key, default tight), or None (tight mid-range: 12 Å, 0.25, 1 Å).
    return_params : also return the parameters used.

    Returns
    -------
    `(z, y, x)` bool mask (and the parameter dict).
    """
    data = map_or_density.data if isinstance(map_or_density, Volume) else map_or_density
    data = np.asarray(data, dtype=np.float32)
    v = float(voxel_size_A)
    if rng_or_params is None:
        params = {"style": "tight", "lowpass_A": 12.0, "level": 0.25, "dilation_A": 1.0}
    elif isinstance(rng_or_params, dict):
        params = dict(rng_or_params)
        missing = [k for k in ("lowpass_A", "level", "dilation_A") if k not in params]
        if missing:
            style = params.setdefault("style", "tight")
            if style not in MASK_STYLES:
                raise ValueError(f"unknown mask style {style!r}; use one of {tuple(MASK_STYLES)}")
            params.update({k: float(np.mean(MASK_STYLES[style][k])) for k in missing})
    else:
        params = draw_mask_params(rng_or_params)
    lp = lowpass(data, v / float(params["lowpass_A"]), 0.02 * v, workers=1)
    med = float(np.median(lp))
    # a user raises the level above the background noise: >= 3 robust SDs of the lower half
    low = lp[lp <= med]
    noise_sd = 1.4826 * float(np.median(med - low)) if low.size else 0.0
    level = med + max(float(params["level"]) * (float(lp.max()) - med), NOISE_SDS * noise_sd)
    m, _, _ = keep_pieces(lp >= level, MIN_PIECE_FRACTION)
    dil_vox = float(params["dilation_A"]) / v
    if dil_vox > 0 and m.any():
        m = dilate_ball(m, dil_vox)
    return (m, params) if return_params else m
