"""Writing the output folder all at once: either every file is there, or nothing is.

Everything is written into a temporary folder next to the destination (same file system) and
moved into place with :func:`os.replace` only when complete. On any error, or Ctrl-C, the
temporary folder is removed and an existing destination is left as it was.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from deepres.errors import InputError


def input_stem(volume_path: str | os.PathLike) -> str:
    """The map's name without its suffix, nor a compression suffix (``emd_1234.map.gz`` -> ``emd_1234``)."""
    p = Path(volume_path)
    if p.suffix.lower() in (".gz", ".bz2"):
        p = p.with_suffix("")
    return p.stem


def default_output_dir(volume_path: str | os.PathLike) -> Path:
    """``<VOLUME stem>_deepres`` beside the input map (``emd_1234.map.gz`` gives ``emd_1234_deepres``)."""
    return Path(volume_path).with_name(f"{input_stem(volume_path)}_deepres")


def sha256_file(path: str | os.PathLike) -> str:
    """Hex sha256 of a file's bytes (inputs in summary.json, model files)."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _same_or_inside(a: Path, b: Path) -> bool:
    """True when ``a`` is ``b`` or inside it."""
    try:
        a.relative_to(b)
        return True
    except ValueError:
        return False


def check_output_dir(outdir: str | os.PathLike, inputs: list[str | os.PathLike], force: bool) -> Path:
    """Check, before any work, that ``outdir`` can be written; return it as an absolute path.

    Raises
    ------
    InputError
        If it is (or contains) an input, is a file, is a non-empty folder without ``force``,
        or its parent folder is missing or not writable.
    """
    out = Path(os.path.abspath(outdir))
    for inp in inputs:
        ip = Path(os.path.abspath(inp))
        real_ip = Path(os.path.realpath(inp))
        if _same_or_inside(ip, out) or _same_or_inside(real_ip, Path(os.path.realpath(out))):
            raise InputError(
                f"output directory {out} is or contains the input file {inp}: choose another --output-dir"
            )
    if out.exists() and not out.is_dir():
        raise InputError(f"output path {out} exists and is not a directory: choose another --output-dir")
    if out.is_dir():
        try:
            non_empty = any(out.iterdir())
        except OSError as exc:
            raise InputError(f"cannot read output directory {out} ({exc.strerror}): choose another --output-dir") from exc
        if non_empty and not force:
            raise InputError(
                f"output directory {out} exists and is not empty: add --force to replace it, or choose another --output-dir"
            )
    parent = out.parent
    if not parent.is_dir():
        raise InputError(f"the folder {parent} (where {out.name} would go) does not exist: create it first")
    _probe_writable(parent, out.name, "--output-dir")
    return out


def _probe_writable(folder: Path, name: str, option: str) -> None:
    """Write and remove a probe in ``folder`` (os.access says yes to root even on folders it cannot write)."""
    try:
        probe = tempfile.mkdtemp(prefix=f".{name}.probe-", dir=folder)
        os.rmdir(probe)
    except OSError as exc:
        raise InputError(
            f"cannot write in {folder} ({exc.strerror or 'read-only or no permission'}): choose another {option}"
        ) from exc


@contextmanager
def staged_output_dir(outdir: Path) -> Iterator[Path]:
    """Yield a fresh temporary folder beside ``outdir``; on normal exit move it to ``outdir``.

    An existing ``outdir`` (already checked by :func:`check_output_dir`) is replaced only after the
    new one is complete. On any exception (including KeyboardInterrupt) nothing is left behind.
    """
    outdir = Path(outdir)
    try:
        tmp = Path(tempfile.mkdtemp(prefix=f".{outdir.name}.tmp-", dir=outdir.parent))
    except OSError as exc:
        raise InputError(
            f"cannot write in {outdir.parent} ({exc.strerror or exc}): choose another --output-dir"
        ) from exc
    try:
        yield tmp
        os.chmod(tmp, 0o755 & ~_umask())
        old = None
        if outdir.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{outdir.name}.old-", dir=outdir.parent))
            os.replace(outdir, old / "d")
        try:
            os.replace(tmp, outdir)
        except BaseException:
            if old is not None:
                os.replace(old / "d", outdir)
            raise
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_json(path: str | os.PathLike, obj: dict) -> None:
    with open(path, "w", encoding="utf-8") as fh:
        json.dump(obj, fh, indent=2, sort_keys=False, allow_nan=False)
        fh.write("\n")


def check_output_file(path: str | os.PathLike, inputs: list[str | os.PathLike], force: bool) -> Path:
    """Check, before any work, that the file ``path`` can be written; return it as an absolute path.

    Raises
    ------
    InputError
        If it is an input, a folder, an existing file without ``force``, or its folder is missing
        or not writable.
    """
    out = Path(os.path.abspath(path))
    for inp in inputs:
        if out == Path(os.path.abspath(inp)) or Path(os.path.realpath(out)) == Path(os.path.realpath(inp)):
            raise InputError(f"output file {out} is the input file {inp}: choose another --output")
    if out.is_dir():
        raise InputError(f"output path {out} is a folder: give a file name with --output")
    if out.exists() and not force:
        raise InputError(f"output file {out} exists: add --force to replace it, or choose another --output")
    if not out.parent.is_dir():
        raise InputError(f"the folder {out.parent} (where {out.name} would go) does not exist: create it first")
    _probe_writable(out.parent, out.name, "--output")
    return out


@contextmanager
def staged_output_file(path: Path) -> Iterator[Path]:
    """Yield a temporary file name beside ``path``; on normal exit move the file written there to
    ``path`` (replacing it); on any exception remove it, leaving ``path`` as it was."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.tmp-", dir=path.parent)
    os.close(fd)
    tmp = Path(tmp)
    try:
        yield tmp
        os.chmod(tmp, 0o644 & ~_umask())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
