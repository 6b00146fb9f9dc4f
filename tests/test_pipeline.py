"""The estimate pipeline with an untrained network (mechanics, geometry, files, statistics)."""

from __future__ import annotations

import itertools
import json

import mrcfile
import numpy as np
import pytest
import starfile
from pipeline_helpers import MAP_1AKE, digest, synthetic_map, untrained, use_untrained, write_mrc, write_pair

import deepres
from deepres.errors import InputError
from deepres.mask import dilate18
from deepres.mrc import read_volume


def test_dilation_is_the_18_neighbourhood():
    rng = np.random.default_rng(3)
    m = rng.random((9, 10, 11)) > 0.93
    expected = np.zeros_like(m)
    offsets = [d for d in itertools.product((-1, 0, 1), repeat=3) if sum(abs(c) for c in d) <= 2]
    assert len(offsets) == 19  # centre + 6 faces + 12 edges
    for z, y, x in zip(*np.nonzero(m)):
        for dz, dy, dx in offsets:
            p = (z + dz, y + dy, x + dx)
            if all(0 <= p[i] < m.shape[i] for i in range(3)):
                expected[p] = True
    assert np.array_equal(dilate18(m), expected)


@pytest.mark.parametrize("iterations", [1, 2, 3])
def test_dilation_matches_scipy_at_the_box_edge(iterations):
    from scipy import ndimage

    from deepres.mask import structure_18

    rng = np.random.default_rng(iterations)
    m = rng.random((12, 9, 14)) > 0.97
    m[0, 4, 5] = m[11, 8, 13] = m[6, 0, 0] = True  # touching faces, edges and corners of the box
    expected = ndimage.binary_dilation(m, structure=structure_18(), iterations=iterations)
    assert np.array_equal(dilate18(m, iterations=iterations), expected)


@pytest.mark.parametrize("voxel_size_A", [1.0, 1.3, 0.7])
def test_estimate_arrays(voxel_size_A):
    data, mask = synthetic_map((34, 30, 38), voxel_size_A, seed=1)
    r = deepres.estimate(data, mask, voxel_size_A, range="low", device="cpu", origin_A=(1.0, 2.0, 3.0),
                         model=untrained("low"))
    spec = deepres.get_range("low")
    out = r.resolution.data
    assert out.shape == data.shape and out.dtype == np.float32
    assert r.resolution.voxel_size_A == voxel_size_A and r.resolution.origin_A == (1.0, 2.0, 3.0)
    assert np.all(out[~mask] == 0)
    inside = out[mask]
    assert np.all(inside >= spec.floor_A(voxel_size_A) - 1e-5) and np.all(inside <= spec.max_A + 1e-5)
    assert r.working_voxel_size_A == pytest.approx(1.0, rel=2e-3)
    assert r.median_A == pytest.approx(float(np.median(inside)))
    assert r.model_id == "untrained-low"
    chim = r.chimera_data()
    assert np.all(chim > 0) and np.all(chim[~mask] == np.float32(r.median_A))


def test_scale_and_offset_do_not_matter():
    data, mask = synthetic_map((30, 30, 30), 1.0, seed=2)
    a = deepres.estimate(data, mask, 1.0, device="cpu", model=untrained()).resolution.data
    b = deepres.estimate(data * 37.0 + 5.0, mask, 1.0, device="cpu", model=untrained()).resolution.data
    assert np.allclose(a, b, atol=1e-3)


def test_high_range_and_soft_mask_warning():
    data, mask = synthetic_map((24, 24, 24), 1.0, seed=4)
    soft = mask.astype(np.float32) * 0.9
    soft[0, 0, 0] = 0.3
    r = deepres.estimate(data, soft, 1.0, range="high", device="cpu", model=untrained("high"))
    assert any("soft" in w for w in r.warnings)
    assert r.resolution.data[mask].min() >= 2.0 - 1e-5  # floor = 2 x 1.0 A
    assert r.resolution.data[mask].max() <= 6.0 + 1e-5


def test_mask_errors():
    data, mask = synthetic_map((30, 30, 30), 1.0, seed=2)
    with pytest.raises(InputError, match="empty"):
        deepres.estimate(data, np.zeros_like(mask), 1.0, model=untrained())
    with pytest.raises(InputError, match="not a binary mask"):
        deepres.estimate(data, data, 1.0, model=untrained())
    with pytest.raises(InputError, match="too coarse"):
        deepres.estimate(data, mask, 3.5, range="high", model=untrained("high"))


def _run_files(tmp_path, vp, mp, name="out", **kw):
    return deepres.estimate_files(vp, mp, tmp_path / name, device="cpu", report=False, model=untrained(), **kw)


def test_files_on_1ake_keep_geometry(tmp_path):
    """A map with a non-zero ORIGIN (a crop) gives outputs with the same ORIGIN and header geometry."""
    v = read_volume(MAP_1AKE)
    mp = write_mrc(tmp_path / "mask.mrc", (v.data > 0.1 * v.data.max()).astype(np.float32), 1.5,
                   origin_xyz=tuple(v.header["origin"]))
    r, out = _run_files(tmp_path, MAP_1AKE, mp)
    assert sorted(p.name for p in out.iterdir()) == ["histogram.xmd", "resolution.mrc", "resolution_chimera.mrc", "summary.json"]
    with mrcfile.open(MAP_1AKE) as a:
        for name in ("resolution.mrc", "resolution_chimera.mrc"):
            with mrcfile.open(out / name) as b:
                assert b.data.dtype == np.float32 and b.data.shape == a.data.shape
                assert tuple(b.header.origin.item()) == tuple(a.header.origin.item())
                assert np.allclose(b.voxel_size.item(), a.voxel_size.item())
                for f in ("nxstart", "nystart", "nzstart", "mapc", "mapr", "maps", "mx", "my", "mz"):
                    assert int(b.header[f]) == int(a.header[f])
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary folder left


def test_outputs_are_consistent(tmp_path):
    vp, mp = write_pair(tmp_path, shape=(32, 30, 36), voxel_size_A=1.2, origin_xyz=(5.0, -3.0, 2.0))
    r, out = _run_files(tmp_path, vp, mp)
    res = mrcfile.read(out / "resolution.mrc")
    mask = mrcfile.read(mp) > 0.5
    vals = res[mask]
    assert np.all(vals > 0) and np.all(res[~mask] == 0)
    chim = mrcfile.read(out / "resolution_chimera.mrc")
    assert np.all(chim != 0) and np.array_equal(chim[mask], vals)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["median_A"] == pytest.approx(float(np.median(vals)))
    assert summary["highest_A"] == pytest.approx(float(vals.min()))
    assert summary["lowest_A"] == pytest.approx(float(vals.max()))
    assert summary["n_mask_voxels"] == int(mask.sum())
    assert summary["model"]["id"] == "untrained-low" and len(summary["model"]["sha256"]) == 64
    assert summary["software"]["version"] == deepres.__version__
    assert summary["inputs"]["volume"]["sha256"] == digest(vp)
    assert summary["inputs"]["mask"]["sha256"] == digest(mp)
    assert summary["working_voxel_size_A"] == pytest.approx(1.0, rel=1e-6)  # exact thanks to the padding
    assert summary["range"]["name"] == "low" and summary["device"] == "cpu"
    for key in ("range", "device", "volume", "mask", "output_dir", "force", "report"):
        assert key in summary["parameters"]
    hist = starfile.read(out / "histogram.xmd")
    assert int(hist["count"].sum()) == int(mask.sum())
    assert hist["x"].iloc[0] == pytest.approx(float(vals.min()), abs=1e-4)


def test_deterministic(tmp_path):
    vp, mp = write_pair(tmp_path, shape=(30, 32, 28), voxel_size_A=1.1)
    _, a = _run_files(tmp_path, vp, mp, "a")
    _, b = _run_files(tmp_path, vp, mp, "b")
    assert digest(a / "resolution.mrc") == digest(b / "resolution.mrc")
    assert digest(a / "histogram.xmd") == digest(b / "histogram.xmd")


def test_whole_box_mask_warns_and_goes_on(tmp_path):
    data, _ = synthetic_map((24, 24, 24), 1.0, seed=5)
    r = deepres.estimate(data, np.ones(data.shape, bool), 1.0, device="cpu", model=untrained())
    assert any("whole box" in w for w in r.warnings)
    assert np.all(r.resolution.data > 0)


def test_report_is_written_when_available(tmp_path, monkeypatch):
    pytest.importorskip("deepres.report")
    use_untrained(monkeypatch)
    vp, mp = write_pair(tmp_path, shape=(26, 26, 26))
    r, out = deepres.estimate_files(vp, mp, tmp_path / "rep", device="cpu", report=True)
    assert (out / "report.png").exists()
    assert (out / "summary.json").exists()
