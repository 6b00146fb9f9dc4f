"""`deepres mask`: a mask of the molecule made from the map (deepres.masking and its CLI)."""

from __future__ import annotations

import json

import mrcfile
import numpy as np
import pytest
from pipeline_helpers import use_untrained, write_mrc
from scipy import ndimage

from deepres import cli
from deepres.errors import InputError
from deepres.filters import lowpass_to_resolution
from deepres.masking import PROTEIN_A3_PER_DA, keep_pieces, make_mask, molecular_volume_A3
from deepres.mrc import read_volume
from deepres.volume import Volume


def _molecule(shape=(40, 44, 48), voxel_size_A=1.5, seed=0):
    """Two blobs of different size, a one-voxel speck far from them, and noise."""
    rng = np.random.default_rng(seed)
    z, y, x = np.indices(shape, dtype=np.float32)
    big = np.exp(-((z - 20) ** 2 + (y - 22) ** 2 + (x - 18) ** 2) / (2 * 5.0 ** 2))
    small = 0.8 * np.exp(-((z - 20) ** 2 + (y - 22) ** 2 + (x - 34) ** 2) / (2 * 3.0 ** 2))
    data = (big + small + rng.normal(0, 0.01, shape)).astype(np.float32)
    data[4, 4, 4] = 5.0  # a hot pixel: its own piece once thresholded
    return Volume(data, voxel_size_A, (10.0, -3.0, 7.5))


def test_mass_sets_the_level_that_encloses_the_molecular_volume():
    vol = _molecule()
    mass = 6.0  # kDa
    n_target = round(molecular_volume_A3(mass) / vol.voxel_size_A ** 3)
    r = make_mask(vol, mass_kDa=mass, lowpass_A=0, extend_A=0, min_piece_fraction=0)
    assert molecular_volume_A3(mass) == pytest.approx(mass * 1000 * PROTEIN_A3_PER_DA)
    assert r.n_voxels == n_target  # float data: no ties at the level
    assert np.array_equal(r.mask, vol.data >= r.level)
    # larger mass, lower level, a larger region containing the first
    r2 = make_mask(vol, mass_kDa=2 * mass, lowpass_A=0, extend_A=0, min_piece_fraction=0)
    assert r2.level < r.level and r2.n_voxels == round(molecular_volume_A3(2 * mass) / vol.voxel_size_A ** 3)
    assert not (r.mask & ~r2.mask).any()
    assert r.parameters["mass_kDa"] == mass and r.parameters["lowpass_A"] is None


def test_specks_are_dropped_and_both_blobs_kept():
    vol = _molecule()
    kept = make_mask(vol, threshold=0.3, lowpass_A=0, extend_A=0)
    raw = vol.data >= 0.3
    assert raw[4, 4, 4] and not kept.mask[4, 4, 4]  # the hot pixel is gone ...
    assert kept.mask[20, 22, 18] and kept.mask[20, 22, 34]  # ... both blobs stay
    assert kept.n_pieces_kept == 2 and kept.n_pieces_dropped == 1
    speck = np.zeros_like(raw)
    speck[4, 4, 4] = True
    assert np.array_equal(kept.mask, raw & ~speck)
    # fraction 1: only the largest piece
    only, n_kept, n_dropped = keep_pieces(raw, 1.0)
    assert n_kept == 1 and n_dropped == 2 and only[20, 22, 18] and not only[20, 22, 34]


def test_threshold_applies_to_the_lowpassed_map_and_extension_is_a_ball():
    vol = _molecule()
    base = make_mask(vol, threshold=0.2, lowpass_A=8.0, extend_A=0)
    lp = lowpass_to_resolution(vol.data, 8.0, vol.voxel_size_A)
    expect, _, _ = keep_pieces(lp >= 0.2)
    assert np.array_equal(base.mask, expect)
    assert base.parameters["lowpass_A"] == 8.0
    ext = make_mask(vol, threshold=0.2, lowpass_A=8.0, extend_A=4.0)
    dist_A = ndimage.distance_transform_edt(~base.mask) * vol.voxel_size_A
    assert np.array_equal(ext.mask, dist_A <= 4.0)
    assert ext.n_voxels > base.n_voxels and ext.volume_A3 == pytest.approx(ext.n_voxels * 1.5 ** 3)
    # a low-pass finer than Nyquist (2 x 1.5 A) does nothing and is recorded as none
    assert make_mask(vol, threshold=0.2, lowpass_A=2.0, extend_A=0).parameters["lowpass_A"] is None


def test_edge_and_size_warnings():
    vol = _molecule()
    quiet = make_mask(vol, mass_kDa=6.0)
    assert not quiet.touches_edge and quiet.warnings == []
    loud = make_mask(vol, threshold=0.0, lowpass_A=0, extend_A=0, min_piece_fraction=0)  # half the noise
    assert loud.touches_edge and any("edge of the box" in w for w in loud.warnings)
    assert any("fills" in w for w in loud.warnings)


@pytest.mark.parametrize("kwargs,match", [
    ({}, "either a threshold"),
    ({"threshold": 0.1, "mass_kDa": 5.0}, "either a threshold"),
    ({"mass_kDa": -1.0}, "positive mass"),
    ({"mass_kDa": 1e6}, "does not fit in the box"),
    ({"threshold": 50.0}, "no voxel .* reaches the level 50"),
    ({"threshold": -50.0}, "every voxel"),
    ({"threshold": float("nan")}, "must be a number"),
    ({"threshold": 0.1, "lowpass_A": -1.0}, "--lowpass"),
    ({"threshold": 0.1, "extend_A": float("inf")}, "--extend"),
    ({"threshold": 0.1, "min_piece_fraction": 2.0}, "--min-piece"),
])
def test_bad_parameters_are_input_errors(kwargs, match):
    with pytest.raises(InputError, match=match):
        make_mask(_molecule(), **kwargs)


def _write_with_nstart(path, vol):
    p = write_mrc(path, vol.data, vol.voxel_size_A, origin_xyz=(7.5, -3.0, 10.0))
    with mrcfile.open(p, mode="r+") as m:
        m.header.nxstart, m.header.nystart, m.header.nzstart = -4, 2, 5
    return p


def test_cli_writes_the_mask_on_the_maps_grid_and_estimate_accepts_it(tmp_path, monkeypatch, capsys):
    vp = _write_with_nstart(tmp_path / "map.mrc", _molecule())
    before = vp.read_bytes()
    assert cli.main(["mask", str(vp), "--mass-kda", "6"]) == 0
    out = capsys.readouterr().out
    mp = tmp_path / "map_mask.mrc"  # default name beside the map
    assert f"Mask {mp}" in out and "x the molecular volume" in out
    assert vp.read_bytes() == before
    v, m = read_volume(vp), read_volume(mp, what="mask")
    assert m.shape == v.shape and m.voxel_size_A == v.voxel_size_A and m.origin_A == v.origin_A
    expect = make_mask(v, mass_kDa=6.0)
    assert np.array_equal(m.data > 0.5, expect.mask) and set(np.unique(m.data)) == {0.0, 1.0}
    with mrcfile.open(mp) as f:
        labels = b"".join(f.header.label[: f.header.nlabl]).decode()
    assert "deepres" in labels and "6 kDa" in labels and "low-passed to 8 A" in labels
    # an existing file is kept unless --force; the input itself is never a valid output
    assert cli.main(["mask", str(vp), "--mass-kda", "3", "-q"]) == 2
    assert "exists" in capsys.readouterr().err
    assert np.array_equal(read_volume(mp).data > 0.5, expect.mask)
    assert cli.main(["mask", str(vp), "--mass-kda", "6", "-o", str(vp), "--force", "-q"]) == 2
    assert "is the input file" in capsys.readouterr().err and vp.read_bytes() == before
    # a bad level writes nothing
    assert cli.main(["mask", str(vp), "--threshold", "99", "-o", str(tmp_path / "none.mrc"), "-q"]) == 2
    assert not (tmp_path / "none.mrc").exists() and not list(tmp_path.glob(".none.mrc*"))
    # the mask is on the map's grid: deepres estimate takes it
    use_untrained(monkeypatch)
    assert cli.main(["estimate", str(vp), "--mask", str(mp), "--device", "cpu", "--no-report", "-q"]) == 0
    res = read_volume(tmp_path / "map_deepres" / "resolution.mrc", what="estimate")
    assert np.array_equal(res.data > 0, expect.mask)  # a value at every mask voxel, none outside
    summary = json.loads((tmp_path / "map_deepres" / "summary.json").read_text())
    assert summary["inputs"]["mask"]["path"] == str(mp)
