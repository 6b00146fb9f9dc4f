"""Shared helpers of the pipeline/CLI/reliability tests: small synthetic maps and an untrained
network (the pipeline's mechanics do not depend on the weights)."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import mrcfile
import numpy as np
import torch

torch.set_num_threads(1)

from deepres.filters import lowpass_to_resolution  # noqa: E402

# Small real test data ships with the tests (tests/data/README.md)
MAP_1AKE = Path(__file__).resolve().parent / "data" / "1ake_molmap45.mrc"

_UNTRAINED = {}


def untrained(range_name: str = "low", half_maps: bool = False):
    """A cached untrained model (seeded), for tests of mechanics only (``half_maps``: the kind that
    also reads the two half maps)."""
    from deepres.model import build_untrained

    key = (range_name, bool(half_maps))
    if key not in _UNTRAINED:
        _UNTRAINED[key] = build_untrained(range_name, seed=0, half_maps=half_maps)
    return _UNTRAINED[key]


def use_untrained(monkeypatch) -> None:
    """Make the pipeline (and so the CLI) load the untrained network instead of shipped weights."""
    import deepres.model

    monkeypatch.setattr(deepres.model, "load_model", lambda name="low", path=None, half_maps=False: untrained(name, half_maps))


def synthetic_map(shape=(36, 32, 40), voxel_size_A=1.0, seed=0, n_blobs=30, resolution_A=5.0):
    """A blobby 'molecule' in the middle of the box, low-passed, plus a little noise; and its mask."""
    rng = np.random.default_rng(seed)
    data = np.zeros(shape, dtype=np.float32)
    centre = np.array(shape) / 2
    for _ in range(n_blobs):
        p = np.clip(centre + rng.normal(0, 0.12, 3) * np.array(shape), 4, np.array(shape) - 5).astype(int)
        data[tuple(p)] += 1.0
    data = lowpass_to_resolution(data, resolution_A, voxel_size_A, 0.05)
    data += rng.normal(0, 0.002, shape).astype(np.float32)
    mask = lowpass_to_resolution(data, 8.0, voxel_size_A, 0.05) > 0.25 * data.max() * 0.2
    if mask.sum() < 20:
        mask[tuple((np.array(shape) // 2))] = True
    return data.astype(np.float32), mask


def write_mrc(path, data_zyx, voxel_size_A=1.0, origin_xyz=(0.0, 0.0, 0.0), dtype=np.float32, ispg=1) -> Path:
    path = Path(path)
    with mrcfile.new(path, overwrite=True) as m:
        m.set_data(np.asarray(data_zyx).astype(dtype))
        m.voxel_size = voxel_size_A
        m.header.origin = origin_xyz
        m.header.ispg = ispg
    return path


def write_pair(tmp_path, shape=(36, 32, 40), voxel_size_A=1.0, seed=0, origin_xyz=(0.0, 0.0, 0.0)):
    data, mask = synthetic_map(shape, voxel_size_A, seed)
    vp = write_mrc(tmp_path / "map.mrc", data, voxel_size_A, origin_xyz)
    mp = write_mrc(tmp_path / "mask.mrc", mask.astype(np.float32), voxel_size_A, origin_xyz)
    return vp, mp


def digest(path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def snapshot(folder) -> dict:
    """{relative path: sha256} of every file under ``folder`` (to prove inputs were not touched and
    nothing was left behind)."""
    out = {}
    for root, dirs, files in os.walk(folder):
        for d in dirs:
            out[os.path.relpath(os.path.join(root, d), folder) + "/"] = "dir"
        for f in files:
            p = os.path.join(root, f)
            out[os.path.relpath(p, folder)] = digest(p)
    return out
