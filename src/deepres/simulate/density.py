"""Atomic models → electron-scattering density on a cubic-voxel grid (gemmi)."""

from __future__ import annotations

import math
import os

import gemmi
import numpy as np
import scipy.fft as sfft

from deepres.volume import Volume


def load_structure(path: str | os.PathLike) -> gemmi.Structure:
    """Read a model file and keep only the protein/polymer heavy atoms of the first model.

    Waters, ligands, hydrogens, alternative conformations (all but the first) and empty
    chains are removed; models after the first are dropped.

    Parameters
    ----------
    path : a PDB / mmCIF file (gzip allowed), read with :func:`gemmi.read_structure`.

    Returns
    -------
    gemmi.Structure
    """
    st = gemmi.read_structure(str(path))
    while len(st) > 1:
        del st[len(st) - 1]
    st.setup_entities()
    st.remove_ligands_and_waters()
    st.remove_hydrogens()
    st.remove_alternative_conformations()
    st.remove_empty_chains()
    if st[0].count_atom_sites() == 0:
        raise ValueError(f"{path}: no protein atoms left after removing waters/ligands/H")
    return st


def atom_arrays(structure: gemmi.Structure) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Positions `(n, 3)` in (x, y, z) Å, isotropic B (Å²) and chain index of every atom."""
    pos, b, ch = [], [], []
    for ci, chain in enumerate(structure[0]):
        for res in chain:
            for at in res:
                p = at.pos
                pos.append((p.x, p.y, p.z))
                b.append(at.b_iso)
                ch.append(ci)
    return (np.asarray(pos, dtype=np.float64).reshape(-1, 3), np.asarray(b, dtype=np.float32),
            np.asarray(ch, dtype=np.int32))


def random_rotation(rng: np.random.Generator) -> np.ndarray:
    """A rotation matrix drawn uniformly from SO(3) (unit quaternion from 4 normals)."""
    q = rng.standard_normal(4)
    q /= np.linalg.norm(q)
    w, x, y, z = q
    return np.array([
        [1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
        [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
        [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)],
    ])


def rotated_positions_zyx(structure: gemmi.Structure, rotation: np.ndarray | None = None) -> np.ndarray:
    """Atom positions after rotating about the geometric centre, `(n, 3)` in (z, y, x) Å.

    The frame is the one used by ``center_A`` of :func:`density_from_structure`: the origin is
    the geometric centre of the atoms, then the (x, y, z) rotation ``rotation`` is applied.
    """
    xyz, _, _ = atom_arrays(structure)
    c = xyz.mean(axis=0)
    rot = np.eye(3) if rotation is None else np.asarray(rotation, dtype=np.float64)
    return ((xyz - c) @ rot.T)[:, ::-1].copy()


def cubic_box_size(positions_A: np.ndarray, voxel_size_A: float, margin_A: float = 12.0) -> int:
    """Edge (voxels, even, FFT-friendly) of the cubic box holding the atoms plus ``margin_A``."""
    p = np.asarray(positions_A, dtype=np.float64)
    n = int(math.ceil((float((p.max(axis=0) - p.min(axis=0)).max()) + 2.0 * margin_A) / float(voxel_size_A)))
    n = n + (n % 2)
    while True:
        m = sfft.next_fast_len(n, real=True)
        if m % 2 == 0:
            return int(m)
        n = m + 1


def density_from_structure(
    structure: gemmi.Structure,
    voxel_size_A: float,
    rotation: np.ndarray | None = None,
    margin_A: float = 12.0,
    extra_b_A2: float = 0.0,
    box_shape: tuple[int, int, int] | int | None = None,
    center_A: tuple[float, float, float] | np.ndarray | None = None,
    return_indices: bool = False,
):
    """Electron-scattering density of a model on a cubic-voxel grid.

    The density is gemmi's :class:`gemmi.DensityCalculatorE` (5-Gaussian electron scattering
    factors; each atom's isotropic or anisotropic B-factor is honoured, ``extra_b_A2`` is added
    to every atom as gemmi's ``blur``). No other filtering is applied.

    The molecule is first rotated by ``rotation`` about its geometric centre. The box is then
    either cubic and just large enough for the rotated extent plus ``margin_A`` on every side
    (rounded up to an FFT-friendly size), or ``box_shape`` voxels centred on ``center_A``
    (z, y, x Å in the rotated, centred frame; default: the centre of the rotated extent).
    Atoms are computed in a P1 cell padded by the largest atomic radius on every side, so that
    nothing wraps around; atoms outside the box but close enough to contribute are included.

    Parameters
    ----------
    structure : from :func:`load_structure` (first model is used; not modified).
    voxel_size_A : grid spacing in Å.
    rotation : 3x3 rotation matrix acting on (x, y, z) column vectors, or None.
    margin_A : solvent margin around the molecule (ignored when ``box_shape`` is given).
    extra_b_A2 : extra isotropic B added to all atoms (Å², ≥ 0).
    box_shape : box size in voxels (int for a cube, or (nz, ny, nx)).
    center_A : box centre, (z, y, x) Å in the rotated frame.
    return_indices : also return the indices (in :func:`atom_arrays` order) of the atoms kept.

    Returns
    -------
    volume : :class:`Volume` (float32, origin (0, 0, 0): voxel ``i`` is at ``i * voxel_size_A``).
    atom_positions_zyx_A : `(n, 3)` positions (Å) in the Volume's frame of the atoms whose
        density reaches the box (so index = position / voxel size).
    atom_b : `(n,)` isotropic B (Å²) of those atoms, without ``extra_b_A2``.
    indices : `(n,)` (only with ``return_indices``).
    """
    v = float(voxel_size_A)
    if v <= 0:
        raise ValueError("voxel_size_A must be > 0")
    if extra_b_A2 < 0:
        raise ValueError("extra_b_A2 must be >= 0")
    rot = np.eye(3) if rotation is None else np.asarray(rotation, dtype=np.float64)
    if rot.shape != (3, 3) or not np.allclose(rot @ rot.T, np.eye(3), atol=1e-6):
        raise ValueError("rotation must be a 3x3 orthogonal matrix")
    xyz, b_all, _ = atom_arrays(structure)
    centroid = xyz.mean(axis=0)
    rzyx = ((xyz - centroid) @ rot.T)[:, ::-1]

    if box_shape is None:
        lo, hi = rzyx.min(axis=0), rzyx.max(axis=0)
        n = cubic_box_size(rzyx, v, margin_A)
        shape = (n, n, n)
        center = (lo + hi) / 2.0 if center_A is None else np.asarray(center_A, dtype=np.float64)
    else:
        shape = (int(box_shape),) * 3 if np.isscalar(box_shape) else tuple(int(s) for s in box_shape)
        if center_A is None:
            center = (rzyx.min(axis=0) + rzyx.max(axis=0)) / 2.0
        else:
            center = np.asarray(center_A, dtype=np.float64)
    shape_arr = np.asarray(shape, dtype=np.float64)
    # Volume frame: voxel i at i*v; box centre at (shape//2)*v.
    start = center - (shape_arr // 2) * v
    pos_box = rzyx - start  # (z, y, x) Å in the Volume's frame

    dc = gemmi.DensityCalculatorE()
    dc.blur = float(extra_b_A2)
    model = structure[0].clone()
    # radius (Å) beyond which an atom contributes < gemmi's cutoff: pad the cell by it.
    radius = 0.0
    atoms = [at for ch in model for res in ch for at in res]
    order = np.argsort(b_all)[::-1]
    seen = set()
    for i in order:  # the widest atom of every element
        el = atoms[i].element.name
        if el not in seen:
            seen.add(el)
            radius = max(radius, float(dc.estimate_radius(atoms[i])))
    pad_vox = int(math.ceil(radius / v)) + 1
    pad = pad_vox * v
    ext = shape_arr * v
    keep = np.all((pos_box > -radius) & (pos_box < ext - v + radius), axis=1)

    # Transform in gemmi's (x, y, z): new = R (x - c) - start_xyz + pad.
    tr = gemmi.Transform()
    tr.mat.fromlist(rot.tolist())
    shift = -rot @ centroid - start[::-1] + pad
    tr.vec.fromlist(shift.tolist())
    if not keep.all():
        # remove atoms that cannot reach the box (iterate backwards to keep indices valid)
        idx = 0
        for ch in model:
            for res in ch:
                drop = []
                for k, _at in enumerate(res):
                    if not keep[idx]:
                        drop.append(k)
                    idx += 1
                for k in reversed(drop):
                    del res[k]
    model.transform_pos_and_adp(tr)

    cell_n = [shape[2] + 2 * pad_vox, shape[1] + 2 * pad_vox, shape[0] + 2 * pad_vox]  # x, y, z
    cell = gemmi.UnitCell(cell_n[0] * v, cell_n[1] * v, cell_n[2] * v, 90, 90, 90)
    dc.grid.set_unit_cell(cell)
    dc.grid.spacegroup = gemmi.SpaceGroup("P1")
    dc.grid.set_size(*cell_n)
    dc.d_min = 0.0
    dc.put_model_density_on_grid(model)
    arr = np.array(dc.grid, copy=False)  # (x, y, z)
    data = arr[pad_vox:pad_vox + shape[2], pad_vox:pad_vox + shape[1], pad_vox:pad_vox + shape[0]]
    data = np.ascontiguousarray(data.transpose(2, 1, 0), dtype=np.float32)
    vol = Volume(data, v, (0.0, 0.0, 0.0))
    if return_indices:
        return vol, pos_box[keep].astype(np.float64), b_all[keep], np.flatnonzero(keep)
    return vol, pos_box[keep].astype(np.float64), b_all[keep]
