"""A 3D volume that never travels without its voxel size and origin."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass
class Volume:
    """A 3D map on a regular, isotropic grid.

    Attributes
    ----------
    data : `(z, y, x)` float32 array.
    voxel_size_A : grid spacing in Å (isotropic).
    origin_A : `(z, y, x)` position in Å of the centre of voxel ``data[0, 0, 0]``
        (MRC ORIGIN plus N*START times the voxel size).
    header : optional MRC header fields needed to write a file on the same grid
        (see :mod:`deepres.mrc`); opaque to the rest of the code.
    """

    data: np.ndarray
    voxel_size_A: float
    origin_A: tuple[float, float, float] = (0.0, 0.0, 0.0)
    header: dict = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        self.data = np.asarray(self.data)
        if self.data.ndim != 3:
            raise ValueError(f"a Volume is 3D, got shape {self.data.shape}")
        self.voxel_size_A = float(self.voxel_size_A)
        self.origin_A = tuple(float(v) for v in self.origin_A)

    @property
    def shape(self) -> tuple[int, int, int]:
        return tuple(self.data.shape)

    def with_data(self, data: np.ndarray) -> "Volume":
        """A new Volume on the same grid holding ``data``."""
        data = np.asarray(data)
        if data.shape != self.data.shape:
            raise ValueError(f"shape {data.shape} does not match the grid {self.data.shape}")
        return Volume(data, self.voxel_size_A, self.origin_A, dict(self.header))
