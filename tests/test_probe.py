"""The linear and non-linear probes of scripts/probe_residual.py find a planted signal and no signal in noise."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np

_spec = importlib.util.spec_from_file_location(
    "probe_residual", Path(__file__).resolve().parents[1] / "scripts" / "probe_residual.py")
probe = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(probe)


def _planted(n_maps=20, per_map=400, seed=0):
    rng = np.random.default_rng(seed)
    g = np.repeat(np.arange(n_maps), per_map)
    x = rng.normal(size=(len(g), 3)).astype(np.float32)
    offsets = rng.normal(size=n_maps)[g]  # a per-map level that demeaning must remove
    y = 0.5 * x[:, 0] + offsets + 0.1 * rng.normal(size=len(g))
    return x, y, g


def test_ridge_within_maps_finds_a_planted_channel_and_not_noise():
    x, y, g = _planted()
    xd, yd = probe.demean(x, g), probe.demean(y, g)
    fit = g % 2 == 0
    assert probe.ridge_r2(xd[fit][:, [0]], yd[fit], xd[~fit][:, [0]], yd[~fit], 1e-3 * fit.sum()) > 0.9
    assert abs(probe.ridge_r2(xd[fit][:, [1, 2]], yd[fit], xd[~fit][:, [1, 2]], yd[~fit], 1e-3 * fit.sum())) < 0.02


def test_demean_removes_each_groups_mean():
    x, _, g = _planted(n_maps=4, per_map=10)
    d = probe.demean(x, g)
    for i in range(4):
        np.testing.assert_allclose(d[g == i].mean(0), 0.0, atol=1e-6)


def test_mlp_corrects_an_estimate_only_where_the_inputs_tell():
    rng = np.random.default_rng(1)
    n = 4000
    log_truth = rng.uniform(0.5, 2.0, n)
    tell = rng.normal(size=n)
    log_est = log_truth + 0.3 * tell  # the error is read off the input
    fit = np.arange(n) % 2 == 0
    raw = float(np.mean(np.abs(np.exp(log_est[~fit]) - np.exp(log_truth[~fit]))))
    told = probe.mlp_test_mae(tell[:, None], log_est, log_truth, fit, steps=800)
    alone = probe.mlp_test_mae(np.zeros((n, 0)), log_est, log_truth, fit, steps=800)  # shrinkage only
    blind = probe.mlp_test_mae(rng.normal(size=(n, 1)), log_est, log_truth, fit, steps=800)
    assert told < 0.1 * raw
    assert alone < raw and blind > 0.97 * alone  # an input that tells nothing gains nothing over the estimate
