"""Detection of low-pass filtered maps (deepres.lowpass) and the floor the pipeline takes from it."""

from __future__ import annotations

import numpy as np
import pytest

import deepres
from deepres.filters import lowpass, lowpass_to_resolution
from deepres.lowpass import detect_lowpass
from deepres.ranges import get_range
from pipeline_helpers import synthetic_map, untrained


def _noise(shape=(64, 64, 64), seed=0):
    return np.random.default_rng(seed).normal(size=shape).astype(np.float32)


@pytest.mark.parametrize("resolution_A, voxel_size_A", [(3.2, 1.05), (6.0, 1.0), (2.0, 0.6)])
def test_finds_a_raised_cosine_filter_and_where_the_content_ends(resolution_A, voxel_size_A):
    data = lowpass_to_resolution(_noise(), resolution_A, voxel_size_A, 0.02)
    cut = detect_lowpass(data, voxel_size_A)
    assert cut is not None
    end_cpv = voxel_size_A / resolution_A + 0.02  # the filter is zero from here on
    assert voxel_size_A / cut.content_end_A == pytest.approx(end_cpv, abs=0.015)
    assert cut.edge_A > cut.content_end_A and cut.drop_decades >= 2.0
    # the floor lies between the end of the content and the filter's resolution
    floor = cut.label_floor_A(0.02 / 1.0)
    assert cut.content_end_A < floor < resolution_A * 1.02


def test_white_noise_and_signal_over_white_noise_are_not_filtered():
    noise = _noise(seed=1)
    assert detect_lowpass(noise, 1.0) is None
    # a band-limited signal ends sharply, but the noise goes on to Nyquist: at a signal-to-noise
    # ratio of 4 in total variance (about 50 in the signal's own bands) the power falls ~1.7 decades
    signal = lowpass_to_resolution(_noise(seed=2), 4.0, 1.0, 0.02)
    assert detect_lowpass(signal * (2.0 / signal.std()) + noise, 1.0) is None
    # ... while a signal 1000 times stronger than the noise in its bands leaves nothing beyond its end
    # that counts: the map holds no content finer, as if filtered
    assert detect_lowpass(signal * (10.0 / signal.std()) + noise, 1.0) is not None


def test_a_filter_at_nyquist_is_not_reported():
    assert detect_lowpass(lowpass(_noise(seed=3), 0.49, 0.01), 1.0) is None


def test_pipeline_floors_a_filtered_map_at_its_content_and_says_so():
    # untrained network: it reads the filtered map anywhere in the range; the floor must hold
    data, mask = synthetic_map(shape=(40, 40, 40), resolution_A=6.0)
    rng = np.random.default_rng(5)
    noisy = data + rng.normal(0, 0.3 * data.std(), data.shape).astype(np.float32)
    filtered = lowpass_to_resolution(noisy, 6.0, 1.0, 0.02)
    before = filtered.copy()
    spec = get_range("low")
    res = deepres.estimate(filtered, mask, voxel_size_A=1.0, model=untrained("low"))
    lp = res.parameters["lowpass_filter"]
    assert lp is not None and 4.5 < lp["label_floor_A"] < 6.2
    inside = res.resolution.data[mask]
    assert inside.min() >= lp["label_floor_A"] - 1e-4
    assert res.summary()["reported_floor_A"] == pytest.approx(lp["label_floor_A"], abs=1e-3)
    assert any("looks low-pass filtered" in w for w in res.warnings)
    assert np.array_equal(filtered, before)  # the input is not changed
    # without the floor: the filter is still reported, the range's own floor applies
    res0 = deepres.estimate(filtered, mask, voxel_size_A=1.0, model=untrained("low"), lowpass_floor=False)
    assert res0.parameters["lowpass_filter"] == lp and res0.parameters["lowpass_floor"] is False
    assert res0.resolution.data[mask].min() >= spec.floor_A(1.0) - 1e-4
    assert res0.summary()["reported_floor_A"] == pytest.approx(spec.floor_A(1.0))
    assert np.all(np.maximum(res0.resolution.data[mask], lp["label_floor_A"]) <= inside + 1e-3)


def test_unfiltered_map_has_no_lowpass_floor():
    data, mask = synthetic_map(shape=(40, 40, 40), resolution_A=6.0)
    noisy = data + np.random.default_rng(6).normal(0, 0.3 * data.std(), data.shape).astype(np.float32)
    res = deepres.estimate(noisy, mask, voxel_size_A=1.0, model=untrained("low"))
    assert res.parameters["lowpass_filter"] is None
    assert res.summary()["reported_floor_A"] == pytest.approx(get_range("low").floor_A(1.0))


def test_report_names_the_filter_and_the_floor():
    from deepres.report import _summary_lines

    data, mask = synthetic_map(shape=(40, 40, 40), resolution_A=6.0)
    noisy = data + np.random.default_rng(7).normal(0, 0.3 * data.std(), data.shape).astype(np.float32)
    res = deepres.estimate(lowpass_to_resolution(noisy, 6.0, 1.0, 0.02), mask, voxel_size_A=1.0,
                           model=untrained("low"))
    rows = dict(_summary_lines(res, res.resolution.data[mask], res.resolution, None))
    lp = res.parameters["lowpass_filter"]
    assert rows["low-pass filtered"] == (f"content ends at {lp['content_end_A']:.2f} Å; "
                                         f"floor {lp['label_floor_A']:.2f} Å")
    res0 = deepres.estimate(noisy, mask, voxel_size_A=1.0, model=untrained("low"))
    assert "low-pass filtered" not in dict(_summary_lines(res0, res0.resolution.data[mask], res0.resolution, None))


def test_a_filter_finer_than_the_range_changes_nothing():
    # the low range reports nothing under 2.5 A; a filter at 2.3 A is reported, and the floor stays
    data, mask = synthetic_map(shape=(48, 48, 48), voxel_size_A=1.0, resolution_A=6.0)
    noisy = data + np.random.default_rng(8).normal(0, 0.3 * data.std(), data.shape).astype(np.float32)
    res = deepres.estimate(lowpass_to_resolution(noisy, 2.3, 1.0, 0.02), mask, voxel_size_A=1.0,
                           model=untrained("low"))
    lp = res.parameters["lowpass_filter"]
    assert lp is not None and lp["label_floor_A"] < 2.5
    assert res.floor_A == pytest.approx(2.5)
    assert any("already at or above" in w for w in res.warnings)
