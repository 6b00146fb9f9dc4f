"""Resampling: exact geometry there and back, features in place, no aliasing, no edge smearing."""

from __future__ import annotations

import numpy as np
import pytest

from deepres.resample import exact_pad, fourier_resample, fourier_resample_stack, masked_trilinear, output_size
from deepres.volume import Volume


def _blob(shape, v, origin, centre_A, sigma_A=2.5):
    idx = np.indices(shape).astype(np.float64)
    r2 = sum((idx[i] * v + origin[i] - centre_A[i]) ** 2 for i in range(3))
    return np.exp(-r2 / (2 * sigma_A**2)).astype(np.float32)


def _centroid_A(vol):
    d = np.clip(vol.data, 0, None).astype(np.float64)
    idx = np.indices(d.shape).reshape(3, -1)
    return (idx * d.ravel()).sum(1) / d.sum() * vol.voxel_size_A + np.asarray(vol.origin_A)


@pytest.mark.parametrize("v_in,v_out,shape", [(1.05, 1.0, (40, 40, 40)), (1.25, 1.0, (32, 36, 28)),
                                             (0.5, 1.0, (48, 40, 44)), (1.5, 0.5, (20, 18, 22))])
def test_there_and_back(v_in, v_out, shape):
    origin = (3.0, -7.5, 12.25)
    centre = np.array(origin) + np.array(shape) * v_in * np.array([0.45, 0.55, 0.5])
    vol = Volume(_blob(shape, v_in, origin, centre), v_in, origin)
    w = fourier_resample(vol, v_out)
    assert w.voxel_size_A == pytest.approx(v_out, rel=1e-9)  # sizes chosen so that L / v_out is whole
    # box centre kept: origin + (n - 1) v / 2 is the same
    for a in range(3):
        assert vol.origin_A[a] + (shape[a] - 1) * v_in / 2 == pytest.approx(w.origin_A[a] + (w.shape[a] - 1) * w.voxel_size_A / 2)
    # the feature stays in place (well within a voxel) and matches the analytic blob on the new grid
    assert np.abs(_centroid_A(w) - centre).max() < 0.1 * max(v_in, v_out)
    if v_out < v_in:
        assert np.abs(w.data - _blob(w.shape, w.voxel_size_A, w.origin_A, centre)).max() < 0.02
    back = fourier_resample(w, v_in)
    assert back.shape == vol.shape
    assert back.voxel_size_A == pytest.approx(v_in, rel=1e-9)
    assert back.origin_A == pytest.approx(vol.origin_A, abs=1e-9)
    if v_out <= v_in:  # nothing lost on the way
        assert np.abs(back.data - vol.data).max() < 1e-3
    assert np.abs(_centroid_A(back) - centre).max() < 0.1 * v_in


@pytest.mark.parametrize("axis", [0, 1, 2])
def test_antialias_filter_is_the_raised_cosine_along_every_axis(axis):
    # 0.5 A -> 1 A on 100 voxels: the raised cosine runs from 0.23 to 0.25 cycles/input voxel; a
    # cosine at 0.24 (bin 24) sits half-way down and must come out at half its amplitude.
    n = 100
    shape = [16, 16, 16]
    shape[axis] = n
    x = np.arange(n).reshape([n if a == axis else 1 for a in range(3)])
    d = np.broadcast_to(np.cos(2 * np.pi * 24 / n * x), shape).astype(np.float32)
    w = fourier_resample(Volume(d, 0.5), 1.0)
    assert np.abs(w.data).max() == pytest.approx(0.5, abs=2e-3)


def test_stack_resamples_each_volume_alike():
    rng = np.random.default_rng(7)
    a = rng.standard_normal((30, 27, 33)).astype(np.float32)
    b = (rng.random((30, 27, 33)) > 0.5).astype(np.float32)
    out, v, origin = fourier_resample_stack(np.stack([a, b]), 0.834, (1.0, 2.0, 3.0), 1.0)
    for i, d in enumerate((a, b)):
        single = fourier_resample(Volume(d, 0.834, (1.0, 2.0, 3.0)), 1.0)
        assert out[i].shape == single.shape
        assert np.abs(out[i] - single.data).max() < 1e-5
        assert (v, origin) == (single.voxel_size_A, single.origin_A)


def test_downsampling_does_not_alias():
    # a (periodic) cosine at ~0.4 cycles/voxel of a 0.5 A grid (0.8 /A) is above the Nyquist of 1 A (0.5 /A)
    n = 64
    x = np.arange(n)
    d = np.broadcast_to(np.cos(2 * np.pi * 26 / n * x), (n, n, n)).astype(np.float32)
    w = fourier_resample(Volume(d, 0.5), 1.0)
    assert w.shape == (32, 32, 32)
    assert np.abs(w.data).max() < 1e-3
    # ... while content below the new Nyquist survives with its amplitude
    d2 = np.broadcast_to(np.cos(2 * np.pi * 6 / n * x), (n, n, n)).astype(np.float32)
    w2 = fourier_resample(Volume(d2, 0.5), 1.0)
    assert np.abs(w2.data).max() == pytest.approx(1.0, abs=0.05)


def test_exact_pad():
    n = exact_pad(73, 1.05, 1.0)
    assert n >= 73 and (n * 1.05) == pytest.approx(round(n * 1.05))
    assert exact_pad(40, 1.0, 1.0) == 40
    assert output_size(100, 1.05, 1.0) == 105


@pytest.mark.parametrize("n_in", [150, 175, 211, 240])
def test_exact_pad_prefers_fft_friendly_lengths_within_tolerance(n_in):
    from deepres.resample import VOXEL_SIZE_RTOL, _fft_cost

    v_in, v_out = 0.834, 1.0
    n = exact_pad(n_in, v_in, v_out)
    m = round(n * v_in / v_out)
    assert n_in <= n <= n_in + max(4, n_in // 8)
    assert abs(n * v_in / m - v_out) / v_out <= VOXEL_SIZE_RTOL + 1e-9
    # no other acceptable length in the search range is cheaper to transform
    for k in range(n_in, n_in + max(4, n_in // 8) + 1):
        mk = round(k * v_in / v_out)
        if abs(k * v_in / mk - v_out) / v_out <= VOXEL_SIZE_RTOL:
            assert _fft_cost(n) + _fft_cost(m) <= _fft_cost(k) + _fft_cost(mk)


def test_masked_trilinear_no_edge_smearing():
    # a constant resolution inside a working-grid mask, 0 outside: every target voxel in its mask
    # gets exactly that constant (plain interpolation would blend in the zeros at the edge)
    src_shape = (30, 30, 30)
    mw = np.zeros(src_shape, bool)
    mw[8:22, 10:20, 5:25] = True
    vals = Volume(np.where(mw, 7.0, 0.0).astype(np.float32), 1.0, (0.0, 0.0, 0.0))
    tshape, tv, torig = (20, 20, 20), 1.37, (0.6, 0.3, -0.2)
    idx = np.indices(tshape).astype(float) * tv + np.array(torig)[:, None, None, None]
    tm = (idx[0] >= 7) & (idx[0] <= 22.5) & (idx[1] >= 9.5) & (idx[1] <= 19.8) & (idx[2] >= 4) & (idx[2] <= 25)
    out = masked_trilinear(vals, mw, tshape, tv, torig, tm)
    assert np.all(out[tm] == pytest.approx(7.0))
    assert np.all(out[~tm] == 0)


def test_masked_trilinear_linear_field_and_nearest_fallback():
    src_shape = (20, 20, 20)
    mw = np.ones(src_shape, bool)
    idx = np.indices(src_shape).astype(np.float32)
    field = 3 + 0.1 * idx[0] + 0.05 * idx[2]
    vals = Volume(field, 1.0, (0.0, 0.0, 0.0))
    tshape = (10, 10, 10)
    tm = np.ones(tshape, bool)
    out = masked_trilinear(vals, mw, tshape, 1.5, (1.0, 1.0, 1.0), tm)
    tidx = np.indices(tshape) * 1.5 + 1.0
    assert np.allclose(out, 3 + 0.1 * tidx[0] + 0.05 * tidx[2], atol=1e-4)
    # a target voxel far from every valid voxel gets the nearest valid value
    mw2 = np.zeros(src_shape, bool)
    mw2[2, 2, 2] = True
    mw2[17, 17, 17] = True
    v2 = Volume(np.where(mw2, field, 0).astype(np.float32), 1.0, (0.0, 0.0, 0.0))
    tm2 = np.zeros((3, 3, 3), bool)
    tm2[0, 0, 0] = tm2[2, 2, 2] = True
    out2 = masked_trilinear(v2, mw2, (3, 3, 3), 9.0, (0.0, 0.0, 0.0), tm2)
    assert out2[0, 0, 0] == pytest.approx(field[2, 2, 2])
    assert out2[2, 2, 2] == pytest.approx(field[17, 17, 17])
    assert out2[1, 1, 1] == 0


@pytest.mark.parametrize("offset", [(0, 0, 0), (3, -2, 5), (-7, 4, 0)])
def test_masked_trilinear_same_grid_shortcut_equals_interpolation(offset):
    # target voxels on source voxels (an input already at the working sampling): the lookup
    # shortcut gives what the interpolation gives, nearest-valid fallback at uncovered voxels included
    rng = np.random.default_rng(3)
    v = 0.5
    src_shape = (24, 26, 22)
    mw = np.zeros(src_shape, bool)
    mw[4:20, 3:22, 6:18] = rng.random((16, 19, 12)) > 0.2
    src = Volume(np.where(mw, rng.uniform(2, 9, src_shape), 0).astype(np.float32), v, (1.0, -2.0, 0.5))
    tshape = (28, 24, 30)
    torig = tuple(o + d * v for o, d in zip(src.origin_A, offset))
    tm = np.zeros(tshape, bool)
    tm[2:25, 1:23, 3:27] = rng.random((23, 22, 24)) > 0.5  # reaches beyond the source's mask and box
    fast = masked_trilinear(src, mw, tshape, v, torig, tm)
    slow = masked_trilinear(src, mw, tshape, v, torig, tm, same_grid_shortcut=False)
    assert np.array_equal(fast, slow)
    assert np.all(fast[tm] > 0) and np.all(fast[~tm] == 0)
    # where the target voxel is a valid source voxel, the value is that voxel's
    tz, ty, tx = np.nonzero(tm)
    sz, sy, sx = tz + offset[0], ty + offset[1], tx + offset[2]
    inside = (sz >= 0) & (sz < 24) & (sy >= 0) & (sy < 26) & (sx >= 0) & (sx < 22)
    sel = np.zeros(tz.size, bool)
    sel[inside] = mw[sz[inside], sy[inside], sx[inside]]
    assert sel.sum() > 100
    assert np.array_equal(fast[tz[sel], ty[sel], tx[sel]], src.data[sz[sel], sy[sel], sx[sel]])


def _interpolation_matrix(n: int, m: int, v_in: float, v_out_axis: float) -> np.ndarray:
    """Band-limited (trigonometric) interpolation of ``n`` periodic samples at the centres of
    ``m`` output voxels of ``v_out_axis`` Å, written out as a sum over frequencies (no FFT)."""
    t = (v_out_axis - v_in) / (2 * v_in) + np.arange(m) * v_out_axis / v_in  # input voxel units
    ks = np.arange(-(n // 2), n // 2 + 1)
    wk = np.ones(ks.size)
    if n % 2 == 0:
        wk[0] = wk[-1] = 0.5  # the Nyquist bin is split between +n/2 and -n/2
    d = t[:, None] - np.arange(n)[None, :]
    return (wk[None, None, :] * np.cos(2 * np.pi * ks[None, None, :] * d[:, :, None] / n)).sum(-1) / n


@pytest.mark.parametrize("shape", [(8, 9, 7), (10, 6, 9)])
def test_upsampling_is_the_trigonometric_interpolant(shape):
    """Resampling to a finer grid evaluates the band-limited interpolant of the input at the
    physical centres of the output voxels (checked against a direct sum, no FFT)."""
    rng = np.random.default_rng(3)
    data = rng.normal(size=shape).astype(np.float32)
    v_in = 1.0
    out = fourier_resample(Volume(data, v_in, (0.0, 0.0, 0.0)), 0.7)
    ref = data.astype(np.float64)
    for axis, n in enumerate(shape):
        m = out.data.shape[axis]
        M = _interpolation_matrix(n, m, v_in, n * v_in / m)
        ref = np.moveaxis(np.tensordot(M, np.moveaxis(ref, axis, 0), axes=1), 0, axis)
    np.testing.assert_allclose(out.data, ref, atol=2e-5 * np.abs(ref).max())
