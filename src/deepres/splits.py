"""The fixed held-out list: bm5 structures that training never uses (the benchmark's material)."""

from __future__ import annotations

import os
from functools import lru_cache
from importlib import resources


@lru_cache(maxsize=1)
def heldout_structures() -> tuple[str, ...]:
    """File names of the held-out structures, in the order of ``data/heldout_structures.txt``."""
    text = (resources.files("deepres") / "data" / "heldout_structures.txt").read_text()
    return tuple(ln.strip() for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith("#"))


def is_heldout(structure_path: str | os.PathLike) -> bool:
    """True if the file is on the held-out list (never to be trained on)."""
    return os.path.basename(str(structure_path)) in heldout_structures()
