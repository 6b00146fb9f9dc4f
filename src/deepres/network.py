"""The learned part of the network: a small fully convolutional 3D net on the feature grid.

All convolutions are *valid* (no padding): the output at a voxel depends only on the features
within :attr:`DeepResNet.radius` voxels of it. Inference pads the feature volume by that radius
and can then tile the volume with overlapping halos and get exactly the same answer as one pass.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import nn


@dataclass(frozen=True)
class NetConfig:
    in_channels: int = 18
    width: int = 16
    context_channels: int = 0  # whole-map context vector (deepres.features.feature_context), 0: none
    dilations: tuple[int, ...] = (1, 2, 4, 2, 1)
    min_A: float = 2.5
    max_A: float = 13.0
    out_margin_A: float = 0.5  # output range extends this far beyond [min_A, max_A]

    def to_dict(self) -> dict:
        d = asdict(self)
        d["dilations"] = list(self.dilations)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "NetConfig":
        d = dict(d)
        d["dilations"] = tuple(d["dilations"])
        return cls(**d)


class DeepResNet(nn.Module):
    """Features `(N, C, d, h, w)` → resolution in Å `(N, 1, d - 2R, h - 2R, w - 2R)`.

    With ``config.context_channels`` > 0 the forward pass also takes a context `(N, G)` (one
    vector per map, :func:`deepres.features.feature_context`). It enters the first layer as a
    learned, per-map bias, which is what constant input channels would do, without storing them
    over the whole volume. Its weights start at zero, so a network fine-tuned from one without
    context starts from exactly the same function.
    """

    def __init__(self, config: NetConfig):
        super().__init__()
        self.config = config
        c = config.width
        self.inp = nn.Conv3d(config.in_channels, c, 1)
        self.ctx = None
        if config.context_channels:
            self.ctx = nn.Linear(config.context_channels, c, bias=False)
            nn.init.zeros_(self.ctx.weight)
        self.blocks = nn.ModuleList(nn.Conv3d(c, c, 3, dilation=d) for d in config.dilations)
        self.head = nn.Sequential(nn.Conv3d(c, c, 1), nn.ReLU(), nn.Conv3d(c, 1, 1))
        self.act = nn.ReLU()
        self.radius = sum(config.dilations)
        lo, hi = config.min_A - config.out_margin_A, config.max_A + config.out_margin_A
        self.register_buffer("_log_lo", torch.tensor(float(torch.log(torch.tensor(lo)))), persistent=False)
        self.register_buffer("_log_hi", torch.tensor(float(torch.log(torch.tensor(hi)))), persistent=False)

    @property
    def activation_channels(self) -> int:
        return self.config.width

    def forward(self, x: torch.Tensor, context: torch.Tensor | None = None) -> torch.Tensor:
        h = self.inp(x)
        if self.ctx is not None:
            if context is None or context.shape != (x.shape[0], self.config.context_channels):
                got = None if context is None else tuple(context.shape)
                raise ValueError(f"this network needs a context of shape ({x.shape[0]}, {self.config.context_channels}), got {got}")
            h = h + self.ctx(context.to(h.dtype))[:, :, None, None, None]
        h = self.act(h)
        for conv, d in zip(self.blocks, self.config.dilations):
            # residual connection on the centre crop (valid convolution shrinks by d each side)
            h = self.act(conv(h)) + h[:, :, d:-d, d:-d, d:-d]
        z = self.head(h).float()  # the mapping to Å in float32, also under bfloat16 autocast
        return torch.exp(self._log_lo + (self._log_hi - self._log_lo) * torch.sigmoid(z))


class EnsembleNet(nn.Module):
    """Several :class:`DeepResNet` members run on the same features; the estimate is the geometric
    mean of theirs (resolutions are averaged in log space, where the networks work).

    Independently trained members make partly independent errors, so the mean is more accurate
    than any one of them; the features (the expensive, fixed front end) are computed once.
    """

    def __init__(self, configs: list[NetConfig]):
        super().__init__()
        if not configs:
            raise ValueError("an ensemble needs at least one member")
        self.members = nn.ModuleList(DeepResNet(c) for c in configs)
        radii = {m.radius for m in self.members}
        ranges = {(c.min_A, c.max_A, c.in_channels, c.context_channels) for c in configs}
        if len(radii) != 1 or len(ranges) != 1:
            raise ValueError("ensemble members must share radius, range and input channels")
        self.radius = radii.pop()
        self.config = configs[0]

    @property
    def activation_channels(self) -> int:
        return max(c.config.width for c in self.members)

    def forward(self, x: torch.Tensor, context: torch.Tensor | None = None) -> torch.Tensor:
        logs = [torch.log(m(x, context)) for m in self.members]
        return torch.exp(torch.stack(logs).mean(0))
