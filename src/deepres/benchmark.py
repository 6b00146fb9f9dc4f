"""Accuracy benchmark: simulated maps of held-out structures with a known local-resolution truth,
real maps as sanity checks, and invariance checks of the estimator.

Run it as ``deepres benchmark`` (or ``python -m deepres.benchmark``); ``--help`` lists options.

What it does
------------
1. **Simulated cases.** For each range (``low``, ``high``) a fixed list of cases
   (``src/deepres/data/benchmark_cases_<range>.json``: held-out structure, seed, input voxel
   size, resolution-field kind, simulator options) is simulated with
   :func:`deepres.simulate.simulate_case`, which gives the full map, two half maps, the mask and
   the true local resolution in Å on the same grid. Each estimator is run on the case and scored
   inside the mask with :func:`deepres.metrics.score_map`.
2. **Estimators.** ``deepres`` (this package, in process, the default), ``deepres-cli`` (the
   ``deepres estimate`` command in a subprocess), or any command given as a template with the
   placeholders ``{map} {mask} {half1} {half2} {outdir} {voxel_size} {range}`` that writes a
   map on the input grid into ``{outdir}`` (``--output-name``). Reference lines: ``oracle-median``
   (a constant map equal to the true median: the error left by knowing only the global figure)
   and ``relion`` (``relion_postprocess --locres`` on the half maps, when it is on ``PATH``).
3. **Real maps.** EMD-3488 (reported 3.2 Å) and a 1AKE map simulated at 4.5 Å: the estimate's
   median next to the known figure; for EMD-3488 also the rank correlation between the
   per-residue estimate and the per-residue B-factor of PDB 5ME2.
4. **Invariance.** Map ×1000 and map + constant (max |Δ| ≤ 0.05 Å), 90° rotations about each axis
   (mean |Δ| ≤ 0.1 Å after rotating back), the same structure at two voxel sizes (medians within
   0.3 Å).

Results go to ``<output-dir>/accuracy_<date>.json`` and ``.md``.

This module runs the cases, the real maps and the invariance checks and holds the command line;
the cases live in :mod:`deepres.benchmark_cases`, the estimators in :mod:`deepres.estimators`, the
report in :mod:`deepres.benchmark_report` (their public names are importable from here too).
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import datetime as _dt
import logging
import math
import os
import platform
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from deepres.benchmark_cases import (DEFAULT_MAPS_DIR, DEFAULT_STRUCTURES_DIR, Case, load_cases, load_invariance_case,
                                     maps_dir, select_cases, simulate, structures_dir)
from deepres.benchmark_report import fmt, jsonable, to_markdown, write_report
from deepres.estimators import (CaseInputs, CommandEstimator, DeepResEstimator, Estimator, OracleMedianEstimator,
                                RelionEstimator, slug, deepres_cli_estimator)
from deepres.metrics import POOL_VOXELS, SUPPORT_FSC, aggregate, per_residue, score_map, shell_fsc, valid_estimate
from deepres.ranges import get_range
from deepres.splits import heldout_structures
from deepres.volume import Volume

logger = logging.getLogger(__name__)

__all__ = [
    "Case",
    "CaseInputs",
    "load_cases",
    "heldout_structures",
    "threshold_mask",
    "DeepResEstimator",
    "CommandEstimator",
    "OracleMedianEstimator",
    "RelionEstimator",
    "run_cases",
    "run_real_maps",
    "run_invariance",
    "run_benchmark",
    "to_markdown",
    "add_arguments",
    "main",
]

#: Pass thresholds of the invariance checks (Å).
INVARIANCE_LIMITS = {"scale": 0.05, "offset": 0.05, "rotation_mean": 0.1, "voxel_size_median": 0.3}
#: Voxel sizes of the sampling check per range (Å/voxel).
INVARIANCE_VOXEL_SIZES = {"low": (0.83, 1.3), "high": (0.5, 0.83)}

#: Low-pass (Å), fraction of the low-passed maximum, and dilation (voxels, 18-neighbourhood) of
#: :func:`threshold_mask`, the mask used for real maps that come without a usable one.
MASK_LOWPASS_A = 8.0
MASK_FRACTION = 0.1
MASK_DILATE_VOX = 3


# --------------------------------------------------------------------------------------------
# Running
# --------------------------------------------------------------------------------------------


def _run_one(est: Estimator, inputs: CaseInputs) -> tuple[np.ndarray | None, float, str | None]:
    t0 = time.perf_counter()
    try:
        arr = est.run(inputs)
    except Exception as exc:  # a failing estimator is reported, not fatal
        logger.warning("%s failed on %s: %s", est.name, inputs.name, exc)
        return None, time.perf_counter() - t0, f"{type(exc).__name__}: {exc}"
    dt = time.perf_counter() - t0
    if arr.shape != inputs.map.shape:
        return None, dt, f"output shape {arr.shape} differs from the input {inputs.map.shape}"
    return arr, dt, None


def run_cases(
    cases: Sequence[Case],
    estimators: Sequence[Estimator],
    *,
    structures: Path | None = None,
    workdir: Path | None = None,
    keep_files: bool = False,
    simulate_fn: Callable[[Case], object] | None = None,
    progress: Callable[[str], None] | None = None,
) -> dict:
    """Simulate every case, run every estimator on it and score it against the truth.

    Parameters
    ----------
    cases : sequence of Case
        All of one range.
    estimators : sequence of Estimator
    structures : Path, optional
        Folder of the structure files (default :func:`structures_dir`).
    workdir : Path, optional
        Scratch folder (a temporary one by default, removed unless ``keep_files``).
    keep_files : bool
        Keep the case inputs and outputs under ``workdir``.
    simulate_fn : callable, optional
        ``case -> object with .map .half1 .half2 .truth .mask`` (default :func:`simulate`);
        tests pass a cheap one.
    progress : callable, optional
        Receives one line per case and estimator.

    Returns
    -------
    dict
        ``cases``: one dict per case (its definition, simulation time, truth median, and per
        estimator the scores of :func:`deepres.metrics.score_map` plus ``time_s`` or an
        ``error``); ``summary``: per estimator :func:`deepres.metrics.aggregate` over the cases
        it ran on.
    """
    structures = structures or structures_dir()
    sim = simulate_fn or (lambda c: simulate(c, structures))
    own_tmp = workdir is None
    root = Path(tempfile.mkdtemp(prefix="deepres-bench-")) if own_tmp else Path(workdir)
    root.mkdir(parents=True, exist_ok=True)
    rows = []
    pooled: dict[str, list] = {}  # estimator -> [(estimate, truth)] samples of mask voxels
    try:
        for i, case in enumerate(cases):
            row: dict = {"case": case.to_dict(), "estimators": {}}
            t0 = time.perf_counter()
            try:
                sc = sim(case)
            except Exception as exc:
                row["error"] = f"simulation failed: {type(exc).__name__}: {exc}"
                logger.warning("%s: %s", case.id, row["error"])
                rows.append(row)
                continue
            row["simulate_s"] = time.perf_counter() - t0
            mask = sc.mask if isinstance(sc.mask, Volume) else Volume(sc.mask, case.voxel_size_A)
            m = np.asarray(mask.data) > 0
            truth = np.asarray(sc.truth.data)
            row["shape"] = list(sc.map.shape)
            row["n_mask"] = int(m.sum())
            row["truth_median_A"] = float(np.median(truth[m])) if m.any() else None
            row["truth_range_A"] = [float(truth[m].min()), float(truth[m].max())] if m.any() else None
            h1, h2 = getattr(sc, "half1", None), getattr(sc, "half2", None)
            if h1 is not None and h2 is not None and m.any():
                spec = get_range(case.range)
                fsc = shell_fsc(h1.data, h2.data, m, case.voxel_size_A, float(np.quantile(truth[m], 0.1)),
                                spec.rolloff_cpv / spec.voxel_size_A)
                row["fsc_at_truth_p10"] = fsc if math.isfinite(fsc) else None
            params = getattr(sc, "params", None)
            if isinstance(params, dict):
                row["params"] = jsonable(params)
            inputs = CaseInputs(case.id, case.range, sc.map, mask, getattr(sc, "half1", None),
                                getattr(sc, "half2", None), sc.truth, root / slug(case.id))
            for est in estimators:
                if not est.applies(inputs):
                    continue
                if isinstance(est, RelionEstimator) and i % est.every != 0:
                    continue
                arr, dt, err = _run_one(est, inputs)
                entry: dict = {"time_s": dt}
                if err is not None:
                    entry["error"] = err
                else:
                    entry.update(score_map(arr, truth, m))
                    pooled.setdefault(est.name, []).append(_pool_sample(arr, truth, m, i))
                row["estimators"][est.name] = entry
                if progress:
                    progress(_progress_line(case.id, est.name, entry))
            if not keep_files:
                shutil.rmtree(inputs.workdir, ignore_errors=True)
            rows.append(row)
    finally:
        if own_tmp and not keep_files:
            shutil.rmtree(root, ignore_errors=True)
    summary = {}
    for est in estimators:
        ok = [r["estimators"][est.name] for r in rows if est.name in r["estimators"]]
        good = [e for e in ok if "error" not in e]
        agg = aggregate(good, [e["time_s"] for e in good])
        agg["n_errors"] = len(ok) - len(good)
        if pooled.get(est.name):
            agg["pooled"] = _pooled_scores(pooled[est.name])
        summary[est.name] = agg
    # the cases whose best labels the half maps support (see metrics.shell_fsc)
    supported = [r for r in rows if (r.get("fsc_at_truth_p10") or -1.0) >= SUPPORT_FSC]
    if any("fsc_at_truth_p10" in r for r in rows):
        summary["_supported"] = {
            "case_ids": [r["case"]["id"] for r in supported],
            "n_cases_with_fsc": sum(1 for r in rows if r.get("fsc_at_truth_p10") is not None),
            **{e.name: aggregate([r["estimators"][e.name] for r in supported
                                  if e.name in r["estimators"] and "error" not in r["estimators"][e.name]])
               for e in estimators},
        }
    # paired comparison on the cases every estimator ran on (RELION may run on a subset)
    names = [e.name for e in estimators]
    paired = [r for r in rows if all(n in r["estimators"] and "error" not in r["estimators"][n] for n in names)]
    if len(names) > 1 and 0 < len(paired) < len(rows):
        summary["_paired"] = {
            "case_ids": [r["case"]["id"] for r in paired],
            **{n: aggregate([r["estimators"][n] for r in paired]) for n in names},
        }
    return {"cases": rows, "summary": summary}


def _pool_sample(estimate: np.ndarray, truth: np.ndarray, mask: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray]:
    est = np.asarray(estimate, dtype=np.float64)[mask]
    tru = np.asarray(truth, dtype=np.float64)[mask]
    ok = np.isfinite(est) & (est != 0)
    est, tru = est[ok], tru[ok]
    if est.size > POOL_VOXELS:
        pick = np.random.default_rng(seed).choice(est.size, POOL_VOXELS, replace=False)
        est, tru = est[pick], tru[pick]
    return est, tru


def _pooled_scores(samples: list[tuple[np.ndarray, np.ndarray]]) -> dict:
    """Scores over the mask voxels of all cases together (up to POOL_VOXELS per case)."""
    from deepres.metrics import pearson, spearman

    est = np.concatenate([a for a, _ in samples])
    tru = np.concatenate([b for _, b in samples])
    if est.size == 0:
        return {}
    return {
        "n_voxels": int(est.size),
        "mae_A": float(np.mean(np.abs(est - tru))),
        "bias_A": float(np.mean(est - tru)),
        "pearson": float(pearson(est, tru)),
        "spearman": float(spearman(est, tru)),
    }


def _progress_line(name: str, est: str, entry: dict) -> str:
    if "error" in entry:
        return f"{name:>10} {est:<20} ERROR {entry['error']}"
    return (
        f"{name:>10} {est:<20} MAE {fmt(entry.get('mae_A'))} bias {fmt(entry.get('bias_A'), signed=True)} "
        f"r {fmt(entry.get('pearson'))} cov {fmt(entry.get('coverage'))} {entry['time_s']:.1f} s"
    )


# --------------------------------------------------------------------------------------------
# Real maps
# --------------------------------------------------------------------------------------------


def threshold_mask(vol: Volume, lowpass_A: float = MASK_LOWPASS_A, fraction: float = MASK_FRACTION,
                   dilate_vox: int = MASK_DILATE_VOX) -> Volume:
    """A binary mask from a map: low-pass, threshold at a fraction of the maximum, dilate.

    The map is low-passed to ``lowpass_A`` with the package's raised-cosine filter, thresholded
    at ``fraction`` × its maximum, and dilated ``dilate_vox`` times with the 18-neighbourhood.

    Parameters
    ----------
    vol : Volume
    lowpass_A : float
        Low-pass resolution in Å (not below Nyquist).
    fraction : float
        Threshold as a fraction of the low-passed map's maximum.
    dilate_vox : int
        Dilation passes.

    Returns
    -------
    Volume
        float32 0/1 mask on the same grid.
    """
    from deepres.filters import lowpass_to_resolution
    from deepres.mask import dilate18

    res = max(float(lowpass_A), 2.0 * vol.voxel_size_A)
    lp = lowpass_to_resolution(np.asarray(vol.data, dtype=np.float32), res, vol.voxel_size_A)
    m = lp > fraction * float(lp.max())
    if dilate_vox > 0:
        m = dilate18(m, iterations=int(dilate_vox))
    return vol.with_data(m.astype(np.float32))


@dataclasses.dataclass
class RealMap:
    """A real map with a known global resolution."""

    name: str
    map_path: Path
    known_A: float
    known_note: str
    mask_path: Path | None = None
    model_path: Path | None = None


def real_maps(maps_root: Path, repo_root: Path | None = None) -> list[RealMap]:
    """The real maps of the report (those whose files exist)."""
    out = []
    emd = maps_root / "emd_3488"
    if (emd / "emd_3488.mrc").exists():
        mask = None
        for cand in _example_masks(repo_root):
            mask = cand
            break
        out.append(RealMap("EMD-3488", emd / "emd_3488.mrc", 3.2, "reported (FSC 0.143), Volta phase plate",
                           mask, emd / "5me2.pdb" if (emd / "5me2.pdb").exists() else None))
    ake = maps_root / "1ake_molmap45" / "1ake_molmap45.mrc"
    if ake.exists():
        out.append(RealMap("1AKE molmap 4.5", ake, 4.5, "simulated at 4.5 A (molmap)"))
    return out


def _example_masks(repo_root: Path | None) -> list[Path]:
    """Mask files shipped with the EMD-3488 example, if the repository has one."""
    root = repo_root or Path(__file__).resolve().parents[2]
    ex = root / "examples"
    if not ex.is_dir():
        return []
    found = []
    for p in sorted(ex.rglob("*.mrc")):
        n = p.name.lower()
        if "3488" in str(p) and "mask" in n:
            found.append(p)
    return found


def run_real_maps(range_name: str, estimators: Sequence[Estimator], maps_root: Path,
                  workdir: Path, progress: Callable[[str], None] | None = None) -> list[dict]:
    """Run the estimators (those that need only map + mask) on the real maps of :func:`real_maps`."""
    from deepres.mrc import read_volume

    rows = []
    for rm in real_maps(maps_root):
        row: dict = {"name": rm.name, "map": str(rm.map_path), "known_A": rm.known_A, "known_note": rm.known_note,
                     "estimators": {}}
        try:
            vol = read_volume(rm.map_path)
            mask = None
            if rm.mask_path is not None:
                mv = read_volume(rm.mask_path, what="mask")
                if mv.shape == vol.shape:
                    mask = vol.with_data((np.asarray(mv.data) > 0.5).astype(np.float32))
                    row["mask"] = str(rm.mask_path)
            if mask is None:
                mask = threshold_mask(vol)
                row["mask"] = (f"threshold: low-pass {MASK_LOWPASS_A:g} A, > {MASK_FRACTION:g} x max, "
                               f"dilated {MASK_DILATE_VOX} voxels (18-neighbourhood)")
        except Exception as exc:
            row["error"] = f"{type(exc).__name__}: {exc}"
            rows.append(row)
            continue
        m = np.asarray(mask.data) > 0
        row["n_mask"] = int(m.sum())
        row["voxel_size_A"] = vol.voxel_size_A
        row["floor_A"] = get_range(range_name).floor_A(vol.voxel_size_A)
        inputs = CaseInputs(rm.name, range_name, vol, mask, workdir=workdir / slug(rm.name))
        for est in estimators:
            if not est.applies(inputs):
                continue
            arr, dt, err = _run_one(est, inputs)
            entry: dict = {"time_s": dt}
            if err is not None:
                entry["error"] = err
            else:
                vals = arr[m]
                ok = valid_estimate(vals)
                v = vals[ok]
                entry.update(
                    median_A=float(np.median(v)) if v.size else None,
                    p10_A=float(np.percentile(v, 10)) if v.size else None,
                    p90_A=float(np.percentile(v, 90)) if v.size else None,
                    coverage=float(ok.mean()) if vals.size else None,
                )
                if entry["median_A"] is not None:
                    entry["median_minus_known_A"] = entry["median_A"] - rm.known_A
                if rm.model_path is not None:
                    try:
                        pr = per_residue(arr, vol.voxel_size_A, vol.origin_A, str(rm.model_path))
                        entry["per_residue"] = {
                            "model": rm.model_path.name,
                            "spearman_vs_bfactor": pr["spearman"],
                            "n_distinct_bfactors": pr["n_distinct_bfactors"],
                            "spearman_vs_centre_distance": pr["spearman_vs_centre_distance"],
                            "spearman_vs_exposure": pr["spearman_vs_exposure"],
                            "n_residues": pr["n_residues"],
                            "n_residues_total": pr["n_residues_total"],
                        }
                    except Exception as exc:
                        entry["per_residue"] = {"error": f"{type(exc).__name__}: {exc}"}
            row["estimators"][est.name] = entry
            if progress:
                progress(f"{rm.name:>16} {est.name:<20} median {fmt(entry.get('median_A'))} "
                         f"(known {rm.known_A:g}) {dt:.1f} s")
        shutil.rmtree(inputs.workdir, ignore_errors=True)
        rows.append(row)
    return rows


# --------------------------------------------------------------------------------------------
# Invariance
# --------------------------------------------------------------------------------------------


def _diff_stats(a: np.ndarray, b: np.ndarray, m: np.ndarray) -> dict:
    ok = m & valid_estimate(a) & valid_estimate(b)
    if not ok.any():
        return {"n": 0, "max_abs_A": None, "mean_abs_A": None}
    d = np.abs(a[ok].astype(np.float64) - b[ok].astype(np.float64))
    return {"n": int(ok.sum()), "max_abs_A": float(d.max()), "mean_abs_A": float(d.mean()),
            "coverage_change": float(abs(valid_estimate(a[m]).mean() - valid_estimate(b[m]).mean()))}


def run_invariance(range_name: str, est: Estimator, base_case: Case, structures: Path, workdir: Path,
                   simulate_fn: Callable[[Case], object] | None = None,
                   progress: Callable[[str], None] | None = None, sampling: bool = True) -> dict:
    """Invariance checks of an estimator that needs only map + mask.

    Parameters
    ----------
    range_name : str
    est : Estimator
    base_case : Case
        Simulated case the checks start from; the sampling check re-simulates it at the two
        voxel sizes of :data:`INVARIANCE_VOXEL_SIZES`.
    structures, workdir : Path
    simulate_fn : callable, optional
        As in :func:`run_cases`.
    progress : callable, optional
    sampling : bool
        Include the check at two voxel sizes (two more simulations).

    Returns
    -------
    dict
        One entry per check with its statistic, limit and ``pass``.
    """
    sim = simulate_fn or (lambda c: simulate(c, structures))
    out: dict = {"case": base_case.to_dict(), "estimator": est.name, "checks": {}}
    sc = sim(base_case)
    vol = sc.map
    mask = sc.mask
    m = np.asarray(mask.data) > 0
    d = np.asarray(vol.data, dtype=np.float32)

    def estimate(data: np.ndarray, mk: np.ndarray, tag: str, grid: Volume = vol) -> np.ndarray:
        # ``grid``: the Volume whose voxel size and origin the data are on (the base case's by default)
        v = Volume(data.astype(np.float32), grid.voxel_size_A, grid.origin_A)
        inp = CaseInputs(f"{base_case.id}-{tag}", range_name, v, Volume(mk.astype(np.float32), grid.voxel_size_A,
                                                                       grid.origin_A),
                         workdir=workdir / slug(f"inv-{base_case.id}-{tag}"))
        arr, dt, err = _run_one(est, inp)
        shutil.rmtree(inp.workdir, ignore_errors=True)
        if err is not None:
            raise RuntimeError(err)
        return arr

    def record(name: str, stat_key: str, stats: dict, limit: float):
        val = stats.get(stat_key)
        stats.update(statistic=stat_key, limit_A=limit, passed=(val is not None and val <= limit))
        out["checks"][name] = stats
        if progress:
            progress(f"  invariance {name:<14} {stat_key} {fmt(val)} (limit {limit:g}) "
                     f"{'pass' if stats['passed'] else 'FAIL'}")

    try:
        base = estimate(d, m, "base")
    except Exception as exc:
        out["error"] = f"{type(exc).__name__}: {exc}"
        return out
    try:
        record("scale_x1000", "max_abs_A", _diff_stats(base, estimate(d * np.float32(1000.0), m, "scale"), m),
               INVARIANCE_LIMITS["scale"])
        offset = float(3.0 * np.std(d[m])) if m.any() else 1.0
        st = _diff_stats(base, estimate(d + np.float32(offset), m, "offset"), m)
        st["offset"] = offset
        record("offset", "max_abs_A", st, INVARIANCE_LIMITS["offset"])
        for axis, axes in (("z", (1, 2)), ("y", (0, 2)), ("x", (0, 1))):
            rd = np.rot90(d, 1, axes)
            rm = np.rot90(m, 1, axes)
            back = np.rot90(estimate(np.ascontiguousarray(rd), np.ascontiguousarray(rm), f"rot{axis}"), -1, axes)
            record(f"rot90_{axis}", "mean_abs_A", _diff_stats(base, back, m), INVARIANCE_LIMITS["rotation_mean"])
    except Exception as exc:
        out["error"] = f"{type(exc).__name__}: {exc}"
    # the same structure at two samplings
    if not sampling:
        out["all_passed"] = bool(out["checks"]) and all(c.get("passed") for c in out["checks"].values()) \
            and "error" not in out
        return out
    try:
        v1, v2 = INVARIANCE_VOXEL_SIZES[get_range(range_name).name]
        meds, truths = [], []
        for vs in (v1, v2):
            c = dataclasses.replace(base_case, id=f"{base_case.id}@{vs:g}", voxel_size_A=vs)
            s = sim(c)
            mk = np.asarray(s.mask.data) > 0
            arr = estimate(np.asarray(s.map.data), mk, f"vs{vs:g}", grid=s.map)
            ok = mk & valid_estimate(arr)
            meds.append(float(np.median(arr[ok])) if ok.any() else float("nan"))
            truths.append(float(np.median(np.asarray(s.truth.data)[mk])) if mk.any() else float("nan"))
        delta = abs(meds[0] - meds[1])
        st = {"voxel_sizes_A": [v1, v2], "est_median_A": meds, "truth_median_A": truths,
              "median_diff_A": delta if math.isfinite(delta) else None}
        record("voxel_size", "median_diff_A", st, INVARIANCE_LIMITS["voxel_size_median"])
    except Exception as exc:
        out["checks"]["voxel_size"] = {"error": f"{type(exc).__name__}: {exc}", "passed": False}
    out["all_passed"] = bool(out["checks"]) and all(c.get("passed") for c in out["checks"].values()) \
        and "error" not in out
    return out


# --------------------------------------------------------------------------------------------
# Whole benchmark and report
# --------------------------------------------------------------------------------------------


def machine_info() -> dict:
    """CPU model, core count, Python/torch versions and threads, GPU if any."""
    info: dict = {"platform": platform.platform(), "python": platform.python_version(),
                  "cpu_count": os.cpu_count()}
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                info["cpu_model"] = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    with contextlib.suppress(Exception):
        info["affinity_cores"] = len(os.sched_getaffinity(0))
    try:
        import torch

        info["torch"] = torch.__version__
        info["torch_threads"] = torch.get_num_threads()
        info["cuda"] = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
    except Exception:
        pass
    for k in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        if k in os.environ:
            info[k] = os.environ[k]
    return info


def _git_commit() -> str | None:
    try:
        root = Path(__file__).resolve().parents[2]
        p = subprocess.run(["git", "-C", str(root), "rev-parse", "--short", "HEAD"], capture_output=True,
                           text=True, timeout=10)
        if p.returncode == 0:
            dirty = subprocess.run(["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
                                   capture_output=True, text=True, timeout=10).stdout.strip()
            return p.stdout.strip() + ("+dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        pass
    return None


def run_benchmark(
    ranges: Sequence[str],
    estimator: Estimator,
    *,
    n_cases: int | None = None,
    relion: str = "auto",
    relion_sampling_A: float = 15.0,
    relion_every: int = 1,
    real: bool = True,
    invariance: bool = True,
    invariance_sampling: bool = True,
    structures: Path | None = None,
    maps_root: Path | None = None,
    workdir: Path | None = None,
    keep_files: bool = False,
    case_files: dict | None = None,
    progress: Callable[[str], None] | None = None,
) -> dict:
    """Run the whole accuracy benchmark; returns the result document (see :func:`to_markdown`).

    Parameters
    ----------
    ranges : sequence of str
        Ranges to run (``"low"``, ``"high"``).
    estimator : Estimator
        The estimator under test.
    n_cases : int, optional
        Use only the first ``n_cases`` cases of each range.
    relion : {"auto", "on", "off"}
        ``auto`` runs RELION when ``relion_postprocess`` is on PATH; ``on`` fails without it.
    relion_sampling_A : float
        ``--locres_sampling`` of RELION.
    relion_every : int
        Run RELION on every n-th case only.
    real, invariance : bool
        Include the real-map checks and the invariance checks.
    structures, maps_root, workdir : Path, optional
    keep_files : bool
    case_files : dict, optional
        ``range -> path`` of case files replacing the committed ones.
    progress : callable, optional
    """
    structures = structures or structures_dir()
    maps_root = maps_root or maps_dir()
    t_start = time.perf_counter()
    root = Path(workdir) if workdir else Path(tempfile.mkdtemp(prefix="deepres-bench-"))
    root.mkdir(parents=True, exist_ok=True)
    doc: dict = {
        "kind": "deepres accuracy benchmark",
        "date": _dt.datetime.now().isoformat(timespec="seconds"),
        "deepres_version": _version(),
        "git_commit": _git_commit(),
        "command": " ".join(shlex.quote(a) for a in sys.argv),
        "machine": machine_info(),
        "estimator": None,
        "relion": None,
        "ranges": {},
    }
    relion_path = RelionEstimator.find()
    relion_est = None
    if relion == "on" and relion_path is None:
        raise RuntimeError("--relion on: relion_postprocess is not on PATH (Debian: apt-get install relion)")
    if relion != "off" and relion_path is not None:
        relion_est = RelionEstimator(sampling_A=relion_sampling_A, every=relion_every)
        doc["relion"] = relion_est.describe()
    else:
        doc["relion"] = {"available": relion_path is not None, "used": False,
                         "note": "relion_postprocess not found on PATH: no RELION reference line"
                         if relion_path is None else "disabled with --relion off"}
    oracle = OracleMedianEstimator()
    try:
        for rname in ranges:
            spec = get_range(rname)
            cases = select_cases(load_cases(spec.name, (case_files or {}).get(spec.name)), n_cases)
            ests: list[Estimator] = [estimator, oracle] + ([relion_est] if relion_est else [])
            if progress:
                progress(f"== range {spec.name} ({spec.label} A): {len(cases)} cases, "
                         f"estimators {', '.join(e.name for e in ests)}")
            t0 = time.perf_counter()
            res = run_cases(cases, ests, structures=structures, workdir=root / spec.name / "cases",
                            keep_files=keep_files, progress=progress)
            res["time_s"] = time.perf_counter() - t0
            if (real or invariance) and getattr(estimator, "needs_halves", False):
                # the real maps have no half maps here, and the invariance checks transform the map only
                res["skipped"] = "real maps and invariance: the estimator needs half maps"
                real = invariance = False
            if real:
                if progress:
                    progress(f"== real maps ({spec.name})")
                res["real_maps"] = run_real_maps(spec.name, [estimator], maps_root, root / spec.name / "real",
                                                 progress)
            inv_case = load_invariance_case(spec.name, (case_files or {}).get(spec.name)) or (cases[0] if cases else None)
            if invariance and inv_case is not None:
                if progress:
                    progress(f"== invariance ({spec.name}) on {inv_case.id}")
                res["invariance"] = run_invariance(spec.name, estimator, inv_case, structures,
                                                   root / spec.name / "inv", progress=progress,
                                                   sampling=invariance_sampling)
            doc["ranges"][spec.name] = res
    finally:
        if not workdir and not keep_files:
            shutil.rmtree(root, ignore_errors=True)
    doc["estimator"] = estimator.describe()
    doc["total_time_s"] = time.perf_counter() - t_start
    return doc


def _version() -> str:
    try:
        from deepres import __version__

        return __version__
    except Exception:
        return "unknown"


# --------------------------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------------------------

QUICK_CASES = 3


def add_arguments(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Add the ``deepres benchmark`` options to a parser."""
    p.add_argument("--range", dest="ranges", choices=["low", "high", "both"], default="both",
                   help="range(s) to benchmark (default both)")
    p.add_argument("--quick", action="store_true",
                   help=f"only the first {QUICK_CASES} cases per range, RELION on the first, no sampling re-simulation")
    p.add_argument("--cases", type=int, default=None, metavar="N", help="only the first N cases of each range")
    p.add_argument("--estimator", choices=["deepres", "deepres-cli", "command"], default="deepres",
                   help="deepres: in process (default); deepres-cli: the deepres estimate command; "
                        "command: --command TEMPLATE")
    p.add_argument("--command", dest="command_template", default=None, metavar="TEMPLATE",
                   help="shell command with {map} {mask} {half1} {half2} {outdir} {voxel_size} {range}; "
                        "it must write --output-name in {outdir} on the input grid")
    p.add_argument("--output-name", default="resolution.mrc", help="file the command writes in {outdir}")
    p.add_argument("--name", default=None, help="label of the estimator in the report")
    p.add_argument("--device", default="auto", help="device of the deepres estimator (auto, cpu, cuda)")
    p.add_argument("--precision", default="float32", choices=["float32", "bfloat16"],
                   help="arithmetic of the deepres estimator's learned convolutions")
    p.add_argument("--model-file", action="append", default=[], metavar="RANGE=PATH",
                   help="run deepres with this model file for RANGE instead of the shipped one (repeatable)")
    p.add_argument("--half-maps", action="store_true",
                   help="give deepres the half maps too (the <range>_halves models); skips real maps and invariance")
    p.add_argument("--desharpen", action="store_true",
                   help="run deepres with --desharpen (maps that look sharpened are flattened first)")
    p.add_argument("--untrained", action="store_true",
                   help="development: run deepres with an untrained network (same cost, meaningless values)")
    p.add_argument("--relion", choices=["auto", "on", "off"], default="auto",
                   help="RELION reference line: auto = when relion_postprocess is on PATH")
    p.add_argument("--relion-sampling", type=float, default=15.0, metavar="A",
                   help="relion_postprocess --locres_sampling in A (default 15)")
    p.add_argument("--relion-every", type=int, default=3, metavar="K",
                   help="run RELION on every K-th case only (default 3: 8 of 24 cases, to bound the runtime)")
    p.add_argument("--no-real", action="store_true", help="skip the real-map checks")
    p.add_argument("--no-invariance", action="store_true", help="skip the invariance checks")
    p.add_argument("--structures-dir", default=None, help=f"bm5 structures (default $DEEPRES_BM5_DIR or {DEFAULT_STRUCTURES_DIR})")
    p.add_argument("--maps-dir", default=None, help=f"real maps (default $DEEPRES_MAPS_DIR or {DEFAULT_MAPS_DIR})")
    p.add_argument("--cases-file", action="append", default=[], metavar="RANGE=PATH",
                   help="replace the committed case list of a range")
    p.add_argument("--output-dir", default="benchmarks/results", help="where the JSON and Markdown go")
    p.add_argument("--stem", default=None, help="file name stem (default accuracy_<date>)")
    p.add_argument("--workdir", default=None, help="scratch folder (default a temporary one)")
    p.add_argument("--keep-files", action="store_true", help="keep the simulated inputs and outputs in --workdir")
    return p


def run_from_args(args: argparse.Namespace) -> int:
    """Run the benchmark from parsed arguments; returns the exit status."""
    from deepres.errors import InputError

    if args.estimator == "command" or args.command_template:
        if not args.command_template:
            raise InputError("--estimator command needs --command TEMPLATE")
        est: Estimator = CommandEstimator(args.command_template, args.output_name, name=args.name or "command")
    elif args.estimator == "deepres-cli":
        est = deepres_cli_estimator(args.device, args.precision)
        if args.name:
            est.name = args.name
    else:
        files = {}
        for item in args.model_file:
            if "=" not in item:
                raise InputError(f"--model-file wants RANGE=PATH, got {item!r}")
            k, v = item.split("=", 1)
            files[get_range(k).name] = v
        est = DeepResEstimator(device=args.device, untrained=args.untrained,
                               name=args.name or ("deepres-halves" if args.half_maps else "deepres"),
                               model_files=files, precision=args.precision, half_maps=args.half_maps,
                               desharpen=args.desharpen)
    ranges = ["low", "high"] if args.ranges == "both" else [args.ranges]
    if isinstance(est, DeepResEstimator):
        est.check(ranges)
    n = args.cases
    if args.quick and n is None:
        n = QUICK_CASES
    case_files = {}
    for item in args.cases_file:
        if "=" not in item:
            raise InputError(f"--cases-file wants RANGE=PATH, got {item!r}")
        k, v = item.split("=", 1)
        case_files[get_range(k).name] = v
    progress = None if getattr(args, "quiet", False) else (lambda s: print(s, file=sys.stderr, flush=True))
    doc = run_benchmark(
        ranges, est, n_cases=n, relion=args.relion, relion_sampling_A=args.relion_sampling,
        relion_every=(max(1, n or 1) if args.quick else args.relion_every),
        real=not args.no_real, invariance=not args.no_invariance, invariance_sampling=not args.quick,
        structures=structures_dir(args.structures_dir), maps_root=maps_dir(args.maps_dir),
        workdir=Path(args.workdir) if args.workdir else None, keep_files=args.keep_files,
        case_files=case_files, progress=progress,
    )
    doc["options"] = {k: v for k, v in vars(args).items() if not k.startswith("_") and not callable(v)}
    jp, mp = write_report(doc, Path(args.output_dir), args.stem)
    if progress:
        progress(f"wrote {jp} and {mp}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m deepres.benchmark``."""
    p = add_arguments(argparse.ArgumentParser(prog="deepres benchmark", description=__doc__.split("\n\n")[0]))
    p.add_argument("--quiet", "-q", action="store_true", help="no progress lines")
    args = p.parse_args(argv)
    try:
        return run_from_args(args)
    except Exception as exc:
        from deepres.errors import InputError

        if isinstance(exc, InputError):
            print(f"deepres benchmark: error: {exc}", file=sys.stderr)
            return 2
        raise


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
