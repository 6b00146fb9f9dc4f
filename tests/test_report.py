"""Tests of the visual report: report.png, chimerax.cxc, per-residue local resolution."""

from __future__ import annotations

import csv
import math
import os
import struct
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest

gemmi = pytest.importorskip("gemmi")
pytest.importorskip("matplotlib")

from deepres.chimerax import contour_level_for_mask  # noqa: E402
from deepres.ranges import get_range  # noqa: E402
from deepres.report import write_report  # noqa: E402
from deepres.residues import sample_trilinear_masked  # noqa: E402
from deepres.volume import Volume  # noqa: E402

SHAPE = (20, 22, 24)  # (z, y, x), deliberately not cubic
VOXEL_A = 1.5
ORIGIN_A = (-7.0, 3.5, 12.25)  # (z, y, x) Å of voxel [0, 0, 0]
# linear ramp in Å coordinates: trilinear interpolation reproduces it exactly
RAMP = (4.0, 0.05, 0.03, 0.02)  # c0 + cz*z + cy*y + cx*x  (Å coordinates)


def ramp_at(zyx_A: np.ndarray) -> np.ndarray:
    zyx_A = np.atleast_2d(zyx_A)
    c0, cz, cy, cx = RAMP
    return c0 + cz * zyx_A[:, 0] + cy * zyx_A[:, 1] + cx * zyx_A[:, 2]


def grid_zyx_A() -> np.ndarray:
    idx = np.indices(SHAPE).astype(np.float64)
    return np.stack([ORIGIN_A[a] + VOXEL_A * idx[a] for a in range(3)], axis=-1)


@dataclass
class FakeResult:
    resolution: Volume
    median_A: float
    highest_A: float
    lowest_A: float
    range: object = field(default_factory=lambda: get_range("low"))
    summary: dict = field(default_factory=lambda: {"model_id": "test-model"})


def make_case(constant: float | None = None):
    """Map = a blob, mask = a box leaving a 2-voxel border, resolution = ramp (or constant)."""
    zyx = grid_zyx_A()
    centre = np.array([ORIGIN_A[a] + VOXEL_A * (SHAPE[a] - 1) / 2 for a in range(3)])
    data = np.exp(-np.sum((zyx - centre) ** 2, axis=-1) / (2 * 6.0**2))
    data = (data + np.random.default_rng(5).normal(0, 1e-3, SHAPE)).astype(np.float32)  # no ties
    mask = np.zeros(SHAPE, bool)
    mask[2:-2, 2:-2, 2:-2] = True
    res = ramp_at(zyx.reshape(-1, 3)).reshape(SHAPE) if constant is None else np.full(SHAPE, constant)
    res = np.where(mask, res, 0.0).astype(np.float32)
    vol = Volume(data, VOXEL_A, ORIGIN_A)
    vals = res[mask]
    result = FakeResult(vol.with_data(res), float(np.median(vals)), float(vals.min()), float(vals.max()))
    return vol, mask, result


def atom_line(serial, name, resname, chain, resnum, xyz, b=30.0, element="C"):
    x, y, z = xyz
    return (f"ATOM  {serial:5d} {name:<4s} {resname:3s} {chain:1s}{resnum:4d}    "
            f"{x:8.3f}{y:8.3f}{z:8.3f}{1.0:6.2f}{b:6.2f}          {element:>2s}  ")


def write_model(path: Path, residues):
    """``residues``: list of (chain, resnum, resname, [xyz, ...]) with xyz in Å (x, y, z)."""
    lines, serial = [], 1
    for chain, num, name, atoms in residues:
        for j, xyz in enumerate(atoms):
            lines.append(atom_line(serial, ["N", "CA", "C", "O", "CB"][j % 5], name, chain, num, xyz))
            serial += 1
    lines.append("END")
    path.write_text("\n".join(lines) + "\n")


def inside_xyz(rng, n):
    """Random (x, y, z) Å positions well inside the mask's box."""
    lo = np.array([ORIGIN_A[a] + VOXEL_A * 3 for a in range(3)])
    hi = np.array([ORIGIN_A[a] + VOXEL_A * (SHAPE[a] - 4) for a in range(3)])
    zyx = rng.uniform(lo, hi, size=(n, 3))
    return zyx[:, ::-1]


@pytest.fixture
def model_case(tmp_path):
    rng = np.random.default_rng(1)
    residues = [("A", 1, "ALA", inside_xyz(rng, 5)), ("A", 2, "GLY", inside_xyz(rng, 4)),
                ("B", 7, "SER", inside_xyz(rng, 3))]
    # residue 8: one atom inside, one far outside the map
    far = np.array([[500.0, 500.0, 500.0]])
    residues.append(("B", 8, "LYS", np.vstack([inside_xyz(rng, 1), far])))
    # residue 9: entirely outside the map
    residues.append(("B", 9, "LEU", far + 10.0))
    model = tmp_path / "in" / "model.pdb"
    model.parent.mkdir()
    write_model(model, residues)
    return model, residues


def read_csv(path):
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


# --------------------------------------------------------------------------------------------
# sampling
# --------------------------------------------------------------------------------------------


def test_trilinear_reproduces_ramp_with_origin():
    zyx = grid_zyx_A()
    values = ramp_at(zyx.reshape(-1, 3)).reshape(SHAPE)
    rng = np.random.default_rng(0)
    pos = inside_xyz(rng, 200)[:, ::-1]  # zyx
    got, in_box = sample_trilinear_masked(values, np.ones(SHAPE, bool), pos, VOXEL_A, ORIGIN_A)
    assert in_box.all()
    np.testing.assert_allclose(got, ramp_at(pos), rtol=1e-10)
    # and against scipy's trilinear sampling at the fractional indices
    from scipy.ndimage import map_coordinates

    idx = (pos - np.asarray(ORIGIN_A)) / VOXEL_A
    np.testing.assert_allclose(got, map_coordinates(values, idx.T, order=1), rtol=1e-10)


def test_masked_sampling_ignores_background():
    values = np.zeros((4, 4, 4))
    valid = np.zeros((4, 4, 4), bool)
    values[1, 1, 1], valid[1, 1, 1] = 5.0, True
    values[1, 1, 2], valid[1, 1, 2] = 7.0, True
    # between (1,1,1) and (1,1,2) and half-way towards invalid (2, ., .) voxels
    got, _ = sample_trilinear_masked(values, valid, np.array([[1.5, 1.0, 1.25]]), 1.0)
    assert got[0] == pytest.approx(0.75 * 5 + 0.25 * 7)
    got, in_box = sample_trilinear_masked(values, valid, np.array([[3.0, 3.0, 3.0], [9, 9, 9]]), 1.0)
    assert np.isnan(got).all()
    assert in_box.tolist() == [True, False]


def test_contour_level_encloses_mask_volume():
    rng = np.random.default_rng(3)
    data = rng.normal(size=(10, 11, 12))
    for n in (0, 1, 57, data.size - 1, data.size):
        level = contour_level_for_mask(data, n)
        assert np.sum(data > level) == n


# --------------------------------------------------------------------------------------------
# write_report
# --------------------------------------------------------------------------------------------


def test_per_residue_files(tmp_path, model_case):
    model, residues = model_case
    vol, mask, result = make_case()
    out = tmp_path / "out"
    with pytest.warns(UserWarning, match=r"2 of 15 atoms .*2 outside the map"):
        written = write_report(out, result, vol, mask, model_path=model)
    assert {"report.png", "residues.csv", "residues.defattr", "model_localres.pdb"} <= set(written)
    for name in written:
        assert (out / name).is_file()

    rows = read_csv(out / "residues.csv")
    assert [(r["chain"], int(r["residue_number"]), r["residue_name"]) for r in rows] == [
        (c, n, rn) for c, n, rn, _ in residues]
    for row, (_, _, _, atoms) in zip(rows, residues):
        assert int(row["n_atoms"]) == len(atoms)
        zyx = np.asarray(atoms)[:, ::-1]
        inside = np.all(np.abs(zyx) < 400, axis=1)
        assert int(row["n_outside"]) == int(np.sum(~inside))
        if inside.any():
            # PDB stores 3 decimals: sample the ramp at the rounded coordinates
            expected = np.median(ramp_at(np.round(zyx[inside], 3)))
            assert float(row["local_resolution_A"]) == pytest.approx(expected, abs=1.5e-3)
        else:
            assert row["local_resolution_A"] == ""

    # defattr: header + one line per residue with a value, equal to the csv
    lines = (out / "residues.defattr").read_text().splitlines()
    body = [ln for ln in lines if ln and not ln.startswith("#")]
    assert body[:3] == ["attribute: local_resolution", "match mode: 1-to-1", "recipient: residues"]
    entries = {}
    for ln in body[3:]:
        assert ln.startswith("\t")
        spec, value = ln[1:].split("\t")
        entries[spec] = float(value)
    expected = {f"/{r['chain']}:{r['residue_number']}{r['insertion_code']}": float(r["local_resolution_A"])
                for r in rows if r["local_resolution_A"]}
    assert entries == expected
    assert "/B:9" not in entries


def test_model_copy_b_factors_and_coordinates(tmp_path, model_case):
    model, residues = model_case
    vol, mask, result = make_case()
    out = tmp_path / "out"
    with pytest.warns(UserWarning):
        write_report(out, result, vol, mask, model_path=model)
    orig = gemmi.read_structure(str(model))
    copy = gemmi.read_structure(str(out / "model_localres.pdb"))
    a0 = [a for ch in orig[0] for r in ch for a in r]
    a1 = [a for ch in copy[0] for r in ch for a in r]
    assert len(a0) == len(a1)
    for x, y in zip(a0, a1):
        assert x.name == y.name
        assert x.pos.dist(y.pos) < 1e-6
        zyx = np.array([[x.pos.z, x.pos.y, x.pos.x]])
        if np.all(np.abs(zyx) < 400):
            assert y.b_iso == pytest.approx(ramp_at(zyx)[0], abs=6e-3)
        else:
            assert y.b_iso == 0.0


def test_mmcif_model_gives_cif_copy(tmp_path, model_case):
    model, _ = model_case
    st = gemmi.read_structure(str(model))
    cif = tmp_path / "model.cif"
    st.make_mmcif_document().write_file(str(cif))
    vol, mask, result = make_case()
    with pytest.warns(UserWarning):
        written = write_report(tmp_path / "o", result, vol, mask, model_path=cif)
    assert "model_localres.cif" in written
    copy = gemmi.read_structure(str(tmp_path / "o" / "model_localres.cif"))
    assert sum(1 for ch in copy[0] for r in ch for a in r) == 15


def _cxc_commands(path):
    return [ln for ln in Path(path).read_text(encoding="utf-8").splitlines()
            if ln.strip() and not ln.startswith("#")]


def test_chimerax_script(tmp_path, model_case):
    model, _ = model_case
    vol, mask, result = make_case()
    map_path = tmp_path / "maps" / "input map.mrc"  # a space in the name
    map_path.parent.mkdir()
    map_path.write_bytes(b"placeholder")
    out = tmp_path / "results" / "run1"
    with pytest.warns(UserWarning):
        written = write_report(out, result, vol, mask, model_path=model, input_map_path=map_path)
    assert "chimerax.cxc" in written and "resolution_chimera.mrc" in written
    cmds = _cxc_commands(out / "chimerax.cxc")

    opened = [c.split(" ", 1)[1].strip('"') for c in cmds if c.startswith("open ")]
    assert not any(os.path.isabs(p) for p in opened)
    resolved = [os.path.normpath(os.path.join(out, p)) for p in opened]
    assert resolved[0] == os.path.normpath(map_path)
    assert resolved[1] == os.path.normpath(out / "resolution_chimera.mrc")
    assert resolved[2] == os.path.normpath(out / "model_localres.pdb")
    assert resolved[3] == os.path.normpath(out / "residues.defattr")
    assert all(os.path.exists(p) for p in resolved)

    assert "volume #1,2 voxelSize 1.5" in cmds
    z, y, x = ORIGIN_A
    origin = next(c for c in cmds if c.startswith("volume #1,2 origin ")).split()[-1]
    assert [float(v) for v in origin.split(",")] == [x, y, z]
    assert cmds.index("volume #1,2 voxelSize 1.5") < cmds.index(f"volume #1,2 origin {origin}")

    level = float(next(c for c in cmds if c.startswith("volume #1 style surface level")).split()[5])
    assert np.sum(vol.data > level) == mask.sum()

    sample = next(c for c in cmds if c.startswith("color sample #1 map #2 palette "))
    stops = [s.split(",") for s in sample.split("palette ")[1].split(":")]
    values = [float(v) for v, _ in stops]
    assert values[0] == pytest.approx(result.highest_A, abs=1e-3)
    assert values[-1] == pytest.approx(result.lowest_A, abs=1e-3)
    assert values == sorted(values)
    assert all(c.startswith("#") and len(c) == 7 for _, c in stops)
    key = next(c for c in cmds if c.startswith("key "))
    assert f":{result.highest_A:.3g}" in key and f":{result.lowest_A:.3g}" in key
    assert any(c.startswith("color byattribute r:local_resolution #3") for c in cmds)

    # the map written for ChimeraX: same grid, zeros replaced by the in-mask median
    import mrcfile

    with mrcfile.open(out / "resolution_chimera.mrc") as m:
        assert m.data.shape == SHAPE
        assert float(m.voxel_size.x) == pytest.approx(VOXEL_A)
        assert (float(m.header.origin.x), float(m.header.origin.z)) == (x, z)
        assert np.all(m.data > 0)


def test_existing_chimera_map_is_kept(tmp_path):
    vol, mask, result = make_case()
    out = tmp_path / "o"
    out.mkdir()
    (out / "resolution_chimera.mrc").write_bytes(b"from the pipeline")
    written = write_report(out, result, vol, mask, input_map_path=tmp_path / "map.mrc")
    assert "resolution_chimera.mrc" not in written
    assert (out / "resolution_chimera.mrc").read_bytes() == b"from the pipeline"
    assert _cxc_commands(out / "chimerax.cxc")[1] == 'open "../map.mrc"'


def _png_size(path):
    raw = Path(path).read_bytes()
    assert raw[:8] == b"\x89PNG\r\n\x1a\n"
    assert raw[12:16] == b"IHDR"
    return struct.unpack(">II", raw[16:24])


@pytest.mark.parametrize("constant", [None, 4.2])
def test_report_png(tmp_path, constant):
    vol, mask, result = make_case(constant)
    written = write_report(tmp_path, result, vol, mask)
    assert written == ["report.png"]
    w, h = _png_size(tmp_path / "report.png")
    assert 1000 <= w <= 3000 and 600 <= h <= 2000


def test_report_png_empty_mask_and_plain_array(tmp_path):
    vol, mask, _ = make_case()
    res = np.zeros(SHAPE, np.float32)

    class Bare:  # only .resolution, a plain array
        resolution = res

    written = write_report(tmp_path, Bare(), vol, np.zeros(SHAPE, bool))
    assert written == ["report.png"]
    _png_size(tmp_path / "report.png")


def test_shape_mismatch_raises(tmp_path):
    vol, mask, result = make_case()
    with pytest.raises(ValueError, match="mask shape"):
        write_report(tmp_path, result, vol, mask[:-1])
    assert not math.isnan(result.median_A)


def test_pipeline_shaped_result(tmp_path, model_case):
    """LocalResolution-like: .spec, .model_id, .summary() method, .warnings list, and the map's
    path taken from ``volume.header['path']`` when ``input_map_path`` is not given."""
    model, _ = model_case
    vol, mask, fake = make_case()
    map_path = tmp_path / "emd.mrc"
    map_path.write_bytes(b"x")
    vol.header["path"] = str(map_path)

    class PipelineResult:
        resolution = fake.resolution
        median_A, highest_A, lowest_A = fake.median_A, fake.highest_A, fake.lowest_A
        spec = get_range("high")
        model_id, model_sha256 = "deepres-high-1", "ab" * 32
        warnings: list = []
        parameters: dict = {}

        def summary(self):
            return {"model": {"id": self.model_id}}

    result = PipelineResult()
    with pytest.warns(UserWarning):
        written = write_report(tmp_path / "o", result, vol, mask, model_path=model)
    assert "chimerax.cxc" in written
    assert _cxc_commands(tmp_path / "o" / "chimerax.cxc")[1] == 'open "../emd.mrc"'
    assert len(result.warnings) == 1 and "outside the map" in result.warnings[0]
