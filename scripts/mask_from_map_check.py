"""`deepres mask` on a real map with its model (EMD-3488 / 5ME2 by default): what the mask holds
and how the estimate depends on it.

For each low-pass and extension, the mask is made at the volume of the model's mass (the sum of
its residues' weights, ``deepres.masking.make_mask(mass_kDa=...)``), and the script prints its size
(voxels, times the molecular volume), the fraction of the model's atoms inside it, and, per range,
the estimate: median over the mask, median over the residues, and the per-residue rank
correlations with the distance from the centre and with exposure (as in
``scripts/real_map_mask_check.py``; positive: the core is better resolved). The first row is the
given mask (for EMD-3488 the example's). Run from the repository root (~1 min per range on 2
cores)::

    .venv/bin/python scripts/mask_from_map_check.py [MAP MASK MODEL] [--ranges low high]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import gemmi
import numpy as np

import deepres
from deepres.masking import make_mask, molecular_volume_A3
from deepres.metrics import per_residue
from deepres.mrc import read_volume

ROOT = Path(__file__).resolve().parent.parent
SETTINGS = [(8.0, 0.0), (8.0, 2.0), (8.0, 3.0), (8.0, 5.0), (15.0, 3.0), (0.0, 3.0)]  # (low-pass, extension) in Å


def model_mass_kDa(st: gemmi.Structure) -> float:
    """Sum of the residue weights of the first model (water left out), as polymer residues."""
    total = 0.0
    for ch in st[0]:
        for r in ch:
            if r.is_water():
                continue
            info = gemmi.find_tabulated_residue(r.name)
            total += (info.weight - 18.015) if info is not None and info.weight > 0 else 110.0
    return total / 1000.0


def atoms_inside(mask: np.ndarray, vol, st: gemmi.Structure) -> float:
    xyz = np.array([a.pos.tolist() for ch in st[0] for r in ch if not r.is_water() for a in r])
    idx = np.round((xyz[:, ::-1] - np.array(vol.origin_A)) / vol.voxel_size_A).astype(int)
    ok = np.all((idx >= 0) & (idx < np.array(mask.shape)), axis=1)
    return float(np.mean(np.where(ok, mask[tuple(np.clip(idx, 0, np.array(mask.shape) - 1).T)], False)))


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("files", nargs="*", metavar="MAP MASK MODEL",
                   default=[str(ROOT / "examples/emd_3488/emd_3488.mrc"), str(ROOT / "examples/emd_3488/emd_3488_mask.mrc"),
                            str(ROOT.parent / "shared/data/maps/emd_3488/5me2.pdb")])
    p.add_argument("--ranges", nargs="+", default=["low"])
    a = p.parse_args(argv)
    if len(a.files) != 3:
        p.error("give MAP MASK MODEL, or nothing for EMD-3488")
    vol, given, model = read_volume(a.files[0]), read_volume(a.files[1], what="mask"), a.files[2]
    st = gemmi.read_structure(model)
    st.remove_hydrogens()
    mass = model_mass_kDa(st)
    mol_vox = molecular_volume_A3(mass) / vol.voxel_size_A ** 3
    print(f"{Path(a.files[0]).name}: model {Path(model).name}, {mass:.1f} kDa, molecular volume {mol_vox:.0f} voxels\n")
    masks = [("given mask", given.data > 0.5)]
    for lp, ext in SETTINGS:
        r = make_mask(vol, mass_kDa=mass, lowpass_A=lp, extend_A=ext)
        masks.append((f"low-pass {lp:g} Å, extend {ext:g} Å" + (" (default)" if (lp, ext) == (8.0, 3.0) else ""), r.mask))
    print("| range | mask | voxels | × molecular volume | atoms inside | median (Å) | residue median (Å) "
          "| ρ vs distance | ρ vs exposure |")
    print("|---|---|---|---|---|---|---|---|---|")
    for rng in a.ranges:
        for name, m in masks:
            res = deepres.estimate(vol.data, m.astype(np.float32), voxel_size_A=vol.voxel_size_A, range=rng,
                                   origin_A=vol.origin_A)
            pr = per_residue(res.resolution.data, vol.voxel_size_A, vol.origin_A, model)
            print(f"| {rng} | {name} | {int(m.sum())} | {m.sum() / mol_vox:.2f} | {100 * atoms_inside(m, vol, st):.1f} % "
                  f"| {res.median_A:.2f} | {np.median(pr['resolution_A']):.2f} | {pr['spearman_vs_centre_distance']:+.2f} "
                  f"| {pr['spearman_vs_exposure']:+.2f} |", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
