"""Random local-resolution fields (the ground truth of a simulated map).

Every field is defined on the whole box, in Å, within ``[floor, max]`` where
``floor = spec.floor_A(voxel_size_A) = max(2 * voxel_size, spec.min_A)`` and ``max = spec.max_A``.
Values are drawn uniformly in Å (as the original's labels).

Kinds
-----
uniform
    One value everywhere.
smooth
    A Gaussian random field (sum of 1-3 components with correlation lengths drawn log-uniformly
    in 8-40 Å), made uniform in [0, 1] by the normal CDF and mapped onto a random sub-interval
    ``[a, b]`` of the range.
domains
    Atoms are grouped into 2-6 spatial clusters (k-means on the atom positions) or, for
    multi-chain models half of the time, by chain; each group gets its own value and every voxel
    takes the value of the group of its nearest atom: SHARP boundaries between domains.
radial
    ``r(d) = r_core + (r_out - r_core) * (d / d95) ** p`` with ``d`` the distance to the atoms'
    centroid, ``d95`` the 95th percentile of the atoms' distances, ``p`` in [0.5, 2], plus a
    smooth perturbation of 5-10 % of the range: the core is better than the periphery.
mixed
    ``domains`` plus a smooth perturbation of 10-30 % of the range.
All kinds are clipped to ``[floor, max]``.
"""

from __future__ import annotations

import numpy as np
import scipy.fft as sfft
from scipy import ndimage
from scipy.cluster.vq import kmeans2
from scipy.special import ndtr

from deepres.filters import radial_frequency
from deepres.ranges import RangeSpec, get_range

FIELD_KINDS = ("uniform", "smooth", "domains", "radial", "mixed")
#: Probabilities with which :func:`simulate_case` draws a kind.
FIELD_KIND_PROBS = {"uniform": 0.2, "smooth": 0.2, "domains": 0.2, "radial": 0.15, "mixed": 0.25}


def field_bounds(spec: RangeSpec | str, voxel_size_A: float) -> tuple[float, float]:
    """``(floor, max)`` in Å of the fields for ``spec`` at ``voxel_size_A``."""
    spec = get_range(spec)
    return float(spec.floor_A(voxel_size_A)), float(spec.max_A)


def gaussian_random_field(shape, voxel_size_A: float, corr_length_A: float, rng: np.random.Generator) -> np.ndarray:
    """Zero-mean, unit-variance smooth random field: white noise convolved with a Gaussian of
    standard deviation ``corr_length_A / 2`` (periodic)."""
    sigma = corr_length_A / 2.0 / voxel_size_A  # voxels
    noise = rng.standard_normal(shape).astype(np.float32)
    k = radial_frequency(shape)
    ft = sfft.rfftn(noise, workers=1)
    ft *= np.exp(-2.0 * np.pi ** 2 * sigma ** 2 * k.astype(np.float32) ** 2)
    g = sfft.irfftn(ft, s=shape, workers=1)
    g -= g.mean()
    sd = float(g.std())
    return (g / (sd if sd > 0 else 1.0)).astype(np.float32)


def _smooth_component(shape, v, rng, info):
    n_comp = int(rng.integers(1, 4))
    lengths = np.exp(rng.uniform(np.log(8.0), np.log(40.0), n_comp))
    weights = rng.uniform(0.3, 1.0, n_comp)
    g = np.zeros(shape, dtype=np.float32)
    for L, w in zip(lengths, weights):
        g += np.float32(w) * gaussian_random_field(shape, v, float(L), rng)
    g /= max(float(g.std()), 1e-12)
    info.setdefault("smooth_corr_lengths_A", []).extend([round(float(x), 4) for x in lengths])
    info.setdefault("smooth_weights", []).extend([round(float(x), 4) for x in weights])
    return g


def _nearest_atom_labels(shape, v, pos_zyx_A, labels):
    """Label of the nearest atom for every voxel (atoms rounded to voxels; EDT)."""
    idx = np.round(np.asarray(pos_zyx_A) / v).astype(np.int64)
    inside = np.all((idx >= 0) & (idx < np.asarray(shape)), axis=1)
    if not inside.any():
        raise ValueError("no atom inside the box")
    idx, labels = idx[inside], np.asarray(labels)[inside]
    grid = np.full(shape, -1, dtype=np.int32)
    grid[idx[:, 0], idx[:, 1], idx[:, 2]] = labels
    nearest = ndimage.distance_transform_edt(grid < 0, return_distances=False, return_indices=True)
    return grid[tuple(nearest)]


def _domain_field(shape, v, pos, lo, hi, rng, info, atom_groups=None, n_domains=None):
    n_atoms = len(pos)
    use_chains = (atom_groups is not None and len(np.unique(atom_groups)) >= 2 and n_domains is None
                  and rng.random() < 0.5)
    if use_chains:
        _, labels = np.unique(np.asarray(atom_groups), return_inverse=True)
        k = int(labels.max()) + 1
        info["domain_mode"] = "chains"
    else:
        k = int(n_domains) if n_domains is not None else int(rng.integers(2, 7))
        k = max(1, min(k, n_atoms))
        sub = pos if n_atoms <= 4000 else pos[rng.choice(n_atoms, 4000, replace=False)]
        centroids, _ = kmeans2(sub.astype(np.float64), k, iter=10, minit="++", seed=rng)
        d2 = ((pos[:, None, :] - centroids[None, :, :]) ** 2).sum(-1)
        labels = d2.argmin(axis=1)
        info["domain_mode"] = "kmeans"
    values = rng.uniform(lo, hi, k)
    info["n_domains"] = k
    info["domain_values_A"] = [round(float(x), 4) for x in values]
    lab = _nearest_atom_labels(shape, v, pos, labels)
    return values[lab].astype(np.float32)


def resolution_field(shape, voxel_size_A: float, atom_positions_zyx_A: np.ndarray, spec: RangeSpec | str,
                     kind: str, rng: np.random.Generator, *, atom_groups: np.ndarray | None = None,
                     value_A: float | None = None, n_domains: int | None = None, return_params: bool = False):
    """Draw a random local-resolution field (Å) on a box.

    Parameters
    ----------
    shape : `(nz, ny, nx)` of the box.
    voxel_size_A : grid spacing in Å.
    atom_positions_zyx_A : `(n, 3)` atom positions in the box frame (index * voxel size).
    spec : the range (``"low"``, ``"high"`` or a :class:`RangeSpec`).
    kind : one of ``uniform``, ``smooth``, ``domains``, ``radial``, ``mixed`` (module docstring).
    rng : random generator (the only source of randomness).
    atom_groups : optional `(n,)` integer group (e.g. chain) of each atom, for ``domains``.
    value_A : for ``uniform``: the value (default drawn uniformly in the range).
    n_domains : for ``domains``/``mixed``: force k-means with this many clusters.
    return_params : also return a dict of what was drawn.

    Returns
    -------
    field : `(nz, ny, nx)` float32 in Å, within ``[max(2 * voxel_size_A, spec.min_A), spec.max_A]``.
    params : dict (only with ``return_params``).
    """
    shape = tuple(int(s) for s in shape)
    v = float(voxel_size_A)
    lo, hi = field_bounds(spec, v)
    if lo > hi:
        raise ValueError(f"range floor {lo} Å above its max {hi} Å at {v} Å/voxel")
    pos = np.asarray(atom_positions_zyx_A, dtype=np.float64).reshape(-1, 3)
    info: dict = {"kind": kind, "floor_A": lo, "max_A": hi}
    if kind == "uniform":
        val = float(rng.uniform(lo, hi)) if value_A is None else float(value_A)
        info["value_A"] = val
        field = np.full(shape, val, dtype=np.float32)
    elif kind == "smooth":
        a, b = np.sort(rng.uniform(lo, hi, 2))
        info["interval_A"] = [float(a), float(b)]
        u = ndtr(_smooth_component(shape, v, rng, info)).astype(np.float32)
        field = (np.float32(a) + np.float32(b - a) * u).astype(np.float32)
    elif kind == "domains":
        field = _domain_field(shape, v, pos, lo, hi, rng, info, atom_groups, n_domains)
    elif kind == "radial":
        r_core, r_out = np.sort(rng.uniform(lo, hi, 2))
        p = float(rng.uniform(0.5, 2.0))
        amp = float(rng.uniform(0.05, 0.10)) * (hi - lo)
        c = pos.mean(axis=0)
        d95 = max(float(np.percentile(np.linalg.norm(pos - c, axis=1), 95)), v)
        zz, yy, xx = (np.arange(n, dtype=np.float32) * np.float32(v) for n in shape)
        d = np.sqrt((zz[:, None, None] - c[0]) ** 2 + (yy[None, :, None] - c[1]) ** 2
                    + (xx[None, None, :] - c[2]) ** 2).astype(np.float32)
        field = (r_core + (r_out - r_core) * (d / np.float32(d95)) ** np.float32(p)).astype(np.float32)
        field += np.float32(amp) * _smooth_component(shape, v, rng, info)
        info.update(core_A=float(r_core), outer_A=float(r_out), exponent=p, d95_A=d95, perturbation_A=amp)
    elif kind == "mixed":
        field = _domain_field(shape, v, pos, lo, hi, rng, info, atom_groups, n_domains)
        amp = float(rng.uniform(0.10, 0.30)) * (hi - lo)
        info["perturbation_A"] = amp
        field = field + np.float32(amp) * _smooth_component(shape, v, rng, info)
    else:
        raise ValueError(f"unknown field kind {kind!r}; use one of {FIELD_KINDS}")
    lo32, hi32 = np.float32(lo), np.float32(hi)
    if lo32 < lo:  # float32 rounding must not go below the floor
        lo32 = np.nextafter(lo32, np.float32(np.inf))
    if hi32 > hi:
        hi32 = np.nextafter(hi32, np.float32(-np.inf))
    field = np.clip(field, lo32, hi32).astype(np.float32)
    return (field, info) if return_params else field
