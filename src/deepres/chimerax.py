"""ChimeraX command script that shows the input map coloured by local resolution.

``chimerax chimerax.cxc`` (or ``open chimerax.cxc`` inside ChimeraX) opens the input map (#1) and
``resolution_chimera.mrc`` (#2), puts both on the grid deepres used (explicit voxel size and
origin), contours #1 at the level that encloses as many voxels as the mask holds, and colours that
surface by sampling #2, with a fixed palette range and a colour key in Å. With an atomic model it
also opens the model copy (#3), reads ``residues.defattr`` and colours the cartoon per residue.

ChimeraX changes its working directory to the script's folder while it runs the script, so the
files are referenced by paths relative to the script (computed with :func:`os.path.relpath`).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

#: Colour map used for local resolution everywhere (perceptually uniform; low Å = dark).
CMAP_NAME = "viridis"


def contour_level_for_mask(data: np.ndarray, n_voxels: int) -> float:
    """Map value whose count of voxels strictly above it equals ``n_voxels`` (ties aside).

    Parameters
    ----------
    data : `(z, y, x)` array
    n_voxels : int
        Number of voxels the contour surface should enclose (e.g. the mask's voxel count).

    Returns
    -------
    float
        Half-way between the ``n_voxels``-th and the ``n_voxels + 1``-th largest values.
    """
    flat = np.asarray(data, dtype=np.float64).ravel()
    n = flat.size
    k = int(np.clip(n_voxels, 0, n))
    if k >= n:
        lo = float(flat.min())
        return lo - max(abs(lo), 1.0) * 1e-6
    if k == 0:
        return float(flat.max())
    part = np.partition(flat, (n - k - 1, n - k))
    return 0.5 * (float(part[n - k - 1]) + float(part[n - k]))


def palette_stops(lo_A: float, hi_A: float, n: int = 9, cmap: str = CMAP_NAME) -> list[tuple[float, str]]:
    """``n`` (value in Å, ``#rrggbb``) stops of ``cmap`` spread evenly over ``[lo_A, hi_A]``."""
    from matplotlib import colormaps
    from matplotlib.colors import to_hex

    cm = colormaps[cmap]
    vals = np.linspace(lo_A, hi_A, n)
    return [(float(v), to_hex(cm(t))) for v, t in zip(vals, np.linspace(0.0, 1.0, n))]


def _path_for_script(target: str | os.PathLike, script_dir: str | os.PathLike) -> str:
    """``target`` relative to ``script_dir`` (POSIX separators), absolute if that is impossible."""
    try:
        rel = os.path.relpath(os.path.abspath(target), os.path.abspath(script_dir))
    except ValueError:  # different drives on Windows
        rel = os.path.abspath(target)
    return Path(rel).as_posix()


def _quote(path: str) -> str:
    return '"' + path.replace('"', '\\"') + '"'


def _xyz(origin_zyx_A) -> str:
    z, y, x = (float(v) for v in origin_zyx_A)
    return f"{x:.6g},{y:.6g},{z:.6g}"


def chimerax_script(
    script_path: str | os.PathLike,
    input_map_path: str | os.PathLike,
    resolution_map_path: str | os.PathLike,
    voxel_size_A: float,
    origin_A: tuple[float, float, float],
    level: float,
    color_range_A: tuple[float, float],
    model_path: str | os.PathLike | None = None,
    defattr_path: str | os.PathLike | None = None,
    range_note: str = "",
) -> str:
    """Text of the ChimeraX command script (see the module docstring).

    Parameters
    ----------
    script_path : path
        Where the script will be written; the other paths are made relative to its folder.
    input_map_path, resolution_map_path : path
        The input map (#1) and the resolution map whose zeros were replaced (#2).
    voxel_size_A : float
    origin_A : `(z, y, x)` tuple
        Position in Å of the centre of voxel ``[0, 0, 0]``; written as ChimeraX's ``x,y,z`` origin.
    level : float
        Contour level of #1, in map units.
    color_range_A : (low, high)
        Resolution (Å) mapped to the two ends of the palette; values beyond clamp to the ends.
    model_path, defattr_path : path or None
        Model copy (#3) and its residue attribute file.
    range_note : str
        One comment line saying where the colour range comes from.
    """
    d = os.path.dirname(os.path.abspath(script_path))
    lo, hi = (float(v) for v in color_range_A)
    stops = palette_stops(lo, hi)
    palette = ":".join(f"{v:.4g},{c}" for v, c in stops)
    key = " ".join(f"{c}:{v:.3g}" if i % 2 == 0 else f"{c}:" for i, (v, c) in enumerate(stops))
    vs = f"{float(voxel_size_A):.6g}"
    org = _xyz(origin_A)
    lines = [
        "# deepres: input map coloured by local resolution (Angstrom).",
        "# Run with:  chimerax chimerax.cxc   (or 'open chimerax.cxc' in ChimeraX).",
        "# Paths are relative to this file's folder (ChimeraX runs the script from there).",
        f"# Colour range {lo:.3g}-{hi:.3g} A, palette {CMAP_NAME}: dark = well resolved (low A).",
    ]
    if range_note:
        lines.append(f"# {range_note}")
    lines += [
        "close session",
        f"open {_quote(_path_for_script(input_map_path, d))}",
        f"open {_quote(_path_for_script(resolution_map_path, d))}",
        f"volume #1,2 voxelSize {vs}",
        f"volume #1,2 origin {org}",
        f"volume #1 style surface level {level:.9g} step 1",
        "volume #2 hide",
        f"color sample #1 map #2 palette {palette}",
        f"key {key} pos 0.90,0.08 size 0.03,0.40 fontSize 16",
        "2dlabels text 'Local resolution (Å)' xpos 0.78 ypos 0.51 size 16",
    ]
    if model_path is not None:
        lines += [
            f"open {_quote(_path_for_script(model_path, d))}",
            "hide #3 atoms",
            "show #3 cartoons",
        ]
        if defattr_path is not None:
            lines += [
                f"open {_quote(_path_for_script(defattr_path, d))}",
                f"color byattribute r:local_resolution #3 target c palette {palette} novalue gray",
            ]
        lines.append("transparency #1 50 target s")
    lines += ["view"]
    return "\n".join(lines) + "\n"


def write_chimerax_script(script_path: str | os.PathLike, **kwargs) -> None:
    """Write :func:`chimerax_script` to ``script_path``."""
    Path(script_path).write_text(chimerax_script(script_path, **kwargs), encoding="utf-8")
