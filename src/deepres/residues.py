"""Local resolution at the atoms and residues of an atomic model.

The resolution map is sampled at every atom by trilinear interpolation that uses only valid
neighbours (inside the mask, resolution > 0), so the zero background never pulls a value down.
Per-residue values are the median over the residue's atoms.

Coordinates: atom positions are `(x, y, z)` in Å (PDB/mmCIF); the map is indexed `(z, y, x)` with
``origin_A`` the `(z, y, x)` position of the centre of voxel ``[0, 0, 0]``, so the fractional index of
an atom is ``(pos_zyx - origin_A) / voxel_size_A``.
"""

from __future__ import annotations

import csv
import logging
import math
import os
from dataclasses import dataclass, field

import numpy as np

logger = logging.getLogger(__name__)

#: Name of the ChimeraX residue attribute written to ``residues.defattr``.
ATTRIBUTE_NAME = "local_resolution"

CSV_COLUMNS = ("chain", "residue_number", "insertion_code", "residue_name",
               "local_resolution_A", "n_atoms", "n_outside")


def sample_trilinear_masked(
    values: np.ndarray,
    valid: np.ndarray,
    positions_zyx_A: np.ndarray,
    voxel_size_A: float,
    origin_A: tuple[float, float, float] = (0.0, 0.0, 0.0),
) -> tuple[np.ndarray, np.ndarray]:
    """Sample a map at arbitrary positions, interpolating only between valid voxels.

    Each position gets ``sum(w_i * v_i) / sum(w_i)`` over the (up to) 8 surrounding voxels that lie
    on the grid and are ``valid``, with ``w_i`` the usual trilinear weights. Where every valid
    neighbour has zero weight the result is NaN.

    Parameters
    ----------
    values : `(z, y, x)` array
        The map (e.g. local resolution in Å).
    valid : `(z, y, x)` bool array
        Voxels that may be used (e.g. ``mask & (values > 0)``).
    positions_zyx_A : `(n, 3)` array
        Positions in Å, `(z, y, x)` order.
    voxel_size_A : float
        Grid spacing in Å.
    origin_A : `(z, y, x)` tuple
        Position in Å of the centre of voxel ``[0, 0, 0]``.

    Returns
    -------
    sampled : `(n,)` float64 array
        Interpolated values, NaN where no valid neighbour contributes.
    in_box : `(n,)` bool array
        Whether the position lies inside the map's box (within half a voxel of the outer voxel
        centres).
    """
    values = np.asarray(values)
    valid = np.asarray(valid, dtype=bool)
    if values.shape != valid.shape:
        raise ValueError(f"values shape {values.shape} != valid shape {valid.shape}")
    pos = np.atleast_2d(np.asarray(positions_zyx_A, dtype=np.float64))
    if pos.shape[-1] != 3:
        raise ValueError(f"positions must be (n, 3), got {pos.shape}")
    shape = np.asarray(values.shape)
    idx = (pos - np.asarray(origin_A, dtype=np.float64)) / float(voxel_size_A)
    in_box = np.all((idx >= -0.5) & (idx <= shape - 0.5), axis=1)
    base = np.floor(idx).astype(np.int64)
    frac = idx - base
    num = np.zeros(len(pos))
    den = np.zeros(len(pos))
    for corner in np.ndindex(2, 2, 2):
        off = np.asarray(corner)
        nb = base + off
        w = np.prod(np.where(off == 1, frac, 1.0 - frac), axis=1)
        on_grid = np.all((nb >= 0) & (nb < shape), axis=1)
        nbc = np.clip(nb, 0, shape - 1)
        ok = on_grid & valid[nbc[:, 0], nbc[:, 1], nbc[:, 2]] & (w > 0)
        v = values[nbc[:, 0], nbc[:, 1], nbc[:, 2]].astype(np.float64)
        num += np.where(ok, w * v, 0.0)
        den += np.where(ok, w, 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        sampled = np.where(den > 0, num / np.where(den > 0, den, 1.0), np.nan)
    return sampled, in_box


@dataclass
class ResidueValue:
    """Local resolution of one residue."""

    chain: str
    number: int
    icode: str  # "" when none
    name: str
    resolution_A: float  # median over its sampled atoms; NaN when none was sampled
    n_atoms: int
    n_outside: int  # atoms outside the map's box or the mask

    @property
    def chimerax_spec(self) -> str:
        """ChimeraX residue specification, e.g. ``/A:12`` or ``/A:12B``."""
        return f"/{self.chain}:{self.number}{self.icode}"


@dataclass
class ModelLocalResolution:
    """Per-atom and per-residue local resolution of a model.

    Attributes
    ----------
    structure : gemmi.Structure
        The model as read (first model only is sampled).
    atom_values_A : `(n_atoms,)` array
        Per-atom local resolution (NaN outside), in the order of iteration over the first model.
    residues : list of ResidueValue
    n_atoms, n_outside_map, n_outside_mask : int
        Atom counts: total, outside the map's box, inside the box but without a valid
        (in-mask) neighbour.
    """

    structure: object
    atom_values_A: np.ndarray
    residues: list[ResidueValue] = field(default_factory=list)
    n_atoms: int = 0
    n_outside_map: int = 0
    n_outside_mask: int = 0

    @property
    def n_outside(self) -> int:
        return self.n_outside_map + self.n_outside_mask

    def warning(self) -> str | None:
        """A one-line message when some atoms could not be sampled, else None."""
        if self.n_outside == 0:
            return None
        return (f"{self.n_outside} of {self.n_atoms} atoms have no local resolution: "
                f"{self.n_outside_map} outside the map, {self.n_outside_mask} outside the mask "
                f"(see the n_outside column of residues.csv; their B-factor is set to 0)")


def read_model(path: str | os.PathLike):
    """Read an atomic model with gemmi (.pdb, .cif, .ent, optionally .gz)."""
    import gemmi

    st = gemmi.read_structure(str(path))
    if len(st) == 0:
        raise ValueError(f"{path}: no model in the file")
    return st


def model_local_resolution(
    structure,
    resolution: np.ndarray,
    mask: np.ndarray | None,
    voxel_size_A: float,
    origin_A: tuple[float, float, float] = (0.0, 0.0, 0.0),
) -> ModelLocalResolution:
    """Sample a local-resolution map at the atoms of the first model of ``structure``.

    Parameters
    ----------
    structure : gemmi.Structure or path
    resolution : `(z, y, x)` array
        Local resolution in Å, 0 where not estimated.
    mask : `(z, y, x)` bool array or None
        Voxels where the estimate is valid; None means ``resolution > 0``.
    voxel_size_A, origin_A
        The grid (see :class:`deepres.volume.Volume`).

    Returns
    -------
    ModelLocalResolution
    """
    if isinstance(structure, (str, os.PathLike)):
        structure = read_model(structure)
    resolution = np.asarray(resolution)
    valid = resolution > 0
    if mask is not None:
        mask = np.asarray(mask, dtype=bool)
        if mask.shape != resolution.shape:
            raise ValueError(f"mask shape {mask.shape} != resolution shape {resolution.shape}")
        valid &= mask
    model = structure[0]
    keys, pos_xyz = [], []
    for chain in model:
        for res in chain:
            for atom in res:
                keys.append((chain.name, res.seqid.num, res.seqid.icode.strip(), res.name))
                pos_xyz.append((atom.pos.x, atom.pos.y, atom.pos.z))
    pos_zyx = np.asarray(pos_xyz, dtype=np.float64).reshape(-1, 3)[:, ::-1]
    values, in_box = sample_trilinear_masked(resolution, valid, pos_zyx, voxel_size_A, origin_A)
    outside = np.isnan(values)
    out = ModelLocalResolution(
        structure=structure,
        atom_values_A=values,
        n_atoms=len(values),
        n_outside_map=int(np.sum(~in_box)),
        n_outside_mask=int(np.sum(outside & in_box)),
    )
    # group atoms by residue, keeping file order
    groups: dict[tuple, list[int]] = {}
    for i, key in enumerate(keys):
        groups.setdefault(key, []).append(i)
    for (chain, num, icode, name), idx in groups.items():
        v = values[idx]
        ok = v[~np.isnan(v)]
        out.residues.append(ResidueValue(
            chain=chain, number=int(num), icode=icode, name=name,
            resolution_A=float(np.median(ok)) if ok.size else math.nan,
            n_atoms=len(idx), n_outside=int(np.sum(np.isnan(v))),
        ))
    return out


def write_residues_csv(path: str | os.PathLike, residues: list[ResidueValue]) -> None:
    """Write ``residues.csv``: one row per residue, resolution empty when not sampled."""
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(CSV_COLUMNS)
        for r in residues:
            w.writerow([r.chain, r.number, r.icode, r.name,
                        "" if math.isnan(r.resolution_A) else f"{r.resolution_A:.3f}",
                        r.n_atoms, r.n_outside])


def write_defattr(path: str | os.PathLike, residues: list[ResidueValue],
                  attribute: str = ATTRIBUTE_NAME) -> None:
    """Write a ChimeraX attribute-assignment file (residue attribute, Å).

    Residues without a value (all atoms outside the map or mask) get no line, so ChimeraX
    treats them as "no value".
    """
    lines = [
        "# deepres local resolution per residue (median over its atoms), in Angstrom",
        f"attribute: {attribute}",
        "match mode: 1-to-1",
        "recipient: residues",
    ]
    for r in residues:
        if not math.isnan(r.resolution_A):
            lines.append(f"\t{r.chimerax_spec}\t{r.resolution_A:.3f}")
    with open(path, "w") as fh:
        fh.write("\n".join(lines) + "\n")


def model_copy_name(model_path: str | os.PathLike) -> str:
    """``model_localres.pdb`` or ``model_localres.cif``, following the input's format."""
    name = os.path.basename(str(model_path)).lower()
    if name.endswith(".gz"):
        name = name[:-3]
    return "model_localres.cif" if name.endswith((".cif", ".mmcif")) else "model_localres.pdb"


def write_model_copy(path: str | os.PathLike, result: ModelLocalResolution) -> None:
    """Write a copy of the model with the per-atom local resolution (Å) in the B-factor column.

    Atoms of the first model that could not be sampled get B = 0; other models (NMR ensembles)
    are dropped. Coordinates are untouched.
    """
    import gemmi

    st = result.structure.clone()
    while len(st) > 1:
        del st[1]
    values = result.atom_values_A
    i = 0
    for chain in st[0]:
        for res in chain:
            for atom in res:
                v = values[i]
                atom.b_iso = 0.0 if math.isnan(v) else float(v)
                # drop anisotropic Us: they would contradict the new B column
                atom.aniso = gemmi.SMat33f(0, 0, 0, 0, 0, 0)
                i += 1
    if str(path).endswith(".cif"):
        st.make_mmcif_document().write_file(str(path))
    else:
        st.write_pdb(str(path))
