"""Speed and memory benchmark of ``deepres estimate`` (issue 5), with the original's scheme timed
on the same machine in the same run.

Run from the repository root (one command; see docs/benchmark.md)::

    python benchmarks/speed.py

What it measures
----------------
Maps:

- **EMD-11007** (240³ at 0.834 Å), low and high range. The file comes from the ccpem-utils
  0.0.1.dev35 source distribution on PyPI; it is fetched once into the cache folder
  (``--cache-dir``, default ``$DEEPRES_CACHE`` or ``~/.cache/deepres/benchmarks``) with
  ``pip download --no-deps --no-binary ccpem-utils ccpem-utils==0.0.1.dev35`` and unpacked
  (``ccpem_utils_tests/test_data/emd_11007.map``). ``--emd11007 PATH`` uses a local copy.
  Its mask is :func:`deepres.benchmark.threshold_mask`: low-pass 8 Å, threshold at 0.1 × the
  low-passed maximum, dilated 3 voxels (18-neighbourhood).
- **synthetic 400³ at 1 Å**, low range: smooth random density in an off-centre 220³ sub-cube,
  mask = a sphere of radius 100 voxels inside it (6.5 % of the box). Made once, cached.

For each: (1) in process, seconds per stage: read (map + mask), model load, preprocessing
(normalise, mask, crop, Fourier resampling), network, back-resampling, statistics and checks,
writing (resolution.mrc, resolution_chimera.mrc, histogram.xmd); (2) the whole ``deepres
estimate ... --no-report`` process: wall time and peak RSS (``ru_maxrss`` of the child, via a
fresh wrapper process per run). Derived: throughput (input mask voxels per second of the whole
process) and the fraction of the in-process time spent outside the network.

**The original's scheme**: a PyTorch network of the original's shape (Conv3d(1, 32, 13,
padding=6) + ReLU → Flatten → Linear(70304, 512) + ReLU → Linear(512, 1); random weights; eval
mode, so no dropout) on 13³ boxes extracted around a random sample of mask voxels of
EMD-11007 on the 1 Å working grid, each divided by its L2 norm, batches of 1000 as the original.
The time per box (extraction + normalisation + network) is extrapolated to half of the
working-grid mask voxels (the original's checkerboard) for each range (1 Å and 0.5 Å working
grids). The original's pure-Python loops, TensorFlow overheads and odd-voxel filling are not
counted, so the ratio flatters the original.

Output: ``benchmarks/results/speed_<date>.json`` and ``.md`` (``--output-dir``, ``--stem``).
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]

CCPEM_SPEC = "ccpem-utils==0.0.1.dev35"
CCPEM_MEMBER = "ccpem_utils_tests/test_data/emd_11007.map"
BOX = 13
ORIGINAL_BATCH = 1000

# A wrapper run in a fresh interpreter: runs the command, reports wall time and the child's peak RSS.
_WRAPPER = r"""
import json, resource, subprocess, sys, time
t = time.perf_counter()
p = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
wall = time.perf_counter() - t
ru = resource.getrusage(resource.RUSAGE_CHILDREN)
print(json.dumps({"rc": p.returncode, "wall_s": wall, "peak_rss_MiB": ru.ru_maxrss / 1024.0,
                  "user_s": ru.ru_utime, "sys_s": ru.ru_stime, "stderr_tail": p.stderr[-800:]}))
"""

# deepres estimate with an untrained network (development runs before the model ships).
_UNTRAINED_MAIN = (
    "import sys; import deepres.model as M; "
    "M.load_model = lambda range_name='low', path=None: M.build_untrained(range_name); "
    "from deepres.cli import main; sys.exit(main(sys.argv[1:]))"
)


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


# ------------------------------------------------------------------------------------- inputs


def cache_dir(explicit: str | None) -> Path:
    d = Path(explicit or os.environ.get("DEEPRES_CACHE") or Path.home() / ".cache" / "deepres" / "benchmarks")
    d.mkdir(parents=True, exist_ok=True)
    return d


def fetch_emd11007(cache: Path) -> Path:
    """``<cache>/emd_11007.map``, downloaded (pip, PyPI sdist) and unpacked if missing."""
    target = cache / "emd_11007.map"
    if target.exists():
        return target
    with tempfile.TemporaryDirectory() as tmp:
        log(f"fetching EMD-11007 from the {CCPEM_SPEC} sdist on PyPI ...")
        subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", "ccpem-utils",
                        CCPEM_SPEC, "-d", tmp, "-q"], check=True)
        sdists = list(Path(tmp).glob("ccpem_utils-*.tar.gz")) + list(Path(tmp).glob("ccpem-utils-*.tar.gz"))
        if not sdists:
            raise RuntimeError(f"pip download of {CCPEM_SPEC} gave no sdist")
        with tarfile.open(sdists[0]) as tf:
            member = next((m for m in tf.getmembers() if m.name.endswith(CCPEM_MEMBER)), None)
            if member is None:
                raise RuntimeError(f"{CCPEM_MEMBER} not found in {sdists[0].name}")
            with tf.extractfile(member) as src, open(str(target) + ".part", "wb") as dst:
                shutil.copyfileobj(src, dst)
        os.replace(str(target) + ".part", target)
    return target


def emd11007_inputs(cache: Path, explicit: str | None) -> tuple[Path, Path]:
    from deepres.benchmark import threshold_mask
    from deepres.mrc import read_volume, write_volume

    mp = Path(explicit) if explicit else fetch_emd11007(cache)
    mask_path = cache / "emd_11007_mask.mrc"
    if not mask_path.exists() or mask_path.stat().st_mtime < mp.stat().st_mtime:
        vol = read_volume(mp)
        m = threshold_mask(vol)
        write_volume(mask_path, m.data, vol)
    return mp, mask_path


def synthetic400_inputs(cache: Path, n: int = 400, radius: int = 100, seed: int = 400) -> tuple[Path, Path]:
    """A ``n``³ map at 1 Å: smooth random density in an off-centre sub-cube, spherical mask."""
    from scipy import ndimage

    from deepres.mrc import write_volume
    from deepres.volume import Volume

    mp, kp = cache / f"synthetic{n}_map.mrc", cache / f"synthetic{n}_mask.mrc"
    if mp.exists() and kp.exists():
        return mp, kp
    log(f"making the synthetic {n}^3 map ...")
    rng = np.random.default_rng(seed)
    side = 2 * radius + 20
    c = np.array([n // 2 + n // 10, n // 2 - n // 12, n // 2 + n // 16])  # off centre
    lo = c - side // 2
    sub = ndimage.gaussian_filter(rng.standard_normal((side,) * 3).astype(np.float32), 1.5)
    sub = np.maximum(sub, 0) * 10.0
    data = (0.01 * rng.standard_normal((n,) * 3)).astype(np.float32)
    data[lo[0]:lo[0] + side, lo[1]:lo[1] + side, lo[2]:lo[2] + side] += sub
    zz, yy, xx = np.ogrid[:n, :n, :n]
    mask = ((zz - c[0]) ** 2 + (yy - c[1]) ** 2 + (xx - c[2]) ** 2 <= radius ** 2).astype(np.float32)
    like = Volume(data, 1.0)
    write_volume(mp, data, like)
    write_volume(kp, mask, like)
    return mp, kp


# ------------------------------------------------------------------------------------- deepres


def _model(range_name: str, untrained: bool):
    from deepres import model as M

    return M.build_untrained(range_name) if untrained else M.load_model(range_name)


def in_process_stages(map_path: Path, mask_path: Path, range_name: str, untrained: bool, device: str,
                      precision: str = "float32") -> dict:
    """Seconds per stage of one estimate in this process (as ``deepres estimate`` does it)."""
    from deepres.mrc import read_volume
    from deepres.pipeline import estimate_volume, write_result_files

    t_all = time.perf_counter()
    t = time.perf_counter()
    vol = read_volume(map_path)
    mvol = read_volume(mask_path, what="mask")
    t_read = time.perf_counter() - t
    t = time.perf_counter()
    model = _model(range_name, untrained)
    t_load = time.perf_counter() - t
    t = time.perf_counter()
    res = estimate_volume(vol, mvol, range_name, device, model, precision=precision)
    t_est = time.perf_counter() - t
    ti = dict(res.timings_s)
    with tempfile.TemporaryDirectory() as tmp:
        t = time.perf_counter()
        write_result_files(Path(tmp), res, vol)
        t_write = time.perf_counter() - t
    total = time.perf_counter() - t_all
    known = sum(ti.get(k, 0.0) for k in ("load_model", "masking", "resampling", "network", "back"))
    stages = {
        "read": t_read,
        "load_model": t_load + ti.get("load_model", 0.0),
        "preprocessing": ti.get("masking", 0.0) + ti.get("resampling", 0.0),
        "network": ti.get("network", 0.0),
        "back_resampling": ti.get("back", 0.0),
        "statistics_and_checks": max(0.0, t_est - known),
        "writing": t_write,
    }
    mask = res.mask
    return {
        "stages_s": stages,
        "total_s": total,
        "outside_network_fraction": 1.0 - stages["network"] / total if total > 0 else None,
        "pipeline_timings_s": ti,
        "shape": list(vol.shape),
        "voxel_size_A": vol.voxel_size_A,
        "working_voxel_size_A": res.working_voxel_size_A,
        "mask_voxels": int(mask.sum()),
        "median_A": res.median_A,
        "model_id": res.model_id,
        "device": res.device,
    }


def whole_process(map_path: Path, mask_path: Path, range_name: str, untrained: bool, device: str,
                  precision: str = "float32") -> dict:
    """Wall time and peak RSS of the whole ``deepres estimate`` process."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "out"
        args = ["estimate", str(map_path), "--mask", str(mask_path), "--range", range_name, "--output-dir",
                str(out), "--device", device, "--precision", precision, "--force", "--quiet", "--no-report"]
        exe = Path(sys.executable).parent / "deepres"  # the console script of this interpreter's environment
        if untrained:
            cmd = [sys.executable, "-c", _UNTRAINED_MAIN, *args]
        elif exe.exists():
            cmd = [str(exe), *args]
        else:
            cmd = [sys.executable, "-m", "deepres", *args]
        p = subprocess.run([sys.executable, "-c", _WRAPPER, *cmd], capture_output=True, text=True)
        try:
            r = json.loads(p.stdout.strip().splitlines()[-1])
        except (IndexError, json.JSONDecodeError):
            return {"error": f"wrapper failed: {p.stderr[-500:]}"}
        r["command"] = " ".join(["deepres", *args]) + ("  (untrained network)" if untrained else "")
        summary = out / "summary.json"
        if summary.exists():
            with open(summary) as fh:
                s = json.load(fh)
            r["summary_timings_s"] = s.get("timings_s")
        if r.get("rc") != 0:
            r["error"] = f"exit status {r.get('rc')}: {r.get('stderr_tail', '')[-300:]}"
        return r


# ------------------------------------------------------------------------------------- original


def original_network():
    import torch
    from torch import nn

    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv3d(1, 32, BOX, padding=BOX // 2), nn.ReLU(), nn.Flatten(),
        nn.Linear(32 * BOX ** 3, 512), nn.ReLU(), nn.Linear(512, 1),
    ).eval()


def working_grid(map_path: Path, mask_path: Path, voxel_size_A: float):
    """Map and binary mask resampled to the working grid as the pipeline does (normalise, mask,
    Fourier resampling, mask ≥ 0.15)."""
    from deepres.mask import MASK_THRESHOLD, binarise, mask_map
    from deepres.mrc import read_volume
    from deepres.resample import fourier_resample
    from deepres.volume import Volume

    vol = read_volume(map_path)
    m = np.asarray(read_volume(mask_path, what="mask").data) > 0.5
    masked, _ = mask_map(vol.data, m)
    dw = fourier_resample(Volume(masked, vol.voxel_size_A), voxel_size_A)
    mw = fourier_resample(Volume(m.astype(np.float32), vol.voxel_size_A), voxel_size_A)
    return dw.data, binarise(mw.data, MASK_THRESHOLD), float(dw.voxel_size_A), vol, int(m.sum())


def time_original(map_path: Path, mask_path: Path, n_boxes: int, seed: int = 0) -> dict:
    """Seconds per box of the original's scheme on EMD-11007 at 1 Å, and the counts to extrapolate."""
    import torch
    from numpy.lib.stride_tricks import sliding_window_view

    data_w, mask_w, v_w, vol, n_in = working_grid(map_path, mask_path, 1.0)
    h = BOX // 2
    inner = np.zeros_like(mask_w)
    inner[h:-h, h:-h, h:-h] = mask_w[h:-h, h:-h, h:-h]
    idx = np.argwhere(inner)
    rng = np.random.default_rng(seed)
    pick = idx[rng.choice(len(idx), size=min(n_boxes, len(idx)), replace=False)]
    windows = sliding_window_view(data_w, (BOX, BOX, BOX))
    net = original_network()
    with torch.no_grad():
        warm = torch.from_numpy(np.ascontiguousarray(windows[0:8, h, h][:, None]).astype(np.float32))
        net(warm.reshape(-1, 1, BOX, BOX, BOX))
        t_extract = t_net = 0.0
        for s in range(0, len(pick), ORIGINAL_BATCH):
            p = pick[s:s + ORIGINAL_BATCH] - h  # window index = top-left corner
            t = time.perf_counter()
            boxes = np.ascontiguousarray(windows[p[:, 0], p[:, 1], p[:, 2]], dtype=np.float32)
            norms = np.sqrt(np.sum(boxes.reshape(len(p), -1).astype(np.float64) ** 2, axis=1))
            boxes /= np.maximum(norms, 1e-30).astype(np.float32)[:, None, None, None]
            x = torch.from_numpy(boxes[:, None])
            t_extract += time.perf_counter() - t
            t = time.perf_counter()
            net(x)
            t_net += time.perf_counter() - t
    n = len(pick)
    per_box = (t_extract + t_net) / n
    # working-grid mask voxels: counted at 1 Å; at 0.5 Å scaled by the volume ratio (8x).
    n_w_low = int(mask_w.sum())
    n_w_high = int(round(n_in * (vol.voxel_size_A / 0.5) ** 3))
    return {
        "network": "Conv3d(1,32,13,padding=6)+ReLU -> Flatten -> Linear(70304,512)+ReLU -> Linear(512,1), "
                   "random weights, eval mode",
        "n_parameters": int(sum(p.numel() for p in net.parameters())),
        "boxes_timed": n,
        "batch": ORIGINAL_BATCH,
        "extract_s": t_extract,
        "network_s": t_net,
        "seconds_per_box": per_box,
        "working_grid_mask_voxels": {"low": n_w_low, "high_estimated": n_w_high},
        "evaluated_voxels": {"low": n_w_low // 2, "high": n_w_high // 2},
        "extrapolated_s": {"low": per_box * (n_w_low // 2), "high": per_box * (n_w_high // 2)},
        "note": "high-range count = input mask voxels x (0.834/0.5)^3 (not resampled); the original's "
                "Python loops and odd-voxel filling are not timed",
    }


# ------------------------------------------------------------------------------------- report


def machine() -> dict:
    from deepres.benchmark import machine_info

    info = machine_info()
    with open("/proc/meminfo") as fh:
        for line in fh:
            if line.startswith("MemTotal:"):
                info["memory_GiB"] = round(int(line.split()[1]) / 2**20, 1)
    info["loadavg_at_start"] = list(os.getloadavg())
    return info


def _f(x, nd=1):
    return "–" if x is None else f"{x:.{nd}f}"


def to_markdown(doc: dict) -> str:
    L = [f"# deepres speed benchmark — {doc['date']}", ""]
    mi = doc["machine"]
    L.append(f"- machine: {mi.get('cpu_model')}, {mi.get('cpu_count')} cores "
             f"({mi.get('affinity_cores')} usable), {mi.get('memory_GiB')} GiB; torch {mi.get('torch')}, "
             f"{mi.get('torch_threads')} threads; GPU {mi.get('cuda') or 'none'}; "
             f"load average at start {', '.join(f'{x:.1f}' for x in mi.get('loadavg_at_start', []))}, "
             f"at end {', '.join(f'{x:.1f}' for x in doc.get('loadavg_at_end', []))}")
    L.append(f"- deepres {doc.get('deepres_version')} at commit {doc.get('git_commit')}; device {doc['device']}, precision {doc.get('precision', 'float32')}")
    if doc.get("untrained"):
        L.append("- **untrained network** (same architecture and cost as the shipped one; development run)")
    L.append(f"- command: `{doc['command']}`")
    L.append("")
    L.append("## Whole `deepres estimate` process and stages")
    L.append("")
    L.append("| map | range | grid | mask voxels | wall (s) | peak RSS (MiB) | throughput (mask vox/s) | "
             "read | load | preproc | network | back | stats | write | outside network |")
    L.append("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in doc["runs"]:
        ip = r.get("in_process", {})
        wp = r.get("process", {})
        st = ip.get("stages_s", {})
        grid = f"{'x'.join(map(str, ip.get('shape', [])))} @ {_f(ip.get('voxel_size_A'), 3)} Å" if ip else ""
        if "error" in ip or "error" in wp:
            L.append(f"| {r['name']} | {r['range']} | {grid} | | error: {ip.get('error') or wp.get('error')} |"
                     + " |" * 10)
            continue
        thr = ip["mask_voxels"] / wp["wall_s"] if wp.get("wall_s") else None
        L.append(
            f"| {r['name']} | {r['range']} | {grid} | {ip['mask_voxels']:,} | {_f(wp.get('wall_s'))} | "
            f"{_f(wp.get('peak_rss_MiB'), 0)} | {_f(thr, 0)} | {_f(st.get('read'))} | {_f(st.get('load_model'))} | "
            f"{_f(st.get('preprocessing'))} | {_f(st.get('network'))} | {_f(st.get('back_resampling'))} | "
            f"{_f(st.get('statistics_and_checks'))} | {_f(st.get('writing'))} | "
            f"{_f(100 * ip['outside_network_fraction'], 0)} % |")
    L.append("")
    L.append("Stage columns are seconds in process (the whole process adds interpreter start-up and imports); "
             "throughput = input-grid mask voxels / whole-process wall time.")
    o = doc.get("original")
    if o:
        L.append("")
        L.append("## The original's scheme on the same machine")
        L.append("")
        if "error" in o:
            L.append(f"error: {o['error']}")
        else:
            L.append(f"{o['network']} ({o['n_parameters']:,} parameters); {o['boxes_timed']} boxes of 13³ "
                     f"around random EMD-11007 mask voxels at 1 Å, batches of {o['batch']}: "
                     f"{1000 * o['seconds_per_box']:.2f} ms per box (extraction {_f(o['extract_s'], 2)} s, "
                     f"network {_f(o['network_s'], 2)} s).")
            L.append("")
            L.append("| range | evaluated voxels (checkerboard) | original, extrapolated (s) | deepres network (s) | "
                     "deepres whole process (s) | speed-up (network) | speed-up (whole) |")
            L.append("|---|---|---|---|---|---|---|")
            for rname in ("low", "high"):
                run = next((r for r in doc["runs"] if r["name"] == "EMD-11007" and r["range"] == rname), None)
                ext = o["extrapolated_s"][rname]
                net = run["in_process"]["stages_s"]["network"] if run and "stages_s" in run.get("in_process", {}) else None
                whole = run["process"].get("wall_s") if run and "error" not in run.get("process", {}) else None
                L.append(f"| {rname} | {o['evaluated_voxels'][rname]:,} | {_f(ext, 0)} | {_f(net)} | {_f(whole)} | "
                         f"{_f(ext / net if net else None, 0)}× | {_f(ext / whole if whole else None, 0)}× |")
            L.append("")
            L.append(f"Note: {o['note']}.")
    L.append("")
    return "\n".join(L)


def _git_commit() -> str | None:
    from deepres.benchmark import _git_commit as g

    return g()


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--cache-dir", default=None, help="where EMD-11007 and the synthetic map are kept")
    p.add_argument("--emd11007", default=None, help="use this copy of emd_11007.map instead of fetching it")
    p.add_argument("--device", default="cpu", choices=["cpu", "cuda", "auto"])
    p.add_argument("--precision", default="float32", choices=["float32", "bfloat16"],
                   help="arithmetic of the network's learned convolutions")
    p.add_argument("--threads", type=int, default=None, help="torch threads in this process (default: torch's)")
    p.add_argument("--untrained", action="store_true", help="untrained network of the same shape (development)")
    p.add_argument("--boxes", type=int, default=2000, help="boxes timed for the original's scheme")
    p.add_argument("--only", action="append", default=[], choices=["emd11007-low", "emd11007-high", "synthetic400"],
                   help="run only these maps (repeatable)")
    p.add_argument("--no-process", action="store_true", help="skip the whole-process runs")
    p.add_argument("--no-original", action="store_true", help="skip the original's scheme")
    p.add_argument("--output-dir", default=str(ROOT / "benchmarks" / "results"))
    p.add_argument("--stem", default=None, help="file stem (default speed_<date>)")
    args = p.parse_args(argv)

    import torch

    from deepres import __version__

    if args.threads:
        torch.set_num_threads(args.threads)
    cache = cache_dir(args.cache_dir)
    doc = {"kind": "deepres speed benchmark", "date": _dt.datetime.now().isoformat(timespec="seconds"),
           "deepres_version": __version__, "git_commit": _git_commit(), "machine": machine(),
           "device": args.device, "precision": args.precision, "untrained": bool(args.untrained),
           "command": " ".join(["python", "benchmarks/speed.py", *(argv if argv is not None else sys.argv[1:])]),
           "runs": []}
    emd_map, emd_mask = emd11007_inputs(cache, args.emd11007)
    plan = [("emd11007-low", "EMD-11007", emd_map, emd_mask, "low"),
            ("emd11007-high", "EMD-11007", emd_map, emd_mask, "high")]
    if not args.only or "synthetic400" in args.only:
        s_map, s_mask = synthetic400_inputs(cache)
        plan.append(("synthetic400", "synthetic 400³", s_map, s_mask, "low"))
    for key, name, mp, kp, rname in plan:
        if args.only and key not in args.only:
            continue
        log(f"== {name}, {rname} range: in process ...")
        run = {"name": name, "range": rname, "map": str(mp), "mask": str(kp)}
        try:
            run["in_process"] = in_process_stages(mp, kp, rname, args.untrained, args.device, args.precision)
            log(f"   stages {json.dumps({k: round(v, 2) for k, v in run['in_process']['stages_s'].items()})}")
        except Exception as exc:  # report, go on
            run["in_process"] = {"error": f"{type(exc).__name__}: {exc}"}
            log(f"   error: {run['in_process']['error']}")
        if not args.no_process:
            log("   whole process ...")
            run["process"] = whole_process(mp, kp, rname, args.untrained, args.device, args.precision)
            log(f"   wall {_f(run['process'].get('wall_s'))} s, peak RSS {_f(run['process'].get('peak_rss_MiB'), 0)} MiB"
                + (f", error {run['process']['error']}" if "error" in run["process"] else ""))
        else:
            run["process"] = {}
        doc["runs"].append(run)
    if not args.no_original:
        log(f"== the original's scheme: {args.boxes} boxes ...")
        try:
            doc["original"] = time_original(emd_map, emd_mask, args.boxes)
            log(f"   {1000 * doc['original']['seconds_per_box']:.2f} ms per box")
        except Exception as exc:
            doc["original"] = {"error": f"{type(exc).__name__}: {exc}"}
    doc["loadavg_at_end"] = list(os.getloadavg())
    out = Path(args.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    stem = args.stem or f"speed_{_dt.date.today().isoformat()}"
    (out / f"{stem}.json").write_text(json.dumps(doc, indent=1, default=str) + "\n")
    (out / f"{stem}.md").write_text(to_markdown(doc))
    log(f"wrote {out / (stem + '.json')} and {out / (stem + '.md')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
