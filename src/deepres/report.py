"""See the result: coloured slices + histogram (``report.png``), a ChimeraX script, and per-residue
local resolution when an atomic model is given.

:func:`write_report` is called by the pipeline after it has written ``resolution.mrc``,
``resolution_chimera.mrc``, ``histogram.xmd`` and ``summary.json``; it works on any objects with the
attributes listed in its docstring (duck typing), so it can be used on its own.

Colour scale (same in the PNG, the ChimeraX surface and the model colouring): viridis, dark =
low Å = well resolved, fixed to the in-mask minimum and maximum of the result (``highest_A``,
``lowest_A``), widened to 1 Å around the value when they are equal. Pass ``color_range_A`` (e.g.
the model's range ``(result.range.min_A, result.range.max_A)``) to compare several maps on one scale.
"""

from __future__ import annotations

import logging
import math
import os
import warnings
from pathlib import Path

import numpy as np

from deepres.chimerax import CMAP_NAME, contour_level_for_mask, write_chimerax_script
from deepres.residues import (
    model_copy_name,
    model_local_resolution,
    write_defattr,
    write_model_copy,
    write_residues_csv,
)
from deepres.volume import Volume

logger = logging.getLogger(__name__)

REPORT_PNG = "report.png"
CHIMERAX_CXC = "chimerax.cxc"
CHIMERA_MAP = "resolution_chimera.mrc"
RESIDUES_CSV = "residues.csv"
RESIDUES_DEFATTR = "residues.defattr"


# --------------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------------


def _valid_voxels(resolution: np.ndarray, mask: np.ndarray | None) -> np.ndarray:
    valid = np.asarray(resolution) > 0
    if mask is not None:
        valid &= np.asarray(mask, dtype=bool)
    return valid


def _stat(result, name: str, fallback: float) -> float:
    v = getattr(result, name, None)
    try:
        v = float(v)
    except (TypeError, ValueError):
        return fallback
    return v if math.isfinite(v) else fallback


def color_range(result, values: np.ndarray, color_range_A: tuple[float, float] | None = None) -> tuple[float, float]:
    """Colour limits in Å: ``color_range_A`` if given, else the in-mask min/max (see module doc)."""
    if color_range_A is not None:
        lo, hi = (float(v) for v in color_range_A)
    else:
        dmin = float(values.min()) if values.size else 0.0
        dmax = float(values.max()) if values.size else 1.0
        lo = _stat(result, "highest_A", dmin)
        hi = _stat(result, "lowest_A", dmax)
    if hi < lo:
        lo, hi = hi, lo
    if hi - lo < 1e-6:
        lo, hi = lo - 0.5, hi + 0.5
    return lo, hi


def _summary_lines(result, values: np.ndarray, volume, input_map_path) -> list[tuple[str, str]]:
    rows: list[tuple[str, str]] = []
    med = _stat(result, "median_A", float(np.median(values)) if values.size else math.nan)
    hi_res = _stat(result, "highest_A", float(values.min()) if values.size else math.nan)
    lo_res = _stat(result, "lowest_A", float(values.max()) if values.size else math.nan)
    rows.append(("median", f"{med:.2f} Å"))
    rows.append(("highest (best)", f"{hi_res:.2f} Å"))
    rows.append(("lowest (worst)", f"{lo_res:.2f} Å"))
    rng = getattr(result, "range", None) or getattr(result, "spec", None)
    if rng is not None:
        name = getattr(rng, "name", "")
        try:
            rows.append(("range", f"{name} ({float(rng.min_A):g}–{float(rng.max_A):g} Å)"))
        except (AttributeError, TypeError, ValueError):
            rows.append(("range", str(name or rng)))
    model_id, sha = _model_identity(result)
    if model_id:
        rows.append(("model", model_id))
    if sha:
        rows.append(("model sha256", sha[:12]))
    if input_map_path:
        rows.append(("map", os.path.basename(str(input_map_path))))
    shape = getattr(getattr(volume, "data", None), "shape", None)
    vs = getattr(volume, "voxel_size_A", None)
    if shape is not None and vs is not None:
        rows.append(("grid", f"{'×'.join(str(s) for s in shape)} at {float(vs):.3g} Å/voxel"))
    rows.append(("voxels in mask", f"{values.size:,}"))
    params = getattr(result, "parameters", None) or {}
    lp = params.get("lowpass_filter")
    if isinstance(lp, dict) and "content_end_A" in lp:
        floored = params.get("lowpass_floor", False)
        rows.append(("low-pass filtered", f"content ends at {float(lp['content_end_A']):.2f} Å"
                     + (f"; floor {float(lp['label_floor_A']):.2f} Å" if floored else "")))
    sh = params.get("sharpening")
    if isinstance(sh, dict) and sh.get("sharpened"):
        applied = params.get("desharpen_applied_b_A2")
        rows.append(("sharpened", f"tail B {float(sh['tail_b_A2']):+.0f} Å²"
                     + (f"; blurred by {float(applied):+.0f} Å²" if applied is not None else "")))
    return rows


def _model_identity(result) -> tuple[str | None, str | None]:
    """(model id, sha256) from ``result.model_id``/``model_sha256`` or a ``summary`` dict (or method)."""
    model_id = getattr(result, "model_id", None)
    sha = getattr(result, "model_sha256", None)
    summary = getattr(result, "summary", None)
    if callable(summary) and not (model_id and sha):
        try:
            summary = summary()
        except Exception:  # a report must not fail on a summary it only decorates with
            summary = None
    if isinstance(summary, dict):
        model = summary.get("model")
        if isinstance(model, dict):
            model_id = model_id or model.get("id")
            sha = sha or model.get("sha256")
        for key in ("model_id", "model", "model_name"):
            if not model_id and summary.get(key) and not isinstance(summary.get(key), dict):
                model_id = summary[key]
        sha = sha or summary.get("model_sha256")
    return (str(model_id) if model_id else None), (str(sha) if sha else None)


def _input_map_path(volume, result) -> str | None:
    """The input map's file: ``volume.header['path']`` (set by :mod:`deepres.mrc`) or
    ``result.parameters['volume']``."""
    header = getattr(volume, "header", None)
    if isinstance(header, dict) and header.get("path"):
        return str(header["path"])
    params = getattr(result, "parameters", None)
    if isinstance(params, dict) and params.get("volume"):
        return str(params["volume"])
    return None


def _slice_centre(valid: np.ndarray, mask: np.ndarray | None) -> tuple[int, int, int]:
    """Centre of the mask (centroid, rounded) or of the grid when the mask is empty."""
    src = np.asarray(mask, dtype=bool) if mask is not None and np.any(mask) else valid
    if np.any(src):
        c = np.argwhere(src).mean(axis=0)
        return tuple(int(round(v)) for v in c)
    return tuple(s // 2 for s in valid.shape)


# --------------------------------------------------------------------------------------------
# report.png
# --------------------------------------------------------------------------------------------


def plot_report(
    path: str | os.PathLike,
    result,
    volume,
    mask: np.ndarray | None,
    *,
    color_range_A: tuple[float, float] | None = None,
    input_map_path: str | os.PathLike | None = None,
    dpi: int = 100,
) -> None:
    """Write the one-page PNG: three orthogonal slices through the mask centre (map in grey,
    local resolution overlaid inside the mask), a colour bar in Å, the in-mask histogram with
    median/highest/lowest marked, and the summary numbers.

    Parameters
    ----------
    path : path
        Output PNG.
    result : object
        ``.resolution`` (Volume or `(z, y, x)` array, Å, 0 outside the mask) and optionally
        ``.median_A``, ``.highest_A``, ``.lowest_A``, ``.range``, ``.summary``.
    volume : Volume
        The input map (``.data``, ``.voxel_size_A``, ``.origin_A``).
    mask : `(z, y, x)` bool array or None
    color_range_A : (low, high) or None
        Colour limits in Å; default: the in-mask min/max (see :func:`color_range`).
    input_map_path : path or None
        Only shown in the summary.
    dpi : int
    """
    # an explicit Figure (no pyplot): no global backend switch, no display needed
    from matplotlib import colormaps
    from matplotlib.colors import Normalize
    from matplotlib.figure import Figure

    res = np.asarray(getattr(result.resolution, "data", result.resolution), dtype=np.float32)
    data = np.asarray(volume.data, dtype=np.float32)
    if res.shape != data.shape:
        raise ValueError(f"resolution shape {res.shape} != map shape {data.shape}")
    valid = _valid_voxels(res, mask)
    values = res[valid]
    lo, hi = color_range(result, values, color_range_A)
    norm = Normalize(lo, hi)
    cmap = colormaps[CMAP_NAME]
    vs = float(volume.voxel_size_A)
    oz, oy, ox = (float(v) for v in getattr(volume, "origin_A", (0.0, 0.0, 0.0)))
    cz, cy, cx = _slice_centre(valid, mask)
    nz, ny, nx = data.shape

    # grey scale from robust percentiles of the whole map
    g_lo, g_hi = (np.percentile(data, [1.0, 99.7]) if data.size else (0.0, 1.0))
    if not g_hi > g_lo:
        g_lo, g_hi = float(data.min()), float(data.min()) + 1.0

    def ext(o_h, n_h, o_v, n_v):
        return (o_h - vs / 2, o_h + (n_h - 0.5) * vs, o_v - vs / 2, o_v + (n_v - 0.5) * vs)

    panels = [
        (f"XY slice at z = {oz + cz * vs:.1f} Å (index {cz})", data[cz], res[cz], valid[cz],
         ext(ox, nx, oy, ny), "x (Å)", "y (Å)"),
        (f"XZ slice at y = {oy + cy * vs:.1f} Å (index {cy})", data[:, cy, :], res[:, cy, :],
         valid[:, cy, :], ext(ox, nx, oz, nz), "x (Å)", "z (Å)"),
        (f"YZ slice at x = {ox + cx * vs:.1f} Å (index {cx})", data[:, :, cx], res[:, :, cx],
         valid[:, :, cx], ext(oy, ny, oz, nz), "y (Å)", "z (Å)"),
    ]

    fig = Figure(figsize=(15, 9.5), dpi=dpi)
    gs = fig.add_gridspec(2, 4, width_ratios=[1, 1, 1, 0.06], height_ratios=[1.15, 1],
                          hspace=0.32, wspace=0.28, left=0.05, right=0.95, top=0.92, bottom=0.07)
    title = "deepres local resolution"
    if input_map_path:
        title += f" — {os.path.basename(str(input_map_path))}"
    fig.suptitle(title, fontsize=16, fontweight="bold")
    im = None
    for i, (ttl, g, r, v, extent, xl, yl) in enumerate(panels):
        ax = fig.add_subplot(gs[0, i])
        ax.imshow(g, cmap="gray", vmin=g_lo, vmax=g_hi, origin="lower", extent=extent,
                  interpolation="nearest")
        im = ax.imshow(np.ma.masked_where(~v, r), cmap=cmap, norm=norm, origin="lower",
                       extent=extent, alpha=0.8, interpolation="nearest")
        ax.set_title(ttl, fontsize=11)
        ax.set_xlabel(xl)
        ax.set_ylabel(yl)
        ax.set_aspect("equal")
    cax = fig.add_subplot(gs[0, 3])
    cb = fig.colorbar(im, cax=cax)
    cb.set_label("local resolution (Å)  — dark = better", fontsize=11)

    # histogram
    axh = fig.add_subplot(gs[1, 0:2])
    if values.size:
        vmin, vmax = float(values.min()), float(values.max())
        if vmax - vmin < 1e-6:
            edges = np.array([vmin - 0.05, vmin + 0.05])
        else:
            edges = np.linspace(vmin, vmax, min(60, max(10, int(np.sqrt(values.size)))) + 1)
        counts, edges = np.histogram(values, bins=edges)
        centres = 0.5 * (edges[:-1] + edges[1:])
        axh.bar(centres, counts, width=np.diff(edges), color=cmap(norm(centres)),
                edgecolor="none", align="center")
        med = _stat(result, "median_A", float(np.median(values)))
        best = _stat(result, "highest_A", vmin)
        worst = _stat(result, "lowest_A", vmax)
        axh.axvline(med, color="black", lw=2, label=f"median {med:.2f} Å")
        axh.axvline(best, color="tab:red", lw=1.5, ls="--", label=f"highest {best:.2f} Å")
        axh.axvline(worst, color="tab:orange", lw=1.5, ls="--", label=f"lowest {worst:.2f} Å")
        axh.legend(loc="upper right", fontsize=10, frameon=True)
    else:
        axh.text(0.5, 0.5, "no voxel in the mask", ha="center", va="center",
                 transform=axh.transAxes)
    axh.set_title("Local resolution in the mask", fontsize=12)
    axh.set_xlabel("local resolution (Å)")
    axh.set_ylabel("voxels")

    # summary text
    axt = fig.add_subplot(gs[1, 2:4])
    axt.axis("off")
    rows = _summary_lines(result, values, volume, input_map_path)
    axt.set_title("Summary", fontsize=12, loc="left")
    y = 0.95
    step = min(0.095, 0.9 / (len(rows) + 1))  # rows and the colour note fit the panel
    size = 12 if len(rows) <= 10 else 11
    for k, v in rows:
        axt.text(0.0, y, k, fontsize=size, va="top", transform=axt.transAxes, color="0.3")
        axt.text(0.42, y, v, fontsize=size, va="top", transform=axt.transAxes,
                 fontweight="bold" if k == "median" else "normal")
        y -= step
    axt.text(0.0, max(y, 0.0) - 0.02,
             f"colours: {CMAP_NAME}, {lo:.2f}–{hi:.2f} Å in all panels",
             fontsize=9, va="top", transform=axt.transAxes, color="0.4")
    fig.savefig(path, dpi=dpi)


# --------------------------------------------------------------------------------------------
# resolution_chimera.mrc (normally written by the pipeline)
# --------------------------------------------------------------------------------------------


def _write_chimera_map(path: str | os.PathLike, res: np.ndarray, valid: np.ndarray, volume) -> None:
    """Resolution map with every unevaluated voxel set to the in-mask median (as Xmipp does),
    on the input's grid (:func:`deepres.mrc.write_volume`)."""
    from deepres.mrc import write_volume

    fill = float(np.median(res[valid])) if np.any(valid) else 0.0
    out = np.where(valid, res, fill).astype(np.float32)
    like = Volume(out, float(volume.voxel_size_A), tuple(getattr(volume, "origin_A", (0.0, 0.0, 0.0))),
                  dict(getattr(volume, "header", None) or {}))
    write_volume(path, out, like, label="deepres local resolution (A), background = median")


# --------------------------------------------------------------------------------------------
# entry point
# --------------------------------------------------------------------------------------------


def write_report(
    outdir: str | os.PathLike,
    result,
    volume,
    mask: np.ndarray | None,
    model_path: str | os.PathLike | None = None,
    input_map_path: str | os.PathLike | None = None,
    *,
    color_range_A: tuple[float, float] | None = None,
) -> list[str]:
    """Write the visual report into ``outdir``.

    Files: ``report.png`` always; ``chimerax.cxc`` when ``input_map_path`` is known (it opens that
    map by a path relative to ``outdir``, and ``resolution_chimera.mrc``, which is written here if
    the pipeline has not written it); with ``model_path``: ``residues.csv``, ``residues.defattr``
    and ``model_localres.pdb`` (or ``.cif``, following the input) with the per-atom local
    resolution in the B-factor column.

    Parameters
    ----------
    outdir : path
        Output folder (created if missing).
    result : object
        ``.resolution``: Volume (or array) of local resolution, float32 `(z, y, x)` Å, 0 outside
        the mask, on the grid of ``volume``; optionally ``.median_A``, ``.highest_A`` (smallest Å),
        ``.lowest_A`` (largest Å), ``.range`` or ``.spec`` (RangeSpec), ``.model_id`` /
        ``.model_sha256`` or ``.summary`` (dict or method returning one), ``.warnings`` (list: the
        atoms-outside message is appended), ``.parameters`` (dict).
    volume : Volume
        The input map: ``.data`` `(z, y, x)`, ``.voxel_size_A``, ``.origin_A`` `(z, y, x)` Å of the
        centre of voxel ``[0, 0, 0]``.
    mask : `(z, y, x)` bool array or None
        Where the result is valid (None: where the resolution is > 0).
    model_path : path or None
        Atomic model (any file gemmi reads: .pdb, .cif, .ent, .gz) in the map's frame.
    input_map_path : path or None
        The input map file, for ``chimerax.cxc``; default ``volume.header["path"]`` (set when the
        map was read by :mod:`deepres.mrc`) or ``result.parameters["volume"]``. Relative paths are
        taken from the current directory. The script refers to it by a path relative to
        ``outdir``: a staging folder must be a sibling of the final folder for that to hold.
    color_range_A : (low, high) or None
        Colour limits in Å for all outputs; default the in-mask min/max.

    Returns
    -------
    list of str
        Names (relative to ``outdir``) of the files written.

    Warns
    -----
    UserWarning
        When atoms of the model lie outside the map or the mask (they are counted in
        ``residues.csv`` and get B = 0 in the model copy).
    """
    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    written: list[str] = []
    res = np.asarray(getattr(result.resolution, "data", result.resolution), dtype=np.float32)
    data = np.asarray(volume.data)
    if res.shape != data.shape:
        raise ValueError(f"resolution shape {res.shape} != map shape {data.shape}")
    if mask is not None:
        mask = np.asarray(mask, dtype=bool)
        if mask.shape != data.shape:
            raise ValueError(f"mask shape {mask.shape} != map shape {data.shape}")
    valid = _valid_voxels(res, mask)
    lo, hi = color_range(result, res[valid], color_range_A)
    if input_map_path is None:
        input_map_path = _input_map_path(volume, result)
    note = ("colour range: given by the caller" if color_range_A is not None
            else "colour range: in-mask min/max of this result")

    plot_report(outdir / REPORT_PNG, result, volume, mask, color_range_A=(lo, hi),
                input_map_path=input_map_path)
    written.append(REPORT_PNG)

    model_name = defattr_name = None
    if model_path is not None:
        mlr = model_local_resolution(model_path, res, mask, float(volume.voxel_size_A),
                                     tuple(getattr(volume, "origin_A", (0.0, 0.0, 0.0))))
        write_residues_csv(outdir / RESIDUES_CSV, mlr.residues)
        write_defattr(outdir / RESIDUES_DEFATTR, mlr.residues)
        model_name = model_copy_name(model_path)
        write_model_copy(outdir / model_name, mlr)
        written += [RESIDUES_CSV, RESIDUES_DEFATTR, model_name]
        defattr_name = RESIDUES_DEFATTR
        msg = mlr.warning()
        if msg:
            warnings.warn(msg, UserWarning, stacklevel=2)
            if isinstance(getattr(result, "warnings", None), list):
                result.warnings.append(msg)  # the pipeline copies these into summary.json

    if input_map_path is not None:
        chimera_map = outdir / CHIMERA_MAP
        if not chimera_map.exists():
            _write_chimera_map(chimera_map, res, valid, volume)
            written.append(CHIMERA_MAP)
        n_mask = int(mask.sum()) if mask is not None else int(valid.sum())
        write_chimerax_script(
            outdir / CHIMERAX_CXC,
            input_map_path=input_map_path,
            resolution_map_path=chimera_map,
            voxel_size_A=float(volume.voxel_size_A),
            origin_A=tuple(getattr(volume, "origin_A", (0.0, 0.0, 0.0))),
            level=contour_level_for_mask(data, n_mask),
            color_range_A=(lo, hi),
            model_path=None if model_name is None else outdir / model_name,
            defattr_path=None if defattr_name is None else outdir / defattr_name,
            range_note=note,
        )
        written.append(CHIMERAX_CXC)
    else:
        logger.info("no input map path: chimerax.cxc not written")
    return written
