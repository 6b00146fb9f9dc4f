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
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import datetime as _dt
import inspect
import json
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
from importlib import resources
from pathlib import Path

import numpy as np

from deepres.metrics import SUPPORT_FSC, aggregate, per_residue, score_map, shell_fsc, valid_estimate
from deepres.ranges import get_range
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

#: Where the bm5 structures live unless ``--structures-dir`` or ``$DEEPRES_BM5_DIR`` says otherwise.
DEFAULT_STRUCTURES_DIR = "/work/shared/data/structures/bm5"
#: Where the real maps live unless ``--maps-dir`` or ``$DEEPRES_MAPS_DIR`` says otherwise.
DEFAULT_MAPS_DIR = "/work/shared/data/maps"

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
# Cases
# --------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Case:
    """One simulated benchmark case.

    Attributes
    ----------
    id : str
        Unique name, e.g. ``"low-07"``.
    range : str
        ``"low"`` or ``"high"``: the model the case is meant for.
    structure : str
        File name in the bm5 folder (a held-out structure).
    seed : int
        Seed of the simulation.
    voxel_size_A : float
        Input voxel size of the simulated map, Å.
    field_kind : str or None
        Kind of resolution field (see :mod:`deepres.simulate.fields`); None lets the simulator draw.
    options : dict
        Further keyword arguments for :func:`deepres.simulate.simulate_case`.
    """

    id: str
    range: str
    structure: str
    seed: int
    voxel_size_A: float
    field_kind: str | None = None
    options: dict = dataclasses.field(default_factory=dict)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


from deepres.splits import heldout_structures  # noqa: E402  (re-exported)


def _data_file(name: str) -> Path:
    return Path(str(resources.files("deepres") / "data" / name))


def cases_path(range_name: str) -> Path:
    """Path of the committed case list of a range."""
    return _data_file(f"benchmark_cases_{get_range(range_name).name}.json")


def load_cases(range_name: str, path: str | os.PathLike | None = None) -> list[Case]:
    """Read the benchmark cases of a range.

    Parameters
    ----------
    range_name : str
        ``"low"`` or ``"high"``.
    path : path-like, optional
        A case file of the same format; default the committed one (:func:`cases_path`).

    Returns
    -------
    list of Case
    """
    spec = get_range(range_name)
    p = Path(path) if path is not None else cases_path(spec.name)
    doc = json.loads(p.read_text())
    return [_case(c, spec.name) for c in doc["cases"]]


def load_invariance_case(range_name: str, path: str | os.PathLike | None = None) -> Case | None:
    """The case the invariance checks start from (``"invariance"`` in the case file), or None."""
    spec = get_range(range_name)
    p = Path(path) if path is not None else cases_path(spec.name)
    doc = json.loads(p.read_text())
    return _case(doc["invariance"], spec.name) if doc.get("invariance") else None


def _case(c: dict, range_name: str) -> Case:
    return Case(
        id=str(c["id"]),
        range=str(c.get("range", range_name)),
        structure=str(c["structure"]),
        seed=int(c["seed"]),
        voxel_size_A=float(c["voxel_size_A"]),
        field_kind=c.get("field_kind"),
        options=dict(c.get("options", {})),
    )


def select_cases(cases: Sequence[Case], n: int | None) -> list[Case]:
    """The first ``n`` cases (all when ``n`` is None). The case files are ordered so that any
    prefix mixes sizes, voxel sizes and field kinds."""
    cases = list(cases)
    return cases if n is None else cases[: max(0, int(n))]


def structures_dir(explicit: str | None = None) -> Path:
    return Path(explicit or os.environ.get("DEEPRES_BM5_DIR") or DEFAULT_STRUCTURES_DIR)


def maps_dir(explicit: str | None = None) -> Path:
    return Path(explicit or os.environ.get("DEEPRES_MAPS_DIR") or DEFAULT_MAPS_DIR)


def simulate(case: Case, structures: Path):
    """Simulate ``case`` with :func:`deepres.simulate.simulate_case`."""
    from deepres.simulate import simulate_case

    path = structures / case.structure
    if not path.exists():
        raise FileNotFoundError(f"structure {path} not found: pass --structures-dir or set DEEPRES_BM5_DIR")
    return simulate_case(
        str(path), get_range(case.range), case.voxel_size_A, case.seed, field_kind=case.field_kind, **case.options
    )


# --------------------------------------------------------------------------------------------
# Inputs and estimators
# --------------------------------------------------------------------------------------------


def _write(path: Path, vol: Volume) -> str:
    from deepres.mrc import write_volume

    write_volume(path, np.asarray(vol.data, dtype=np.float32), vol)
    return str(path)


@dataclasses.dataclass
class CaseInputs:
    """What an estimator may use for one map. Files are written on first use.

    Attributes
    ----------
    name : str
        Case id or real-map name.
    range : str
        Range to estimate in.
    map, mask : Volume
        Full map and binary mask (0/1) on one grid.
    half1, half2 : Volume or None
        Half maps, when there are any.
    truth : Volume or None
        True local resolution (Å), for simulated cases.
    workdir : Path
        Scratch folder of this case.
    """

    name: str
    range: str
    map: Volume
    mask: Volume
    half1: Volume | None = None
    half2: Volume | None = None
    truth: Volume | None = None
    workdir: Path = dataclasses.field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="deepres-bench-")))
    _files: dict = dataclasses.field(default_factory=dict, repr=False)

    @property
    def voxel_size_A(self) -> float:
        return self.map.voxel_size_A

    def files(self) -> dict[str, str]:
        """Paths of ``map``, ``mask`` (and ``half1``, ``half2`` when present) as MRC files."""
        if not self._files:
            d = self.workdir / "inputs"
            d.mkdir(parents=True, exist_ok=True)
            self._files["map"] = _write(d / "map.mrc", self.map)
            self._files["mask"] = _write(d / "mask.mrc", self.mask.with_data(np.asarray(self.mask.data, np.float32)))
            for k in ("half1", "half2"):
                v = getattr(self, k)
                if v is not None:
                    self._files[k] = _write(d / f"{k}.mrc", v)
        return self._files


class Estimator:
    """Base class: ``run(inputs)`` returns a `(z, y, x)` resolution map (Å) on the input grid;
    0/NaN where there is no estimate."""

    name: str = "estimator"
    #: Needs the half maps / the truth: skipped where they are absent.
    needs_halves: bool = False
    needs_truth: bool = False

    def applies(self, inputs: CaseInputs) -> bool:
        if self.needs_halves and (inputs.half1 is None or inputs.half2 is None):
            return False
        if self.needs_truth and inputs.truth is None:
            return False
        return True

    def run(self, inputs: CaseInputs) -> np.ndarray:  # pragma: no cover - interface
        raise NotImplementedError

    def describe(self) -> dict:
        return {"name": self.name, "kind": type(self).__name__}


class DeepResEstimator(Estimator):
    """This package, in process, through :func:`deepres.estimate`.

    Parameters
    ----------
    device : str
        ``"auto"``, ``"cpu"`` or ``"cuda"``.
    untrained : bool
        Use :func:`deepres.model.build_untrained` instead of the shipped model (development only:
        same cost, meaningless values).
    model_files : dict, optional
        ``range -> path`` of model files to use instead of the shipped ones (e.g. a checkpoint
        before it ships).
    half_maps : bool
        Give the case's half maps too, and so use the model that reads them (``<range>_halves``).
    """

    def __init__(self, device: str = "auto", untrained: bool = False, name: str = "deepres",
                 model_files: dict | None = None, precision: str = "float32", half_maps: bool = False):
        self.device = device
        self.half_maps = bool(half_maps)
        self.needs_halves = self.half_maps
        self.precision = precision
        self.untrained = untrained
        self.model_files = dict(model_files or {})
        self.name = name + ("-UNTRAINED" if untrained else "")
        self._models: dict = {}
        self.model_info: dict = {}

    def check(self, ranges: Sequence[str]) -> None:
        """Fail early (InputError) when a range has no model to run."""
        from deepres.errors import InputError
        from deepres.model import model_path

        if self.untrained:
            return
        for r in ranges:
            p = self.model_files.get(get_range(r).name) or model_path(r, self.half_maps)
            if not os.path.isfile(p):
                raise InputError(f"no model file for the {r} range ({p}): pass --model-file {r}=PATH, "
                                 "or --untrained for a development run")

    def _model_kwargs(self, range_name: str) -> dict:
        from deepres import pipeline

        range_name = get_range(range_name).name
        if not self.untrained and range_name not in self.model_files:
            return {}
        if "model" not in inspect.signature(pipeline.estimate).parameters:
            raise RuntimeError("deepres.estimate takes no 'model' argument: cannot pass another network")
        if range_name not in self._models:
            from deepres.model import build_untrained, load_model

            self._models[range_name] = (build_untrained(range_name, half_maps=self.half_maps) if self.untrained
                                        else load_model(range_name, self.model_files[range_name]))
        return {"model": self._models[range_name]}

    def run(self, inputs: CaseInputs) -> np.ndarray:
        import deepres

        res = deepres.estimate(
            np.asarray(inputs.map.data, dtype=np.float32),
            np.asarray(inputs.mask.data) > 0,
            inputs.voxel_size_A,
            range=inputs.range,
            device=self.device,
            origin_A=inputs.map.origin_A,
            precision=self.precision,
            **({"half_maps": (np.asarray(inputs.half1.data, dtype=np.float32),
                              np.asarray(inputs.half2.data, dtype=np.float32))} if self.half_maps else {}),
            **self._model_kwargs(inputs.range),
        )
        for attr in ("model_id", "model_sha256", "model"):
            v = getattr(res, attr, None)
            if isinstance(v, (str, int, float)):
                self.model_info.setdefault(inputs.range, {})[attr] = v
        out = res.resolution
        return np.asarray(out.data if isinstance(out, Volume) else out, dtype=np.float32)

    def describe(self) -> dict:
        return {"name": self.name, "kind": "deepres.estimate (in process)", "device": self.device,
                "precision": self.precision, "half_maps": self.half_maps,
                "untrained": self.untrained, "model_files": self.model_files, "models": self.model_info}


class CommandEstimator(Estimator):
    """Any program, run through a shell command template.

    Parameters
    ----------
    template : str
        Command line with placeholders ``{map} {mask} {half1} {half2} {outdir} {voxel_size}
        {range}``, each replaced by a shell-quoted value.
    output_name : str
        File (MRC, on the input grid) the command writes in ``{outdir}``.
    name : str
        Label in the report.
    timeout_s : float, optional
        Kill the command after this many seconds.
    """

    def __init__(self, template: str, output_name: str, name: str = "command", timeout_s: float | None = None):
        self.template = template
        self.output_name = output_name
        self.name = name
        self.timeout_s = timeout_s
        self.needs_halves = "{half1}" in template or "{half2}" in template

    def command_for(self, inputs: CaseInputs, outdir: Path) -> str:
        f = inputs.files()
        values = {
            "map": f["map"],
            "mask": f["mask"],
            "half1": f.get("half1", ""),
            "half2": f.get("half2", ""),
            "outdir": str(outdir),
            "voxel_size": f"{inputs.voxel_size_A:.6g}",
            "range": inputs.range,
        }
        return self.template.format(**{k: shlex.quote(v) for k, v in values.items()})

    def run(self, inputs: CaseInputs) -> np.ndarray:
        from deepres.mrc import read_volume

        outdir = inputs.workdir / f"out-{_slug(self.name)}"
        if outdir.exists():
            shutil.rmtree(outdir)
        outdir.mkdir(parents=True)
        cmd = self.command_for(inputs, outdir)
        logger.debug("running %s", cmd)
        proc = subprocess.run(cmd, shell=True, capture_output=True, text=True, timeout=self.timeout_s)
        if proc.returncode != 0:
            tail = (proc.stderr or proc.stdout or "").strip().splitlines()[-3:]
            raise RuntimeError(f"command exited with status {proc.returncode}: {' | '.join(tail)}")
        out = outdir / self.output_name
        if not out.exists():
            raise RuntimeError(f"command wrote no {self.output_name} in its output folder")
        vol = read_volume(out, voxel_size_A=inputs.voxel_size_A, what="estimate")
        if vol.shape != inputs.map.shape:
            raise RuntimeError(f"estimate grid {vol.shape} differs from the input grid {inputs.map.shape}")
        return np.asarray(vol.data, dtype=np.float32)

    def describe(self) -> dict:
        return {"name": self.name, "kind": "command", "template": self.template, "output": self.output_name}


def deepres_cli_estimator(device: str = "auto", precision: str = "float32") -> CommandEstimator:
    """``deepres estimate`` in a subprocess (the same tool as a user runs)."""
    exe = Path(sys.executable).parent / "deepres"  # the console script of this interpreter's environment
    prefix = shlex.quote(str(exe)) if exe.exists() else f"{shlex.quote(sys.executable)} -m deepres"
    template = (
        f"{prefix} estimate {{map}} --mask {{mask}} --range {{range}} --output-dir {{outdir}} "
        f"--device {shlex.quote(device)} --precision {shlex.quote(precision)} --force --quiet --no-report"
    )
    return CommandEstimator(template, "resolution.mrc", name="deepres-cli")


class OracleMedianEstimator(Estimator):
    """A constant map equal to the median of the truth inside the mask (knows the answer's
    global figure, nothing local): the error any useful local estimator must beat."""

    name = "oracle-median"
    needs_truth = True

    def run(self, inputs: CaseInputs) -> np.ndarray:
        m = np.asarray(inputs.mask.data) > 0
        med = float(np.median(np.asarray(inputs.truth.data)[m])) if m.any() else 0.0
        return np.where(m, np.float32(med), np.float32(0.0)).astype(np.float32)

    def describe(self) -> dict:
        return {"name": self.name, "kind": "constant = median of the truth in the mask (reference)"}


class RelionEstimator(CommandEstimator):
    """RELION's local resolution (``relion_postprocess --locres``) from the two half maps.

    Parameters
    ----------
    sampling_A : float
        ``--locres_sampling``: spacing of the local FSC sampling points in Å (RELION's default is
        25 Å; the spherical mask radius is half of it, ``--locres_maskrad`` default).
    executable : str
        Program name or path.
    every : int
        Run on every ``every``-th case only (1 = all), to bound the runtime.
    """

    needs_halves = True

    def __init__(self, sampling_A: float = 15.0, executable: str = "relion_postprocess", every: int = 1,
                 timeout_s: float | None = 900):
        self.sampling_A = float(sampling_A)
        self.executable = executable
        self.every = max(1, int(every))
        template = (
            f"{shlex.quote(executable)} --i {{half1}} --i2 {{half2}} --mask {{mask}} --angpix {{voxel_size}} "
            f"--locres --locres_sampling {self.sampling_A:g} --o {{outdir}}/relion"
        )
        super().__init__(template, "relion_locres.mrc", name="relion", timeout_s=timeout_s)
        self._count = 0

    @staticmethod
    def find(executable: str = "relion_postprocess") -> str | None:
        """Path of ``relion_postprocess`` on PATH, or None."""
        return shutil.which(executable)

    @staticmethod
    def version(executable: str = "relion_postprocess") -> str | None:
        try:
            p = subprocess.run([executable, "--version"], capture_output=True, text=True, timeout=30)
        except (OSError, subprocess.SubprocessError):
            return None
        for line in (p.stdout + p.stderr).splitlines():
            if "RELION" in line.upper() and any(ch.isdigit() for ch in line):
                return line.strip()
        return None

    def applies(self, inputs: CaseInputs) -> bool:
        return super().applies(inputs)

    def describe(self) -> dict:
        return {"name": self.name, "kind": "relion_postprocess --locres", "executable": self.find(self.executable),
                "version": self.version(self.executable), "locres_sampling_A": self.sampling_A,
                "every_nth_case": self.every, "template": self.template}


def _slug(s: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in s)


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
                row["params"] = _jsonable(params)
            inputs = CaseInputs(case.id, case.range, sc.map, mask, getattr(sc, "half1", None),
                                getattr(sc, "half2", None), sc.truth, root / _slug(case.id))
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


#: Mask voxels per case kept for the pooled scores (a fixed random subset, so large maps do not dominate).
POOL_VOXELS = 20000


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
        f"{name:>10} {est:<20} MAE {_fmt(entry.get('mae_A'))} bias {_fmt(entry.get('bias_A'), signed=True)} "
        f"r {_fmt(entry.get('pearson'))} cov {_fmt(entry.get('coverage'))} {entry['time_s']:.1f} s"
    )


def _jsonable(x):
    if isinstance(x, dict):
        return {str(k): _jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_jsonable(v) for v in x]
    if isinstance(x, (np.integer,)):
        return int(x)
    if isinstance(x, (np.floating, float)):
        x = float(x)
        return x if math.isfinite(x) else None
    if isinstance(x, np.ndarray):
        return _jsonable(x.tolist()) if x.size <= 64 else f"<array {x.shape}>"
    if isinstance(x, (str, int, bool)) or x is None:
        return x
    return str(x)


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
        inputs = CaseInputs(rm.name, range_name, vol, mask, workdir=workdir / _slug(rm.name))
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
                progress(f"{rm.name:>16} {est.name:<20} median {_fmt(entry.get('median_A'))} "
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
                         workdir=workdir / _slug(f"inv-{base_case.id}-{tag}"))
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
            progress(f"  invariance {name:<14} {stat_key} {_fmt(val)} (limit {limit:g}) "
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


def _fmt(x, nd: int = 2, signed: bool = False) -> str:
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "–"
    return f"{x:+.{nd}f}" if signed else f"{x:.{nd}f}"


def to_markdown(doc: dict) -> str:
    """Markdown report of a :func:`run_benchmark` document."""
    L: list[str] = []
    est = doc.get("estimator") or {}
    L.append(f"# deepres accuracy benchmark — {doc.get('date', '')}")
    L.append("")
    L.append(f"- estimator under test: **{est.get('name', '?')}** ({est.get('kind', '')})")
    if est.get("untrained"):
        L.append("- **WARNING: untrained network (development run): the numbers say nothing about accuracy.**")
    if est.get("models"):
        L.append(f"- models: `{json.dumps(est['models'])}`")
    L.append(f"- deepres {doc.get('deepres_version')} at commit {doc.get('git_commit')}")
    mi = doc.get("machine", {})
    L.append(f"- machine: {mi.get('cpu_model', '?')}, {mi.get('cpu_count')} cores, torch {mi.get('torch')} "
             f"({mi.get('torch_threads')} threads), GPU {mi.get('cuda') or 'none'}")
    rel = doc.get("relion") or {}
    if rel.get("version") or rel.get("executable"):
        L.append(f"- RELION: {rel.get('version') or rel.get('executable')} — `relion_postprocess --locres "
                 f"--locres_sampling {rel.get('locres_sampling_A'):g}` on the half maps"
                 + (f", on every {rel['every_nth_case']}-th case only (cases 0, {rel['every_nth_case']}, "
                    f"{2 * rel['every_nth_case']}, ...) to bound the runtime"
                    if rel.get("every_nth_case", 1) > 1 else ""))
    else:
        L.append(f"- **RELION: not run** — {rel.get('note', 'not available')}")
    L.append(f"- total time {doc.get('total_time_s', 0):.0f} s; command: `{doc.get('command', '')}`")
    L.append("")
    L.append("Metrics are over the mask voxels with an estimate (finite, non-zero); *coverage* is the fraction "
             "of mask voxels that have one. MAE/median AE/bias in Å (bias = estimate − truth); r = Pearson, "
             "ρ = Spearman, per case, then averaged over cases. `oracle-median` is a constant equal to the "
             "true median of the case.")
    for rname, res in doc.get("ranges", {}).items():
        spec = get_range(rname)
        L.append("")
        L.append(f"## Range {rname} ({spec.label} Å, working sampling {spec.voxel_size_A:g} Å)")
        L.append("")
        rows = res.get("cases", [])
        if rows:
            vs = [r["case"]["voxel_size_A"] for r in rows]
            sim = [r.get("simulate_s", 0.0) for r in rows]
            L.append(f"{len(rows)} simulated cases on {len({r['case']['structure'] for r in rows})} held-out structures, "
                     f"input voxel sizes {min(vs):g}–{max(vs):g} Å; simulation {sum(sim):.0f} s in all, "
                     f"range total {res.get('time_s', 0):.0f} s.")
            L.append("")
        L.append("| estimator | cases | MAE | median AE | RMSE | bias | r | ρ | within 1 Å | coverage | time/case (s) |")
        L.append("|---|---|---|---|---|---|---|---|---|---|---|")
        for name, a in res.get("summary", {}).items():
            if name.startswith("_"):
                continue
            err = f" ({a['n_errors']} failed)" if a.get("n_errors") else ""
            L.append(f"| {name} | {a['n_cases']}{err} | {_fmt(a.get('mae_A_mean'))} | {_fmt(a.get('median_ae_A_median'))} | "
                     f"{_fmt(a.get('rmse_A_mean'))} | {_fmt(a.get('bias_A_mean'), signed=True)} | "
                     f"{_fmt(a.get('pearson_mean'))} | {_fmt(a.get('spearman_mean'))} | {_fmt(a.get('within_1A_mean'))} | "
                     f"{_fmt(a.get('coverage_mean'))} | {_fmt(a.get('time_s_mean'), 1)} |")
        pooled_rows = [(n, a["pooled"]) for n, a in res.get("summary", {}).items()
                       if not n.startswith("_") and a.get("pooled")]
        if pooled_rows:
            L.append("")
            L.append(f"Pooled over the mask voxels of all cases (up to {POOL_VOXELS} random voxels per case):")
            L.append("")
            L.append("| estimator | voxels | MAE | bias | r | ρ |")
            L.append("|---|---|---|---|---|---|")
            for n, p in pooled_rows:
                L.append(f"| {n} | {p['n_voxels']} | {_fmt(p.get('mae_A'))} | {_fmt(p.get('bias_A'), signed=True)} | "
                         f"{_fmt(p.get('pearson'))} | {_fmt(p.get('spearman'))} |")
        paired = res.get("summary", {}).get("_paired")
        if paired:
            L.append("")
            L.append(f"Same table on the {len(paired['case_ids'])} cases every estimator ran on:")
            L.append("")
            L.append("| estimator | MAE | bias | r | ρ | coverage |")
            L.append("|---|---|---|---|---|---|")
            for name, a in paired.items():
                if name == "case_ids":
                    continue
                L.append(f"| {name} | {_fmt(a.get('mae_A_mean'))} | {_fmt(a.get('bias_A_mean'), signed=True)} | "
                         f"{_fmt(a.get('pearson_mean'))} | {_fmt(a.get('spearman_mean'))} | {_fmt(a.get('coverage_mean'))} |")
        sup = res.get("summary", {}).get("_supported")
        if sup:
            L.append("")
            L.append(f"Only the {len(sup['case_ids'])} of {sup['n_cases_with_fsc']} cases whose best labels the data "
                     f"support: half-map FSC ≥ {SUPPORT_FSC} at the truth's 10th-percentile resolution (column FSC "
                     "below; shell of one roll-off width below the cut-off). In the others the content the "
                     "label promises is under the noise:")
            L.append("")
            L.append("| estimator | cases | MAE | bias | r | ρ | within 1 Å |")
            L.append("|---|---|---|---|---|---|---|")
            for name, a in sup.items():
                if name in ("case_ids", "n_cases_with_fsc") or not a.get("n_cases"):
                    continue
                L.append(f"| {name} | {a['n_cases']} | {_fmt(a.get('mae_A_mean'))} | {_fmt(a.get('bias_A_mean'), signed=True)} | "
                         f"{_fmt(a.get('pearson_mean'))} | {_fmt(a.get('spearman_mean'))} | {_fmt(a.get('within_1A_mean'))} |")
        names = [n for n in res.get("summary", {}) if not n.startswith("_")]
        L.append("")
        L.append("Per case (MAE / bias / r; '·' = not run):")
        L.append("")
        L.append("| case | structure | Å/vox | field | truth median | FSC | " + " | ".join(names) + " |")
        L.append("|---|---|---|---|---|---|" + "---|" * len(names))
        for row in res.get("cases", []):
            c = row["case"]
            cells = []
            for n in names:
                e = row.get("estimators", {}).get(n)
                if e is None:
                    cells.append("·")
                elif "error" in e:
                    cells.append("error")
                else:
                    cells.append(f"{_fmt(e.get('mae_A'))} / {_fmt(e.get('bias_A'), signed=True)} / {_fmt(e.get('pearson'))}")
            if "error" in row:
                cells = [row["error"]] + [""] * (len(names) - 1)
            L.append(f"| {c['id']} | {c['structure'].replace('.pdb.gz', '')} | {c['voxel_size_A']:g} | "
                     f"{c.get('field_kind') or 'drawn'} | {_fmt(row.get('truth_median_A'))} | "
                     f"{_fmt(row.get('fsc_at_truth_p10'))} | " + " | ".join(cells) + " |")
        if res.get("real_maps"):
            L.append("")
            L.append("Real maps (median of the estimate inside the mask next to the known figure):")
            L.append("")
            L.append("| map | Å/vox | known (Å) | estimator | median (Å) | p10–p90 (Å) | coverage | per-residue ρ vs B "
                     "(distinct B values) | per-residue ρ vs distance from centre | per-residue ρ vs exposure (1/WCN) | mask |")
            L.append("|---|---|---|---|---|---|---|---|---|---|---|")
            for row in res["real_maps"]:
                if "error" in row:
                    L.append(f"| {row['name']} | | {row['known_A']:g} | error: {row['error']} |" + " |" * 7)
                    continue
                for n, e in row["estimators"].items():
                    pr = e.get("per_residue") or {}
                    prs = (f"{_fmt(pr.get('spearman_vs_bfactor'))} ({pr.get('n_residues')} res., "
                           f"{pr.get('n_distinct_bfactors', '?')} distinct B)"
                           if "spearman_vs_bfactor" in pr else ("error" if "error" in pr else "–"))
                    prd = _fmt(pr.get("spearman_vs_centre_distance")) if "spearman_vs_bfactor" in pr else "–"
                    pre = _fmt(pr.get("spearman_vs_exposure")) if "spearman_vs_bfactor" in pr else "–"
                    if "error" in e:
                        L.append(f"| {row['name']} | {row['voxel_size_A']:.3g} | {row['known_A']:g} | {n} | error |" + " |" * 6)
                        continue
                    L.append(f"| {row['name']} | {row['voxel_size_A']:.3g} | {row['known_A']:g} ({row['known_note']}) | {n} | "
                             f"{_fmt(e.get('median_A'))} | {_fmt(e.get('p10_A'))}–{_fmt(e.get('p90_A'))} | "
                             f"{_fmt(e.get('coverage'))} | {prs} | {prd} | {pre} | {row.get('mask', '')} |")
        inv = res.get("invariance")
        if inv:
            L.append("")
            L.append(f"Invariance checks on {inv['case']['id']} ({inv['case']['structure']}), "
                     f"{'all passed' if inv.get('all_passed') else '**not all passed**'}:")
            if inv.get("error"):
                L.append(f"error: {inv['error']}")
            L.append("")
            L.append("| check | statistic | value (Å) | limit (Å) | result | detail |")
            L.append("|---|---|---|---|---|---|")
            for name, c in inv.get("checks", {}).items():
                if "error" in c:
                    L.append(f"| {name} | | | | FAIL | {c['error']} |")
                    continue
                stat = c.get("statistic")
                detail = ""
                if name == "voxel_size":
                    detail = (f"medians {', '.join(_fmt(x) for x in c['est_median_A'])} at "
                              f"{', '.join(f'{v:g}' for v in c['voxel_sizes_A'])} Å/vox (truth "
                              f"{', '.join(_fmt(x) for x in c['truth_median_A'])})")
                elif "mean_abs_A" in c:
                    detail = f"max {_fmt(c.get('max_abs_A'), 3)}, mean {_fmt(c.get('mean_abs_A'), 3)}"
                L.append(f"| {name} | {stat} | {_fmt(c.get(stat), 3)} | {c['limit_A']:g} | "
                         f"{'pass' if c.get('passed') else 'FAIL'} | {detail} |")
    L.append("")
    return "\n".join(L)


def write_report(doc: dict, output_dir: Path, stem: str | None = None) -> tuple[Path, Path]:
    """Write ``<stem>.json`` and ``<stem>.md``; the stem defaults to ``accuracy_<date>``."""
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    stem = stem or f"accuracy_{_dt.date.today().isoformat()}"
    jp = output_dir / f"{stem}.json"
    mp = output_dir / f"{stem}.md"
    jp.write_text(json.dumps(_jsonable(doc), indent=1) + "\n")
    mp.write_text(to_markdown(doc))
    return jp, mp


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
                               model_files=files, precision=args.precision, half_maps=args.half_maps)
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
