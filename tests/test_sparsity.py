"""The band-sparsity channels of the front end (``FeatureConfig.sparsity_bands``) and how training
reads samples made with them."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch

from deepres.features import FeatureConfig, compute_features
from deepres.model import load_model
from deepres.ranges import get_range
from deepres.samples import make_sample
from deepres.train import TrainConfig, train, validate

DATA = Path(__file__).resolve().parent / "data"
SPARSE = FeatureConfig(sparsity_bands=6)


def _cube(n=48):
    m = torch.zeros(n, n, n)
    m[8:-8, 8:-8, 8:-8] = 1
    return m


def _interior(f, n=48):
    c = slice(10, n // 2 - 10)  # feature grid (stride 2), well inside the mask
    return f[:, c, c, c]


def test_sparsity_separates_gaussian_noise_from_sparse_peaks():
    """Gaussian noise reads ``log(2/pi)`` in every band; isolated sharp peaks (atoms) read lower in
    the fine bands. The leading channels are those of the front end without sparsity, the new
    ones do not depend on the map's scale."""
    g = torch.Generator().manual_seed(0)
    m = _cube()
    noise = torch.randn(48, 48, 48, generator=g) * m
    f = compute_features(noise, m, SPARSE)
    assert f.shape[0] == SPARSE.n_channels == FeatureConfig().n_channels + 6
    gauss = _interior(f[-6:]).mean(dim=(1, 2, 3))
    assert torch.allclose(gauss, torch.full_like(gauss, math.log(2 / math.pi)), atol=0.08), gauss
    torch.testing.assert_close(f[: FeatureConfig().n_channels], compute_features(noise, m, FeatureConfig()))
    inside = (slice(None),) + (slice(4, 20),) * 3  # the mask on the feature grid (outside it, float rounding
    # of near-empty bands moves every log-ratio channel, the old ones as much as the new)
    torch.testing.assert_close(compute_features(noise * 1000, m, SPARSE)[inside], f[inside], atol=1e-4, rtol=1e-4)

    peaks = torch.zeros(48, 48, 48)
    idx = torch.randint(10, 38, (3, 60), generator=g)
    peaks[idx[0], idx[1], idx[2]] = 1.0
    sparse = _interior(compute_features(peaks * m, m, SPARSE)[-6:]).mean(dim=(1, 2, 3))
    assert (sparse < math.log(2 / math.pi) - 0.1).all() and sparse[-1] < math.log(2 / math.pi) - 0.5, sparse


def test_a_window_half_outside_the_mask_is_not_read_as_sparse():
    """Dividing by the window's mask fraction: noise at the mask's face, whose windows are half
    outside, reads near 2/pi (undivided it would read about log(1/2) = -0.69 lower; the band's
    leak across the face leaves a smaller error the other way)."""
    g = torch.Generator().manual_seed(1)
    m = _cube()
    f = compute_features(torch.randn(48, 48, 48, generator=g) * m, m, SPARSE)[-1]  # the finest band
    edge = f[4, 6:18, 6:18]  # the feature plane of the mask's face (working voxel 8)
    assert abs(float(edge.mean()) - math.log(2 / math.pi)) < 0.25


def test_rounding_below_zero_in_empty_bands_gives_no_nan(monkeypatch):
    """The FFT smoothing of an empty band leaves values a little below zero (seen: -3.6e-7 on a high
    training map, which gave NaN features, in the shares as in the sparsity channels). Energies are
    clamped at zero, so every feature stays finite."""
    import deepres.features as feats

    smooth = feats._smooth3d
    monkeypatch.setattr(feats, "_smooth3d", lambda vol, sigma: smooth(vol, sigma) - 1e-3)
    g = torch.Generator().manual_seed(2)
    m = _cube()
    f = compute_features(torch.randn(48, 48, 48, generator=g) * m, m, SPARSE)
    assert torch.isfinite(f).all()


def test_the_setting_is_checked():
    with pytest.raises(ValueError, match="sparsity_bands"):
        FeatureConfig(sparsity_bands=17)


@pytest.fixture(scope="module")
def samples():
    path = str(DATA / "1BVN_l_u.pdb.gz")
    return (make_sample(path, get_range("low"), seed=5, features=FeatureConfig()),
            make_sample(path, get_range("low"), seed=5, features=SPARSE),
            make_sample(path, get_range("low"), seed=5, features=FeatureConfig(half_maps=True, sparsity_bands=6)))


def _write(d: Path, sample) -> str:
    d.mkdir()
    torch.save([sample, sample], d / "train_000.pt")
    torch.save([sample], d / "val_000.pt")
    return str(d)


def _cfg(**kw):
    return TrainConfig(**{"range_name": "low", "steps": 2, "batch": 1, "crop": 6, "val_every": 2, "threads": 1,
                          "seed": 3, **kw})


def test_training_reads_the_channels_it_takes(tmp_path, samples):
    """A network without sparsity channels trains on samples made with them exactly as on samples
    made without; one with them needs samples made with the same number, and refuses samples that
    hold half-map channels before them (a single-map network would read those in their place)."""
    plain, sparse, both = samples
    np.testing.assert_array_equal(sparse["features"][:18], plain["features"])
    np.testing.assert_array_equal(both["features"][:34], make_sample(
        str(DATA / "1BVN_l_u.pdb.gz"), get_range("low"), seed=5, features=FeatureConfig(half_maps=True))["features"])
    d_plain, d_sparse, d_both = (_write(tmp_path / n, s) for n, s in (("p", plain), ("s", sparse), ("b", both)))
    a, b = str(tmp_path / "a.pt"), str(tmp_path / "b.pt")
    train(d_sparse, a, _cfg(), log=lambda m: None)
    train(d_plain, b, _cfg(), log=lambda m: None)
    wa, wb = load_model("low", path=a).net.state_dict(), load_model("low", path=b).net.state_dict()
    assert all(torch.equal(wa[k], wb[k]) for k in wa)
    rec = train(d_sparse, str(tmp_path / "c.pt"), _cfg(sparsity_bands=6), log=lambda m: None)
    assert load_model("low", path=str(tmp_path / "c.pt")).features.sparsity_bands == 6
    assert rec["config"]["sparsity_bands"] == 6
    with pytest.raises(ValueError, match="another filter bank"):
        train(d_plain, str(tmp_path / "d.pt"), _cfg(sparsity_bands=6), log=lambda m: None)
    with pytest.raises(ValueError, match="another filter bank"):
        train(d_sparse, str(tmp_path / "e.pt"), _cfg(sparsity_bands=4), log=lambda m: None)
    with pytest.raises(ValueError, match="made with half maps"):
        train(d_both, str(tmp_path / "f.pt"), _cfg(sparsity_bands=6), log=lambda m: None)
    train(d_both, str(tmp_path / "g.pt"), _cfg(half_maps=True), log=lambda m: None)  # the 34 before them


def test_fine_tuning_into_sparsity_channels_starts_from_the_old_function(tmp_path, samples):
    """--init from a model without sparsity channels: their weights start at zero, so with a zero
    learning rate the validation error is the old model's on the same maps."""
    plain, sparse, _ = samples
    old = str(tmp_path / "old.pt")
    train(_write(tmp_path / "p", plain), old, _cfg(context_quantiles=(0.1, 0.5)), log=lambda m: None)
    new = str(tmp_path / "new.pt")
    rec = train(_write(tmp_path / "s", sparse), new, _cfg(steps=1, val_every=1, lr=0.0, init=old, sparsity_bands=6,
                                                          context_quantiles=(0.1, 0.5)), log=lambda m: None)
    lo, ln = load_model("low", path=old), load_model("low", path=new)
    assert ln.net.config.in_channels == lo.net.config.in_channels + 6
    ref = validate(lo.net, [plain], lo.net.radius, lo.features)
    assert rec["history"][-1]["mae_A"] == pytest.approx(ref["mae_A"], abs=1e-6)
    with pytest.raises(ValueError, match="another front end"):  # a start with other sparsity channels
        train(_write(tmp_path / "s2", make_sample(str(DATA / "1BVN_l_u.pdb.gz"), get_range("low"), seed=5,
                                                  features=FeatureConfig(sparsity_bands=4))),
              str(tmp_path / "x.pt"), _cfg(init=new, sparsity_bands=4, context_quantiles=(0.1, 0.5)),
              log=lambda m: None)


def test_a_model_with_sparsity_channels_estimates_and_tiles_exactly(tmp_path):
    """Inference reads the front end from the model file: a (random) network with sparsity channels
    and context loads, estimates every mask voxel, and its result does not depend on the tiling."""
    from scipy import ndimage

    from deepres.model import make_network, predict, save_model

    spec = get_range("low")
    torch.manual_seed(0)
    net, feats = make_network(spec, FeatureConfig(sparsity_bands=5, context_quantiles=(0.1, 0.5)), width=8)
    path = str(tmp_path / "sparse.pt")
    save_model(path, spec, net, feats, {}, "test-sparse")
    lm = load_model("low", path=path)
    assert lm.features.sparsity_bands == 5 and lm.net.config.in_channels == 23
    rng = np.random.default_rng(0)
    z, y, x = np.indices((44, 40, 48))
    mask = ((z - 21.5) / 18) ** 2 + ((y - 19.5) / 16) ** 2 + ((x - 23.5) / 20) ** 2 < 1
    data = (ndimage.gaussian_filter(rng.normal(size=mask.shape), 1.2) * mask).astype(np.float32)
    a = predict(lm, data, mask, tile_size=48)
    b = predict(lm, data, mask, tile_size=7)
    assert np.isfinite(a).all() and (a[mask] > 0).all() and (a[~mask] == 0).all()
    assert np.abs(a - b).max() < 1e-4
