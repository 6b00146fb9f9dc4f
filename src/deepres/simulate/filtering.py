"""The simulator's spatially varying low-pass: :mod:`deepres.localfilter` (where it lives, beside
``deepres filter``, which uses it too)."""

from deepres.localfilter import apply_local_resolution, default_level_spacing, resolution_levels

__all__ = ["apply_local_resolution", "default_level_spacing", "resolution_levels"]
