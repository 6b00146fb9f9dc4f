"""What a model file says about itself: its identity and the chain of training runs that made it.

Every model file written by ``deepres train`` records its run (settings, data, validation history,
time, device) and, when the run started from another file (``--init``), that file's id, sha256 and
own record, and so on back to the run from random weights. :func:`lineage` unrolls that chain,
oldest run first, so the cost of a shipped model can be read from the file: how many runs, steps
and hours of training, on what. Simulating the training maps is not part of ``train_seconds`` and
is not counted here. Files made by combining others (an ensemble or a weight average) end the chain
with a note naming their members.
"""

from __future__ import annotations

import math
import os
from dataclasses import asdict, dataclass, field

import torch

from deepres.errors import DeepResError, InputError
from deepres.model import model_path, read_model_payload
from deepres.outputs import sha256_file
from deepres.ranges import get_range

SHIPPED = (("low", False), ("low", True), ("high", False), ("high", True))


@dataclass(frozen=True)
class Stage:
    """One training run of a model's lineage (``None`` where the record does not say)."""

    model_id: str
    steps: int | None = None
    lr: float | None = None
    batch: int | None = None
    seed: int | None = None
    precision: str | None = None
    device: str | None = None
    seconds: float | None = None
    n_train_maps: int | None = None
    n_val_maps: int | None = None
    data_dirs: tuple[str, ...] = ()
    val_mae_A: float | None = None
    note: str = ""


@dataclass(frozen=True)
class ModelInfo:
    """A model file's identity and its lineage (oldest run first)."""

    name: str
    path: str
    model_id: str
    sha256: str
    range_name: str
    half_maps: bool
    n_parameters: int
    file_bytes: int
    stages: list[Stage] = field(default_factory=list)

    def totals(self) -> dict:
        """Runs, steps and training seconds in all, and seconds per device ('not recorded' for
        runs older than the device field)."""
        by_device: dict[str, float] = {}
        for s in self.stages:
            if s.seconds is not None:
                key = s.device or "not recorded"
                by_device[key] = by_device.get(key, 0.0) + s.seconds
        return {"runs": sum(s.steps is not None for s in self.stages),
                "steps": sum(s.steps or 0 for s in self.stages),
                "train_seconds": sum(by_device.values()),
                "train_seconds_by_device": by_device}

    def to_dict(self) -> dict:
        d = asdict(self)
        d["totals"] = self.totals()
        return d


def _stage(model_id: str, training: dict) -> Stage:
    cfg = training.get("config") or {}
    history = training.get("history") or []
    last = history[-1] if history and isinstance(history[-1], dict) else {}
    mae = last.get("mae_A")
    notes = []
    if training.get("renamed_from"):
        notes.append(f"renamed from {training['renamed_from']}")
    if training.get("reranged_from"):
        notes.append(f"weights of {training['reranged_from']}, made a start for the other range")
    for key, what in (("ensemble_of", "ensemble of"), ("weight_average_of", "weight average of")):
        if training.get(key):
            notes.append(f"{what} " + ", ".join(str(m.get("model_id")) for m in training[key]))
    device = training.get("device")
    return Stage(
        model_id=model_id,
        steps=cfg.get("steps"),
        lr=cfg.get("lr"),
        batch=cfg.get("batch"),
        seed=cfg.get("seed"),
        precision=cfg.get("precision"),
        device=str(device) if device else None,
        seconds=training.get("train_seconds"),
        n_train_maps=training.get("n_train_samples"),
        n_val_maps=training.get("n_val_samples"),
        data_dirs=tuple(training.get("data_dirs") or ()),
        val_mae_A=float(mae) if isinstance(mae, (int, float)) and math.isfinite(mae) else None,
        note="; ".join(notes),
    )


def lineage(model_id: str, training: dict) -> list[Stage]:
    """The runs that made a model, oldest first, from its training record (``init`` chain)."""
    stages = []
    seen = set()
    while isinstance(training, dict) and training and id(training) not in seen:
        seen.add(id(training))
        stages.append(_stage(model_id, training))
        init = training.get("init")
        if not isinstance(init, dict):
            break
        model_id, training = str(init.get("model_id")), init.get("training")
    return stages[::-1]


def read_model_info(which: str) -> ModelInfo:
    """The shipped model ``which`` (``low``, ``high``, ``low_halves``, ``high_halves``, or a range
    alias such as ``2.5-13``) or the model file at the path ``which``.

    Raises
    ------
    InputError
        If ``which`` is neither a shipped model's name nor an existing deepres model file.
    DeepResError
        If a shipped model file is missing or unreadable.
    """
    base, halves = (which[: -len("_halves")], True) if which.endswith("_halves") else (which, False)
    try:
        spec = get_range(base)
    except InputError:
        if not os.path.isfile(which):
            raise InputError(f"{which}: not a shipped model (low, high, low_halves, high_halves) nor a model file")
        # a file the user named is the user's to fix (exit 2)
        return _model_info(which, os.path.basename(which), InputError)
    return _shipped_info(spec.name, halves)


def _shipped_info(range_name: str, halves: bool) -> ModelInfo:
    path = model_path(range_name, halves)
    name = f"{range_name}{'_halves' if halves else ''}"
    if not os.path.isfile(path):
        raise DeepResError(f"model file for {name} not found: {path} (reinstall deepres)")
    return _model_info(path, name, DeepResError)


def _model_info(path: str, name: str, error: type[DeepResError]) -> ModelInfo:
    payload = read_model_payload(path, error)
    features = payload.get("features") or {}
    state = payload.get("state_dict") or {}
    model_id = str(payload.get("model_id"))
    return ModelInfo(
        name=name,
        path=path,
        model_id=model_id,
        sha256=sha256_file(path),
        range_name=str(payload.get("range")),
        half_maps=bool(features.get("half_maps")),
        n_parameters=int(sum(v.numel() for v in state.values() if torch.is_tensor(v) and v.is_floating_point())),
        file_bytes=os.path.getsize(path),
        stages=lineage(model_id, payload.get("training") or {}),
    )


def _fmt(v, spec: str = "") -> str:
    return "–" if v is None or v == "" else format(v, spec)


def _hours(seconds: float) -> str:
    return f"{seconds / 3600:.1f} h" if seconds >= 360 else f"{seconds / 60:.1f} min"


def format_models(infos: list[ModelInfo]) -> str:
    """A table of models: identity, size and what their training cost in all."""
    lines = ["| model | id | range | reads | parameters | file | sha256 | runs | steps | training time |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for m in infos:
        spec = get_range(m.range_name)
        t = m.totals()
        lines.append(f"| {m.name} | {m.model_id} | {spec.min_A:g}–{spec.max_A:g} Å at {spec.voxel_size_A:g} Å/voxel | "
                     f"{'map + half maps' if m.half_maps else 'map'} | {m.n_parameters:,} | {m.file_bytes / 1e6:.2f} MB | "
                     f"{m.sha256[:12]}… | {t['runs']} | {t['steps']:,} | {_hours(t['train_seconds'])} |")
    return "\n".join(lines)


def format_lineage(info: ModelInfo) -> str:
    """The runs that made ``info``'s model, oldest first, with the totals."""
    lines = [f"{info.name}: {info.model_id} (sha256 {info.sha256}), {len(info.stages)} runs, oldest first.",
             "Time is training only (simulating the maps is not counted); val MAE: the run's last "
             "validation, on its own validation maps (not comparable between runs with other maps).", "",
             "| # | model id | steps | peak lr | batch | seed | precision | device | time (s) | training maps | "
             "data | val MAE (Å) | note |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for i, s in enumerate(info.stages, 1):
        lines.append(f"| {i} | {s.model_id} | {_fmt(s.steps)} | {_fmt(s.lr, 'g')} | {_fmt(s.batch)} | {_fmt(s.seed)} | "
                     f"{_fmt(s.precision)} | {_fmt(s.device)} | {_fmt(s.seconds, '.0f')} | {_fmt(s.n_train_maps)} | "
                     f"{', '.join(s.data_dirs) or '–'} | {_fmt(s.val_mae_A, '.3f')} | {s.note or '–'} |")
    t = info.totals()
    per_device = ", ".join(f"{k}: {_hours(v)}" for k, v in t["train_seconds_by_device"].items())
    lines += ["", f"In all: {t['runs']} runs, {t['steps']:,} steps, {_hours(t['train_seconds'])} of training"
              + (f" ({per_device})" if per_device else "") + "."]
    return "\n".join(lines)


def shipped_infos() -> list[ModelInfo]:
    return [_shipped_info(r, h) for r, h in SHIPPED]
