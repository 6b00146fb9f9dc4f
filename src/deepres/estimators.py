"""What the benchmark scores: an estimator turns one case's inputs (:class:`CaseInputs`: map, mask,
half maps, on one grid) into a local-resolution map on the input grid. ``deepres`` in process
(:class:`DeepResEstimator`), any command line (:class:`CommandEstimator`, :func:`deepres_cli_estimator`),
and the reference lines: a constant at the true median (:class:`OracleMedianEstimator`) and RELION's
``relion_postprocess --locres`` (:class:`RelionEstimator`). Run by :mod:`deepres.benchmark`.
"""

from __future__ import annotations

import dataclasses
import inspect
import logging
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from deepres.ranges import get_range
from deepres.volume import Volume

logger = logging.getLogger(__name__)


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
    desharpen : bool
        ``deepres.estimate(..., desharpen=True)``: flatten maps that look sharpened first.
    """

    def __init__(self, device: str = "auto", untrained: bool = False, name: str = "deepres",
                 model_files: dict | None = None, precision: str = "float32", half_maps: bool = False,
                 desharpen: bool = False):
        self.device = device
        self.desharpen = bool(desharpen)
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
            desharpen=self.desharpen,
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
                "precision": self.precision, "half_maps": self.half_maps, "desharpen": self.desharpen,
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

        outdir = inputs.workdir / f"out-{slug(self.name)}"
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


def slug(s: str) -> str:
    """``s`` as a safe file-name part."""
    return "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in s)
