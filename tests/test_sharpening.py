"""Sharpening of a map after reconstruction (deepres.sharpening): the tail B, the warning and --desharpen."""

from __future__ import annotations

import numpy as np
import pytest

import deepres
from deepres.lowpass import bin_width_cpv, radial_log_power
from deepres.sharpening import SHARPENED_B_A2, flatten, measure_sharpening
from deepres.simulate.noise import apply_bfactor
from pipeline_helpers import synthetic_map, untrained


def _tail(data, voxel_size_A, top_Ainv=None):
    radial = radial_log_power(data, bin_width_cpv(data.shape))
    return measure_sharpening(*radial, voxel_size_A, 0.5 / voxel_size_A if top_Ainv is None else top_Ainv)


def _noise(shape=(64, 64, 64), seed=0):
    return np.random.default_rng(seed).normal(size=shape).astype(np.float32)


@pytest.mark.parametrize("voxel_size_A", [0.8, 1.3])
def test_tail_b_reads_the_b_applied_to_white_noise(voxel_size_A):
    noise = _noise()
    flat = _tail(noise, voxel_size_A)
    assert abs(flat.tail_b_A2) < 3 and not flat.sharpened
    for b in (-50.0, -20.0, 40.0):
        t = _tail(apply_bfactor(noise, voxel_size_A, b), voxel_size_A)
        assert t.tail_b_A2 == pytest.approx(b, abs=3)
        assert t.sharpened == (b < SHARPENED_B_A2)
    # the window is the top of the band: 60-95 % of Nyquist here
    assert flat.window_A == pytest.approx((2 * voxel_size_A / 0.6, 2 * voxel_size_A / 0.95), rel=1e-6)


def test_tail_b_ignores_scale_and_offset_and_follows_the_band_given():
    noise = apply_bfactor(_noise(seed=1), 1.0, -40.0)
    a, b = _tail(noise, 1.0), _tail(noise * 1000.0 + 7.0, 1.0)
    assert a.tail_b_A2 == pytest.approx(b.tail_b_A2, abs=1e-3)
    # a lower top moves the window down (coarser): 0.25 A^-1 -> 6.7-4.2 A
    low = _tail(noise, 1.0, top_Ainv=0.25)
    assert low.window_A == pytest.approx((1 / 0.15, 1 / 0.2375), rel=1e-6)
    # too few bins in a tiny band: no measurement
    assert _tail(noise, 1.0, top_Ainv=0.03) is None


def test_flatten_undoes_a_sharpening():
    noise = _noise(seed=2)
    sharp = apply_bfactor(noise, 1.0, -60.0)
    flat, b = flatten(sharp, 1.0, _tail(sharp, 1.0))
    assert b == pytest.approx(60.0, abs=3)
    assert abs(_tail(flat, 1.0).tail_b_A2) < 3
    # back to (nearly) the map before sharpening
    assert np.corrcoef(flat.ravel(), noise.ravel())[0, 1] > 0.999


def _sharpened_case():
    data, mask = synthetic_map(shape=(40, 40, 40), resolution_A=4.0)
    rng = np.random.default_rng(3)
    noisy = data + rng.normal(0, 0.5 * data.std(), data.shape).astype(np.float32)
    return apply_bfactor(noisy, 1.0, -50.0), mask


def test_pipeline_warns_and_desharpens_only_when_asked():
    sharp, mask = _sharpened_case()
    before = sharp.copy()
    model = untrained("low")
    plain = deepres.estimate(sharp, mask, voxel_size_A=1.0, model=model)
    p = plain.parameters
    assert p["sharpening"]["sharpened"] and p["sharpening"]["tail_b_A2"] < -30
    assert p["desharpen"] is False and p["desharpen_applied_b_A2"] is None
    assert any("looks sharpened" in w and "--desharpen" in w for w in plain.warnings)

    flat = deepres.estimate(sharp, mask, voxel_size_A=1.0, model=model, desharpen=True)
    b = flat.parameters["desharpen_applied_b_A2"]
    assert b == pytest.approx(-p["sharpening"]["tail_b_A2"], abs=0.05)
    assert any("blurred by B" in w for w in flat.warnings)
    np.testing.assert_array_equal(sharp, before)  # the input is not changed
    # the same as estimating the flattened map by hand (which itself no longer looks sharpened)
    by_hand_map, _ = flatten(sharp, 1.0, _tail(sharp, 1.0, top_Ainv=0.5))
    by_hand = deepres.estimate(by_hand_map, mask, voxel_size_A=1.0, model=model)
    assert not by_hand.parameters["sharpening"]["sharpened"]
    np.testing.assert_allclose(flat.resolution.data, by_hand.resolution.data, atol=1e-4)
    assert not np.allclose(flat.resolution.data, plain.resolution.data, atol=1e-3)


def test_an_unsharpened_map_is_left_alone_and_half_maps_are_not_flattened():
    data, mask = synthetic_map(shape=(40, 40, 40), resolution_A=4.0)
    rng = np.random.default_rng(4)
    h1 = data + rng.normal(0, 0.5 * data.std(), data.shape).astype(np.float32)
    h2 = data + rng.normal(0, 0.5 * data.std(), data.shape).astype(np.float32)
    mean = 0.5 * (h1 + h2)
    model = untrained("low")
    a = deepres.estimate(mean, mask, voxel_size_A=1.0, model=model)
    b = deepres.estimate(mean, mask, voxel_size_A=1.0, model=model, desharpen=True)
    assert not a.parameters["sharpening"]["sharpened"] and b.parameters["desharpen_applied_b_A2"] is None
    np.testing.assert_array_equal(a.resolution.data, b.resolution.data)
    # with the half maps the network reads their (raw) mean: a sharpened map changes nothing there
    sharp = apply_bfactor(mean, 1.0, -50.0)
    hm = untrained("low", half_maps=True)
    c = deepres.estimate(sharp, mask, voxel_size_A=1.0, model=hm, half_maps=(h1, h2), desharpen=True)
    assert c.parameters["desharpen_applied_b_A2"] is None
    assert not any("looks sharpened" in w for w in c.warnings)
    assert any("--desharpen is not used with half maps" in w for w in c.warnings)


def test_cli_desharpen_reaches_the_summary(tmp_path, monkeypatch, capsys):
    import json

    from deepres import cli
    from pipeline_helpers import use_untrained, write_mrc

    use_untrained(monkeypatch)
    sharp, mask = _sharpened_case()
    vp = write_mrc(tmp_path / "map.mrc", sharp)
    mp = write_mrc(tmp_path / "mask.mrc", mask.astype(np.float32))
    for flag, out in (([], "plain"), (["--desharpen"], "flat")):
        rc = cli.main(["estimate", str(vp), "--mask", str(mp), "--device", "cpu", "--no-report",
                       "--output-dir", str(tmp_path / out)] + flag)
        assert rc == 0
        p = json.loads((tmp_path / out / "summary.json").read_text())["parameters"]
        assert p["desharpen"] is bool(flag) and p["sharpening"]["sharpened"]
        assert (p["desharpen_applied_b_A2"] is not None) is bool(flag)
    assert "looks sharpened" in capsys.readouterr().out


def test_report_row_says_whether_the_map_was_flattened():
    from deepres.report import _summary_lines

    sharp, mask = _sharpened_case()
    model = untrained("low")
    for flag in (False, True):
        res = deepres.estimate(sharp, mask, voxel_size_A=1.0, model=model, desharpen=flag)
        rows = dict(_summary_lines(res, res.resolution.data[mask], res.resolution, None))
        tail = res.parameters["sharpening"]["tail_b_A2"]
        assert rows["sharpened"].startswith(f"tail B {tail:+.0f} Å²")
        assert ("blurred by" in rows["sharpened"]) is flag
    data, mask = synthetic_map(shape=(40, 40, 40), resolution_A=4.0)
    res = deepres.estimate(data, mask, voxel_size_A=1.0, model=model)
    assert "sharpened" not in dict(_summary_lines(res, res.resolution.data[mask], res.resolution, None))
