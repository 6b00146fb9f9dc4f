"""In-process time of ``deepres.estimate`` on EMD-11007 (low range) with and without half maps.

EMD-11007 has no half maps in our cache, so the halves here are the map plus independent Gaussian
noise (sd = the map's sd in the mask): only the timing means anything. Run after
``python benchmarks/speed.py`` has fetched the map into ~/.cache/deepres/benchmarks. Writes
benchmarks/results/speed_halves.md.

    .venv/bin/python benchmarks/speed_halves.py
"""

from __future__ import annotations

import os
import platform
import time
from pathlib import Path

import numpy as np
import torch

import deepres
from deepres.mrc import read_volume

CACHE = Path(os.path.expanduser("~/.cache/deepres/benchmarks"))


def main() -> None:
    v = read_volume(CACHE / "emd_11007.map")
    m = read_volume(CACHE / "emd_11007_mask.mrc").data > 0.5
    rng = np.random.default_rng(0)
    sd = float(v.data[m].std())
    halves = [(v.data + rng.normal(0, sd, v.shape)).astype(np.float32) for _ in range(2)]
    rows = []
    for rep in range(2):
        for name, kw in (("map only", {}), ("with half maps", {"half_maps": halves})):
            t = time.perf_counter()
            r = deepres.estimate(v, m, range="low", device="cpu", **kw)
            rows.append((rep, name, time.perf_counter() - t, r.model_id))
            print(rows[-1], flush=True)
    lines = ["# Time with and without half maps (EMD-11007, low range, in process)", "",
             f"Command: `.venv/bin/python benchmarks/speed_halves.py`; {platform.processor() or platform.machine()}, "
             f"{os.cpu_count()} cores, torch {torch.__version__} ({torch.get_num_threads()} threads), "
             f"deepres {deepres.__version__}. The halves are synthetic (map + noise).", "",
             "| run | input | time (s) | model |", "|---|---|---|---|"]
    lines += [f"| {rep + 1} | {name} | {dt:.1f} | {mid} |" for rep, name, dt, mid in rows]
    out = Path(__file__).parent / "results" / "speed_halves.md"
    out.write_text("\n".join(lines) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
