"""Simulated cryo-EM maps with a KNOWN local resolution, for training and testing.

The pieces (see ``docs/simulation.md``):

- :func:`load_structure`, :func:`density_from_structure` — gemmi electron-scattering density;
- :func:`resolution_field` — random ground-truth fields (uniform, smooth, domains, radial, mixed);
- :func:`apply_local_resolution` — impose a field with the resolution-convention raised cosine;
- :func:`add_noise`, :func:`apply_bfactor` — noise spectra and global sharpening/blurring;
- :func:`make_mask` — user-style masks;
- :func:`simulate_case`, :func:`write_case` — a whole case from a seed.
"""

from deepres.simulate.case import NOISE_PROBS, PARAM_RANGES, SimulatedCase, is_heldout, simulate_case, write_case
from deepres.simulate.density import (atom_arrays, cubic_box_size, density_from_structure, load_structure,
                                      random_rotation, rotated_positions_zyx)
from deepres.simulate.fields import FIELD_KIND_PROBS, FIELD_KINDS, field_bounds, gaussian_random_field, resolution_field
from deepres.simulate.filtering import apply_local_resolution, default_level_spacing, resolution_levels
from deepres.simulate.masks import MASK_STYLES, draw_mask_params, make_mask
from deepres.simulate.noise import NOISE_SPECTRA, add_noise, apply_bfactor

__all__ = [
    "load_structure", "density_from_structure", "atom_arrays", "cubic_box_size", "random_rotation",
    "rotated_positions_zyx", "resolution_field", "field_bounds", "gaussian_random_field", "FIELD_KINDS",
    "FIELD_KIND_PROBS", "apply_local_resolution", "resolution_levels", "default_level_spacing", "add_noise",
    "apply_bfactor", "NOISE_SPECTRA", "NOISE_PROBS", "make_mask", "draw_mask_params", "MASK_STYLES",
    "simulate_case", "write_case", "is_heldout", "SimulatedCase", "PARAM_RANGES",
]
