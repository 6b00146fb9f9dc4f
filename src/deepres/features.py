"""The network's fixed front end: local band energies from a bank of isotropic band-pass filters.

Resolution, as DeepRes defines it, is where the local spectrum of the map is cut off. The first
layer of our network therefore is a fixed (not learned) bank of 3D band-pass filters, applied in
Fourier space (it is a convolution layer whose kernels would be as large as the map), followed by
the local energy of each band (square, average over 2x2x2 blocks, Gaussian smoothing whose width
grows with the band's wavelength). The features are the log of each band's share of the local
energy — so they do not depend on the map's scale — plus the log of the total local energy and
the local mask fraction. They live on a grid of half the working sampling (stride 2).

With the two half maps (``FeatureConfig.half_maps``), each band also gets its local half-map
correlation ``(E_sum - E_diff) / (E_sum + E_diff)``, where ``E_sum`` and ``E_diff`` are the local
energies of the band in the half maps' mean and half difference: a local FSC per band, near 1
where the band holds signal and near 0 where it holds only noise. It tells signal from noise,
which the map alone cannot do where the noise is as strong as the finest detail.

The single map has one more clue to signal against noise (``FeatureConfig.sparsity_bands``):
the shape of each band's values. Noise is Gaussian, and a band-passed Gaussian field has
``mean|b|^2 / mean b^2 = 2/pi``; band-passed atomic detail is sparse (a few strong peaks near
atoms, little between them) and has a lower ratio (about 0.56-0.60 against 0.80 for the 2-3 A
bands of a clean 2 A map at 0.5 A/voxel). The local ratio, in the same windows as the energies
and divided by the windows' mask fraction, is one more channel for each of the finest bands. Read
locally it proved too noisy to help: no shipped model has it (docs/training-history.md, "Pilot: band sparsity").

Everything here works in cycles/voxel at the model's working sampling, so the same code serves
the low (1.0 Å/voxel) and the high (0.5 Å/voxel) range.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
import torch
import torch.nn.functional as F
from scipy.fft import next_fast_len


@dataclass(frozen=True)
class FeatureConfig:
    """Parameters of the filter bank (stored in every model file)."""

    n_bands: int = 16
    f_min_cpv: float = 0.035
    f_max_cpv: float = 0.49
    band_width_log: float = 0.75  # Gaussian sigma in ln(f), in units of the log spacing of the bands
    smooth_wavelengths: float = 0.5  # Gaussian sigma of the energy window, in wavelengths of the band
    smooth_min_vox: float = 2.0  # ... but at least this many working voxels
    pad_vox: int = 16  # zero padding around the crop before the FFT
    # Whole-map context: for each quantile q, each band's q-quantile over the mask of its local
    # log-share (see :func:`feature_context`). Empty: no context (the v1-v4 models).
    context_quantiles: tuple[float, ...] = ()
    # Half maps: one more channel per band, the band's local half-map correlation (v6 "halves" models).
    half_maps: bool = False
    # Band sparsity: for each of this many finest bands, the log of the local
    # (mean |band|)^2 / mean band^2 (Gaussian noise: 2/pi; sparse atomic detail: lower). 0: none
    # (every model before the sparsity pilot of 2026-12-06). The channels come last, after any half-map channels.
    sparsity_bands: int = 0
    # The solvent noise reference (:mod:`deepres.solvent`): n_bands + 1 more context values after the
    # quantiles (each band's log solvent/mask power, and a flag). False: none (every model before
    # the solvent pilot of 2026-12-07, third session).
    solvent_context: bool = False

    def __post_init__(self):
        object.__setattr__(self, "context_quantiles", tuple(float(q) for q in self.context_quantiles))
        if not 0 <= self.sparsity_bands <= self.n_bands:
            raise ValueError(f"sparsity_bands must be in 0..{self.n_bands}, got {self.sparsity_bands}")

    @property
    def n_channels(self) -> int:
        return self.n_bands * (2 if self.half_maps else 1) + 2 + self.sparsity_bands

    @property
    def n_solvent_values(self) -> int:
        """Length of the solvent noise reference (:mod:`deepres.solvent`): one value per band and a flag."""
        return self.n_bands + 1

    @property
    def n_context(self) -> int:
        return self.n_bands * len(self.context_quantiles) + (self.n_solvent_values if self.solvent_context else 0)

    def band_centres(self) -> list[float]:
        r = math.log(self.f_max_cpv / self.f_min_cpv) / (self.n_bands - 1)
        return [self.f_min_cpv * math.exp(r * k) for k in range(self.n_bands)]

    @property
    def band_sigma_ln(self) -> float:
        """Gaussian sigma of each band's filter in ln(f): ``band_width_log`` times the bands' log spacing."""
        centres = self.band_centres()
        return self.band_width_log * math.log(centres[1] / centres[0])

    def to_dict(self) -> dict:
        d = asdict(self)
        d["context_quantiles"] = list(self.context_quantiles)
        return d


def _radial_freq(shape, device) -> torch.Tensor:
    fz = torch.fft.fftfreq(shape[0], device=device)
    fy = torch.fft.fftfreq(shape[1], device=device)
    fx = torch.fft.rfftfreq(shape[2], device=device)
    return torch.sqrt(fz[:, None, None] ** 2 + fy[None, :, None] ** 2 + fx[None, None, :] ** 2)


def _gauss1d(sigma: float, device) -> torch.Tensor:
    half = max(1, int(math.ceil(3.0 * sigma)))
    x = torch.arange(-half, half + 1, dtype=torch.float32, device=device)
    k = torch.exp(-0.5 * (x / sigma) ** 2)
    return k / k.sum()


def _smooth3d(vol: torch.Tensor, sigma: float) -> torch.Tensor:
    """Separable Gaussian smoothing of a (D, H, W) tensor with zero padding (a linear convolution
    with the truncated, normalised kernel of :func:`_gauss1d`).

    Done as a product of the kernel's 1D transfer functions on a zero-padded FFT grid, which is
    the same convolution (up to float rounding) and several times faster than 3D convolutions
    with long 1D kernels.
    """
    k = _gauss1d(sigma, vol.device)
    h = k.numel() // 2
    shape = [next_fast_len(n + h, real=True) for n in vol.shape]  # >= h zeros after the data: no wrap
    x = F.pad(vol, (0, shape[2] - vol.shape[2], 0, shape[1] - vol.shape[1], 0, shape[0] - vol.shape[0]))
    transfer = None
    for axis, n in enumerate(shape):
        kk = torch.zeros(n, dtype=vol.dtype, device=vol.device)
        kk[: h + 1] = k[h:]
        kk[n - h :] = k[:h]
        t = torch.fft.rfft(kk) if axis == 2 else torch.fft.fft(kk)
        view = [1, 1, 1]
        view[axis] = t.numel()
        t = t.view(view)
        transfer = t if transfer is None else transfer * t
    out = torch.fft.irfftn(torch.fft.rfftn(x) * transfer, s=shape)
    return out[: vol.shape[0], : vol.shape[1], : vol.shape[2]].contiguous()


def block_mean(vol: torch.Tensor) -> torch.Tensor:
    """Average over 2x2x2 blocks of a (D, H, W) tensor with even sizes."""
    return F.avg_pool3d(vol[None, None], 2)[0, 0]


def _band_energies(x: torch.Tensor, config: FeatureConfig,
                   sparsity_mask: torch.Tensor | None = None) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
    """Smoothed local energy of each band of ``x`` (`(D, H, W)`, even sizes) on the stride-2 grid:
    `(n_bands, D/2, H/2, W/2)`.

    With ``sparsity_mask`` (the mask on the stride-2 grid, its block mean), also the local mean of
    ``|band|`` of the ``config.sparsity_bands`` finest bands and the mask fraction of the same
    windows: returns ``(energies, (abs_means, mask_fractions))``, the last two
    `(sparsity_bands, D/2, H/2, W/2)`."""
    dev = x.device
    # Zero padding of at least pad_vox on each side, up to an FFT-friendly length (2, 3, 5 factors).
    p = config.pad_vox
    hi = [next_fast_len(n + 2 * p, real=True) - n - p for n in x.shape]
    xp = F.pad(x, (p, hi[2], p, hi[1], p, hi[0]))
    ft = torch.fft.rfftn(xp)
    f = _radial_freq(xp.shape, dev)
    centres = config.band_centres()
    s = config.band_sigma_ln
    u = torch.log(torch.clamp(f, min=1e-6)).div_(s)  # ln f in units of the bands' width
    u[0, 0, 0] = float("inf")  # no band passes the mean
    del f
    D, H, W = x.shape
    energies, abs_means, fractions = [], [], []
    first_sparse = config.n_bands - config.sparsity_bands
    for k, fc in enumerate(centres):
        h = (u - math.log(fc) / s).square_().mul_(-0.5).exp_()  # Gaussian in ln f
        band = torch.fft.irfftn(ft * h, s=xp.shape)[p : p + D, p : p + H, p : p + W]
        e = block_mean(band * band)
        sigma_full = max(config.smooth_min_vox, config.smooth_wavelengths / fc)
        # the FFT smoothing leaves float rounding (~1e-7 below zero) in empty bands: a negative
        # energy there would make its log NaN
        energies.append(_smooth3d(e, sigma_full / 2.0).clamp_(min=0.0))
        if sparsity_mask is not None and k >= first_sparse:
            abs_means.append(_smooth3d(block_mean(band.abs()), sigma_full / 2.0).clamp_(min=0.0))
            fractions.append(_smooth3d(sparsity_mask, sigma_full / 2.0))
        del band, h
    if sparsity_mask is None:
        return torch.stack(energies)
    return torch.stack(energies), (torch.stack(abs_means), torch.stack(fractions))


def _masked_mean(v: torch.Tensor, msmall: torch.Tensor) -> torch.Tensor:
    sel = msmall > 0.5
    return v[sel].mean() if bool(sel.any()) else v.mean()


@torch.no_grad()
def compute_features(data: torch.Tensor, mask: torch.Tensor, config: FeatureConfig,
                     halves: tuple[torch.Tensor, torch.Tensor] | None = None) -> torch.Tensor:
    """Feature volume of a masked map on the working grid.

    Parameters
    ----------
    data : `(D, H, W)` float tensor, the masked map at the model's working sampling; even sizes.
    mask : `(D, H, W)` bool or float tensor, the (binarised) mask on the same grid.
    config : the filter bank.
    halves : the two masked half maps on the same grid; required when ``config.half_maps``
        (and ignored otherwise).

    Returns
    -------
    `(C, D/2, H/2, W/2)` float32 tensor, ``C = config.n_channels``: the bands' log-shares, the
    log of the total energy, the mask fraction, then (half maps) each band's local correlation,
    then (``sparsity_bands``) the finest bands' log sparsity ratios.
    """
    if any(s % 2 for s in data.shape):
        raise ValueError(f"compute_features needs even sizes, got {tuple(data.shape)}")
    if config.half_maps and halves is None:
        raise ValueError("these features need the two half maps")
    x = data.to(torch.float32)
    m = mask.to(torch.float32)
    sel = m > 0.5
    rms = torch.sqrt(torch.mean(x[sel] ** 2)) if bool(sel.any()) else torch.sqrt(torch.mean(x**2))
    x = x / torch.clamp(rms, min=1e-12)

    msmall = block_mean(m)
    if config.sparsity_bands:
        e, (a, frac) = _band_energies(x, config, sparsity_mask=msmall)  # (K, d, h, w), (S, d, h, w) x 2
    else:
        e = _band_energies(x, config)  # (K, d, h, w)
    total = e.sum(0)
    ref = _masked_mean(total, msmall)
    eps = 1e-4 * torch.clamp(ref, min=1e-20)
    feats = torch.log(e + eps / config.n_bands) - torch.log(total + eps)[None]
    log_total = torch.log((total + eps) / torch.clamp(ref, min=1e-20))
    out = [feats, log_total[None], msmall[None]]
    sparse = None
    if config.sparsity_bands:
        # log((mean|b|)^2 / mean b^2) over the window, divided by the window's mask fraction (a window
        # half outside the mask would otherwise halve the ratio); empty bands read as Gaussian (2/pi)
        delta = eps / config.n_bands
        e_fine = e[config.n_bands - config.sparsity_bands:]
        sparse = (torch.log(a * a + (2.0 / math.pi) * delta) - torch.log(e_fine + delta)
                  - torch.log(torch.clamp(frac, min=0.1)))
        del a, frac, e_fine
    del e, total
    if config.half_maps:
        h1, h2 = (h.to(torch.float32) for h in halves)
        if h1.shape != x.shape or h2.shape != x.shape:
            raise ValueError(f"half maps {tuple(h1.shape)}, {tuple(h2.shape)} differ from the map {tuple(x.shape)}")
        e_sum = _band_energies(0.5 * (h1 + h2), config)
        e_diff = _band_energies(0.5 * (h1 - h2), config)
        both = e_sum + e_diff
        eps_h = 1e-4 * torch.clamp(_masked_mean(both.sum(0), msmall), min=1e-20) / config.n_bands
        out.append((e_sum - e_diff) / (both + eps_h))
    if sparse is not None:
        out.append(sparse)
    return torch.cat(out, 0).to(torch.float32)


CONTEXT_MAX_VOXELS = 200_000  # quantiles of larger masks use an even subsample (every k-th voxel)


@torch.no_grad()
def feature_context(feats: torch.Tensor, weight: torch.Tensor, config: FeatureConfig) -> torch.Tensor:
    """Whole-map context of a feature volume: a vector of ``config.n_context`` values.

    For each quantile ``q`` of ``config.context_quantiles`` and each band, the ``q``-quantile over
    the mask of the band's local log-share (the first ``n_bands`` channels of
    :func:`compute_features`). A low quantile is the band's share where the map is least detailed:
    an estimate of the map's own noise floor in that band, which the local share is judged
    against. It is invariant to the map's scale, offset, rotation and to tiling.

    Parameters
    ----------
    feats : `(C, d, h, w)` features.
    weight : `(d, h, w)` bool, the mask voxels on the feature grid (block mean of the mask >= 0.5,
        the voxels that training scores); no voxel: the whole volume.
    config : the front end (``n_bands``, ``context_quantiles``).
    """
    k = config.n_bands
    if not config.context_quantiles:
        return feats.new_zeros(0)
    sel = weight.to(torch.bool)
    bands = feats[:k][:, sel] if bool(sel.any()) else feats[:k].reshape(k, -1)
    n = bands.shape[1]
    if n > CONTEXT_MAX_VOXELS:
        bands = bands[:, :: math.ceil(n / CONTEXT_MAX_VOXELS)]
    q = np.quantile(bands.to(torch.float32).cpu().numpy(), config.context_quantiles, axis=1)  # partition: no sort
    return torch.from_numpy(q.astype(np.float32).reshape(-1)).to(feats.device)
