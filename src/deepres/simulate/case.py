"""One simulated training/test case: map, half maps, ground-truth field, mask."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field as dc_field
from pathlib import Path

import gemmi
import numpy as np

from deepres.ranges import RangeSpec, get_range
from deepres.splits import is_heldout  # noqa: F401 - re-exported
from deepres.simulate.density import (atom_arrays, cubic_box_size, density_from_structure, load_structure,
                                      random_rotation, rotated_positions_zyx)
from deepres.simulate.fields import FIELD_KIND_PROBS, FIELD_KINDS, resolution_field
from deepres.simulate.filtering import apply_local_resolution, resolution_levels
from deepres.simulate.masks import draw_mask_params, make_mask
from deepres.simulate.noise import NOISE_SPECTRA, add_noise, apply_bfactor
from deepres.mrc import write_volume
from deepres.volume import Volume

#: Probabilities of the noise spectra drawn by :func:`simulate_case`.
NOISE_PROBS = {"white": 0.35, "coloured": 0.35, "lowpass": 0.30}
#: Documented ranges of everything :func:`simulate_case` draws.
PARAM_RANGES = {
    "extra_b_A2": (0.0, 10.0),          # uniform, added to every atom's B
    "sharpen_alpha": (-0.3, 1.0),       # uniform; global B = -alpha * (median atom B + extra B)
    "scale": (0.1, 10.0),               # log-uniform, multiplies the density values
    "offset_sd": (-1.0, 1.0),           # uniform, offset in units of scale * signal sd in the molecule
    "snr": (0.5, 20.0),                 # log-uniform, per half map, variance ratio in the molecule
    "colour_exponent": (0.5, 2.0),      # uniform, beta of the coloured spectrum
}
DEFAULT_MAX_BOX = 128


@dataclass
class SimulatedCase:
    """A simulated map with its ground truth, all Volumes on the same grid.

    Attributes
    ----------
    map : mean of the two half maps.
    half1, half2 : signal + independent noise each.
    truth : local resolution (Å) of every voxel.
    mask : float32 0/1 mask, made from ``map`` as a user would.
    density : the unfiltered density (gemmi, atomic B + extra B only).
    params : everything that was drawn (JSON-serialisable).
    """

    map: Volume
    half1: Volume
    half2: Volume
    truth: Volume
    mask: Volume
    density: Volume
    params: dict = dc_field(default_factory=dict)


def _jsonable(x):
    if isinstance(x, dict):
        return {str(k): _jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_jsonable(v) for v in x]
    if isinstance(x, np.ndarray):
        return _jsonable(x.tolist())
    if isinstance(x, np.generic):
        return x.item()
    return x


def _choice(rng: np.random.Generator, probs: dict) -> str:
    keys = list(probs)
    p = np.asarray([probs[k] for k in keys], dtype=np.float64)
    return keys[int(rng.choice(len(keys), p=p / p.sum()))]


def _loguniform(rng, lo, hi):
    return float(np.exp(rng.uniform(np.log(lo), np.log(hi))))


def _cutoff_scale(option: float | tuple[float, float] | None, ss: np.random.SeedSequence) -> float:
    """The low-pass noise's cut-off scale: 1 (None), the number given, or a draw in ``[lo, hi]``
    from the case's seventh stream (spawned after the six of :func:`simulate_case`)."""
    if option is None:
        return 1.0
    if np.ndim(option) == 0:
        lo = hi = float(option)
    else:
        lo, hi = (float(x) for x in option)
    if not 0 < lo <= hi:
        raise ValueError(f"noise_cutoff_scale needs 0 < lo <= hi, got {option!r}")
    return float(np.random.default_rng(ss.spawn(1)[0]).uniform(lo, hi)) if hi > lo else lo


def simulate_case(
    structure_path: str | os.PathLike | gemmi.Structure,
    spec: RangeSpec | str = "low",
    voxel_size_A: float | None = None,
    seed: int = 0,
    field_kind: str | None = None,
    noise: str | None = None,
    *,
    snr: float | None = None,
    colour_exponent: float | None = None,
    rotation: np.ndarray | None = None,
    margin_A: float = 12.0,
    max_box: int | None = DEFAULT_MAX_BOX,
    extra_b_A2: float | None = None,
    global_b_A2: float | None = None,
    scale: float | None = None,
    offset: float | None = None,
    mask_style: str | None = None,
    mask_params: dict | None = None,
    field_A: float | np.ndarray | None = None,
    n_domains: int | None = None,
    edge_pad_A: float | None = None,
    atomic_b: str = "model",
    noise_cutoff_scale: float | tuple[float, float] | None = None,
    global_b_first: bool = True,
) -> SimulatedCase:
    """Simulate one case with a known local resolution.

    Every random choice comes from ``seed`` (independent streams per component, so overriding one
    parameter does not change the others); the output is bit-identical for the same inputs.

    Steps: load the protein atoms; rotate uniformly at random; box = molecule + ``margin_A``, or,
    when that is larger than ``max_box`` voxels, a ``max_box`` cube around a random atom (only
    atoms that reach it are computed; simulated with ``edge_pad_A`` extra and cropped); gemmi density (atomic B + extra B); draw the field;
    global B ``-alpha * (median B + extra B)`` (gain held constant above the best resolution);
    impose the field (:func:`apply_local_resolution`); independent noise for each half map;
    scale and offset; half maps, map = mean; mask from the map.

    Parameters
    ----------
    structure_path : a model file or a loaded :class:`gemmi.Structure` (from :func:`load_structure`).
    spec : range (``"low"``/``"high"`` or :class:`RangeSpec`).
    voxel_size_A : sampling (default: the range's working sampling).
    seed : random seed.
    field_kind : ``uniform|smooth|domains|radial|mixed`` (default drawn with ``FIELD_KIND_PROBS``).
    noise : ``white|coloured|lowpass`` or ``"none"`` (default drawn with ``NOISE_PROBS``).
    snr : per-half-map SNR (default log-uniform in ``PARAM_RANGES["snr"]``).
    colour_exponent : ``beta`` of the coloured spectrum.
    rotation : 3x3 rotation (default uniform random).
    margin_A : solvent margin of the box.
    max_box : largest box edge in voxels (None: no limit).
    extra_b_A2, global_b_A2, scale, offset : override the drawn values.
    mask_style : ``tight``/``loose`` (default drawn); ``mask_params`` overrides all mask parameters.
    field_A : a fixed field: a number (uniform) or an array of the box's shape.
    n_domains : force the number of k-means domains.
    edge_pad_A : for sub-boxes, the padding (Å, default ``spec.max_A / 2``) simulated around the
        box and cropped after the local filtering and global B, so that the periodic filters do
        not wrap protein density across the cut edges.
    atomic_b : ``"model"`` (default): each atom keeps its B-factor from the model file; ``"flat"``:
        every atom gets the median B of the structure's atoms (isotropic), so that the imposed field
        is the only thing that makes one region's density less detailed than another's (with the
        model's B-factors a region of flexible atoms can carry a fine label its blurred density does
        not hold; ``scripts/errors_by_local_b.py``). Draws nothing: every other draw is unchanged.
    noise_cutoff_scale : where ``"lowpass"`` noise is cut: at ``scale x`` the field's finest
        resolution (default None: at the finest resolution itself, scale 1). A pair ``(lo, hi)``
        draws the scale uniformly from a stream of its own, so every other draw is unchanged; below
        1 the noise reaches beyond the finest detail of the map, above 1 it stops short of it (a
        map filtered at a global resolution that its best region exceeds or falls short of).
    global_b_first : apply the global B to the density before the field (default). False: after
        it, as every training set and benchmark record made before 2026-12-07 (eighth session),
        where a strong sharpening multiplied the field's small leak above each voxel's cut-off
        until it dominated some maps. Draws nothing: every draw is the same either way.

    Returns
    -------
    :class:`SimulatedCase`.
    """
    spec = get_range(spec)
    v = float(spec.voxel_size_A if voxel_size_A is None else voxel_size_A)
    rolloff_Ainv = spec.rolloff_cpv / spec.voxel_size_A
    ss = np.random.SeedSequence(int(seed))
    r_geom, r_field, r_dens, r_noise, r_mask, r_kind = (np.random.default_rng(s) for s in ss.spawn(6))

    if isinstance(structure_path, gemmi.Structure):
        st, name = structure_path, structure_path.name
    else:
        st, name = load_structure(structure_path), os.path.basename(str(structure_path))
    if atomic_b == "flat":
        st = flat_atomic_b(st)
    elif atomic_b != "model":
        raise ValueError(f"unknown atomic_b {atomic_b!r}; use 'model' or 'flat'")

    # geometry
    rot_drawn = random_rotation(r_geom)
    rot = rot_drawn if rotation is None else np.asarray(rotation, dtype=np.float64)
    rzyx = rotated_positions_zyx(st, rot)
    n_full = cubic_box_size(rzyx, v, margin_A)
    atom_pick = int(r_geom.integers(len(rzyx)))
    if max_box is not None and n_full > int(max_box):
        # simulate a padded sub-box, crop after filtering: the crop's edges do not wrap
        ep = int(np.ceil((0.5 * spec.max_A if edge_pad_A is None else float(edge_pad_A)) / v))
        box_shape, center = int(max_box) + 2 * ep, rzyx[atom_pick]
        sub_box = True
    else:
        box_shape, center, sub_box, ep = None, None, False, 0

    # density
    extra_b_drawn = float(r_dens.uniform(*PARAM_RANGES["extra_b_A2"]))
    alpha = float(r_dens.uniform(*PARAM_RANGES["sharpen_alpha"]))
    scale_drawn = _loguniform(r_dens, *PARAM_RANGES["scale"])
    offset_sd = float(r_dens.uniform(*PARAM_RANGES["offset_sd"]))
    extra_b = extra_b_drawn if extra_b_A2 is None else float(extra_b_A2)
    dens, pos, atom_b, kept = density_from_structure(st, v, rot, margin_A, extra_b, box_shape, center,
                                                     return_indices=True)
    _, _, chains = atom_arrays(st)

    # field
    kind_drawn = _choice(r_kind, FIELD_KIND_PROBS)
    kind = kind_drawn if field_kind is None else field_kind
    if field_A is not None:
        fa = np.asarray(field_A, dtype=np.float32)
        field = np.full(dens.shape, fa, dtype=np.float32) if fa.ndim == 0 else np.pad(fa, ep, mode="edge")
        if field.shape != dens.shape:
            raise ValueError(f"field_A shape {fa.shape} != box {tuple(n - 2 * ep for n in dens.shape)}")
        field_info = {"kind": "given"}
        kind = "given"
    else:
        if kind not in FIELD_KINDS:
            raise ValueError(f"unknown field kind {kind!r}; use one of {FIELD_KINDS}")
        field, field_info = resolution_field(dens.shape, v, pos, spec, kind, r_field, atom_groups=chains[kept],
                                             n_domains=n_domains, return_params=True)
    n_levels = int(resolution_levels(field, rolloff_Ainv).size)

    # global B (sharpening/blurring), bounded above the best resolution. Applied to the density
    # before the field: applied after it, its gain (up to ~60x in amplitude at the high range's
    # finest labels) multiplied the small content the field's blend leaks above each voxel's
    # cut-off, until in strongly sharpened maps that content was most of the map and the labels no
    # longer described it (docs/training-history.md, "Sharpening before the field"). The global B is a
    # filter and the field, locally, another: the order changes nothing else.
    b_ref = float(np.median(atom_b)) + extra_b if atom_b.size else extra_b
    gb = -alpha * b_ref if global_b_A2 is None else float(global_b_A2)
    b_max_freq = 1.0 / float(field.min()) + rolloff_Ainv
    if global_b_first:
        signal = apply_local_resolution(apply_bfactor(dens.data, v, gb, max_freq_Ainv=b_max_freq), field, v,
                                        rolloff_Ainv)
    else:  # the order of every training set and benchmark record before 2026-12-07 (eighth session)
        signal = apply_bfactor(apply_local_resolution(dens.data, field, v, rolloff_Ainv), v, gb,
                               max_freq_Ainv=b_max_freq)
    if ep:
        crop = (slice(ep, -ep),) * 3
        signal, field = np.ascontiguousarray(signal[crop]), np.ascontiguousarray(field[crop])
        dens = Volume(np.ascontiguousarray(dens.data[crop]), v, dens.origin_A)
        pos = pos - ep * v
    best_A = float(field.min())

    # noise
    sig_mask = make_mask(signal, v, {"lowpass_A": 10.0, "level": 0.1, "dilation_A": 0.0})
    spectrum_drawn = _choice(r_noise, NOISE_PROBS)
    snr_drawn = _loguniform(r_noise, *PARAM_RANGES["snr"])
    beta_drawn = float(r_noise.uniform(*PARAM_RANGES["colour_exponent"]))
    spectrum = spectrum_drawn if noise is None else str(noise)
    cut_scale = _cutoff_scale(noise_cutoff_scale, ss)
    snr_used = snr_drawn if snr is None else float(snr)
    beta = beta_drawn if colour_exponent is None else float(colour_exponent)
    if spectrum in ("none", "off") or not np.isfinite(snr_used):
        n1 = n2 = np.zeros_like(signal)
        spectrum, snr_used = "none", None
    else:
        if spectrum not in NOISE_SPECTRA:
            raise ValueError(f"unknown noise {spectrum!r}; use one of {NOISE_SPECTRA} or 'none'")
        lp = best_A * cut_scale if spectrum == "lowpass" else None
        kw = dict(spectrum=spectrum, lowpass_A=lp, signal_mask=sig_mask, colour_exponent=beta,
                  rolloff_Ainv=rolloff_Ainv)
        n1 = add_noise(signal, v, r_noise, snr_used, **kw)
        n2 = add_noise(signal, v, r_noise, snr_used, **kw)

    # scale and offset
    sc = scale_drawn if scale is None else float(scale)
    sig_sd = float(signal[sig_mask].std()) if sig_mask.any() else float(signal.std())
    off = offset_sd * sc * sig_sd if offset is None else float(offset)
    h1 = (np.float32(sc) * (signal + n1) + np.float32(off)).astype(np.float32)
    h2 = (np.float32(sc) * (signal + n2) + np.float32(off)).astype(np.float32)
    m = ((h1 + h2) * np.float32(0.5)).astype(np.float32)

    # mask
    mp = mask_params if mask_params is not None else draw_mask_params(r_mask, mask_style)
    mask, mp_used = make_mask(m, v, mp, return_params=True)

    grid = dict(voxel_size_A=v, origin_A=dens.origin_A)
    params = {
        "structure": name, "heldout": is_heldout(name), "seed": int(seed), "range": spec.name, "voxel_size_A": v,
        "rolloff_Ainv": rolloff_Ainv, "rotation": rot, "box_shape": list(dens.shape), "sub_box": sub_box, "edge_pad_vox": ep,
        "sub_box_center_A": None if center is None else center, "n_atoms_total": int(len(rzyx)),
        "n_atoms_in_box": int(len(pos)), "extra_b_A2": extra_b, "median_atom_b_A2": float(np.median(atom_b)),
        "field": field_info, "field_min_A": best_A, "field_max_A": float(field.max()),
        "bank_levels": n_levels, "sharpen_alpha": alpha if global_b_A2 is None else None,
        "global_b_A2": gb, "global_b_first": bool(global_b_first), "noise_spectrum": spectrum, "snr": snr_used,
        "colour_exponent": beta if spectrum == "coloured" else None,
        "noise_lowpass_A": best_A * cut_scale if spectrum == "lowpass" else None,
        **({"noise_cutoff_scale": cut_scale} if noise_cutoff_scale is not None else {}),
        "scale": sc, "offset": off, "mask": mp_used, "mask_fraction": float(mask.mean()),
        "atomic_b": atomic_b,
    }
    return SimulatedCase(
        map=Volume(m, **grid), half1=Volume(h1, **grid), half2=Volume(h2, **grid),
        truth=Volume(field.astype(np.float32), **grid), mask=Volume(mask.astype(np.float32), **grid),
        density=Volume(dens.data, **grid), params=_jsonable(params),
    )


def flat_atomic_b(st: gemmi.Structure) -> gemmi.Structure:
    """A copy of ``st`` whose atoms all have the median isotropic B of its atoms (no anisotropy)."""
    out = st.clone()
    b = [a.b_iso for m in out for ch in m for r in ch for a in r]
    med = float(np.median(b)) if b else 0.0
    for m in out:
        for ch in m:
            for r in ch:
                for a in r:
                    a.b_iso = med
                    a.aniso = gemmi.SMat33f(0, 0, 0, 0, 0, 0)
    return out


def write_case(case: SimulatedCase, outdir: str | os.PathLike, density: bool = False) -> Path:
    """Write ``map.mrc``, ``half1.mrc``, ``half2.mrc``, ``truth.mrc``, ``mask.mrc`` (0/1) and
    ``params.json`` (and ``density.mrc`` with ``density=True``) into ``outdir``, all on the same
    grid (voxel size, origin). Returns ``outdir``."""
    out = Path(outdir)
    out.mkdir(parents=True, exist_ok=True)
    items = [("map", case.map), ("half1", case.half1), ("half2", case.half2), ("truth", case.truth),
             ("mask", case.mask)]
    if density:
        items.append(("density", case.density))
    for name, vol in items:
        write_volume(out / f"{name}.mrc", vol.data, vol, label=f"deepres simulate: {name}")
    (out / "params.json").write_text(json.dumps(case.params, indent=1, sort_keys=True) + "\n")
    return out
