"""`deepres filter`: the map low-passed voxel by voxel to its local resolution."""

from __future__ import annotations

import numpy as np
import pytest
from pipeline_helpers import write_mrc

from deepres import cli
from deepres.errors import InputError
from deepres.filters import lowpass
from deepres.localfilter import local_lowpass, resolution_levels
from deepres.mrc import read_volume


def _noise(shape=(24, 26, 28), seed=0):
    return np.random.default_rng(seed).normal(size=shape).astype(np.float32)


def test_uniform_resolution_is_the_global_lowpass():
    data, vs = _noise(), 1.2
    res = np.full(data.shape, 5.0, np.float32)
    out = local_lowpass(data, res, vs, rolloff_Ainv=0.02)
    np.testing.assert_allclose(out, lowpass(data, vs / 5.0, 0.02 * vs), atol=1e-5)
    assert out.std() < 0.6 * data.std()  # something was removed


def test_each_region_gets_its_own_lowpass_and_the_background_the_coarsest():
    data, vs = _noise(), 1.0
    res = np.zeros(data.shape, np.float32)
    res[:, :, :10] = 3.0
    res[:, :, 10:20] = 8.0  # x >= 20: no estimate
    out = local_lowpass(data, res, vs)
    fine, coarse = lowpass(data, 1 / 3.0, 0.02), lowpass(data, 1 / 8.0, 0.02)
    np.testing.assert_allclose(out[:, :, :10], fine[:, :, :10], atol=1e-5)  # a field of two values: the levels are the values, exact
    np.testing.assert_allclose(out[:, :, 10:], coarse[:, :, 10:], atol=1e-5)
    assert not np.allclose(fine[:, :, :10], coarse[:, :, :10], atol=1e-2)


def test_between_rungs_the_voxel_interpolates_in_frequency():
    data, vs = _noise(seed=1), 1.0
    res = np.linspace(4.0, 10.0, data.size, dtype=np.float32).reshape(data.shape)
    # many distinct values: an even bank from 1/10 to 1/4 A^-1, 0.005 apart
    res[5, 5, 5] = 1 / 0.1375  # between the bank's levels 7 and 8 (0.1350, 0.1400 A^-1)
    cuts = resolution_levels(res, 0.02)
    assert cuts[0] == pytest.approx(0.1) and cuts[-1] == pytest.approx(0.25) and np.allclose(np.diff(cuts), 0.005)
    k = int(np.searchsorted(cuts, 0.1375)) - 1
    assert cuts[k] < 0.1375 < cuts[k + 1]
    out = local_lowpass(data, res, vs)
    a, b = (lowpass(data, c * vs, 0.02 * vs)[5, 5, 5] for c in (cuts[k], cuts[k + 1]))
    assert out[5, 5, 5] == pytest.approx(0.5 * (a + b), abs=1e-4)


@pytest.mark.parametrize("res,match", [
    (np.zeros((24, 26, 28)), "no positive value"),
    (np.full((24, 26, 28), np.nan), "NaN"),
    (np.ones((24, 26, 27)), "not on the map's grid"),
])
def test_bad_resolution_maps(res, match):
    with pytest.raises(InputError, match=match):
        local_lowpass(_noise(), res, 1.0)


def test_cli_writes_on_the_maps_grid_and_accepts_a_deepres_folder(tmp_path, capsys):
    data, vs = _noise(), 1.3
    res = np.zeros(data.shape, np.float32)
    res[4:20, 4:20, 4:20] = np.linspace(3.0, 9.0, 16)[None, None, :]
    vp = write_mrc(tmp_path / "map.mrc", data, vs, origin_xyz=(5.0, -2.0, 1.0))
    (tmp_path / "map_deepres").mkdir()
    rp = write_mrc(tmp_path / "map_deepres" / "resolution.mrc", res, vs, origin_xyz=(5.0, -2.0, 1.0))
    before = vp.read_bytes(), rp.read_bytes()
    assert cli.main(["filter", str(vp), str(tmp_path / "map_deepres")]) == 0
    assert "low-passed to its local resolution" in capsys.readouterr().out
    out = read_volume(tmp_path / "map_locfilt.mrc")
    src = read_volume(vp)
    assert out.shape == src.shape and out.voxel_size_A == src.voxel_size_A and out.origin_A == src.origin_A
    np.testing.assert_allclose(out.data, local_lowpass(data, res, vs), atol=1e-6)
    assert (vp.read_bytes(), rp.read_bytes()) == before
    # refusals: an existing output, a resolution map on another grid (nothing written)
    assert cli.main(["filter", str(vp), str(rp), "-q"]) == 2
    assert "exists" in capsys.readouterr().err
    other = write_mrc(tmp_path / "other.mrc", res, vs, origin_xyz=(0.0, 0.0, 0.0))
    assert cli.main(["filter", str(vp), str(other), "-o", str(tmp_path / "x.mrc"), "-q"]) == 2
    assert "not on the grid" in capsys.readouterr().err and not (tmp_path / "x.mrc").exists()
