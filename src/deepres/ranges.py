"""The two resolution ranges (models) and their working sampling."""

from __future__ import annotations

from dataclasses import dataclass

from deepres.errors import InputError


@dataclass(frozen=True)
class RangeSpec:
    """One expected-resolution range.

    Attributes
    ----------
    name : "low" or "high".
    min_A, max_A : the range of resolutions the model reports, in Å.
    voxel_size_A : the working sampling of the model, Å/voxel.
    rolloff_cpv : width of the raised-cosine roll-off of the resolution convention, in
        cycles/voxel at the working sampling (0.02, as the original's training filter).
    """

    name: str
    min_A: float
    max_A: float
    voxel_size_A: float
    rolloff_cpv: float = 0.02

    @property
    def label(self) -> str:
        return f"{self.min_A:g}-{self.max_A:g}"

    def floor_A(self, input_voxel_size_A: float) -> float:
        """Smallest value reported for an input sampled at ``input_voxel_size_A`` (Nyquist)."""
        return max(2.0 * float(input_voxel_size_A), self.min_A)


RANGES: dict[str, RangeSpec] = {
    "low": RangeSpec("low", 2.5, 13.0, 1.0),
    "high": RangeSpec("high", 1.5, 6.0, 0.5),
}
_ALIASES = {"low": "low", "2.5-13": "low", "2.5-13.0": "low", "high": "high", "1.5-6": "high", "1.5-6.0": "high"}


def get_range(name: str | RangeSpec) -> RangeSpec:
    """Return the :class:`RangeSpec` for ``"low"``/``"2.5-13"`` or ``"high"``/``"1.5-6"``."""
    if isinstance(name, RangeSpec):
        return name
    key = _ALIASES.get(str(name).strip().lower())
    if key is None:
        raise InputError(f"unknown range {name!r}: use 'low' (2.5-13 A) or 'high' (1.5-6 A)")
    return RANGES[key]
