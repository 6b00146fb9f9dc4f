"""Training samples on disk: shards of simulated samples, read through memory maps.

:func:`deepres.samples.generate_dataset` writes each shard as ``{split}_NNN.pt`` (a list of sample
dicts, ``torch.save``). Held in memory as they are, 2000 half-map samples would take ~15 GB in
each training process. So the first time a shard is read, its arrays (``features``, ``label``,
``weight``) are also written as raw files beside it (``{shard}.{name}.bin``, one dtype each) with
an index (``{shard}.index.json``: shapes, offsets, the other fields of each sample), and every
later read maps those files instead of loading the shard. The samples' arrays are then views of
the maps: only the pages that training touches are read, and two processes training on the same
folder (a single-map and a half-map model, say) share them in the page cache. A single-map model
on half-map samples touches only the first channels of each sample (channels come first and are
contiguous), so the half-map channels are never read for it.

The maps are opened copy-on-write: the arrays can be written in memory, the files never change.
"""

from __future__ import annotations

import json
import os

import numpy as np
import torch

#: The arrays of a sample that live in the memory-mapped files, and their dtypes.
ARRAYS = {"features": np.float16, "label": np.float32, "weight": np.bool_}


def _index_path(shard: str) -> str:
    return shard + ".index.json"


def _array_path(shard: str, name: str) -> str:
    return f"{shard}.{name}.bin"


def _stamp(shard: str) -> dict:
    st = os.stat(shard)
    return {"size": st.st_size, "mtime_ns": st.st_mtime_ns}


def pack_shard(shard: str) -> dict:
    """Write the memory-mappable files of ``shard`` (each written to a temporary name and moved
    into place; the index last, so an index on disk means complete files). Returns the index."""
    samples = torch.load(shard, weights_only=False)
    entries, offsets = [], dict.fromkeys(ARRAYS, 0)
    tmp = f".tmp{os.getpid()}"  # two processes may pack the same shard at once: same bytes, own names
    handles = {k: open(_array_path(shard, k) + tmp, "wb") for k in ARRAYS}
    try:
        try:
            for s in samples:
                e = {k: v for k, v in s.items() if k not in ARRAYS}
                for k, dt in ARRAYS.items():
                    a = np.ascontiguousarray(s[k], dtype=dt)
                    e[k] = {"offset": offsets[k], "shape": list(a.shape)}
                    handles[k].write(a.tobytes())
                    offsets[k] += a.size
                entries.append(e)
        finally:
            for h in handles.values():
                h.close()
    except BaseException:
        # a full disk, say: leave no partial files behind (they took 1.1 GB in one such failure)
        for k in ARRAYS:
            if os.path.exists(_array_path(shard, k) + tmp):
                os.remove(_array_path(shard, k) + tmp)
        raise
    for k in ARRAYS:
        os.replace(_array_path(shard, k) + tmp, _array_path(shard, k))
    index = {"source": _stamp(shard), "samples": entries}
    with open(_index_path(shard) + tmp, "w") as fh:
        json.dump(index, fh)
    os.replace(_index_path(shard) + tmp, _index_path(shard))
    return index


def _read_index(shard: str) -> dict | None:
    """The index of ``shard`` if it is there and was made from this very shard file."""
    try:
        with open(_index_path(shard)) as fh:
            index = json.load(fh)
    except (OSError, ValueError):
        return None
    return index if index.get("source") == _stamp(shard) else None


def open_shard(shard: str) -> list[dict]:
    """The samples of one shard, their arrays mapped from disk (packed first if needed). A network
    that reads fewer channels takes a view (:func:`deepres.samples.as_read_by`)."""
    index = _read_index(shard) or pack_shard(shard)
    entries = index["samples"]
    if not entries:
        return []
    maps = {k: np.memmap(_array_path(shard, k), dtype=dt, mode="c") for k, dt in ARRAYS.items()}
    samples = []
    for e in entries:
        s = {k: v for k, v in e.items() if k not in ARRAYS}
        for k in ARRAYS:
            shape, o = e[k]["shape"], e[k]["offset"]
            s[k] = maps[k][o : o + int(np.prod(shape))].reshape(shape)
        samples.append(s)
    return samples


def load_shards(out_dir: str, split: str) -> list[dict]:
    """The samples of ``split`` (``"train"`` or ``"val"``) in ``out_dir``, in shard order, with all
    their stored channels (:func:`deepres.samples.as_read_by` keeps those a network reads)."""
    samples = []
    for fn in sorted(os.listdir(out_dir)):
        if fn.startswith(split + "_") and fn.endswith(".pt"):
            samples.extend(open_shard(os.path.join(out_dir, fn)))
    return samples
