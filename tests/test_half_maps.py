"""The optional half-map input: its features, the models that read them, the pipeline and CLI."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from pipeline_helpers import snapshot, synthetic_map, untrained, use_untrained, write_mrc

import deepres
from deepres import cli
from deepres.errors import InputError
from deepres.features import FeatureConfig, compute_features
from deepres.filters import lowpass_to_resolution


def _halves(seed=0, shape=(40, 40, 40), noise_sd=0.05, resolution_A=5.0):
    """A blobby map low-passed at ``resolution_A`` (1 Å/voxel) and two halves with independent white
    noise; the map is their mean."""
    _, mask = synthetic_map(shape, 1.0, seed, n_blobs=60, resolution_A=resolution_A)
    rng = np.random.default_rng(seed)
    signal = lowpass_to_resolution(rng.normal(0, 1, shape).astype(np.float32) * mask, resolution_A, 1.0, 0.05)
    signal = signal / signal[mask].std()  # no noise common to the halves
    rng = np.random.default_rng(seed + 1)
    h1 = (signal + rng.normal(0, noise_sd, shape)).astype(np.float32)
    h2 = (signal + rng.normal(0, noise_sd, shape)).astype(np.float32)
    return (0.5 * (h1 + h2)).astype(np.float32), mask, h1, h2


def _features(m, mask, h1, h2, cfg=FeatureConfig(half_maps=True)):
    """Features of the unmasked map and halves (a mask's sharp edge is common to both halves, and
    would make every band correlate near it)."""
    t = torch.from_numpy
    return compute_features(t(m), t(mask), cfg, (t(h1), t(h2))).numpy()


def test_band_correlation_tells_signal_from_noise():
    """Bands that hold the signal (coarser than 5 Å) correlate between the halves; bands that hold
    only the independent noise (finer than 2.5 Å) do not."""
    m, mask, h1, h2 = _halves()
    cfg = FeatureConfig(half_maps=True)
    f = _features(m, mask, h1, h2, cfg)
    assert f.shape[0] == cfg.n_channels == 34
    inner = torch.nn.functional.avg_pool3d(torch.from_numpy(mask.astype(np.float32))[None, None], 2)[0, 0].numpy() > 0.99
    corr = f[18:][:, inner].mean(1)
    centres = np.array(cfg.band_centres())
    assert corr[centres < 0.12].min() > 0.8
    assert np.abs(corr[centres > 0.4]).max() < 0.2
    # the first 18 channels are the single-map features, unchanged
    np.testing.assert_allclose(f[:18], compute_features(torch.from_numpy(m), torch.from_numpy(mask),
                                                        FeatureConfig()).numpy(), atol=1e-5)
    with pytest.raises(ValueError, match="half maps"):
        compute_features(torch.from_numpy(m), torch.from_numpy(mask), cfg)


def test_band_correlation_follows_the_noise_level():
    """More noise in the halves, lower correlation in the signal's finest bands."""
    m, mask, h1, h2 = _halves(noise_sd=0.02)
    m2, _, g1, g2 = _halves(noise_sd=0.5)
    k = 8  # a band at ~0.13 cycles/voxel: weak signal of a 5 Å map
    assert _features(m, mask, h1, h2)[18 + k].mean() > _features(m2, mask, g1, g2)[18 + k].mean() + 0.1


def test_widened_network_starts_as_the_same_function():
    """Fine-tuning a single-map network into a half-map one: the new input channels start at zero."""
    from deepres.network import DeepResNet, NetConfig
    from deepres.train import init_from

    torch.manual_seed(0)
    old = DeepResNet(NetConfig(in_channels=18, width=8))
    new = DeepResNet(NetConfig(in_channels=34, width=8))
    missing, unexpected, widened = init_from(new, old)
    assert widened == ["inp.weight"] and not missing and not unexpected
    x = torch.randn(1, 34, 24, 24, 24)
    with torch.no_grad():
        torch.testing.assert_close(new(x), old(x[:, :18]))
        # and the new channels are there to learn from: a non-zero weight makes them count
        new.inp.weight[:, 20] += 0.5
        assert (new(x) - old(x[:, :18])).abs().max() > 1e-3


def test_pipeline_with_half_maps_is_scale_and_offset_invariant():
    m, mask, h1, h2 = _halves(shape=(44, 40, 42))
    lm = untrained("low", half_maps=True)
    ref = deepres.estimate(m, mask, 1.0, device="cpu", model=lm, half_maps=(h1, h2))
    assert ref.parameters["half_maps"] is True and ref.model_id == lm.model_id
    a = 1000.0
    out = deepres.estimate(m * a + 3.0, mask, 1.0, device="cpu", model=lm,
                           half_maps=(h1 * a + 3.0, h2 * a + 3.0)).resolution.data
    assert np.abs(out - ref.resolution.data)[mask].max() <= 0.05
    # the half maps reach the network: halves with other noise give another answer
    rng = np.random.default_rng(5)
    noisier = [(m + rng.normal(0, 0.5, m.shape)).astype(np.float32) for _ in range(2)]
    other = deepres.estimate(m, mask, 1.0, device="cpu", model=lm, half_maps=noisier).resolution.data
    assert np.abs(other - ref.resolution.data)[mask].mean() > 1e-3


def test_half_map_errors_are_clear():
    m, mask, h1, h2 = _halves(shape=(40, 40, 40))
    with pytest.raises(InputError, match="reads the two half maps"):
        deepres.estimate(m, mask, 1.0, device="cpu", model=untrained("low", half_maps=True))
    with pytest.raises(InputError, match="does not read half maps"):
        deepres.estimate(m, mask, 1.0, device="cpu", model=untrained("low"), half_maps=(h1, h2))
    with pytest.raises(InputError, match="identical"):
        deepres.estimate(m, mask, 1.0, device="cpu", model=untrained("low", half_maps=True), half_maps=(h1, h1))
    with pytest.raises(InputError, match="not on the grid"):
        deepres.estimate(m, mask, 1.0, device="cpu", model=untrained("low", half_maps=True), half_maps=(h1, h2[:-1]))
    with pytest.raises(InputError, match="two half maps"):
        deepres.estimate(m, mask, 1.0, device="cpu", model=untrained("low", half_maps=True), half_maps=(h1,))
    bad = h2.copy()
    bad[3, 3, 3] = np.nan
    with pytest.raises(InputError, match="NaN"):
        deepres.estimate(m, mask, 1.0, device="cpu", model=untrained("low", half_maps=True), half_maps=(h1, bad))


def test_cli_half_maps(tmp_path, monkeypatch, capsys):
    use_untrained(monkeypatch)
    m, mask, h1, h2 = _halves(shape=(40, 40, 40))
    paths = {k: write_mrc(tmp_path / f"{k}.mrc", v) for k, v in
             (("map", m), ("mask", mask.astype(np.float32)), ("h1", h1), ("h2", h2))}
    out = tmp_path / "out"
    rc = cli.main(["estimate", str(paths["map"]), "--mask", str(paths["mask"]), "--half-maps", str(paths["h1"]),
                   str(paths["h2"]), "--device", "cpu", "--no-report", "-o", str(out), "--quiet"])
    assert rc == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["parameters"]["half_maps"] is True
    assert summary["parameters"]["half_map_files"] == [str(paths["h1"]), str(paths["h2"])]
    assert len(summary["inputs"]["half_map_1"]["sha256"]) == 64
    # a half map on another grid: one-line error, exit 2, nothing written, inputs untouched
    shifted = write_mrc(tmp_path / "shifted.mrc", h2, 1.0, origin_xyz=(5.0, 0.0, 0.0))
    before = snapshot(tmp_path)
    capsys.readouterr()
    rc = cli.main(["estimate", str(paths["map"]), "--mask", str(paths["mask"]), "--half-maps", str(paths["h1"]),
                   str(shifted), "--device", "cpu", "--no-report", "-o", str(tmp_path / "out2")])
    err = capsys.readouterr().err
    assert rc == 2 and err.startswith("deepres: error:") and err.count("\n") == 1
    assert snapshot(tmp_path) == before


def test_with_half_maps_sharpening_the_map_changes_nothing():
    """The estimate reads the mean of the halves, so a map sharpened or blurred after reconstruction
    gives the same answer as the plain map; its spectral tilt is measured and recorded, and a map
    that does not belong to the halves is flagged."""
    from deepres.pipeline import compare_to_halves
    from deepres.simulate.noise import apply_bfactor

    m, mask, h1, h2 = _halves(shape=(40, 40, 40), resolution_A=3.0)
    mean = 0.5 * (h1 + h2)
    tilt, corr = compare_to_halves(m, mean, mask)
    assert tilt == pytest.approx(1.0, abs=1e-3) and corr == pytest.approx(1.0, abs=1e-3)
    tilt, corr = compare_to_halves(m * 7.0 + 2.0, mean, mask)  # scale, offset: no tilt
    assert tilt == pytest.approx(1.0, abs=1e-3) and corr == pytest.approx(1.0, abs=1e-3)
    sharp = apply_bfactor(m, 1.0, -20.0)
    tilt, corr = compare_to_halves(sharp, mean, mask)
    assert tilt > 1.8 and corr > 0.99
    assert compare_to_halves(apply_bfactor(m, 1.0, 50.0), mean, mask)[0] < 1 / 3.0
    lm = untrained("low", half_maps=True)
    plain = deepres.estimate(m, mask, 1.0, device="cpu", model=lm, half_maps=(h1, h2))
    res = deepres.estimate(sharp, mask, 1.0, device="cpu", model=lm, half_maps=(h1, h2))
    np.testing.assert_array_equal(res.resolution.data, plain.resolution.data)
    assert res.parameters["estimated_from"] == "mean of the half maps"
    assert res.parameters["map_vs_halves_spectral_tilt"] > 1.8
    assert not any("belong" in w for w in plain.warnings + res.warnings)
    other, _, _, _ = _halves(seed=5, shape=(40, 40, 40), resolution_A=3.0)  # another map, these halves
    wrong = deepres.estimate(other, mask, 1.0, device="cpu", model=lm, half_maps=(h1, h2))
    assert any("belong to this map" in w for w in wrong.warnings)
    assert wrong.parameters["map_vs_halves_correlation"] < 0.5
