"""Detect a map that was low-pass filtered, and the finest label its content can hold.

Deposited and post-processed maps are often low-pass filtered at their global (FSC) resolution:
signal and noise alike end at the filter, and the map holds nothing finer. The power spectrum then
falls by orders of magnitude within a few hundredths of a cycle per voxel and stays down up to
Nyquist, which neither a B-factor's smooth decay nor the end of the signal over white or coloured
noise does (after the signal ends, the noise remains).

:func:`detect_lowpass` finds such a fall in the map's radially averaged power (whole box, mean
removed): at some frequency the power is still at the level of the bins before it, 0.06 cycles/voxel
further it is at least :data:`DROP_DECADES` decades lower, and no bin beyond comes back within 1.5
decades of the level. The *content end* is where the power first falls to 1/100 of that level (the
filter's amplitude at 1/10), interpolated between bin centres. A map whose noise is a thousand times
weaker than its signal looks the same beyond the signal's end, and holds as little there.

By the resolution convention a region at r Å holds content up to 1/r plus the raised cosine's
roll-off, so a map whose content ends at f_end can hold no label finer than
1/(f_end - roll-off); :meth:`LowpassCut.label_floor_A` takes half the roll-off, a margin for filters
with a softer edge than the convention's. The pipeline uses it as a floor on the estimate, as it
uses the input's Nyquist limit: no region of such a map can be better resolved than that.
On the held-out cases (``scripts/lowpass_check.py``, 105 per range) the rule finds 51 of the 54
maps whose noise is low-pass filtered below Nyquist, and 8 of the 140 with white or coloured noise:
coarse fields at high SNR, whose power beyond the signal's end stays as far down.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import fft as sfft

#: The fall that counts as a filter's edge: this many decades of power within :data:`EDGE_WIDTH_CPV`.
DROP_DECADES = 2.0
#: Width of the edge, cycles/voxel of the input.
EDGE_WIDTH_CPV = 0.06
#: Narrowest bin of the radial power, cycles/voxel (wider for boxes shorter than 100 voxels).
BIN_CPV = 0.01
#: Bins before the edge whose median is the level the fall is measured from.
N_LEVEL_BINS = 5


@dataclass(frozen=True)
class LowpassCut:
    """A low-pass filter found in a map.

    Attributes
    ----------
    edge_A : where the power starts to fall (Å).
    content_end_A : where the power is 1/100 of its level before the fall (Å).
    drop_decades : how far the power falls within the edge's width (decades).
    """

    edge_A: float
    content_end_A: float
    drop_decades: float

    def label_floor_A(self, rolloff_Ainv: float) -> float:
        """The finest label (Å) the map's content can hold under the convention whose raised cosine
        is ``rolloff_Ainv`` wide (half the roll-off taken off the content's end)."""
        f = 1.0 / self.content_end_A - 0.5 * float(rolloff_Ainv)
        return float(1.0 / f) if f > 0 else float("inf")

    def as_dict(self) -> dict:
        return {"edge_A": round(self.edge_A, 3), "content_end_A": round(self.content_end_A, 3),
                "drop_decades": round(self.drop_decades, 2)}


def radial_log_power(data: np.ndarray, bin_cpv: float) -> tuple[np.ndarray, np.ndarray]:
    """Bin centres (cycles/voxel, up to 0.5) and log10 of the mean power in each bin of width
    ``bin_cpv`` (NaN where a bin holds no Fourier sample). Besides the half-spectrum (complex64,
    the size of the map in float64), it holds only a few planes at a time."""
    a = np.asarray(data, dtype=np.float32)
    ft = sfft.rfftn(a - np.float32(a.mean()), workers=-1)
    fz = sfft.fftfreq(a.shape[0]).astype(np.float32)
    fy = sfft.fftfreq(a.shape[1]).astype(np.float32)[:, None]
    fx = sfft.rfftfreq(a.shape[2]).astype(np.float32)[None, :]
    fyx2 = fy * fy + fx * fx
    n_bins = int(round(0.5 / bin_cpv))
    total = np.zeros(n_bins)
    count = np.zeros(n_bins)
    for k in range(a.shape[0]):  # plane by plane: no full-size temporaries
        idx = np.floor(np.sqrt(fz[k] * fz[k] + fyx2) / np.float32(bin_cpv)).astype(np.int64).ravel()
        keep = idx < n_bins
        plane = ft[k]
        power = (plane.real.astype(np.float64) ** 2 + plane.imag.astype(np.float64) ** 2).ravel()
        total += np.bincount(idx[keep], power[keep], minlength=n_bins)
        count += np.bincount(idx[keep], minlength=n_bins)
    with np.errstate(divide="ignore", invalid="ignore"):
        logp = np.where(count > 0, np.log10(np.maximum(total / np.maximum(count, 1), 1e-300)), np.nan)
    return (np.arange(n_bins) + 0.5) * bin_cpv, logp


def bin_width_cpv(shape) -> float:
    """Width (cycles/voxel) of the radial bins :func:`detect_lowpass` uses for a map of ``shape``."""
    return max(BIN_CPV, 1.0 / min(shape))


def detect_lowpass(data: np.ndarray, voxel_size_A: float,
                   radial: tuple[np.ndarray, np.ndarray] | None = None) -> LowpassCut | None:
    """The low-pass filter of the map ``data`` (z, y, x) sampled at ``voxel_size_A``, or None.
    ``radial``: the map's ``radial_log_power(data, bin_width_cpv(data.shape))``, if already computed."""
    bin_cpv = bin_width_cpv(np.shape(data))
    f, logp = radial_log_power(data, bin_cpv) if radial is None else radial
    ok = np.isfinite(logp)
    f, logp = f[ok], logp[ok]
    w = max(2, int(round(EDGE_WIDTH_CPV / bin_cpv)))
    for i in range(N_LEVEL_BINS, len(logp) - w):
        level = float(np.median(logp[i - N_LEVEL_BINS + 1:i + 1]))
        if logp[i] < level - 0.5:
            continue
        drop = float(logp[i] - logp[i + w])
        if drop >= DROP_DECADES and float(np.max(logp[i + w:])) <= logp[i] - 1.5:
            below = np.flatnonzero(logp[i + 1:] <= level - 2.0)
            j = i + 1 + (int(below[0]) if below.size else w - 1)
            # where the power crosses level - 2, interpolated in log power between bin centres j-1, j
            t = (logp[j - 1] - (level - 2.0)) / max(float(logp[j - 1] - logp[j]), 1e-12)
            f_end = float(f[j - 1] + np.clip(t, 0.0, 1.0) * (f[j] - f[j - 1]))
            v = float(voxel_size_A)
            return LowpassCut(edge_A=v / float(f[i]), content_end_A=v / f_end, drop_decades=drop)
    return None
