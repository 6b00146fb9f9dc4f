"""Statistics of a resolution map and the Xmipp histogram file (``histogram.xmd``).

Unlike the original, the statistics are computed on the map the user gets (the input grid,
in-mask voxels), not on the working-sampling map, and a map whose values are all equal gives a
one-bin histogram instead of an error.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: Target histogram bin width in Å (the original's ``round(4 * (max - min))`` bins).
BIN_WIDTH_A = 0.25


@dataclass(frozen=True)
class ResolutionStats:
    """Median, highest (smallest Å) and lowest (largest Å) resolution over the mask, and a histogram.

    Attributes
    ----------
    median_A, highest_A, lowest_A : floats in Å.
    n_voxels : number of in-mask voxels.
    counts : histogram counts (int64), one per bin.
    edges_A : bin edges (``len(counts) + 1``); ``edges_A[:-1]`` are the ``_x`` of the .xmd file.
    """

    median_A: float
    highest_A: float
    lowest_A: float
    n_voxels: int
    counts: np.ndarray
    edges_A: np.ndarray

    def as_dict(self) -> dict:
        return {
            "median_A": self.median_A,
            "highest_A": self.highest_A,
            "lowest_A": self.lowest_A,
            "n_voxels": self.n_voxels,
            "histogram": {"x_A": [float(x) for x in self.edges_A[:-1]], "count": [int(c) for c in self.counts]},
        }


def histogram(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Histogram of ``values`` with ``max(1, round(4 * (max - min)))`` equal bins over [min, max].

    The last bin includes ``max``. When all values are equal there is one bin of width
    :data:`BIN_WIDTH_A` starting at the value.
    """
    v = np.asarray(values, dtype=np.float64).ravel()
    if v.size == 0:
        raise ValueError("no values")
    lo, hi = float(v.min()), float(v.max())
    n_bins = max(1, int(round((hi - lo) / BIN_WIDTH_A)))
    if hi <= lo:
        return np.array([v.size], dtype=np.int64), np.array([lo, lo + BIN_WIDTH_A])
    edges = np.linspace(lo, hi, n_bins + 1)
    idx = np.floor((v - lo) / (hi - lo) * n_bins).astype(np.int64)
    idx = np.clip(idx, 0, n_bins - 1)
    counts = np.bincount(idx, minlength=n_bins).astype(np.int64)
    return counts, edges


def compute_stats(resolution: np.ndarray, mask: np.ndarray) -> ResolutionStats:
    """Statistics of ``resolution`` (Å) over the voxels where ``mask`` is true."""
    vals = np.asarray(resolution, dtype=np.float32)[np.asarray(mask, dtype=bool)]
    if vals.size == 0:
        raise ValueError("the mask is empty")
    counts, edges = histogram(vals)
    return ResolutionStats(
        median_A=float(np.median(vals)),
        highest_A=float(vals.min()),
        lowest_A=float(vals.max()),
        n_voxels=int(vals.size),
        counts=counts,
        edges_A=edges,
    )


def format_xmd(stats: ResolutionStats) -> str:
    """The histogram as Xmipp STAR metadata (``# XMIPP_STAR_1 *``, columns ``_count`` and ``_x``)."""
    lines = ["# XMIPP_STAR_1 *", "#", "data_", "loop_", " _count", " _x"]
    for c, x in zip(stats.counts, stats.edges_A[:-1]):
        lines.append(f" {int(c):12d} {float(x):14.6f}")
    return "\n".join(lines) + "\n"
