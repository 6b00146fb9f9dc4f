"""Mask operations: the 18-neighbourhood dilation of the original, binarisation, and the
normalisation of a map before masking."""

from __future__ import annotations

import numpy as np
from scipy import ndimage

#: Threshold that separates background from specimen in a mask (the original's 0.15).
MASK_THRESHOLD = 0.15


def structure_18() -> np.ndarray:
    """3x3x3 structuring element of the 18-neighbourhood (6 faces + 12 edges, no corners)."""
    return ndimage.generate_binary_structure(3, 2)


def dilate18(mask: np.ndarray, iterations: int = 1) -> np.ndarray:
    """Binary dilation with the 18-neighbourhood, as Xmipp's ``transform_morphology --size 1``.

    Unlike Xmipp, the outermost voxel layer is processed too (the box edge is treated as
    background), so a mask touching the box edge still grows along it.
    """
    return ndimage.binary_dilation(np.asarray(mask) > 0, structure=structure_18(), iterations=iterations)


def binarise(mask: np.ndarray, threshold: float = MASK_THRESHOLD) -> np.ndarray:
    """Values >= ``threshold`` are specimen (True), below are background (False)."""
    return np.asarray(mask) >= threshold


def normalise_map(data: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Remove the map's offset and scale so that the estimate does not depend on them.

    The offset is the median of the voxels outside the mask (the solvent level; the median of the
    whole map when the mask covers everything), the scale the standard deviation inside the mask
    after removing the offset. Multiplying the map by any positive constant or adding any constant
    leaves the result unchanged up to float rounding.
    """
    data = np.asarray(data, dtype=np.float32)
    inside = np.asarray(mask, dtype=bool)
    outside = ~inside
    offset = float(np.median(data[outside])) if outside.any() else float(np.median(data))
    centred = data - np.float32(offset)
    vals = centred[inside] if inside.any() else centred.ravel()
    scale = float(np.sqrt(np.mean(vals.astype(np.float64) ** 2)))
    if not np.isfinite(scale) or scale <= 0:
        scale = 1.0
    return (centred / np.float32(scale)).astype(np.float32)


def mask_map(data: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Normalise ``data`` and multiply it by the 18-dilated ``mask`` (step 2 of the protocol).

    Returns the masked map and the dilated mask (bool).
    """
    m = np.asarray(mask) > 0
    dil = dilate18(m)
    return normalise_map(data, m) * dil.astype(np.float32), dil
