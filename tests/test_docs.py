"""The files that README.md and docs/ point the reader to exist (records get renamed when a model is replaced)."""

from __future__ import annotations

import glob
import itertools
import os
import re

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DOCS = ["README.md", "benchmarks/README.md", "examples/README.md"] + sorted(
    os.path.relpath(p, ROOT) for p in glob.glob(os.path.join(ROOT, "docs", "*.md")))
# a path into the repository, with optional {a,b} alternatives, ending in a known extension
PATH = re.compile(r"(?<![\w/.-])((?:benchmarks|docs|scripts|src|examples|tests)/(?:[\w./-]|\{[\w.,-]+\})+"
                  r"\.(?:md|json|py|sh|txt|png|mrc|pt))(?![\w/])")
# a record named without its folder
RECORD = re.compile(r"(?<![\w{,/.-])((?:accuracy|sharpening|speed)_(?:[\w.-]|\{[\w.,-]+\})+\.(?:md|json))(?![\w}])")


def expand(path: str) -> list[str]:
    """`a_{x,y}.md` -> [`a_x.md`, `a_y.md`]."""
    parts = re.split(r"(\{[^{}]*\})", path)
    options = [p[1:-1].split(",") if p.startswith("{") else [p] for p in parts]
    return ["".join(c) for c in itertools.product(*options)]


def test_expand():
    assert expand("a_{low,high}_{x,y}.md") == ["a_low_x.md", "a_low_y.md", "a_high_x.md", "a_high_y.md"]
    assert expand("plain.md") == ["plain.md"]


@pytest.mark.parametrize("doc", [d for d in DOCS if os.path.exists(os.path.join(ROOT, d))])
def test_paths_named_in_docs_exist(doc):
    with open(os.path.join(ROOT, doc), encoding="utf-8") as fh:
        text = fh.read()
    named = [p for m in PATH.finditer(text) for p in expand(m.group(1))]
    named += ["benchmarks/results/" + p for m in RECORD.finditer(text) for p in expand(m.group(1))]
    assert named or doc != "README.md"
    missing = sorted({p for p in named if not os.path.exists(os.path.join(ROOT, p))})
    assert not missing, f"{doc} names files that do not exist: {missing}"
