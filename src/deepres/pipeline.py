"""The estimate pipeline: map + mask in, local-resolution map on the input grid out.

Python API
----------
>>> import deepres
>>> res = deepres.estimate(data, mask, voxel_size_A=1.05, range="low")   # numpy (z, y, x) arrays
>>> res.median_A, res.resolution.data                                   # Å; 0 outside the mask
>>> res, outdir = deepres.estimate_files("map.mrc", "mask.mrc")          # what the CLI runs

Steps (see ``docs``/README for the reasons)
-------------------------------------------
1. Check the mask: binary (0/1, or two values 0 and c > 0; a soft mask with values in [0, 1] is
   cut at 0.5, with a warning), not empty, on the same grid as the map. Look at the map's power
   spectrum: a low-pass filter (:mod:`deepres.lowpass`) and sharpening (:mod:`deepres.sharpening`;
   with ``desharpen`` a sharpened map is flattened before the network).
2. :func:`deepres.mask.mask_map`: normalise offset/scale, multiply by the 18-dilated mask.
3. Crop to the dilated mask's bounding box plus the network's context, pad a few zero voxels so
   that the box length is a whole number of working voxels, and resample map and mask to the
   working sampling in Fourier space (:func:`deepres.resample.fourier_resample`); binarise the
   resampled mask at :data:`deepres.mask.MASK_THRESHOLD`.
4. Run the network (:func:`deepres.model.predict`) and clamp to ``[floor, spec.max_A]``: the floor is
   the input's Nyquist limit or the range's minimum, or, for a map low-pass filtered below them
   (:func:`deepres.lowpass.detect_lowpass`), the finest label its content can hold.
5. Bring the result back to the input grid by mask-weighted trilinear interpolation
   (:func:`deepres.resample.masked_trilinear`): every input-mask voxel gets a value, background
   zeros never leak into the edge, and everything outside the input mask is 0.
6. Statistics and histogram over the input-mask voxels of that map.

Improvements over the original (also in the README): no absolute density threshold (every mask
voxel is estimated, negative density included); anti-alias filter that really ends at the new
Nyquist; exact working sampling and geometry; no spline overshoot at the mask edge; output
re-masked; statistics on the map the user gets; one-bin histogram when min == max; memory checked
before the work starts.
"""

from __future__ import annotations

import datetime as _dt
import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from deepres.errors import DeepResError, InputError
from deepres.lowpass import bin_width_cpv, detect_lowpass, radial_log_power
from deepres.sharpening import band_top_Ainv, flatten, measure_sharpening
from deepres.mask import MASK_THRESHOLD, binarise, bounding_box, mask_map
from deepres.ranges import RangeSpec, get_range
from deepres.resample import exact_pad, fourier_resample, masked_trilinear, output_size, zero_padded
from deepres.stats import ResolutionStats, compute_stats, format_xmd
from deepres.volume import Volume

#: Relative tolerance when comparing the voxel sizes of map and mask.
GRID_RTOL = 1e-3
#: Tolerance on origins, in voxels.
ORIGIN_TOL_VOX = 0.05
#: Fraction of the available memory deepres allows itself.
MEMORY_FRACTION = 0.8

#: ``progress(step, fraction)``: step is a short text; fraction in [0, 1] or None.
ProgressFn = Callable[[str, "float | None"], None]


@dataclass
class LocalResolution:
    """The result of an estimate.

    Attributes
    ----------
    resolution : Volume on the input grid (shape, voxel size, origin, header): Å inside the mask,
        0 outside.
    mask : `(z, y, x)` bool, the binary input mask the statistics are taken over.
    stats : median/highest/lowest and histogram over ``mask``.
    spec : the range (model) used.
    working_voxel_size_A : the true working sampling (Å/voxel) the network ran at.
    model_id, model_sha256 : what identifies the network's weights.
    device : where the network ran ("cpu", "cuda", ...).
    warnings : texts for the user (also in summary.json).
    parameters : every parameter of the run.
    timings_s : seconds per step.
    floor_A : the smallest value the estimate could take (the input's Nyquist limit, the range's
        minimum, or the end of a low-pass filtered map's content); None: the range's rule.
    """

    resolution: Volume
    mask: np.ndarray
    stats: ResolutionStats
    spec: RangeSpec
    working_voxel_size_A: float
    model_id: str
    model_sha256: str
    device: str
    warnings: list[str] = field(default_factory=list)
    parameters: dict = field(default_factory=dict)
    timings_s: dict = field(default_factory=dict)
    floor_A: float | None = None

    @property
    def median_A(self) -> float:
        return self.stats.median_A

    @property
    def highest_A(self) -> float:
        """Best (smallest) resolution in Å."""
        return self.stats.highest_A

    @property
    def lowest_A(self) -> float:
        """Worst (largest) resolution in Å."""
        return self.stats.lowest_A

    @property
    def data(self) -> np.ndarray:
        return self.resolution.data

    def chimera_data(self) -> np.ndarray:
        """The resolution map with the background (0) replaced by the median, for colouring."""
        out = self.resolution.data.copy()
        out[out == 0] = np.float32(self.stats.median_A)
        return out

    def summary(self) -> dict:
        """The numbers of summary.json (without the file-related entries)."""
        from deepres import __version__

        return {
            "median_A": self.stats.median_A,
            "highest_A": self.stats.highest_A,
            "lowest_A": self.stats.lowest_A,
            "n_mask_voxels": self.stats.n_voxels,
            "range": {"name": self.spec.name, "min_A": self.spec.min_A, "max_A": self.spec.max_A},
            "reported_floor_A": self.floor_A if self.floor_A is not None else self.spec.floor_A(
                self.resolution.voxel_size_A),
            "input_voxel_size_A": self.resolution.voxel_size_A,
            "input_shape_zyx": list(self.resolution.shape),
            "input_origin_zyx_A": list(self.resolution.origin_A),
            "working_voxel_size_A": self.working_voxel_size_A,
            "model": {"id": self.model_id, "sha256": self.model_sha256},
            "software": {"name": "deepres", "version": __version__},
            "device": self.device,
            "parameters": dict(self.parameters),
            "timings_s": {k: round(v, 3) for k, v in self.timings_s.items()},
            "warnings": list(self.warnings),
            "histogram": self.stats.as_dict()["histogram"],
        }


# ----------------------------------------------------------------------------------------------
# checks


def _grid_text(v: Volume) -> str:
    z, y, x = v.shape
    oz, oy, ox = v.origin_A
    return f"{x}x{y}x{z} voxels (x,y,z) of {v.voxel_size_A:.4g} A, origin ({ox:.4g}, {oy:.4g}, {oz:.4g}) A"


def check_same_grid(vol: Volume, mask: Volume, vol_name: str = "map", mask_name: str = "mask",
                    what: str = "mask") -> None:
    """Refuse (InputError naming both grids) unless ``mask`` (a ``what``: mask or half map) is on
    the grid of ``vol``."""
    same = vol.shape == mask.shape and math.isclose(vol.voxel_size_A, mask.voxel_size_A, rel_tol=GRID_RTOL)
    if same:
        tol = ORIGIN_TOL_VOX * vol.voxel_size_A
        same = all(abs(a - b) <= tol for a, b in zip(vol.origin_A, mask.origin_A))
    if not same:
        hint = ("Make the mask on the map's grid (e.g. threshold a low-passed copy of the map, or resample "
                "the mask onto the map in ChimeraX: 'volume resample #2 onGrid #1')" if what == "mask"
                else f"The {what} must be on the map's grid (box, voxel size and origin)")
        raise InputError(
            f"{what} {mask_name} is not on the grid of map {vol_name}: map is {_grid_text(vol)}; "
            f"{what} is {_grid_text(mask)}. {hint}"
        )


def binary_mask(mask: np.ndarray, name: str = "mask", warnings: list[str] | None = None) -> np.ndarray:
    """The binary (bool) version of a mask array, or InputError if it is not a mask.

    Accepted: values 0/1; exactly two values 0 and c > 0; a soft mask with values in [0, 1]
    (cut at 0.5, with a warning). Anything else (negative values, several levels above 1, a
    density map) is refused.
    """
    m = np.asarray(mask, dtype=np.float32)
    lo, hi = float(m.min()), float(m.max())
    if hi <= 0:
        raise InputError(f"mask {name} is empty (no voxel above 0): give a mask that covers the molecule")
    out = m > 0
    # Exactly two values, 0 and hi: every positive voxel equals hi (counted, no sort).
    two_valued = lo == 0.0 and np.count_nonzero(m == np.float32(hi)) == np.count_nonzero(out)
    if two_valued:
        return out
    if lo >= -1e-6 and hi <= 1.0 + 1e-6:
        out = m >= 0.5
        frac = float(np.mean((m > 1e-6) & (m < 1 - 1e-6)))
        if warnings is not None:
            warnings.append(
                f"mask {name} is soft (values between 0 and 1 in {100 * frac:.1f}% of the voxels); "
                "it was cut at 0.5"
            )
        if not out.any():
            raise InputError(f"mask {name} has no voxel at or above 0.5: give a binary 0/1 mask")
    else:
        raise InputError(
            f"mask {name} is not a binary mask (values from {lo:.4g} to {hi:.4g}): give a 0/1 mask "
            "(is it a map? masks are 1 on the molecule and 0 elsewhere)"
        )
    return out


def available_memory_bytes() -> int:
    """Memory deepres may use: ``DEEPRES_MAX_MEMORY_GB`` if set, else the system's available memory."""
    env = os.environ.get("DEEPRES_MAX_MEMORY_GB")
    if env:
        try:
            return int(float(env) * 2**30)
        except ValueError:
            raise InputError(f"DEEPRES_MAX_MEMORY_GB={env!r} is not a number of GB") from None
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return int(os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
    except (ValueError, OSError, AttributeError):
        return 1 << 62


# ----------------------------------------------------------------------------------------------
# the pipeline


def _crop_slices(dil: np.ndarray, margin: int, min_len: int) -> tuple[slice, ...]:
    out = []
    for s0, n in zip(bounding_box(dil), dil.shape):
        a, b = max(0, s0.start - margin), min(n, s0.stop + margin)
        while b - a < min(min_len, n):  # widen within the box to the network's minimum
            a, b = max(0, a - 1), min(n, b + 1)
        out.append(slice(a, b))
    return tuple(out)


def _estimate_volume(vol: Volume, mask: np.ndarray, spec: RangeSpec, lm, device: str,
                     progress: ProgressFn | None, warnings: list[str], timings: dict,
                     precision: str = "float32", halves: tuple[np.ndarray, np.ndarray] | None = None,
                     measured: dict | None = None, *, floor_A: float) -> tuple[np.ndarray, float]:
    """Steps 2-5 on arrays already checked (``halves``: the two half maps' data, on ``vol``'s
    grid, masked and resampled as the map is; ``measured`` receives what was measured on the map
    for the network: ``solvent_reference``; ``floor_A``: the smallest value reported). Returns the input-grid map and the working voxel size."""
    from deepres import model as M

    def step(name, frac=None):
        if progress is not None:
            progress(name, frac)

    v_in, v_w = float(vol.voxel_size_A), float(spec.voxel_size_A)
    t0 = time.perf_counter()

    # Too small for the network?
    work_full = tuple(output_size(n, v_in, v_w) for n in vol.shape)
    if min(work_full) < M.MIN_BOX_VOX:
        z, y, x = vol.shape
        raise InputError(
            f"the map is too small for the network: {x}x{y}x{z} voxels of {v_in:.4g} A is "
            f"{x * v_in:.1f}x{y * v_in:.1f}x{z * v_in:.1f} A, and the {spec.name} range needs at least "
            f"{M.MIN_BOX_VOX * v_w:g} A ({M.MIN_BOX_VOX} voxels of {v_w:g} A) along each axis: "
            "pad the map with zeros (and the mask alike)"
        )

    step("masking")
    masked, dil = mask_map(vol.data, mask)
    solvent = None
    if lm.features.solvent_context:  # the noise reference, from the whole unmasked map
        from deepres.solvent import solvent_context

        solvent, why_not = solvent_context(vol.data, dil, v_in, v_w, lm.features)
        if measured is not None:
            measured["solvent_reference"] = None if why_not else [round(float(v), 4) for v in solvent]
        if why_not is not None:
            warnings.append(f"no solvent noise reference ({why_not}): {lm.model_id} estimates without one, "
                            "less accurately where noise is as strong as the finest detail")

    # Crop to the dilated mask plus the network's context, in input voxels.
    margin = int(math.ceil((M.CROP_MARGIN_VOX + 2) * v_w / v_in)) + 1
    min_len = int(math.ceil((M.MIN_BOX_VOX + 1) * v_w / v_in))
    sl = _crop_slices(dil, margin, min_len)
    crop_shape_in = tuple(s.stop - s.start for s in sl)
    padded_shape = tuple(exact_pad(n, v_in, v_w) for n in crop_shape_in)
    work_shape = tuple(output_size(n, v_in, v_w) for n in padded_shape)

    # Memory, before any heavy work: resampling holds ~2 complex copies of the larger grid plus
    # a few float copies; the network's own estimate for its crop.
    n_big = max(np.prod(padded_shape), np.prod(work_shape))
    mem_resample = int(n_big * (2 * 8 + 4 * 4))
    bbox_w = [int(math.ceil((s0.stop - s0.start) * v_in / v_w)) + 2 * M.CROP_MARGIN_VOX for s0 in bounding_box(mask)]
    mem_net = M.estimate_memory_bytes(tuple(max(M.MIN_BOX_VOX, b) for b in bbox_w), lm.net.activation_channels,
                                      lm.net.radius, half_maps=halves is not None)
    need = mem_resample + mem_net + 12 * int(np.prod(vol.shape))
    if halves is not None:  # two more masked copies of the map, and their working-grid crops
        need += 8 * int(np.prod(vol.shape)) + 8 * int(np.prod(work_shape))
    avail = int(available_memory_bytes() * MEMORY_FRACTION)
    if need > avail:
        hint = ("use --range low (1 A working sampling instead of 0.5 A), or " if spec.name == "high" else "")
        raise InputError(
            f"not enough memory: this estimate needs about {need / 2**30:.1f} GB (working box "
            f"{work_shape[2]}x{work_shape[1]}x{work_shape[0]} voxels of {v_w:g} A) and "
            f"{avail / 2**30:.1f} GB can be used: {hint}crop the map and mask to the region of interest, "
            "or use a tighter mask"
        )

    if device.startswith("cuda"):
        try:
            import torch

            free_gpu, _ = torch.cuda.mem_get_info(torch.device(device))
        except Exception:  # noqa: BLE001 - no usable answer: let the run try
            free_gpu = None
        if free_gpu is not None and mem_net > free_gpu * MEMORY_FRACTION:
            raise InputError(
                f"not enough GPU memory: the network needs about {mem_net / 2**30:.1f} GB and "
                f"{free_gpu / 2**30:.1f} GB are free on {device}: use --device cpu, "
                + ("--range low, " if spec.name == "high" else "")
                + "or crop the map and mask to the region of interest"
            )

    crop_origin = tuple(o + s.start * v_in for o, s in zip(vol.origin_A, sl))
    m_crop = zero_padded(masked[sl], padded_shape)
    k_crop = zero_padded(mask[sl], padded_shape)
    del masked
    h_crops = None
    if halves is not None:  # each half masked and normalised as the map is
        h_crops = [zero_padded(mask_map(h, mask)[0][sl], padded_shape) for h in halves]
    timings["masking"] = time.perf_counter() - t0

    step("resampling to the working grid")
    t0 = time.perf_counter()
    data_w = fourier_resample(Volume(m_crop, v_in, crop_origin), v_w)
    mask_w = binarise(fourier_resample(Volume(k_crop, v_in, crop_origin), v_w).data, MASK_THRESHOLD)
    del m_crop, k_crop
    halves_w = None
    if h_crops is not None:
        halves_w = tuple(fourier_resample(Volume(h, v_in, crop_origin), v_w).data for h in h_crops)
        del h_crops
    if not mask_w.any():
        raise InputError(
            f"the mask is empty once resampled to the working sampling ({v_w:g} A/voxel): "
            "it is too small or too thin; use a larger mask"
        )
    timings["resampling"] = time.perf_counter() - t0

    step("running the network", 0.0)
    t0 = time.perf_counter()
    res_w = M.predict(lm, data_w.data, mask_w, device=device, precision=precision, halves_w=halves_w, solvent=solvent,
                      progress=(lambda f: step("running the network", f)) if progress else None)
    del halves_w
    timings["network"] = time.perf_counter() - t0
    n_bad = int((~np.isfinite(res_w[mask_w])).sum())
    if n_bad:  # np.clip keeps NaN: never write a map with holes that look like values
        raise DeepResError(f"the network gave no finite estimate at {n_bad} mask voxels (NaN or infinite); nothing "
                           "was written. Please report this with the map's header (deepres --debug shows the details)")

    step("resampling back to the map's grid")
    t0 = time.perf_counter()
    floor = float(floor_A)
    res_w = np.where(mask_w, np.clip(res_w, floor, spec.max_A), 0.0).astype(np.float32)
    out = masked_trilinear(Volume(res_w, data_w.voxel_size_A, data_w.origin_A), mask_w,
                           vol.shape, v_in, vol.origin_A, mask)
    # Interpolation keeps values inside [floor, max] (convex combinations); guard float rounding.
    out[mask] = np.clip(out[mask], floor, spec.max_A)
    timings["back"] = time.perf_counter() - t0
    return out, float(data_w.voxel_size_A)


def _load(range_spec: RangeSpec, model, half_maps: bool = False):
    if model is not None:
        if model.spec.name != range_spec.name:
            raise InputError(f"the model given is for the {model.spec.name} range, not {range_spec.name}")
        from deepres.model import check_half_maps

        check_half_maps(model, half_maps)  # before any heavy work (predict checks it again)
        return model
    from deepres.model import load_model

    return load_model(range_spec.name, half_maps=half_maps)


def check_halves(vol: Volume, halves, names: tuple[str, str] = ("half map 1", "half map 2"),
                 vol_name: str = "map") -> tuple[np.ndarray, np.ndarray]:
    """The half maps' data as float32 arrays, checked: two of them, each on ``vol``'s grid (a
    :class:`Volume`) or of its shape (an array), finite, and not identical."""
    if len(halves) != 2:
        raise InputError(f"give two half maps, not {len(halves)}")
    out = []
    for h, name in zip(halves, names):
        if isinstance(h, Volume):
            check_same_grid(vol, h, vol_name, name, what="half map")
            arr = h.data
        else:
            arr = np.asarray(h)
            if arr.shape != vol.shape:
                raise InputError(f"{name} has shape {arr.shape}, the map {vol.shape} (z, y, x)")
        arr = np.asarray(arr, dtype=np.float32)
        if not np.isfinite(arr).all():
            raise InputError(f"{name} contains NaN or infinite values")
        out.append(arr)
    if np.array_equal(out[0], out[1]):
        raise InputError(f"{names[0]} and {names[1]} are identical: give the two independent half maps")
    return out[0], out[1]


#: With half maps, warn when the map's low-resolution content (0.05-0.12 cycles/voxel, inside the
#: mask) correlates with the mean of the halves less than this: they may not belong together.
MAP_HALVES_MIN_CORRELATION = 0.5


def compare_to_halves(data: np.ndarray, reference: np.ndarray, mask: np.ndarray) -> tuple[float, float]:
    """How the map ``data`` relates to ``reference`` (the mean of its half maps), both normalised
    and masked as the pipeline does it (:func:`deepres.mask.mask_map`).

    Returns ``(tilt, correlation)``: ``tilt`` is the power ratio data/reference in 0.25-0.40
    cycles/voxel over the same ratio in 0.05-0.12 (1: same shape of spectrum; > 1: ``data`` is
    sharper; < 1: blurrier); ``correlation`` is their Fourier correlation in 0.05-0.12 cycles/voxel
    (near 1 for a map and its own halves, however it was sharpened)."""
    import scipy.fft as sfft

    from deepres.filters import radial_frequency

    a, _ = mask_map(data, mask)
    b, _ = mask_map(reference, mask)
    k = radial_frequency(a.shape)
    fa, fb = sfft.rfftn(a), sfft.rfftn(b)
    pa, pb = np.abs(fa) ** 2, np.abs(fb) ** 2
    lo, hi = (k >= 0.05) & (k < 0.12), (k >= 0.25) & (k < 0.40)
    if not lo.any() or not hi.any():
        return 1.0, 1.0
    r_lo = pa[lo].sum() / max(pb[lo].sum(), 1e-30)
    r_hi = pa[hi].sum() / max(pb[hi].sum(), 1e-30)
    corr = np.real(fa[lo] * np.conj(fb[lo])).sum() / max(np.sqrt(pa[lo].sum() * pb[lo].sum()), 1e-30)
    return float(r_hi / max(r_lo, 1e-30)), float(corr)


def estimate_volume(vol: Volume, mask_vol: Volume | np.ndarray, range: str | RangeSpec = "low",
                    device: str = "auto", model=None, progress: ProgressFn | None = None,
                    mask_name: str = "mask", vol_name: str = "map", precision: str = "float32",
                    half_maps=None, half_names: tuple[str, str] = ("half map 1", "half map 2"),
                    lowpass_floor: bool = True, desharpen: bool = False) -> LocalResolution:
    """Estimate local resolution of a :class:`Volume` (see :func:`estimate`).

    ``half_maps`` (two Volumes on ``vol``'s grid, or two arrays of its shape) selects the model
    that also reads the half maps.
    ``mask_vol`` is a Volume (its grid is checked against ``vol``) or an array of ``vol``'s shape.
    ``model`` is a :class:`deepres.model.LoadedModel` (default: the shipped model of the range).
    ``precision`` is the arithmetic of the learned convolutions (:data:`deepres.model.PRECISIONS`).
    """
    from deepres.model import check_precision

    spec = get_range(range)
    check_precision(precision)
    warnings: list[str] = []
    timings: dict = {}
    if isinstance(mask_vol, Volume):
        check_same_grid(vol, mask_vol, vol_name, mask_name)
        mask_arr = mask_vol.data
    else:
        mask_arr = np.asarray(mask_vol)
        if mask_arr.shape != vol.shape:
            raise InputError(f"mask shape {mask_arr.shape} differs from map shape {vol.shape} (z, y, x)")
    data = np.asarray(vol.data, dtype=np.float32)
    if not np.isfinite(data).all():
        n = int((~np.isfinite(data)).sum())
        raise InputError(f"map {vol_name} contains {n} NaN or infinite values: replace them (e.g. by 0)")
    if not np.isfinite(np.asarray(mask_arr, dtype=np.float32)).all():
        raise InputError(f"mask {mask_name} contains NaN or infinite values")
    v_in = float(vol.voxel_size_A)
    if not (np.isfinite(v_in) and v_in > 0):
        raise InputError(f"voxel size must be a positive number of A, got {v_in}")
    floor = spec.floor_A(v_in)
    if floor >= spec.max_A:
        raise InputError(
            f"voxel size {v_in:.4g} A is too coarse for the {spec.name} range: its Nyquist limit "
            f"({2 * v_in:.4g} A) is at or above the range's maximum {spec.max_A:g} A"
            + ("; use --range low" if spec.name == "high" else "")
        )
    if spec.name == "high" and 2 * v_in > spec.max_A * 0.75:
        warnings.append(
            f"voxel size {v_in:.4g} A limits the estimate to >= {floor:.2f} A, near the top of the high range; "
            "--range low is probably the right choice"
        )
    halves = check_halves(vol, half_maps, half_names, vol_name) if half_maps is not None else None
    tilt = corr = None
    mask = binary_mask(mask_arr, mask_name, warnings)
    if halves is not None:
        # The estimate reads the mean of the half maps, not the map given: a map sharpened, blurred or
        # filtered after reconstruction would otherwise look better or worse resolved than the
        # reconstruction is (the half-map models were trained on maps equal to the mean of their halves).
        mean = (0.5 * (halves[0] + halves[1])).astype(np.float32)
        if mask.any():
            tilt, corr = compare_to_halves(data, mean, mask)
            if corr < MAP_HALVES_MIN_CORRELATION:
                warnings.append(
                    f"the map correlates with the mean of the half maps only {corr:.2f} at low resolution "
                    "(0.05-0.12 cycles/voxel, inside the mask): check that these half maps belong to this map "
                    "(or the map was filtered or sharpened very strongly); the estimate is made from the half maps"
                )
        data = mean
    radial = radial_log_power(data, bin_width_cpv(data.shape))
    cut = detect_lowpass(data, v_in, radial)
    sharp = measure_sharpening(*radial, v_in, band_top_Ainv(v_in, spec.voxel_size_A, cut))
    applied_b = None
    if desharpen and halves is not None:
        warnings.append("--desharpen is not used with half maps: the network reads the mean of the raw halves, "
                        "which a sharpening of the map does not reach")
    if sharp is not None and sharp.sharpened and halves is None:
        lo_A, hi_A = sharp.window_A
        note = (f"map {vol_name} looks sharpened: its power rises toward high frequency (tail B "
                f"{sharp.tail_b_A2:+.0f} A^2 over {lo_A:.1f}-{hi_A:.1f} A); ")
        if desharpen:
            data, applied_b = flatten(data, v_in, sharp)
            warnings.append(note + f"it was blurred by B = {applied_b:+.0f} A^2 before the network (--desharpen)")
        else:
            warnings.append(note + "the single-map models read sharpened maps finer than they are: give the "
                            "unsharpened map or --half-maps, or see --desharpen")
    content_floor = None
    if cut is not None:
        content_floor = min(cut.label_floor_A(spec.rolloff_cpv / spec.voxel_size_A), spec.max_A)
        what = "the mean of the half maps" if halves is not None else f"map {vol_name}"
        if content_floor <= floor:
            consequence = f"the finest value reported, {floor:.2f} A, is already at or above what such content can hold"
        elif lowpass_floor:
            floor = content_floor
            consequence = f"no estimate is finer than {floor:.2f} A, the finest resolution such content can hold"
        else:
            consequence = f"estimates finer than {content_floor:.2f} A exceed what such content can hold"
        warnings.append(
            f"{what} looks low-pass filtered: its power falls {10 ** cut.drop_decades:.0f}-fold below "
            f"{cut.edge_A:.2f} A and its content ends at {cut.content_end_A:.2f} A; {consequence}"
            + ("" if halves is not None else
               "; in noisy regions the estimate tends toward the filter's edge, which the unfiltered map "
               "or --half-maps avoid")
        )
    if mask.all():
        warnings.append(
            f"mask {mask_name} covers the whole box: the map's background level is taken from the whole box "
            "and the estimate includes solvent; a mask around the molecule gives better results"
        )
    t0 = time.perf_counter()
    lm = _load(spec, model, halves is not None)
    timings["load_model"] = time.perf_counter() - t0
    from deepres.model import MODEL_WARNINGS

    if lm.model_id in MODEL_WARNINGS:
        warnings.append(MODEL_WARNINGS[lm.model_id])
    from deepres.model import bfloat16_cpu_warning, resolve_device

    dev = str(resolve_device(device))
    if (bf16_note := bfloat16_cpu_warning(precision, dev)) is not None:
        warnings.append(bf16_note)
    measured: dict = {}
    out, v_w = _estimate_volume(Volume(data, v_in, vol.origin_A), mask, spec, lm, dev, progress, warnings, timings,
                                precision, halves, measured, floor_A=floor)
    res_vol = Volume(out, v_in, vol.origin_A, dict(vol.header))
    stats = compute_stats(out, mask)
    if stats.highest_A == stats.lowest_A:
        warnings.append(f"every mask voxel has the same value ({stats.median_A:.2f} A)")
    at_floor = float(np.mean(out[mask] <= floor + 1e-4))
    at_top = float(np.mean(out[mask] >= spec.max_A - 1e-4))
    if at_top > 0.25:
        warnings.append(
            f"{100 * at_top:.0f}% of the mask is at the top of the {spec.name} range ({spec.max_A:g} A): "
            "the map may be worse than the range covers" + (" (try --range low)" if spec.name == "high" else "")
        )
    if at_floor > 0.25:
        warnings.append(
            f"{100 * at_floor:.0f}% of the mask is at the finest value reported ({floor:.2f} A"
            + (", the end of the map's content)" if floor == content_floor
               else ", the map's Nyquist limit)" if floor > spec.min_A else ")")
            + (": try --range high" if spec.name == "low" and floor < 2.5 + 1e-6 else "")
        )
    params = {"range": spec.name, "device": str(device), "precision": precision,
              "mask_threshold_resampled": MASK_THRESHOLD, "half_maps": halves is not None,
              "estimated_from": "mean of the half maps" if halves is not None else "map",
              "map_vs_halves_spectral_tilt": tilt, "map_vs_halves_correlation": corr,
              "lowpass_filter": None if cut is None else {**cut.as_dict(), "label_floor_A": round(content_floor, 3)},
              "lowpass_floor": bool(lowpass_floor),
              "sharpening": None if sharp is None else sharp.as_dict(), "desharpen": bool(desharpen),
              "desharpen_applied_b_A2": None if applied_b is None else round(applied_b, 1), **measured}
    return LocalResolution(res_vol, mask, stats, spec, v_w, lm.model_id, lm.sha256, dev, warnings, params, timings,
                           floor_A=floor)


def estimate(volume: np.ndarray | Volume, mask: np.ndarray, voxel_size_A: float | None = None,
             range: str | RangeSpec = "low", device: str = "auto", origin_A=(0.0, 0.0, 0.0),
             model=None, progress: ProgressFn | None = None, precision: str = "float32",
             half_maps=None, lowpass_floor: bool = True, desharpen: bool = False) -> LocalResolution:
    """Local resolution of a cryo-EM map.

    Parameters
    ----------
    volume : `(z, y, x)` map (any real dtype), or a :class:`Volume` (then ``voxel_size_A`` and
        ``origin_A`` are taken from it).
    mask : `(z, y, x)` binary mask of the same shape (1 on the molecule).
    voxel_size_A : voxel size in Å (isotropic).
    range : "low" (2.5-13 Å, default) or "high" (1.5-6 Å).
    device : "auto" (GPU if there is one), "cpu" or "cuda".
    origin_A : `(z, y, x)` position of voxel [0, 0, 0] in Å (carried to the result).
    model : a :class:`deepres.model.LoadedModel` to use instead of the shipped one.
    progress : optional ``progress(step, fraction)`` callback.
    precision : "float32" (default) or "bfloat16": arithmetic of the network's learned
        convolutions (bfloat16 is faster on CPUs with AMX and on GPUs; docs/training-history.md,
        "Mixed precision on CPU", says what it costs in accuracy).
    half_maps : optional pair of half maps (arrays of the map's shape, or Volumes on its grid):
        the estimate then uses the model that also reads them (``<range>_halves``), which tells
        signal from noise band by band. The network then reads the mean of the half maps, not
        ``volume``: a map sharpened, blurred or filtered after reconstruction gives the same
        answer as the raw one. ``volume`` still sets the grid of the result, and is compared with
        the halves' mean (``parameters['map_vs_halves_spectral_tilt']`` and ``['..._correlation']``;
        a warning when they do not seem to belong together).
    lowpass_floor : for a map that was low-pass filtered below the range's floor (its power falls
        100-fold within 0.06 cycles/voxel and stays down; :mod:`deepres.lowpass`), report nothing
        finer than the finest resolution its content can hold (default). Either way the filter is
        recorded in ``parameters['lowpass_filter']`` and a warning says so.
    desharpen : a single map whose power rises toward high frequency (sharpened after
        reconstruction; :mod:`deepres.sharpening`) is blurred until it no longer does before the
        network (default off). Either way the slope is recorded in ``parameters['sharpening']``
        and a sharpened map gets a warning. Not used with ``half_maps`` (their mean is read).

    Returns
    -------
    LocalResolution
        ``.resolution.data`` is Å inside the mask and 0 outside; ``.median_A``, ``.highest_A``,
        ``.lowest_A`` and ``.stats`` summarise it.

    Raises
    ------
    InputError
        Bad map, mask, voxel size or range; a map too small for the network; not enough memory.
    """
    if isinstance(volume, Volume):
        vol = volume
    else:
        if voxel_size_A is None:
            raise InputError("voxel_size_A is required with a numpy array")
        arr = np.asarray(volume)
        if arr.ndim != 3:
            raise InputError(f"the map must be 3D (z, y, x), got shape {arr.shape}")
        vol = Volume(arr.astype(np.float32), float(voxel_size_A), origin_A)
    if half_maps is not None and not isinstance(volume, Volume):
        half_maps = [h if isinstance(h, Volume) else Volume(np.asarray(h, dtype=np.float32), vol.voxel_size_A, vol.origin_A)
                     for h in half_maps]
    return estimate_volume(vol, mask, range, device, model, progress, precision=precision, half_maps=half_maps,
                           lowpass_floor=lowpass_floor, desharpen=desharpen)


# ----------------------------------------------------------------------------------------------
# files


def write_result_files(folder: Path, result: LocalResolution, like: Volume) -> None:
    """``resolution.mrc``, ``resolution_chimera.mrc`` (background = median) on the grid of ``like``
    (the input map as read), and ``histogram.xmd``, into ``folder``."""
    from deepres.mrc import to_file_order, write_file_order

    folder = Path(folder)
    # One transposition to the file's axis order serves both maps.
    file_res = to_file_order(result.resolution.data, like)
    write_file_order(folder / "resolution.mrc", file_res, like)
    write_file_order(folder / "resolution_chimera.mrc", np.where(file_res == 0, np.float32(result.median_A), file_res),
                     like, label="deepres local resolution (A), background = median")
    (folder / "histogram.xmd").write_text(format_xmd(result.stats))


def estimate_files(volume_path: str | os.PathLike, mask_path: str | os.PathLike,
                   output_dir: str | os.PathLike | None = None, range: str = "low", device: str = "auto",
                   voxel_size_A: float | None = None, force: bool = False, report: bool = True,
                   model_path: str | os.PathLike | None = None, model=None,
                   progress: ProgressFn | None = None, precision: str = "float32",
                   half_map_paths: Sequence[str | os.PathLike] | None = None,
                   lowpass_floor: bool = True, desharpen: bool = False) -> tuple[LocalResolution, Path]:
    """Read map and mask (and the half maps, when given), estimate, and write the output folder
    (what ``deepres estimate`` does).

    Files written into ``output_dir`` (default ``<VOLUME stem>_deepres`` beside the map), all at
    once (see :mod:`deepres.outputs`): ``resolution.mrc``, ``resolution_chimera.mrc``,
    ``histogram.xmd``, ``summary.json`` and, unless ``report=False``, the report of
    :func:`deepres.report.write_report`.

    Returns the result and the output folder. Raises :class:`InputError` on bad input, before
    anything is written.
    """
    from deepres import __version__
    from deepres.mrc import read_volume
    from deepres.outputs import check_output_dir, default_output_dir, sha256_file, staged_output_dir, write_json

    t_start = time.perf_counter()
    spec = get_range(range)
    volume_path, mask_path = Path(volume_path), Path(mask_path)
    if model_path is not None:
        model_path = Path(model_path)
        if not model_path.is_file():
            raise InputError(f"atomic model file {model_path} does not exist: check the --model path")
    outdir = Path(output_dir) if output_dir is not None else default_output_dir(volume_path)
    half_paths = [Path(h) for h in half_map_paths] if half_map_paths else []
    if half_map_paths is not None and len(half_paths) != 2:
        raise InputError(f"--half-maps takes two files, got {len(half_paths)}")
    inputs = [volume_path, mask_path] + half_paths + ([model_path] if model_path else [])
    outdir = check_output_dir(outdir, inputs, force)

    if progress:
        progress("reading the map and mask", None)
    vol = read_volume(volume_path, voxel_size_A, what="map")
    mvol = read_volume(mask_path, voxel_size_A, what="mask")
    hvols = [read_volume(h, voxel_size_A, what="half map") for h in half_paths] or None
    result = estimate_volume(vol, mvol, spec, device, model, progress,
                             mask_name=str(mask_path), vol_name=str(volume_path), precision=precision,
                             half_maps=hvols, half_names=tuple(str(h) for h in half_paths) or ("half map 1", "half map 2"),
                             lowpass_floor=lowpass_floor, desharpen=desharpen)
    result.parameters.update({
        "volume": str(volume_path), "mask": str(mask_path), "output_dir": str(outdir),
        "voxel_size_A_override": voxel_size_A, "force": bool(force), "report": bool(report),
        "atomic_model": str(model_path) if model_path else None,
        "half_map_files": [str(h) for h in half_paths] or None,
    })
    if voxel_size_A is not None:
        result.warnings.append(f"voxel size set to {voxel_size_A:g} A by --voxel-size (header ignored)")

    if progress:
        progress("writing the outputs", None)
    summary = {
        **result.summary(),
        "inputs": {
            "volume": {"path": str(volume_path.resolve()), "sha256": sha256_file(volume_path)},
            "mask": {"path": str(mask_path.resolve()), "sha256": sha256_file(mask_path)},
            **{f"half_map_{i + 1}": {"path": str(h.resolve()), "sha256": sha256_file(h)} for i, h in enumerate(half_paths)},
        },
        "outputs": ["resolution.mrc", "resolution_chimera.mrc", "histogram.xmd", "summary.json"],
        "timestamp": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
    }
    if model_path:
        summary["inputs"]["atomic_model"] = {"path": str(model_path.resolve()), "sha256": sha256_file(model_path)}
    with staged_output_dir(outdir) as tmp:
        write_result_files(tmp, result, vol)
        if report:
            try:
                from deepres.report import write_report
            except ImportError:
                write_report = None
                result.warnings.append("report not written: deepres.report is not available in this installation")
            if write_report is not None:
                if progress:
                    progress("writing the report", None)
                write_report(tmp, result, vol, result.mask, model_path=str(model_path) if model_path else None,
                             input_map_path=str(volume_path))
        summary["outputs"] = sorted({p.name for p in tmp.iterdir()} | {"summary.json"})
        summary["warnings"] = list(result.warnings)
        summary["timings_s"]["total"] = round(time.perf_counter() - t_start, 3)
        summary["software"]["version"] = __version__
        write_json(tmp / "summary.json", summary)
    return result, outdir
