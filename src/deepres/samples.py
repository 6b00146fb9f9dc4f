"""Training samples: maps simulated with a known local resolution, at the working sampling.

:func:`generate_dataset` simulates maps from the *training* structures (never the held-out list,
:func:`split_structures`), puts each through exactly the preprocessing that ``deepres estimate``
applies at the working sampling (normalise, dilate the mask by one voxel, multiply, binarise;
:func:`to_working_grid` for maps simulated at another sampling), computes the network's fixed front
end (band energies, :mod:`deepres.features`) and stores the features, the true resolution and the
mask on the feature grid in shards under a cache folder (:mod:`deepres.shards` reads them back).
Because the front end is fixed, it is computed once per simulated map, not at every training step.
Each sample records the front end it was made with; :func:`as_read_by` gives a network the channels
it reads and refuses samples made with another filter bank. Deterministic given a seed.
"""

from __future__ import annotations

import json
import math
import os
import random
import sys
import time
from multiprocessing import get_context

import numpy as np
import torch

from deepres.features import FeatureConfig, block_mean, compute_features
from deepres.mask import binarise, dilate18, mask_map
from deepres.ranges import RangeSpec, get_range
from deepres.solvent import solvent_context
from deepres.splits import heldout_structures

#: Edge of the stored feature crops (feature grid voxels = 2 working voxels).
STORE_EDGE = 48


def split_structures(structure_dir: str, n_val: int = 24, seed: int = 7) -> tuple[list[str], list[str]]:
    """(training, validation) structure paths: everything but the held-out list, with a fixed
    subset of whole PDB codes kept aside for validation."""
    held = set(heldout_structures())
    files = sorted(f for f in os.listdir(structure_dir) if f.endswith((".pdb", ".pdb.gz", ".cif", ".cif.gz")))
    pool = [f for f in files if f not in held]
    codes = sorted({f[:4] for f in pool})
    random.Random(seed).shuffle(codes)
    val_codes, n = set(), 0
    for c in codes:
        if n >= n_val:
            break
        val_codes.add(c)
        n += sum(1 for f in pool if f[:4] == c)
    train = [os.path.join(structure_dir, f) for f in pool if f[:4] not in val_codes]
    val = [os.path.join(structure_dir, f) for f in pool if f[:4] in val_codes]
    return train, val


#: ``--post-sharpen P``: with probability P, the map (signal and noise, not the half maps) gets a
#: global B drawn uniformly from this range (Å²), as a map sharpened or blurred after reconstruction.
POST_B_RANGE_A2 = (-60.0, 40.0)


#: Largest edge, in working voxels, of a simulated training map (so that the stored crop of
#: ``STORE_EDGE`` feature voxels holds the whole map and its whole-map context).
MAX_BOX_WORK = 2 * STORE_EDGE


def draw_input_voxel_size(seed: int, spec: RangeSpec, input_voxel_A: tuple[float, float] | None) -> float:
    """The input voxel size (Å) a sample is simulated at: the working sampling, or with
    ``input_voxel_A = (lo, hi)`` a draw uniform in ``[lo, hi]`` (deterministic given ``seed``)."""
    if input_voxel_A is None:
        return float(spec.voxel_size_A)
    lo, hi = (float(v) for v in input_voxel_A)
    return float(np.random.default_rng([int(seed), 78]).uniform(lo, hi))


def to_working_grid(map_data: np.ndarray, mask: np.ndarray, halves: tuple[np.ndarray, ...],
                    truth: np.ndarray, voxel_size_A: float, working_A: float):
    """A map simulated at ``voxel_size_A`` brought to the working sampling as ``deepres estimate``
    brings an input there: masked and normalised on its own grid (the mask dilated by one voxel),
    zero-padded to a length that resamples exactly (:func:`deepres.resample.exact_pad`), resampled
    in Fourier space (low-passed where the sampling gets coarser), the resampled mask binarised at
    :data:`deepres.mask.MASK_THRESHOLD`. Each half map is masked and normalised as the map is. The
    true field is interpolated (trilinear) at the working voxels' positions, so its values stay
    within its own range (the Nyquist floor of the input sampling included).

    Returns ``(masked map, binary mask, halves, truth)`` on the working grid (at most
    :data:`MAX_BOX_WORK` voxels a side: a larger grid is cropped about its centre).
    """
    from scipy.ndimage import map_coordinates

    from deepres.resample import exact_pad, fourier_resample_stack, zero_padded

    v_in, v_w = float(voxel_size_A), float(working_A)
    padded = tuple(exact_pad(n, v_in, v_w) for n in map_data.shape)
    masked, _ = mask_map(map_data, mask)
    stack = [zero_padded(masked, padded), zero_padded(mask, padded)]
    stack += [zero_padded(mask_map(h, mask)[0], padded) for h in halves]
    out, _, origin = fourier_resample_stack(np.stack(stack), v_in, (0.0, 0.0, 0.0), v_w)
    shape_w = out.shape[1:]
    # working voxel k sits at origin + k * v_axis (Å); the input voxel j at j * v_in
    coords = np.meshgrid(*[(o + np.arange(m) * n * v_in / m) / v_in for o, m, n in zip(origin, shape_w, padded)],
                         indexing="ij")
    truth_p = np.pad(np.asarray(truth, dtype=np.float32), [(0, m - n) for m, n in zip(padded, truth.shape)], mode="edge")
    truth_w = map_coordinates(truth_p, coords, order=1, mode="nearest").astype(np.float32)
    crop = tuple(slice((m - min(m, MAX_BOX_WORK)) // 2, (m - min(m, MAX_BOX_WORK)) // 2 + min(m, MAX_BOX_WORK))
                 for m in shape_w)
    masked_w, mask_w = out[0][crop], binarise(out[1][crop])
    halves_w = tuple(h[crop] for h in out[2:])
    return masked_w, mask_w, halves_w, truth_w[crop]


def make_sample(structure_path: str, spec: RangeSpec, seed: int, features: FeatureConfig,
                post_sharpen: float = 0.0, input_voxel_A: tuple[float, float] | None = None,
                atomic_b: str = "model", noise_cutoff_scale: tuple[float, float] | None = None,
                post_b_bounded: bool = True, global_b_first: bool = True) -> dict:
    """Simulate one map and turn it into a training sample at the working sampling
    (``post_sharpen``: probability of a post-hoc global B on the map, :data:`POST_B_RANGE_A2`, its
    factor held constant beyond the map's Nyquist frequency as sharpening programs do; with
    ``post_b_bounded=False`` applied also to the corners of the box beyond it, as every training set
    before 2026-12-07 (seventh session) was made: there a B of -60 A^2 at 0.5 A/voxel multiplies the
    corners by ~10^19 and leaves a map of float32 rounding noise, in ~1-2 % of the sharpened high-range
    sets' maps;
    ``input_voxel_A``: the range of input voxel sizes to simulate at, :func:`draw_input_voxel_size`,
    each map then brought to the working grid by :func:`to_working_grid`; ``atomic_b``: the
    atoms' B-factors, ``noise_cutoff_scale``: where low-pass noise is cut, and ``global_b_first``:
    the simulator's global B before the field (False: after it, as every training set before
    2026-12-07, eighth session), all :func:`deepres.simulate.simulate_case`)."""
    from deepres.simulate import simulate_case  # lazy: gemmi only when training
    from deepres.simulate.noise import apply_bfactor

    torch.set_num_threads(1)
    v_in = draw_input_voxel_size(seed, spec, input_voxel_A)
    native = abs(v_in - spec.voxel_size_A) < 1e-9
    # the same physical box at any input sampling (at most MAX_BOX_WORK working voxels)
    case = simulate_case(structure_path, spec, v_in, seed,
                         max_box=MAX_BOX_WORK if native else int(MAX_BOX_WORK * spec.voxel_size_A / v_in),
                         atomic_b=atomic_b, noise_cutoff_scale=noise_cutoff_scale, global_b_first=global_b_first)
    mask = case.mask.data > 0.5
    map_data, post_b = case.map.data, None
    if post_sharpen > 0:
        r = np.random.default_rng([int(seed), 77])
        if r.random() < post_sharpen:
            post_b = float(r.uniform(*POST_B_RANGE_A2))
            map_data = apply_bfactor(map_data, v_in, post_b, max_freq_Ainv=0.5 / v_in if post_b_bounded else None)
    if native:
        masked, _ = mask_map(map_data, mask)
        mask_b = binarise(mask.astype(np.float32))
        truth = case.truth.data.astype(np.float32)
        halves_w = tuple(mask_map(h.data, mask)[0] for h in (case.half1, case.half2)) if features.half_maps else ()
    else:
        halves_in = (case.half1.data, case.half2.data) if features.half_maps else ()
        masked, mask_b, halves_w, truth = to_working_grid(map_data, mask, halves_in, case.truth.data,
                                                          v_in, spec.voxel_size_A)
    # even sizes
    sl = tuple(slice(0, s - (s % 2)) for s in masked.shape)
    masked, mask_b, truth = masked[sl], mask_b[sl], truth[sl]
    halves = None
    if features.half_maps:  # each half masked and normalised as the pipeline does it
        halves = tuple(torch.from_numpy(np.ascontiguousarray(h[sl])) for h in halves_w)
    feats = compute_features(torch.from_numpy(masked), torch.from_numpy(mask_b), features, halves).numpy()
    solvent = None
    if features.solvent_context:  # on the input grid, from the unmasked map, as the pipeline does it
        solvent, _ = solvent_context(map_data, dilate18(mask), v_in, spec.voxel_size_A, features)
    lab = block_mean(torch.from_numpy(truth)).numpy()
    wmask = block_mean(torch.from_numpy(mask_b.astype(np.float32))).numpy() >= 0.5
    # crop to at most STORE_EDGE around a random mask voxel
    rng = np.random.default_rng(seed + 1)
    idx = np.argwhere(wmask)
    centre = idx[rng.integers(len(idx))] if len(idx) else np.array(wmask.shape) // 2
    slc = []
    for c, n in zip(centre, wmask.shape):
        e = min(STORE_EDGE, n)
        s0 = int(np.clip(c - e // 2, 0, n - e))
        slc.append(slice(s0, s0 + e))
    slc = tuple(slc)
    return {
        "features": feats[(slice(None),) + slc].astype(np.float16),
        "label": lab[slc].astype(np.float32),
        "weight": wmask[slc],
        "structure": os.path.basename(structure_path),
        "seed": seed,
        "params": json.dumps({**case.params, "post_b_A2": post_b, "input_voxel_size_A": v_in,
                              **({"post_b_bounded": bool(post_b_bounded)} if post_b is not None else {})},
                             default=str),
        "front_end": front_end(features),
        **({"solvent": [float(v) for v in solvent]} if solvent is not None else {}),
    }


def data_summary(samples: list[dict]) -> dict:
    """What the training record says about how its samples were simulated: the range of input voxel
    sizes (Å; the working sampling for samples made before ``--input-voxel-size``) and how many
    samples were sharpened after the noise (``--post-sharpen``), how many had flat atomic B
    (``--atomic-b flat``) and how many were simulated with the global B before the field (the
    default since 2026-12-07, eighth session); the last two counted only when some were."""
    v, n_sharp, n_flat, n_bounded, n_b_first = [], 0, 0, 0, 0
    for smp in samples:
        p = json.loads(smp.get("params") or "{}")
        v.append(float(p.get("input_voxel_size_A", p.get("voxel_size_A", float("nan")))))
        n_sharp += p.get("post_b_A2") is not None
        n_bounded += bool(p.get("post_b_bounded", False))
        n_flat += p.get("atomic_b") == "flat"
        n_b_first += bool(p.get("global_b_first", False))
    v = np.asarray(v, dtype=np.float64)
    ok = v[np.isfinite(v)]
    return {"input_voxel_size_A": [float(ok.min()), float(ok.max())] if ok.size else None,
            "n_post_sharpened": int(n_sharp), **({"n_post_sharpened_bounded": int(n_bounded)} if n_sharp else {}),
            **({"n_flat_atomic_b": int(n_flat)} if n_flat else {}),
            **({"n_global_b_first": int(n_b_first)} if n_b_first else {})}


def front_end(features: FeatureConfig) -> dict:
    """The filter-bank settings that make a sample's stored features what they are (not the whole-map
    context, computed at training time or stored apart, nor the half-map channels, counted apart)."""
    return {k: v for k, v in features.to_dict().items()
            if k not in ("context_quantiles", "half_maps", "solvent_context")}


def made_with(sample: dict) -> dict:
    """The front end a stored sample was made with (:func:`front_end`); samples from before it was
    recorded were made with the default one, and those from before ``sparsity_bands`` with none."""
    return {**front_end(FeatureConfig()), **sample.get("front_end", {})}


def channels_read(features: FeatureConfig, sample_front_end: dict, n_stored: int, where=()) -> int:
    """How many of a stored sample's leading feature channels a network with ``features`` reads.

    Samples store the single-map channels, then the half-map ones (if made with half maps), then the
    sparsity ones (if made with them). A network reads a leading run of them: the single-map ones; with
    half maps, those too; with sparsity channels, the same number made with the same bank, and only
    where nothing it lacks comes before them. Anything else is a ValueError that names the folders.
    """
    folders = ", ".join(where)
    if not reads_samples_of(features, sample_front_end):
        raise ValueError(f"the samples in {folders} were made with another filter bank "
                         f"({json.dumps(sample_front_end, sort_keys=True)}) than this training's "
                         f"({json.dumps(front_end(features), sort_keys=True)}): use a data folder made with the same "
                         "--n-bands, --smooth-wavelengths and --sparsity-bands")
    k_stored = int(sample_front_end.get("sparsity_bands", 0))
    stored_half = n_stored - 2 - k_stored == 2 * features.n_bands
    if not stored_half and n_stored - 2 - k_stored != features.n_bands:
        raise ValueError(f"the samples in {folders} have {n_stored} feature channels, which fits no front end "
                         f"of {features.n_bands} bands")
    if features.half_maps and not stored_half:
        raise ValueError(f"the samples in {folders} have {n_stored} feature channels and this network takes "
                         f"{features.n_channels}: use data folders made with --half-maps")
    if features.sparsity_bands and stored_half != features.half_maps:
        raise ValueError(f"the samples in {folders} were made with half maps: a single-map network with sparsity "
                         "channels needs samples made without them")
    return features.n_channels


def as_read_by(features: FeatureConfig, samples: list[dict], where=()) -> list[dict]:
    """``samples`` as a network with ``features`` reads them: each with a view of the leading
    feature channels it takes (:func:`channels_read`; ``where`` names the folders in its errors)."""
    return [{**s, "features": s["features"][: channels_read(features, made_with(s), s["features"].shape[0], where)]}
            for s in samples]


def reads_samples_of(features: FeatureConfig, sample_front_end: dict) -> bool:
    """Whether a network with ``features`` reads samples made with ``sample_front_end``: the same
    filter bank, and either the same sparsity channels or none (they come last, so a network
    without them keeps the channels before them, as a single-map network keeps those before the
    half-map ones)."""
    own = front_end(features)
    if features.sparsity_bands == 0:
        own = {k: v for k, v in own.items() if k != "sparsity_bands"}
        sample_front_end = {k: v for k, v in sample_front_end.items() if k != "sparsity_bands"}
    return own == sample_front_end


def _sample_job(args):
    path, spec_name, seed, feat_dict, post_sharpen, input_voxel_A, atomic_b, noise_cutoff_scale, bounded, b_first = args
    try:
        return make_sample(path, get_range(spec_name), seed, FeatureConfig(**feat_dict), post_sharpen, input_voxel_A,
                           atomic_b, noise_cutoff_scale, bounded, b_first)
    except Exception as exc:  # noqa: BLE001 - a failed simulation is skipped, and logged
        return {"error": f"{os.path.basename(path)} seed {seed}: {exc!r}"}


def generate_dataset(
    structure_dir: str,
    out_dir: str,
    range_name: str,
    n_train: int,
    n_val: int,
    seed: int = 0,
    workers: int = 2,
    shard_size: int = 100,
    features: FeatureConfig | None = None,
    post_sharpen: float = 0.0,
    input_voxel_A: tuple[float, float] | None = None,
    atomic_b: str = "model",
    noise_cutoff_scale: tuple[float, float] | None = None,
    post_b_bounded: bool = True,
    global_b_first: bool = True,
) -> None:
    """Simulate ``n_train`` + ``n_val`` samples into shards ``{train,val}_NNN.pt`` of ``out_dir``.

    Existing shards are kept (so an interrupted generation resumes). Sample ``i`` of a split
    uses structure ``paths[rng_i]`` and seed ``seed * 1_000_003 + i`` (validation: offset 10^9).
    """
    spec = get_range(range_name)
    features = features or FeatureConfig()
    os.makedirs(out_dir, exist_ok=True)
    train_paths, val_paths = split_structures(structure_dir)
    todo = []  # (shard file, jobs) of the shards still missing
    for split, paths, n, off in (("val", val_paths, n_val, 10**9), ("train", train_paths, n_train, 0)):
        for shard in range(math.ceil(n / shard_size)):
            fn = os.path.join(out_dir, f"{split}_{shard:03d}.pt")
            if os.path.exists(fn):
                continue
            jobs = []
            for i in range(shard * shard_size, min(n, (shard + 1) * shard_size)):
                s = seed * 1_000_003 + off + i
                jobs.append((paths[random.Random(s).randrange(len(paths))], spec.name, s, features.to_dict(),
                             post_sharpen, input_voxel_A, atomic_b, noise_cutoff_scale, bool(post_b_bounded),
                             bool(global_b_first)))
            todo.append((fn, jobs))
    if not todo:
        return
    # one pool for all shards, results in order: the workers never wait for the end of a shard, and
    # each shard is written (atomically) as soon as its last sample is in
    with get_context("spawn").Pool(workers) as pool:
        results = pool.imap(_sample_job, [j for _, jobs in todo for j in jobs], chunksize=1)
        for fn, jobs in todo:
            t0 = time.time()
            good = []
            for _ in jobs:
                r = next(results)
                if "error" in r:
                    print(f"  skipped: {r['error']}", file=sys.stderr)
                else:
                    good.append(r)
            torch.save(good, fn + ".tmp")
            os.replace(fn + ".tmp", fn)
            print(f"{os.path.basename(fn)[:-3]}: {len(good)} samples, {time.time() - t0:.0f} s since the previous "
                  "shard", file=sys.stderr, flush=True)
