"""The solvent noise reference (deepres.solvent) and its way into the network, training and pipeline."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pytest
import torch

from deepres.errors import InputError
from deepres.features import FeatureConfig
from deepres.filters import lowpass
from deepres.mask import dilate18
from deepres.solvent import n_values, solvent_context, unavailable

torch.set_num_threads(1)
DATA = Path(__file__).resolve().parent / "data"
CFG = FeatureConfig(context_quantiles=(0.1, 0.5), solvent_context=True)


def _ball(shape=(64, 64, 64), radius=14.0) -> np.ndarray:
    z, y, x = np.indices(shape)
    c = [(n - 1) / 2 for n in shape]
    return ((z - c[0]) ** 2 + (y - c[1]) ** 2 + (x - c[2]) ** 2) <= radius**2


def _filtered(a: np.ndarray, cutoff_cpv: float) -> np.ndarray:
    """``a`` with everything beyond ``cutoff_cpv`` removed (a hard edge)."""
    return lowpass(a, cutoff_cpv, rolloff_cpv=0.0)


def _map(seed=0, noise_cut=None, signal=3.0):
    """A smooth 'molecule' (signal up to 0.1 cycles/voxel) in a ball, and noise everywhere (white, or
    low-passed at ``noise_cut``)."""
    rng = np.random.default_rng(seed)
    ball = _ball()
    sig = _filtered(rng.normal(size=ball.shape).astype(np.float32), 0.1) * ball * signal
    noise = rng.normal(size=ball.shape).astype(np.float32)
    if noise_cut is not None:
        noise = _filtered(noise, noise_cut)
    return (sig + noise).astype(np.float32), dilate18(ball)


def test_noise_bands_read_near_zero_and_signal_bands_below():
    data, mask = _map()
    v, why = solvent_context(data, mask, 1.0, 1.0, CFG)
    assert why is None and v.shape == (n_values(CFG),) and v[-1] == 1.0
    centres = np.array(CFG.band_centres())
    noise_only = (centres > 0.14) & (centres < 0.5)
    assert np.abs(v[:-1][noise_only]).max() < 0.15  # the same noise outside and inside
    assert v[:-1][centres < 0.06].max() < -1.0  # the signal's bands: much more power inside


def test_a_low_pass_noise_shows_in_the_reference():
    """Noise cut at 0.25 cycles/voxel: past the cut neither region has noise, so the value leaves 0."""
    white, mask = _map(seed=1)
    low, _ = _map(seed=1, noise_cut=0.25)
    vw, _ = solvent_context(white, mask, 1.0, 1.0, CFG)
    vl, _ = solvent_context(low, mask, 1.0, 1.0, CFG)
    centres = np.array(CFG.band_centres())
    fine = (centres > 0.33) & (centres < 0.5)
    assert np.abs(vl[:-1][fine] - vw[:-1][fine]).min() > 0.3


def test_scale_offset_and_rotation_leave_the_reference_unchanged():
    data, mask = _map(seed=2)
    v, _ = solvent_context(data, mask, 1.0, 1.0, CFG)
    v2, _ = solvent_context(data * 1000.0 + 37.0, mask, 1.0, 1.0, CFG)
    np.testing.assert_allclose(v, v2, atol=1e-3)
    v3, _ = solvent_context(np.rot90(data, 1, (0, 2)).copy(), np.rot90(mask, 1, (0, 2)).copy(), 1.0, 1.0, CFG)
    np.testing.assert_allclose(v, v3, atol=1e-3)


def test_bands_past_the_input_nyquist_read_zero():
    """At 2 A/voxel and a 1 A working sampling, bands finer than 0.25 cycles/working voxel do not exist."""
    data, mask = _map(seed=3)
    v, _ = solvent_context(data, mask, 2.0, 1.0, CFG)
    centres = np.array(CFG.band_centres())
    assert np.all(v[:-1][centres * 2.0 >= 0.5] == 0.0)
    assert np.all(v[:-1][centres * 2.0 < 0.5] != 0.0)


def test_no_reference_from_a_flat_or_missing_solvent():
    data, mask = _map(seed=4)
    flat = np.where(mask, data, np.float32(0.3))
    v, why = solvent_context(flat, mask, 1.0, 1.0, CFG)
    assert "flat" in why and np.array_equal(v, unavailable(CFG)) and v[-1] == 0.0
    everywhere = np.ones_like(mask)
    v, why = solvent_context(data, everywhere, 1.0, 1.0, CFG)
    assert "too little solvent" in why and np.array_equal(v, unavailable(CFG))
    with pytest.raises(ValueError, match="differ in shape"):
        solvent_context(data, mask[1:], 1.0, 1.0, CFG)


def _solvent_model(tmp_path, seed=3):
    from deepres.model import load_model, make_network, save_model
    from deepres.ranges import get_range

    spec = get_range("low")
    torch.manual_seed(seed)
    net, feats = make_network(spec, CFG, width=8)
    assert net.config.context_channels == 32 + 17
    torch.nn.init.normal_(net.ctx.weight, std=0.5)
    path = str(tmp_path / "solvent.pt")
    save_model(path, spec, net, feats, {}, "solvent-test")
    return load_model("low", path)


def test_predict_reads_the_reference_and_defaults_to_none(tmp_path):
    from deepres.model import predict

    lm = _solvent_model(tmp_path)
    assert lm.features.solvent_context and FeatureConfig(**lm.features.to_dict()) == lm.features
    data, mask = _map(seed=5)
    masked = np.where(mask, data, 0).astype(np.float32)
    v, _ = solvent_context(data, mask, 1.0, 1.0, CFG)
    with_ref = predict(lm, masked, mask, solvent=v)
    without = predict(lm, masked, mask)
    np.testing.assert_array_equal(without, predict(lm, masked, mask, solvent=unavailable(CFG)))
    assert np.abs(with_ref - without)[mask].mean() > 1e-3  # the reference is used
    assert np.abs(with_ref - predict(lm, masked, mask, solvent=v, tile_size=7)).max() < 1e-4  # tiling
    with pytest.raises(InputError, match="solvent reference has 3 values"):
        predict(lm, masked, mask, solvent=np.zeros(3, np.float32))


def test_the_pipeline_measures_the_reference_and_warns_without_one(tmp_path):
    import deepres

    lm = _solvent_model(tmp_path)
    data, mask = _map(seed=6)
    ball = _ball()
    res = deepres.estimate(data, ball, 1.0, range="low", model=lm)
    assert not any("solvent" in w for w in res.warnings)
    ref = res.summary()["parameters"]["solvent_reference"]  # recorded with the outputs
    np.testing.assert_allclose(ref, solvent_context(data, dilate18(ball), 1.0, 1.0, CFG)[0], atol=1e-4)
    flat = np.where(dilate18(dilate18(ball)), data, np.float32(0))
    res_flat = deepres.estimate(flat, ball, 1.0, range="low", model=lm)
    assert any("no solvent noise reference (the solvent is flat" in w for w in res_flat.warnings)
    assert res_flat.summary()["parameters"]["solvent_reference"] is None
    assert "solvent_reference" not in deepres.estimate(data, ball, 1.0, range="low").summary()["parameters"]
    m = ball
    assert np.abs(res.resolution.data - res_flat.resolution.data)[m].mean() > 1e-3


def test_withholding_touches_only_the_reference_and_only_some_maps():
    from deepres.train import withhold_solvent

    ctx = torch.randn(400, CFG.n_context) + 5.0
    out = withhold_solvent(ctx, CFG, random.Random(0), 0.25)
    assert torch.equal(out[:, :32], ctx[:, :32])
    gone = (out[:, 32:] == 0).all(1)
    assert torch.equal(out[~gone], ctx[~gone])
    assert 60 < int(gone.sum()) < 140  # ~100 of 400
    assert torch.equal(withhold_solvent(ctx, CFG, random.Random(0), 0.0), ctx)
    assert torch.equal(withhold_solvent(ctx, FeatureConfig(context_quantiles=(0.1,)), random.Random(0), 0.5), ctx)


def test_samples_carry_the_reference_and_a_solvent_network_needs_it():
    from deepres.ranges import get_range
    from deepres.samples import make_sample
    from deepres.train import sample_context

    s = make_sample(str(DATA / "1BVN_l_u.pdb.gz"), get_range("low"), seed=5, features=CFG)
    plain = make_sample(str(DATA / "1BVN_l_u.pdb.gz"), get_range("low"), seed=5,
                        features=FeatureConfig(context_quantiles=(0.1, 0.5)))
    np.testing.assert_array_equal(s["features"], plain["features"])  # the same sample, one more record
    assert "solvent" not in plain and len(s["solvent"]) == 17 and s["solvent"][-1] == 1.0
    ctx = sample_context(s, CFG)
    assert ctx.shape == (49,) and torch.equal(ctx[:32], sample_context(plain, plain_cfg := FeatureConfig(
        context_quantiles=(0.1, 0.5))))
    assert plain_cfg.n_context == 32
    with pytest.raises(ValueError, match="no solvent reference"):
        sample_context(plain, CFG)


def test_fine_tuning_into_a_solvent_network_starts_from_the_old_function(tmp_path):
    """--init from a context model into one with the reference: the 17 new weights start at zero."""
    from deepres.network import DeepResNet, NetConfig
    from deepres.train import init_from

    torch.manual_seed(4)
    old = DeepResNet(NetConfig(width=8, context_channels=32))
    torch.nn.init.normal_(old.ctx.weight, std=0.5)
    new = DeepResNet(NetConfig(width=8, context_channels=49))
    missing, unexpected, widened = init_from(new, old)
    assert not missing and not unexpected and widened == ["ctx.weight"]
    x, c = torch.randn(1, 18, 24, 24, 24), torch.randn(1, 49)
    with torch.no_grad():
        torch.testing.assert_close(new(x, c), old(x, c[:, :32]))


def _context_start(tmp_path):
    """Shards of one sample with its reference, and a 2-step context model without it (the start)."""
    from deepres.ranges import get_range
    from deepres.samples import make_sample
    from deepres.train import TrainConfig, train

    s = make_sample(str(DATA / "1BVN_l_u.pdb.gz"), get_range("low"), seed=5, features=CFG)
    data = tmp_path / "shards"
    data.mkdir()
    torch.save([s, s], data / "train_000.pt")
    torch.save([s], data / "val_000.pt")
    old = str(tmp_path / "old.pt")
    train(str(data), old, TrainConfig(range_name="low", steps=2, batch=1, crop=6, val_every=2, threads=1, seed=1,
                                      context_quantiles=(0.1, 0.5)), log=lambda m: None)
    return s, data, old


def test_training_only_the_context_layer_keeps_the_rest(tmp_path):
    """--train-only ctx. from a context model into one with the reference: only the context layer moves."""
    from deepres.model import load_model
    from deepres.train import TrainConfig, train

    _, data, old = _context_start(tmp_path)
    new = str(tmp_path / "new.pt")
    train(str(data), new, TrainConfig(range_name="low", steps=4, batch=2, crop=16, val_every=4, threads=1, seed=1,
                                      lr=1e-2, init=old, context_quantiles=(0.1, 0.5), solvent_context=True,
                                      solvent_withhold=0.0, train_only="ctx."), log=lambda m: None)
    a, b = load_model("low", old).net.state_dict(), load_model("low", new).net.state_dict()
    for k, v in a.items():
        if k != "ctx.weight":
            assert torch.equal(v, b[k]), k
    assert b["ctx.weight"].shape == (16, 49)
    assert b["ctx.weight"][:, 32:].abs().max() > 0  # the reference's weights left zero
    with pytest.raises(ValueError, match="no parameter name starts with"):
        train(str(data), str(tmp_path / "x.pt"), TrainConfig(range_name="low", steps=1, batch=1, crop=6, threads=1,
                                                             train_only="nothing."), log=lambda m: None)


def test_training_only_the_new_weights_keeps_the_start_where_there_is_no_reference(tmp_path):
    """--train-new-only: every value of the start stays, the reference's 17 columns train, and a map
    without a reference (flag 0, all zeros) is read exactly as the start reads it."""
    from deepres.model import load_model, predict
    from deepres.train import TrainConfig, start_values, train

    s, data, old = _context_start(tmp_path)
    new = str(tmp_path / "new.pt")
    logs = []
    train(str(data), new, TrainConfig(range_name="low", steps=4, batch=2, crop=16, val_every=4, threads=1, seed=1,
                                      lr=1e-2, weight_decay=0.5, init=old, context_quantiles=(0.1, 0.5),
                                      solvent_context=True, solvent_withhold=0.0, train_new_only=True),
          log=logs.append)
    assert any("training only the new values of ctx.weight (272 values)" in m for m in logs)  # 16 x 17
    m_old, m_new = load_model("low", old), load_model("low", new)
    a, b = m_old.net.state_dict(), m_new.net.state_dict()
    for k, v in a.items():
        if k != "ctx.weight":
            assert torch.equal(v, b[k]), k
    assert torch.equal(b["ctx.weight"][:, :32], a["ctx.weight"])  # weight decay did not move them either
    assert b["ctx.weight"][:, 32:].abs().max() > 0
    rng = np.random.default_rng(2)
    m = rng.normal(size=(40, 40, 40)).astype(np.float32)
    mask = np.zeros(m.shape, bool)
    mask[8:32, 8:32, 8:32] = True
    ref = predict(m_old, m, mask)
    np.testing.assert_array_equal(predict(m_new, m, mask, solvent=None), ref)
    ref_used = predict(m_new, m, mask, solvent=np.asarray(s["solvent"], np.float32))
    assert np.abs(ref_used - ref)[mask].max() > 0  # with a reference the new weights count
    masks = start_values(m_new.net, m_old.net)
    assert masks["ctx.weight"][:, :32].all() and not masks["ctx.weight"][:, 32:].any()
    with pytest.raises(ValueError, match="has no weights that"):
        train(str(data), str(tmp_path / "x.pt"), TrainConfig(range_name="low", steps=1, batch=1, crop=6, threads=1,
                                                             init=old, context_quantiles=(0.1, 0.5),
                                                             train_new_only=True), log=lambda m: None)
