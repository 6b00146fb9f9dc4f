"""The benchmark's simulated cases: which held-out structure, seed, input voxel size and field kind
each case is (``src/deepres/data/benchmark_cases_<range>.json`` and the later draws), where the
structures and real maps live, and how a case is simulated (:func:`simulate`). Read by
:mod:`deepres.benchmark`.
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Sequence
from importlib import resources
from pathlib import Path

from deepres.ranges import get_range

#: Where the bm5 structures live unless ``--structures-dir`` or ``$DEEPRES_BM5_DIR`` says otherwise.
DEFAULT_STRUCTURES_DIR = "/work/shared/data/structures/bm5"
#: Where the real maps live unless ``--maps-dir`` or ``$DEEPRES_MAPS_DIR`` says otherwise.
DEFAULT_MAPS_DIR = "/work/shared/data/maps"


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


def data_file(name: str) -> Path:
    """Path of a file shipped in ``deepres/data`` (e.g. ``benchmark_cases_low_draw3.json``)."""
    return Path(str(resources.files("deepres") / "data" / name))


def cases_path(range_name: str) -> Path:
    """Path of the committed case list of a range."""
    return data_file(f"benchmark_cases_{get_range(range_name).name}.json")


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


def simulate(case: Case, structures: Path, **overrides):
    """Simulate ``case`` with :func:`deepres.simulate.simulate_case`; ``overrides`` replace options of
    the case (e.g. ``noise="none"``: the same draws without noise)."""
    from deepres.simulate import simulate_case

    path = structures / case.structure
    if not path.exists():
        raise FileNotFoundError(f"structure {path} not found: pass --structures-dir or set DEEPRES_BM5_DIR")
    return simulate_case(
        str(path), get_range(case.range), case.voxel_size_A, case.seed, field_kind=case.field_kind,
        **{**case.options, **overrides}
    )
