"""The shipped networks: safe loading, identity, and the invariances the network issue asks for."""

from __future__ import annotations

import hashlib
import os

import numpy as np
import pytest
import torch

import deepres
from deepres.model import (
    FORMAT,
    build_untrained,
    load_model,
    model_path,
    predict,
)

torch.set_num_threads(1)

STRUCT_DIR = os.path.join(os.path.dirname(__file__), "data")  # a held-out bm5 structure (PDB 1A2K chain, CC0)


@pytest.mark.parametrize("half_maps", [False, True])
@pytest.mark.parametrize("rng_name", ["low", "high"])
def test_shipped_model_loads_safely_with_its_checksum(rng_name, half_maps):
    path = model_path(rng_name, half_maps)
    assert os.path.isfile(path), f"shipped model {path} missing"
    # weights_only loading must work on the raw file (no pickled code inside)
    payload = torch.load(path, map_location="cpu", weights_only=True)
    assert payload["format"] == FORMAT and payload["range"] == rng_name
    lm = load_model(rng_name, half_maps=half_maps)
    with open(path, "rb") as fh:
        assert lm.sha256 == hashlib.sha256(fh.read()).hexdigest()
    assert lm.model_id.startswith(f"deepres-{rng_name}-{'halves-' if half_maps else ''}")
    assert lm.features.half_maps is half_maps
    assert 1e4 < lm.n_parameters < 2e6  # a few MB at most
    assert os.path.getsize(path) < 8 * 2**20
    assert lm.training.get("history"), "the model carries its training record"


def test_model_of_other_range_refused(tmp_path):
    with pytest.raises(deepres.DeepResError, match="range"):
        load_model("low", path=model_path("high"))
    bad = tmp_path / "x.pt"
    bad.write_bytes(b"not a model")
    with pytest.raises(deepres.DeepResError, match="cannot read"):
        load_model("low", path=str(bad))


def _blob_map(shape=(56, 60, 52), seed=0):
    """A smooth random 'molecule' inside an ellipsoid, and its mask."""
    rng = np.random.default_rng(seed)
    from scipy import ndimage

    z, y, x = np.indices(shape)
    c = [(s - 1) / 2 for s in shape]
    r = ((z - c[0]) / 20) ** 2 + ((y - c[1]) / 22) ** 2 + ((x - c[2]) / 18) ** 2
    mask = r < 1
    data = ndimage.gaussian_filter(rng.normal(size=shape), 1.2).astype(np.float32) * mask
    return data.astype(np.float32), mask


def test_tiling_does_not_change_the_result():
    lm = load_model("low")
    data, mask = _blob_map()
    a = predict(lm, data, mask, tile_size=48)
    b = predict(lm, data, mask, tile_size=7)
    assert np.abs(a - b).max() < 1e-4
    assert (a[mask] > 0).all() and (a[~mask] == 0).all()


def test_bfloat16_stays_close_to_float32():
    lm = load_model("low")
    data, mask = _blob_map()
    a = predict(lm, data, mask)
    b = predict(lm, data, mask, precision="bfloat16")
    diff = np.abs(a - b)[mask]
    assert 0 < diff.max()  # the lower precision was really used ...
    assert diff.mean() < 0.1  # ... and costs little (docs/training-history.md, "Mixed precision on CPU")
    assert (b[mask] > 0).all() and (b[~mask] == 0).all()


def test_unknown_precision_is_refused():
    from deepres.errors import InputError

    data, mask = _blob_map((40, 40, 40))
    with pytest.raises(InputError, match="precision"):
        predict(load_model("low"), data, mask, precision="float8")


def test_bfloat16_cpu_flags_are_read_from_cpuinfo(monkeypatch):
    from deepres import model as M

    avx2 = "processor\t: 0\nflags\t\t: fpu sse2 avx avx2 fma\n"
    zen4 = "processor\t: 0\nflags\t\t: fpu avx2 avx512f avx512_bf16\n"
    assert M.cpu_native_bfloat16(avx2) is False
    assert M.cpu_native_bfloat16(zen4) is True
    assert M.cpu_native_bfloat16("processor\t: 0\n") is None  # no flags line: cannot tell
    # the warning follows the flags, and only for bfloat16 on the CPU
    monkeypatch.setattr(M, "cpu_native_bfloat16", lambda cpuinfo=None: False)
    assert "float32" in M.bfloat16_cpu_warning("bfloat16", "cpu")
    assert M.bfloat16_cpu_warning("float32", "cpu") is None
    assert M.bfloat16_cpu_warning("bfloat16", "cuda") is None
    monkeypatch.setattr(M, "cpu_native_bfloat16", lambda cpuinfo=None: True)
    assert M.bfloat16_cpu_warning("bfloat16", "cpu") is None


def test_untrained_network_differs_from_shipped():
    data, mask = _blob_map()
    a = predict(load_model("low"), data, mask)
    b = predict(build_untrained("low"), data, mask)
    assert np.abs(a - b)[mask].mean() > 0.05


@pytest.fixture(scope="module")
def simulated_low():
    from deepres.simulate import simulate_case

    path = os.path.join(STRUCT_DIR, "1A2K_l_u.pdb.gz")  # held-out structure
    if not os.path.exists(path):
        pytest.skip("bm5 structures not available")
    case = simulate_case(path, "low", 1.0, seed=3, field_kind="smooth", noise="lowpass", snr=8.0)
    return case.map.data, case.mask.data > 0.5


def test_scale_and_offset_invariance(simulated_low):
    data, mask = simulated_low
    ref = deepres.estimate(data, mask, 1.0, range="low", device="cpu").resolution.data
    for transformed in (data * 1000.0, data + 5.0 * float(data.std())):
        out = deepres.estimate(transformed.astype(np.float32), mask, 1.0, range="low", device="cpu").resolution.data
        assert np.abs(out - ref).max() <= 0.05


@pytest.mark.parametrize("axes", [(0, 1), (0, 2), (1, 2)])
def test_rotation_by_90_degrees_rotates_the_result(simulated_low, axes):
    data, mask = simulated_low
    ref = deepres.estimate(data, mask, 1.0, range="low", device="cpu").resolution.data
    rot = deepres.estimate(np.rot90(data, 1, axes).copy(), np.rot90(mask, 1, axes).copy(), 1.0, range="low",
                           device="cpu").resolution.data
    back = np.rot90(rot, -1, axes)
    assert np.abs(back - ref)[mask].mean() <= 0.1


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_cpu_and_cuda_agree():
    lm = load_model("low")
    data, mask = _blob_map()
    a = predict(lm, data, mask, device="cpu")
    b = predict(lm, data, mask, device="cuda")
    assert np.abs(a - b).max() < 1e-2
    c = predict(lm, data, mask, device="cuda", precision="bfloat16")
    assert np.abs(a - c)[mask].mean() < 0.1


def test_high_range_run_carries_the_experimental_warning():
    data, mask = _blob_map((48, 48, 48))
    res = deepres.estimate(data, mask, 0.8, range="high", device="cpu")
    assert any("experimental" in w for w in res.warnings)
    low = deepres.estimate(data, mask, 0.8, range="low", device="cpu")
    assert not any("experimental" in w for w in low.warnings)


@pytest.mark.parametrize("n,tile", [(100, 100), (101, 100), (100, 48), (7, 3), (1, 5), (250, 96)])
def test_tiles_are_balanced_and_cover_the_axis(n, tile):
    from deepres.model import tile_starts

    starts = tile_starts(n, tile)
    ends = starts[1:] + [n]
    sizes = [b - a for a, b in zip(starts, ends)]
    assert starts[0] == 0 and all(0 < s <= tile for s in sizes)
    assert max(sizes) - min(sizes) <= len(sizes)  # no sliver of a tile at the end
    assert len(starts) == -(-n // tile)  # as few tiles as the limit allows


@pytest.mark.parametrize("sigma", [1.0, 3.5, 7.0])
def test_feature_smoothing_is_a_zero_padded_gaussian_convolution(sigma):
    """The FFT smoothing of the front end equals a direct separable convolution with the same
    truncated kernel and zero padding (scipy), edges included."""
    from scipy import ndimage

    from deepres.features import _gauss1d, _smooth3d

    rng = np.random.default_rng(1)
    vol = rng.random((23, 30, 17)).astype(np.float32)
    k = _gauss1d(sigma, "cpu").numpy().astype(np.float64)
    ref = vol.astype(np.float64)
    for axis in range(3):
        ref = ndimage.convolve1d(ref, k, axis=axis, mode="constant", cval=0.0)
    out = _smooth3d(torch.from_numpy(vol), sigma).numpy()
    assert out.shape == vol.shape
    np.testing.assert_allclose(out, ref, atol=1e-5)


def _two_untrained_files(tmp_path) -> list[str]:
    """Two untrained low model files of different seeds, with ids m1 and m2."""
    from deepres.model import build_untrained, save_model

    paths = []
    for seed in (1, 2):
        lm = build_untrained("low", seed=seed)
        p = str(tmp_path / f"m{seed}.pt")
        save_model(p, lm.spec, lm.net, lm.features, {"seed": seed}, f"m{seed}")
        paths.append(p)
    return paths


def test_ensemble_file_is_the_geometric_mean_of_its_members(tmp_path):
    from deepres.model import combine_models

    paths = _two_untrained_files(tmp_path)
    ens = combine_models(paths, str(tmp_path / "ens.pt"), "ens-test")
    a, b = (load_model("low", p) for p in paths)
    assert ens.model_id == "ens-test" and len(ens.net.members) == 2
    assert [m["model_id"] for m in ens.training["ensemble_of"]] == ["m1", "m2"]
    x = torch.randn(1, ens.features.n_channels, 24, 24, 24)
    with torch.no_grad():
        expected = torch.sqrt(a.net(x) * b.net(x))
        got = ens.net(x)
    assert torch.allclose(got, expected, rtol=1e-5)
    assert not torch.allclose(a.net(x), b.net(x))  # the members really differ


def test_weight_average_file_holds_the_mean_of_the_weights(tmp_path):
    from deepres.model import average_models, build_untrained, combine_models, save_model

    paths = _two_untrained_files(tmp_path)
    avg = average_models(paths, str(tmp_path / "avg.pt"), "avg-test")
    a, b = (load_model("low", p) for p in paths)
    assert avg.model_id == "avg-test" and avg.net.config == a.net.config
    assert [m["model_id"] for m in avg.training["weight_average_of"]] == ["m1", "m2"]
    sa, sb, sv = a.net.state_dict(), b.net.state_dict(), avg.net.state_dict()
    assert set(sv) == set(sa)
    for k in sv:
        assert torch.allclose(sv[k], (sa[k] + sb[k]) / 2, atol=1e-7), k
    assert any(not torch.equal(sa[k], sb[k]) for k in sa)  # the members really differ
    # averaging a file with itself gives the same function
    same = average_models([paths[0], paths[0]], str(tmp_path / "same.pt"), "same")
    x = torch.randn(1, a.features.n_channels, 24, 24, 24)
    with torch.no_grad():
        assert torch.allclose(same.net(x), a.net(x), rtol=1e-6)
    # an ensemble file, or files of another network size, cannot be averaged
    ens = str(tmp_path / "ens.pt")
    combine_models(paths, ens, "ens")
    with pytest.raises(ValueError, match="ensemble"):
        average_models([paths[0], ens], str(tmp_path / "bad.pt"), "bad")
    other = build_untrained("low", seed=3)
    from deepres.network import DeepResNet
    from dataclasses import replace

    wide = DeepResNet(replace(other.net.config, width=other.net.config.width + 8))
    save_model(str(tmp_path / "wide.pt"), other.spec, wide, other.features, {}, "wide")
    with pytest.raises(ValueError, match="network configuration"):
        average_models([paths[0], str(tmp_path / "wide.pt")], str(tmp_path / "bad.pt"), "bad")
    assert not (tmp_path / "bad.pt").exists()


# ------------------------------------------------------------------ whole-map context (v5 models)
def test_context_enters_as_a_per_map_bias_equal_to_constant_input_channels():
    """The context vector acts exactly like extra input channels that hold its values everywhere."""
    from deepres.network import DeepResNet, NetConfig

    torch.manual_seed(0)
    a = DeepResNet(NetConfig(in_channels=18, context_channels=5, width=8))
    torch.nn.init.normal_(a.ctx.weight)
    b = DeepResNet(NetConfig(in_channels=23, width=8))
    sd = {k: v for k, v in a.state_dict().items() if not k.startswith("ctx.")}
    sd["inp.weight"] = torch.cat([a.inp.weight, a.ctx.weight[:, :, None, None, None]], 1)
    b.load_state_dict(sd)
    x, ctx = torch.randn(2, 18, 24, 24, 24), torch.randn(2, 5)
    const = ctx[:, :, None, None, None].expand(-1, -1, 24, 24, 24)
    with torch.no_grad():
        assert torch.allclose(a(x, ctx), b(torch.cat([x, const], 1)), rtol=1e-5, atol=1e-5)
        assert not torch.allclose(a(x, ctx), a(x, torch.zeros_like(ctx)))
    with pytest.raises(ValueError, match="context"):
        a(x)


def test_new_context_weights_start_at_zero():
    """Fine-tuning a v4-style network into one with context starts from the same function."""
    from deepres.network import DeepResNet, NetConfig

    torch.manual_seed(1)
    old = DeepResNet(NetConfig(width=8))
    new = DeepResNet(NetConfig(width=8, context_channels=32))
    missing, unexpected = new.load_state_dict(old.state_dict(), strict=False)
    assert missing == ["ctx.weight"] and not unexpected
    x = torch.randn(1, 18, 24, 24, 24)
    with torch.no_grad():
        assert torch.equal(old(x), new(x, torch.randn(1, 32)))


def test_feature_context_is_the_quantiles_of_the_band_shares_over_the_mask():
    from deepres.features import FeatureConfig, block_mean, compute_features, feature_context

    data, mask = _blob_map((48, 48, 48))
    cfg = FeatureConfig(context_quantiles=(0.1, 0.5))
    assert cfg.n_context == 32 and FeatureConfig(**cfg.to_dict()) == cfg  # survives the model file
    f = compute_features(torch.from_numpy(data), torch.from_numpy(mask), cfg)
    w = block_mean(torch.from_numpy(mask).float()) >= 0.5
    ctx = feature_context(f, w, cfg).numpy()
    bands = f[:16].numpy()[:, w.numpy()]
    np.testing.assert_allclose(ctx, np.quantile(bands, [0.1, 0.5], axis=1).reshape(-1), atol=1e-5)
    # a map with more fine detail has higher shares in the fine bands
    sharp = compute_features(torch.from_numpy(data + 0.5 * np.random.default_rng(2).normal(size=data.shape)
                                              .astype(np.float32) * mask), torch.from_numpy(mask), cfg)
    assert feature_context(sharp, w, cfg)[15] > ctx[15] + 0.5
    assert feature_context(f, w, FeatureConfig()).numel() == 0


def test_context_model_file_round_trip_and_tiling(tmp_path):
    from deepres.features import FeatureConfig
    from deepres.model import make_network, save_model

    spec = deepres.ranges.get_range("low")
    torch.manual_seed(3)
    net, feats = make_network(spec, FeatureConfig(context_quantiles=(0.1,)), width=8)
    torch.nn.init.normal_(net.ctx.weight, std=0.5)
    path = str(tmp_path / "ctx.pt")
    save_model(path, spec, net, feats, {}, "ctx-test")
    lm = load_model("low", path)
    assert lm.features.context_quantiles == (0.1,) and lm.net.config.context_channels == 16
    data, mask = _blob_map()
    a = predict(lm, data, mask, tile_size=48)
    b = predict(lm, data, mask, tile_size=7)
    assert np.abs(a - b).max() < 1e-4
    with torch.no_grad():
        lm.net.ctx.weight.zero_()
    c = predict(lm, data, mask)
    assert np.abs(a - c)[mask].mean() > 1e-3  # the context is used


@pytest.mark.parametrize("half_maps", [False, True])
def test_the_shipped_high_models_carry_their_experimental_warning(half_maps):
    """The high range is below its targets: each shipped high model must have its warning (a new
    file with a new id and no warning would silently drop it)."""
    from deepres.model import MODEL_WARNINGS

    lm = load_model("high", half_maps=half_maps)
    assert "experimental" in MODEL_WARNINGS.get(lm.model_id, "")
    assert lm.model_id in MODEL_WARNINGS[lm.model_id]
