"""Training: samples follow the estimate preprocessing, the split never touches held-out
structures, and a run is deterministic given its seed and resumable."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
import torch

from deepres.errors import InputError
from deepres.features import FeatureConfig
from deepres.model import load_model
from deepres.ranges import get_range
from deepres.splits import heldout_structures
from deepres.samples import as_read_by, make_sample, split_structures
from deepres.shards import load_shards
from deepres.train import TrainConfig, train

torch.set_num_threads(1)
DATA = Path(__file__).resolve().parent / "data"


def test_split_excludes_heldout_and_separates_validation(tmp_path):
    held = list(heldout_structures())
    names = held[:3] + ["9ZZZ_l_u.pdb.gz", "9ZZZ_r_u.pdb.gz", "8YYY_target.pdb.gz", "7XXX_l_u.pdb.gz"]
    for n in names:
        (tmp_path / n).write_bytes(b"")
    tr, va = split_structures(str(tmp_path), n_val=1)
    base = {os.path.basename(p) for p in tr + va}
    assert not base & set(held)
    assert base == {"9ZZZ_l_u.pdb.gz", "9ZZZ_r_u.pdb.gz", "8YYY_target.pdb.gz", "7XXX_l_u.pdb.gz"}
    # validation takes whole PDB codes
    codes_tr = {os.path.basename(p)[:4] for p in tr}
    codes_va = {os.path.basename(p)[:4] for p in va}
    assert va and not codes_tr & codes_va


@pytest.fixture(scope="module")
def sample():
    return make_sample(str(DATA / "1BVN_l_u.pdb.gz"), get_range("low"), seed=5, features=FeatureConfig())


def test_sample_shapes_and_labels(sample):
    f, lab, w = sample["features"], sample["label"], sample["weight"]
    assert f.shape[0] == FeatureConfig().n_channels and f.shape[1:] == lab.shape == w.shape
    assert w.any()
    spec = get_range("low")
    assert lab[w].min() >= 2.0 - 1e-3 and lab[w].max() <= spec.max_A + 1e-3
    assert np.isfinite(f.astype(np.float32)).all()


def _write_shards(d: Path, sample) -> None:
    d.mkdir()
    torch.save([sample, sample], d / "train_000.pt")
    torch.save([sample], d / "val_000.pt")


def test_training_is_deterministic_and_resumable(tmp_path, sample):
    data = tmp_path / "shards"
    _write_shards(data, sample)
    cfg = TrainConfig(range_name="low", steps=4, batch=1, crop=6, val_every=2, threads=1, seed=3)
    a, b = str(tmp_path / "a.pt"), str(tmp_path / "b.pt")
    rec_a = train(str(data), a, cfg, log=lambda m: None)
    train(str(data), b, cfg, log=lambda m: None)
    wa, wb = load_model("low", path=a).net.state_dict(), load_model("low", path=b).net.state_dict()
    assert all(torch.equal(wa[k], wb[k]) for k in wa)
    assert rec_a["history"][-1]["step"] == 4 and np.isfinite(rec_a["history"][-1]["mae_A"])
    # simulated at 1 A, the global B before the field (the default)
    assert rec_a["data"] == {"input_voxel_size_A": [1.0, 1.0], "n_post_sharpened": 0, "n_global_b_first": 2}



class _Stop(Exception):
    pass


def test_interrupted_training_resumes_to_the_same_weights(tmp_path, sample):
    data = tmp_path / "shards"
    _write_shards(data, sample)
    cfg = TrainConfig(range_name="low", steps=6, batch=1, crop=6, val_every=2, threads=1, seed=4)
    full = str(tmp_path / "full.pt")
    train(str(data), full, cfg, log=lambda m: None)

    part = str(tmp_path / "part.pt")

    def interrupt(msg):
        if msg.startswith("validation at step 4"):
            raise _Stop  # before the step-4 checkpoint: the step-2 one is on disk

    with pytest.raises(_Stop):
        train(str(data), part, cfg, log=interrupt)
    assert not os.path.exists(part) and os.path.exists(part + ".ckpt")
    logs = []
    train(str(data), part, cfg, log=logs.append)
    assert any(m.startswith("resumed") and "step 2" in m for m in logs)
    wf, wp = load_model("low", path=full).net.state_dict(), load_model("low", path=part).net.state_dict()
    assert all(torch.equal(wf[k], wp[k]) for k in wf)


@pytest.mark.parametrize("augment", [False, True])
@pytest.mark.parametrize("shape", [(30, 26, 28), (12, 30, 20)])
def test_crop_batch_keeps_features_aligned_with_labels(shape, augment):
    """Each label voxel sits at the centre of its feature halo, after flips and permutations, and
    voxels beyond a small sample get weight 0 (features there are replicated from the edge)."""
    import random as _random

    from deepres.train import _crop_batch

    z, y, x = np.meshgrid(*[np.arange(n) for n in shape], indexing="ij")
    feats = np.stack([z, y, x]).astype(np.float16)
    label = (z * 10000 + y * 100 + x).astype(np.float32)
    sample = {"features": feats, "label": label, "weight": np.ones(shape, dtype=bool)}
    crop, R = 16, 3
    rng = _random.Random(5)
    for _ in range(5):
        xs, ys, ws, ctx = _crop_batch([sample], [0], crop, R, rng, augment)
        assert ctx is None  # no contexts given
        assert xs.shape == (1, 3, crop + 2 * R, crop + 2 * R, crop + 2 * R)
        centre = xs[0, :, R:-R, R:-R, R:-R]
        code = centre[0] * 10000 + centre[1] * 100 + centre[2]
        w = ws[0, 0] > 0
        assert torch.equal(code[w], ys[0, 0][w])
        # weights are 0 exactly where the crop runs past a small sample
        assert int(w.sum()) == int(np.prod([min(crop, n) for n in shape]))


def test_fine_tuning_into_a_context_network_starts_from_the_old_function(tmp_path, sample):
    """--init from a model without context: the old weights, the context weights at zero. With a
    zero learning rate nothing moves, so the validation error equals the old model's."""
    from deepres.train import validate

    data = tmp_path / "shards"
    _write_shards(data, sample)
    old = str(tmp_path / "old.pt")
    train(str(data), old, TrainConfig(range_name="low", steps=2, batch=1, crop=6, val_every=2, threads=1, seed=1),
          log=lambda m: None)
    new = str(tmp_path / "new.pt")
    cfg = TrainConfig(range_name="low", steps=1, batch=1, crop=6, val_every=1, threads=1, seed=1, lr=0.0,
                      init=old, context_quantiles=(0.1, 0.5))
    rec = train(str(data), new, cfg, log=lambda m: None)
    lo, ln = load_model("low", path=old), load_model("low", path=new)
    assert ln.net.config.context_channels == 32 and lo.net.config.context_channels == 0
    ref = validate(lo.net, [sample], lo.net.radius)
    assert rec["history"][-1]["mae_A"] == pytest.approx(ref["mae_A"], abs=1e-6)


def test_appended_blocks_start_as_the_identity():
    """--init into a network with more residual blocks: the new ones start at zero, so the deeper
    network computes exactly the old function (on the old output's voxels), and they can learn."""
    from deepres.network import DeepResNet, NetConfig
    from deepres.train import init_from

    torch.manual_seed(0)
    old = DeepResNet(NetConfig(in_channels=18, width=8, dilations=(1, 2)))
    new = DeepResNet(NetConfig(in_channels=18, width=8, dilations=(1, 2, 2, 1)))
    missing, unexpected, _ = init_from(new, old)
    assert not missing and not unexpected
    x = torch.randn(1, 18, 20, 20, 20)
    with torch.no_grad():
        d = new.radius - old.radius
        torch.testing.assert_close(new(x), old(x)[:, :, d:-d, d:-d, d:-d])
        new.blocks[2].weight += 0.05
        assert (new(x) - old(x)[:, :, d:-d, d:-d, d:-d]).abs().max() > 1e-3
    with pytest.raises(ValueError, match="dilations"):
        init_from(DeepResNet(NetConfig(in_channels=18, width=8, dilations=(2, 1, 1))), old)


def test_wider_network_starts_as_the_same_function():
    """--init into a wider network (and with context): the old channels compute what they did, the
    new ones compute from their own random weights but reach neither old channels nor the output
    until training moves those weights; the gradient does reach the weights that connect them."""
    from deepres.network import DeepResNet, NetConfig
    from deepres.train import init_from

    torch.manual_seed(0)
    old = DeepResNet(NetConfig(in_channels=18, width=8, context_channels=3, dilations=(1, 2)))
    with torch.no_grad():
        old.ctx.weight.normal_()
    new = DeepResNet(NetConfig(in_channels=18, width=12, context_channels=3, dilations=(1, 2)))
    missing, unexpected, widened = init_from(new, old)
    assert not missing and not unexpected
    assert {"inp.weight", "blocks.0.weight", "head.0.weight", "head.2.weight", "ctx.weight"} <= set(widened)
    x, ctx = torch.randn(1, 18, 16, 16, 16), torch.randn(1, 3)
    torch.testing.assert_close(new(x, ctx), old(x, ctx))
    assert new.blocks[0].weight[8:].abs().sum() > 0  # the new channels are not dead
    new(x, ctx).sum().backward()
    assert new.head[2].weight.grad[0, 8:].abs().sum() > 0
    with pytest.raises(ValueError, match="dilations"):
        init_from(DeepResNet(NetConfig(in_channels=18, width=12, dilations=(2, 1))), old)


def test_per_map_pearson_skips_near_uniform_truths():
    from deepres.train import per_map_pearson

    rng = np.random.default_rng(0)
    t1 = rng.uniform(4, 8, 500)
    good = (t1 + rng.normal(0, 0.5, 500), t1)
    flat = (rng.normal(6, 1, 500), np.full(500, 6.0) + rng.normal(0, 1e-4, 500))  # spans < 0.1 A
    out = per_map_pearson([good[0], flat[0]], [good[1], flat[1]])
    assert out["n_maps_varying"] == 1
    assert out["pearson_per_map"] == pytest.approx(np.corrcoef(*good)[0, 1])
    anti = (-t1, t1)
    assert per_map_pearson([good[0], anti[0]], [good[1], anti[1]])["pearson_per_map"] == pytest.approx(
        (np.corrcoef(*good)[0, 1] - 1.0) / 2)


def test_post_sharpening_changes_the_map_not_the_halves_or_labels():
    """``--post-sharpen``: the map's features change (its band shares), the half-map correlation
    inputs are computed from the raw halves, the labels stay."""
    path, spec = str(DATA / "1BVN_l_u.pdb.gz"), get_range("low")
    cfg = FeatureConfig(half_maps=True)
    plain = make_sample(path, spec, seed=7, features=cfg)
    sharp = make_sample(path, spec, seed=7, features=cfg, post_sharpen=1.0)
    b = json.loads(sharp["params"])["post_b_A2"]
    assert json.loads(plain["params"])["post_b_A2"] is None and -60.0 <= b <= -20.0  # seed 7 draws -41 A^2
    np.testing.assert_array_equal(plain["label"], sharp["label"])
    w = plain["weight"]
    diff = np.abs(plain["features"][:16].astype(np.float32) - sharp["features"][:16].astype(np.float32))[:, w]
    assert diff.mean() > 0.05
    # the half maps' channels: unchanged up to the map's stored float16 rounding
    np.testing.assert_allclose(plain["features"][18:].astype(np.float32), sharp["features"][18:].astype(np.float32),
                               atol=2e-3)


def test_post_b_is_held_at_nyquist_unless_asked_and_recorded():
    """The post-hoc B stops growing beyond the map's Nyquist frequency (as sharpening programs do);
    ``post_b_bounded=False`` makes the samples of the shipped models' sets again. Both are recorded."""
    from deepres.samples import data_summary

    path, spec = str(DATA / "1BVN_l_u.pdb.gz"), get_range("low")
    bounded = make_sample(path, spec, seed=7, features=FeatureConfig(), post_sharpen=1.0)
    old = make_sample(path, spec, seed=7, features=FeatureConfig(), post_sharpen=1.0, post_b_bounded=False)
    pb, po = json.loads(bounded["params"]), json.loads(old["params"])
    assert pb["post_b_A2"] == po["post_b_A2"] < 0 and pb["post_b_bounded"] is True and po["post_b_bounded"] is False
    # only the box's corners differ, which the bands barely reach: the features differ a little, not much
    d = np.abs(bounded["features"].astype(np.float32) - old["features"].astype(np.float32))[:16, bounded["weight"]]
    assert 0 < d.mean() < 0.05
    assert data_summary([bounded, old])["n_post_sharpened_bounded"] == 1


def test_a_single_map_model_trains_on_samples_made_with_half_maps(tmp_path, sample):
    """Samples made with half maps hold the single-map features first: a single-map run on them
    keeps those channels and gives the same weights as a run on samples made without halves."""
    half = make_sample(str(DATA / "1BVN_l_u.pdb.gz"), get_range("low"), seed=5, features=FeatureConfig(half_maps=True))
    n = FeatureConfig().n_channels
    assert half["features"].shape[0] == FeatureConfig(half_maps=True).n_channels > n
    np.testing.assert_array_equal(half["features"][:n], sample["features"])
    _write_shards(tmp_path / "halves", half)
    _write_shards(tmp_path / "single", sample)
    kept = as_read_by(FeatureConfig(), load_shards(str(tmp_path / "halves"), "train"))[0]["features"]
    assert kept.shape[0] == n and _is_mapped(kept)  # a view of the file: the half-map channels are never read
    cfg = TrainConfig(range_name="low", steps=2, batch=1, crop=6, val_every=2, threads=1, seed=3)
    a, b = str(tmp_path / "a.pt"), str(tmp_path / "b.pt")
    train(str(tmp_path / "halves"), a, cfg, log=lambda m: None)
    train(str(tmp_path / "single"), b, cfg, log=lambda m: None)
    wa, wb = load_model("low", path=a).net.state_dict(), load_model("low", path=b).net.state_dict()
    assert all(torch.equal(wa[k], wb[k]) for k in wa)
    with pytest.raises(ValueError, match="made with --half-maps"):  # and not the other way round
        train(str(tmp_path / "single"), str(tmp_path / "c.pt"), TrainConfig(range_name="low", steps=1, batch=1,
              crop=6, threads=1, half_maps=True), log=lambda m: None)


def test_more_data_folders_join_training_and_validation(tmp_path, sample):
    """``more_data``: the samples of further folders are trained and validated on with those of the
    first (the record counts and names them), and a half-map run refuses a folder made without
    half maps among them."""
    half = make_sample(str(DATA / "1BVN_l_u.pdb.gz"), get_range("low"), seed=5, features=FeatureConfig(half_maps=True))
    _write_shards(tmp_path / "a", sample)
    _write_shards(tmp_path / "b", half)
    cfg = TrainConfig(range_name="low", steps=2, batch=1, crop=6, val_every=2, threads=1, seed=3)
    rec_one = train(str(tmp_path / "a"), str(tmp_path / "one.pt"), cfg, log=lambda m: None)
    rec = train(str(tmp_path / "a"), str(tmp_path / "two.pt"), cfg, log=lambda m: None, more_data=(str(tmp_path / "b"),))
    assert (rec_one["n_train_samples"], rec_one["n_val_samples"]) == (2, 1)
    assert (rec["n_train_samples"], rec["n_val_samples"]) == (4, 2)
    assert rec["data_dirs"] == ["a", "b"] and load_model("low", path=str(tmp_path / "two.pt")).training["data_dirs"] == ["a", "b"]
    with pytest.raises(ValueError, match="have 18 feature channels and this network takes 34"):
        train(str(tmp_path / "b"), str(tmp_path / "c.pt"), TrainConfig(range_name="low", steps=1, batch=1, crop=6,
              threads=1, half_maps=True), log=lambda m: None, more_data=(str(tmp_path / "a"),))


def test_a_non_finite_step_is_skipped_not_applied(tmp_path, sample, monkeypatch):
    """A batch whose loss or gradient is not finite leaves the weights as they were (one such step
    would otherwise make every weight NaN): the step is skipped, logged and recorded; a run with
    nothing but such steps stops with an error."""
    import deepres.train as tr

    bad = dict(sample, features=np.full_like(sample["features"], np.nan))
    data = tmp_path / "shards"
    data.mkdir()
    torch.save([sample, bad], data / "train_000.pt")
    torch.save([sample], data / "val_000.pt")
    cfg = TrainConfig(range_name="low", steps=8, batch=1, crop=6, val_every=4, threads=1, seed=3)
    logs = []
    rec = train(str(data), str(tmp_path / "a.pt"), cfg, log=logs.append)
    assert 0 < len(rec["skipped_steps"]) < 8
    assert sum("update skipped" in m for m in logs) == len(rec["skipped_steps"])
    w = load_model("low", path=str(tmp_path / "a.pt")).net.state_dict()
    assert all(torch.isfinite(v).all() for v in w.values())
    assert np.isfinite(rec["history"][-1]["mae_A"])

    only_bad = tmp_path / "bad"
    only_bad.mkdir()
    torch.save([bad], only_bad / "train_000.pt")
    torch.save([sample], only_bad / "val_000.pt")
    monkeypatch.setattr(tr, "MAX_SKIPS_IN_A_ROW", 3)
    with pytest.raises(RuntimeError, match="diverged: 3 non-finite steps"):
        train(str(only_bad), str(tmp_path / "b.pt"), cfg, log=lambda m: None)
    assert not os.path.exists(tmp_path / "b.pt")


def test_samples_record_their_filter_bank_and_training_checks_it(tmp_path, sample):
    """Samples made with other front-end settings (narrower energy windows) carry them; a training
    with the default settings refuses them, one with the same settings trains a model that has them."""
    narrow = FeatureConfig(smooth_wavelengths=0.3)
    s2 = make_sample(str(DATA / "1BVN_l_u.pdb.gz"), get_range("low"), seed=5, features=narrow)
    assert s2["front_end"]["smooth_wavelengths"] == 0.3 and sample["front_end"]["smooth_wavelengths"] == 0.5
    assert not np.array_equal(s2["features"], sample["features"])  # the setting reaches the features
    _write_shards(tmp_path / "narrow", s2)
    cfg = TrainConfig(range_name="low", steps=2, batch=1, crop=6, val_every=2, threads=1, seed=3)
    with pytest.raises(ValueError, match="another filter bank"):
        train(str(tmp_path / "narrow"), str(tmp_path / "a.pt"), cfg, log=lambda m: None)
    old = {k: v for k, v in sample.items() if k != "front_end"}  # made before samples recorded it
    _write_shards(tmp_path / "old", old)
    with pytest.raises(ValueError, match="another filter bank"):
        train(str(tmp_path / "old"), str(tmp_path / "b.pt"), TrainConfig(
            range_name="low", steps=2, batch=1, crop=6, threads=1, smooth_wavelengths=0.3), log=lambda m: None)
    train(str(tmp_path / "old"), str(tmp_path / "c.pt"), cfg, log=lambda m: None)  # default = default
    train(str(tmp_path / "narrow"), str(tmp_path / "d.pt"), TrainConfig(
        range_name="low", steps=2, batch=1, crop=6, val_every=2, threads=1, seed=3, smooth_wavelengths=0.3),
        log=lambda m: None)
    assert load_model("low", path=str(tmp_path / "d.pt")).features.smooth_wavelengths == 0.3
    with pytest.raises(ValueError, match="another front end"):  # nor can a run start from another bank's model
        train(str(tmp_path / "narrow"), str(tmp_path / "e.pt"), TrainConfig(
            range_name="low", steps=2, batch=1, crop=6, threads=1, smooth_wavelengths=0.3, init=str(tmp_path / "c.pt")),
            log=lambda m: None)


def _is_mapped(a: np.ndarray) -> bool:
    while a is not None:
        if isinstance(a, np.memmap):
            return True
        a = a.base
    return False


def test_shards_are_read_through_memory_maps_with_the_same_contents(tmp_path, sample):
    """A shard read the first time is packed beside itself; later reads map the packed files.
    Both give the samples exactly as stored, and writing into the arrays leaves the files alone."""
    from deepres.shards import load_shards as load

    other = {**sample, "seed": 99, "label": sample["label"] + 1.0}
    d = tmp_path / "shards"
    d.mkdir()
    torch.save([sample, other], d / "train_000.pt")
    first = load(str(d), "train")
    assert (d / "train_000.pt.index.json").exists()
    again = load(str(d), "train")
    for got in (first, again):
        assert [s["seed"] for s in got] == [sample["seed"], 99]
        for s, ref in zip(got, (sample, other)):
            for k in ("features", "label", "weight"):
                assert _is_mapped(s[k]) and s[k].dtype == ref[k].dtype
                np.testing.assert_array_equal(s[k], ref[k])
            assert s["params"] == ref["params"] and s["structure"] == ref["structure"]
    again[0]["label"][...] = -1.0  # copy-on-write: the file keeps its values
    np.testing.assert_array_equal(load(str(d), "train")[0]["label"], sample["label"])


def test_a_failed_pack_leaves_no_partial_files(tmp_path, sample, monkeypatch):
    """Packing that fails part way (a full disk) removes its temporary files and writes no index."""
    import deepres.shards as sh

    d = tmp_path / "shards"
    d.mkdir()
    torch.save([sample, sample], d / "train_000.pt")
    real = np.ascontiguousarray
    calls = []

    def failing(a, dtype=None):
        calls.append(1)
        if len(calls) == 4:  # the second sample's features
            raise OSError(28, "No space left on device")
        return real(a, dtype=dtype)

    monkeypatch.setattr(sh.np, "ascontiguousarray", failing)
    with pytest.raises(OSError, match="No space"):
        sh.load_shards(str(d), "train")
    assert sorted(p.name for p in d.iterdir()) == ["train_000.pt"]
    monkeypatch.setattr(sh.np, "ascontiguousarray", real)
    assert len(sh.load_shards(str(d), "train")) == 2


def test_a_changed_shard_is_packed_again(tmp_path, sample):
    from deepres.shards import load_shards as load

    d = tmp_path / "shards"
    d.mkdir()
    torch.save([sample], d / "val_000.pt")
    assert len(load(str(d), "val")) == 1
    torch.save([sample, {**sample, "seed": 7}], d / "val_000.pt")  # regenerated: new size and time
    assert [s["seed"] for s in load(str(d), "val")] == [sample["seed"], 7]
    torch.save([], d / "val_001.pt")  # an empty shard (every simulation of it failed)
    assert len(load(str(d), "val")) == 2


def test_bfloat16_training_runs_and_saves_a_float32_model(tmp_path, sample):
    """--precision bfloat16: the steps are autocast, the model file is the usual float32 one and
    its validation (float32) is finite; two runs give the same weights."""
    data = tmp_path / "shards"
    _write_shards(data, sample)
    cfg = TrainConfig(range_name="low", steps=3, batch=1, crop=6, val_every=3, threads=1, seed=2,
                      precision="bfloat16")
    a, b = str(tmp_path / "a.pt"), str(tmp_path / "b.pt")
    rec = train(str(data), a, cfg, log=lambda m: None)
    train(str(data), b, cfg, log=lambda m: None)
    la, lb = load_model("low", path=a), load_model("low", path=b)
    wa, wb = la.net.state_dict(), lb.net.state_dict()
    assert all(v.dtype == torch.float32 and v.is_contiguous() for v in wa.values())
    assert all(torch.equal(wa[k], wb[k]) for k in wa)
    assert rec["config"]["precision"] == "bfloat16" and np.isfinite(rec["history"][-1]["mae_A"])
    with pytest.raises(InputError, match="unknown precision 'float16'"):
        train(str(data), str(tmp_path / "c.pt"), TrainConfig(range_name="low", steps=1, batch=1, crop=6, threads=1,
                                                               precision="float16"), log=lambda m: None)
    assert not os.path.exists(tmp_path / "c.pt")


def _reference_crop(s, o, crop, R):
    """The crop by indexing with clipped indices (what `_crop_batch` does by slicing)."""
    shape = s["label"].shape
    ix = [np.clip(np.arange(a - R, a + crop + R), 0, n - 1) for a, n in zip(o, shape)]
    iy = [np.clip(np.arange(a, a + crop), 0, n - 1) for a, n in zip(o, shape)]
    inside = np.ones((crop,) * 3, dtype=bool)
    for ax, (a, n) in enumerate(zip(o, shape)):
        sh = [1, 1, 1]
        sh[ax] = crop
        inside &= (np.arange(a, a + crop) < n).reshape(sh)
    f = s["features"][:, ix[0][:, None, None], ix[1][None, :, None], ix[2][None, None, :]].astype(np.float32)
    lab = s["label"][iy[0][:, None, None], iy[1][None, :, None], iy[2][None, None, :]]
    w = s["weight"][iy[0][:, None, None], iy[1][None, :, None], iy[2][None, None, :]] & inside
    return f, lab, w.astype(np.float32)


@pytest.mark.parametrize("shape", [(30, 26, 28), (12, 30, 20), (5, 40, 16)])
def test_crop_batch_equals_indexing_with_clipped_indices(shape):
    """The sliced, edge-padded crops are exactly the crops of clipped-index gathering, with the
    same random offsets, inside the sample and past its edges."""
    import random as _random

    from deepres.train import _crop_batch

    g = np.random.default_rng(0)
    sample = {"features": g.normal(size=(4, *shape)).astype(np.float16),
              "label": g.uniform(2, 13, size=shape).astype(np.float32), "weight": g.random(shape) > 0.3}
    crop, R = 16, 5
    for k in range(6):
        rng, twin = _random.Random(k), _random.Random(k)
        xs, ys, ws, _ = _crop_batch([sample], [0], crop, R, rng, augment=False)
        o = [twin.randint(0, max(n, crop) - crop) for n in shape]
        f, lab, w = _reference_crop(sample, o, crop, R)
        assert np.array_equal(xs[0].numpy(), f)
        assert np.array_equal(ys[0, 0].numpy(), lab)
        assert np.array_equal(ws[0, 0].numpy(), w)


def test_generated_shards_hold_the_samples_of_their_ids(tmp_path):
    """One worker pool for all shards: each shard holds the samples of its own ids in order (the
    same as simulating each alone), and shards already on disk are kept, not simulated again."""
    from deepres.samples import generate_dataset

    structures = tmp_path / "structures"
    structures.mkdir()
    (structures / "9ZZZ_l_u.pdb.gz").write_bytes((DATA / "1BVN_l_u.pdb.gz").read_bytes())
    out = tmp_path / "data"
    out.mkdir()
    torch.save([{"placeholder": True}], out / "val_000.pt")  # kept as it is
    generate_dataset(str(structures), str(out), "low", n_train=0, n_val=5, seed=3, workers=2, shard_size=2)
    assert torch.load(out / "val_000.pt", weights_only=False) == [{"placeholder": True}]
    got = [torch.load(out / f"val_{k:03d}.pt", weights_only=False) for k in (1, 2)]
    assert [len(g) for g in got] == [2, 1]
    seeds = [s["seed"] for g in got for s in g]
    assert seeds == [3 * 1_000_003 + 10**9 + i for i in (2, 3, 4)]
    alone = make_sample(str(structures / "9ZZZ_l_u.pdb.gz"), get_range("low"), seeds[2], FeatureConfig())
    assert np.array_equal(got[1][0]["features"], alone["features"])
    assert np.array_equal(got[1][0]["label"], alone["label"])


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_training_on_cuda_matches_cpu(tmp_path, sample):
    """The same steps on the GPU give (nearly) the same model as on the CPU, saved on the CPU."""
    data = tmp_path / "shards"
    _write_shards(data, sample)
    kw = dict(range_name="low", steps=4, batch=2, crop=6, val_every=4, threads=1, seed=3)
    rc = train(str(data), str(tmp_path / "cpu.pt"), TrainConfig(**kw))
    rg = train(str(data), str(tmp_path / "gpu.pt"), TrainConfig(**kw, device="cuda"))
    assert abs(rc["history"][-1]["mae_A"] - rg["history"][-1]["mae_A"]) < 1e-3
    wc, wg = (load_model("low", path=str(tmp_path / n)).net.state_dict() for n in ("cpu.pt", "gpu.pt"))
    assert all(v.device.type == "cpu" for v in wg.values())
    assert max(float((wc[k] - wg[k]).abs().max()) for k in wc) < 1e-3


def test_to_working_grid_keeps_positions_band_limit_and_field_values():
    """A map simulated at a coarser input sampling reaches the working grid as `deepres estimate`
    brings it there: the same physical positions, nothing above the input's Nyquist frequency,
    the mask the same region, the true field interpolated within its own values."""
    from deepres.samples import to_working_grid

    v_in, v_w, n = 1.0, 0.5, 40
    z, y, x = np.indices((n, n, n)).astype(np.float32)
    centre = np.array([17.0, 21.0, 19.0])  # input voxels
    r2 = (z - centre[0]) ** 2 + (y - centre[1]) ** 2 + (x - centre[2]) ** 2
    blob = np.exp(-r2 / (2 * 2.0**2)).astype(np.float32)
    mask = r2 <= 8.0**2
    truth = (2.0 + 0.1 * x).astype(np.float32)  # a ramp along x, 2.0 ... 5.9 A
    halves = (blob * 1.1, blob * 0.9)
    masked, mask_w, halves_w, truth_w = to_working_grid(blob, mask, halves, truth, v_in, v_w)
    assert masked.shape == mask_w.shape == truth_w.shape == halves_w[0].shape == (80, 80, 80)
    # positions: the blob's centre of mass, in A, is where it was (the box centre is kept: working
    # voxel k sits at (v_w - v_in) / 2 + k * v_w)
    w = np.clip(masked, 0, None)
    com_w = np.array([(np.indices(w.shape)[a] * w).sum() / w.sum() for a in range(3)]) * v_w + (v_w - v_in) / 2
    assert np.allclose(com_w, centre * v_in, atol=0.05)
    # the mask: the same region, grown by the binarisation at 0.15 by less than half an input voxel
    # (a sphere of 8 voxels: 8.35^3 / 8^3 = 1.14)
    assert 1.0 < mask_w.sum() * v_w**3 / (mask.sum() * v_in**3) < 1.2
    # band limit: no power above the input's Nyquist frequency (0.25 cycles/working voxel)
    F = np.abs(np.fft.fftn(masked)) ** 2
    k = np.sqrt(sum(f**2 for f in np.meshgrid(*[np.fft.fftfreq(80)] * 3, indexing="ij")))
    assert F[k > 0.26].sum() < 1e-6 * F.sum()
    # the field: within its values, and the ramp's slope per working voxel
    assert truth_w.min() >= truth.min() - 1e-5 and truth_w.max() <= truth.max() + 1e-5
    inner = truth_w[40, 40, 10:70]
    assert np.allclose(np.diff(inner), 0.1 * v_w / v_in, atol=1e-4)
    # each half normalised as the map is: scale does not matter
    np.testing.assert_allclose(halves_w[0], halves_w[1], atol=1e-5)


def test_samples_at_a_drawn_input_voxel_size():
    """``--input-voxel-size LO HI``: the sample is simulated at a recorded voxel size in the range
    (the same for the same seed), its labels respect that sampling's Nyquist floor, and its
    features are finite on the working grid."""
    path, spec = str(DATA / "1BVN_l_u.pdb.gz"), get_range("low")
    a = make_sample(path, spec, seed=5, features=FeatureConfig(), input_voxel_A=(1.2, 1.6))
    b = make_sample(path, spec, seed=5, features=FeatureConfig(), input_voxel_A=(1.2, 1.6))
    v = json.loads(a["params"])["input_voxel_size_A"]
    assert 1.2 <= v <= 1.6 and json.loads(a["params"])["voxel_size_A"] == pytest.approx(v)
    np.testing.assert_array_equal(a["features"], b["features"])
    w = a["weight"]
    assert w.any() and np.isfinite(a["features"].astype(np.float32)).all()
    assert a["label"][w].min() >= 2 * v - 1e-3 and a["label"][w].max() <= spec.max_A + 1e-3
    plain = make_sample(path, spec, seed=5, features=FeatureConfig())
    assert json.loads(plain["params"])["input_voxel_size_A"] == spec.voxel_size_A
    # the training record's summary of its data
    from deepres.samples import data_summary

    assert data_summary([a, plain]) == {"input_voxel_size_A": [spec.voxel_size_A, pytest.approx(v)],
                                        "n_post_sharpened": 0, "n_global_b_first": 2}


def test_crop_correlation_loss_scores_the_pattern_not_the_level():
    from deepres.train import crop_correlation_loss

    g = torch.Generator().manual_seed(0)
    y = 3.0 + 2.0 * torch.rand(3, 1, 6, 6, 6, generator=g)
    w = torch.ones_like(y)
    # any increasing affine map of the truth is a perfect pattern: biased or shrunk estimates score 0
    for p in (y, 0.5 * y + 2.0, y + 1.0):
        assert float(crop_correlation_loss(p, y, w)) < 1e-4
    assert abs(float(crop_correlation_loss(8.0 - y, y, w)) - 2.0) < 1e-4  # the reverse pattern
    noise = torch.rand(y.shape, generator=g)
    assert 0.7 < float(crop_correlation_loss(noise, y, w)) < 1.3
    # voxels outside the mask count for nothing
    w2 = w.clone()
    w2[..., 3:] = 0
    p = y.clone()
    p[..., 3:] = 100.0 * torch.rand(p[..., 3:].shape, generator=g)
    assert float(crop_correlation_loss(p, y, w2)) < 1e-4
    assert float(crop_correlation_loss(p, y, w)) > 0.3


def test_crop_correlation_loss_skips_crops_with_no_pattern():
    from deepres.train import CORR_MIN_VOXELS, crop_correlation_loss

    g = torch.Generator().manual_seed(1)
    y = 3.0 + 2.0 * torch.rand(2, 1, 6, 6, 6, generator=g)
    y[0] = 4.0 + 0.01 * torch.rand(y[0].shape, generator=g)  # near-uniform truth: skipped
    w = torch.ones_like(y)
    p = torch.rand(y.shape, generator=g, requires_grad=True)
    loss = crop_correlation_loss(p, y, w)
    assert abs(float(loss) - float(crop_correlation_loss(p[1:], y[1:], w[1:]))) < 1e-6
    loss.backward()
    assert torch.all(p.grad[0] == 0) and torch.any(p.grad[1] != 0)
    # too few mask voxels, or none: skipped, a zero loss with zero gradient
    few = torch.zeros_like(w)
    few.view(-1)[: CORR_MIN_VOXELS - 1] = 1.0
    q = torch.rand(y.shape, generator=g, requires_grad=True)
    out = crop_correlation_loss(q, y, few)
    out.backward()
    assert float(out) == 0.0 and torch.all(q.grad == 0)


def test_corr_weight_enters_training_and_zero_is_the_plain_loss(tmp_path, sample):
    # the fixture's field is uniform (no pattern for the term to score): give its label one
    ramp = np.linspace(-1.0, 1.0, sample["label"].shape[-1], dtype=np.float32)
    varied = {**sample, "label": (sample["label"] + ramp[None, None, :]).astype(np.float32)}
    data = tmp_path / "shards"
    _write_shards(data, varied)
    kw = dict(range_name="low", steps=3, batch=1, crop=8, val_every=3, threads=1, seed=3)
    paths = {c: str(tmp_path / f"c{c}.pt") for c in (0.0, 0.5)}
    recs = {c: train(str(data), paths[c], TrainConfig(**kw, corr_weight=c), log=lambda m: None) for c in paths}
    plain = str(tmp_path / "plain.pt")
    train(str(data), plain, TrainConfig(**kw), log=lambda m: None)
    w0, w5, wp = (load_model("low", path=p).net.state_dict() for p in (paths[0.0], paths[0.5], plain))
    assert all(torch.equal(w0[k], wp[k]) for k in w0)  # the default is the plain L1 loss
    assert any(not torch.equal(w0[k], w5[k]) for k in w0)  # the term moves the weights
    assert recs[0.5]["config"]["corr_weight"] == 0.5 and recs[0.0]["config"]["corr_weight"] == 0.0


def test_atomic_b_reaches_the_simulation_and_the_record(monkeypatch):
    import deepres.simulate as sim
    from deepres import samples as T

    seen = {}

    def fake_case(*args, **kw):
        seen.update(kw)
        raise RuntimeError("stop after the call")

    monkeypatch.setattr(sim, "simulate_case", fake_case)
    out = T._sample_job((str(DATA / "1BVN_l_u.pdb.gz"), "low", 5, FeatureConfig().to_dict(), 0.0, None, "flat",
                         (0.7, 1.3), True, False))
    assert "stop after the call" in out["error"] and seen["atomic_b"] == "flat"
    assert seen["noise_cutoff_scale"] == (0.7, 1.3) and seen["global_b_first"] is False
    samples = [{"params": json.dumps({"voxel_size_A": 1.0, "post_b_A2": None, "atomic_b": a})} for a in
               ("flat", "model", "flat")]
    assert T.data_summary(samples)["n_flat_atomic_b"] == 2
    assert "n_flat_atomic_b" not in T.data_summary(samples[1:2])  # records made before the option read the same
