"""Tests of the simulator (deepres.simulate): the resolution convention must hold exactly."""

from __future__ import annotations

import json
from pathlib import Path

import mrcfile
import numpy as np
import pytest

from deepres.filters import lowpass_to_resolution, radial_frequency
from deepres.ranges import get_range
from deepres.simulate import (FIELD_KINDS, apply_bfactor, apply_local_resolution, add_noise,
                              density_from_structure, load_structure, make_mask, random_rotation,
                              resolution_field, simulate_case, write_case)

BM5 = Path(__file__).resolve().parent / "data"  # small bm5 structures shipped with the tests
SMALL = BM5 / "1BVN_l_u.pdb.gz"  # 558 atoms
pytestmark = pytest.mark.skipif(not SMALL.is_file(), reason="bm5 structures not available")


@pytest.fixture(scope="module")
def small_structure():
    return load_structure(SMALL)


@pytest.fixture(scope="module")
def small_density(small_structure):
    vol, pos, b = density_from_structure(small_structure, 1.0, margin_A=8.0)
    return vol, pos, b


def shell_power(data: np.ndarray, voxel_size_A: float, edges_Ainv: np.ndarray) -> np.ndarray:
    """Power of ``data`` in frequency shells (Å⁻¹) given by ``edges_Ainv``."""
    ft = np.fft.rfftn(data.astype(np.float64))
    k = radial_frequency(data.shape).astype(np.float64) / voxel_size_A
    idx = np.digitize(k.ravel(), edges_Ainv) - 1
    p = np.abs(ft.ravel()) ** 2
    return np.array([p[idx == i].sum() for i in range(len(edges_Ainv) - 1)])


# --------------------------------------------------------------------------- density
def test_density_atoms_on_peaks_and_subbox_matches(small_structure):
    rot = random_rotation(np.random.default_rng(3))
    vol, pos, b = density_from_structure(small_structure, 1.0, rot, margin_A=8.0)
    assert vol.data.dtype == np.float32 and vol.shape[0] == vol.shape[1] == vol.shape[2]
    assert len(pos) == small_structure[0].count_atom_sites() == len(b)
    idx = np.round(pos).astype(int)
    assert np.all(idx >= 8 - 1) and np.all(idx <= np.array(vol.shape) - 8)  # the margin
    assert vol.data[tuple(idx.T)].mean() > 20 * vol.data.mean()
    # a sub-box centred on a grid point of the full box is the same density (nothing wraps)
    from deepres.simulate import rotated_positions_zyx

    start = rotated_positions_zyx(small_structure, rot)[0] - pos[0]
    c = np.round(pos[50]).astype(int)
    sub, pos_s, _ = density_from_structure(small_structure, 1.0, rot, box_shape=24, center_A=start + c * 1.0)
    ref = vol.data[c[0] - 12:c[0] + 12, c[1] - 12:c[1] + 12, c[2] - 12:c[2] + 12]
    np.testing.assert_allclose(sub.data, ref, atol=1e-5 * float(np.abs(ref).max()))
    assert 0 < len(pos_s) < len(pos)


# --------------------------------------------------------------------------- filtering
@pytest.mark.parametrize("range_name,v,r", [("low", 1.0, 4.0), ("high", 0.5, 2.0), ("low", 1.3, 5.0)])
def test_uniform_field_spectrum(small_structure, range_name, v, r):
    spec = get_range(range_name)
    roll = spec.rolloff_cpv / spec.voxel_size_A  # Å⁻¹
    dens, _, _ = density_from_structure(small_structure, v, margin_A=6.0, box_shape=48 if v < 1 else None)
    field = np.full(dens.shape, r, np.float32)
    out = apply_local_resolution(dens, field, v, roll)
    # exactly the single global filter of the convention
    np.testing.assert_array_equal(out, lowpass_to_resolution(dens.data, r, v, spec.rolloff_cpv * v / spec.voxel_size_A))
    nyq = 0.5 / v
    edges = np.linspace(0, nyq * np.sqrt(3) + 1e-6, 60)
    p_out, p_in = shell_power(out, v, edges), shell_power(dens.data, v, edges)
    centres = 0.5 * (edges[1:] + edges[:-1])
    below = (edges[1:] < 1.0 / r) & (p_in > 0)
    above = edges[:-1] > 1.0 / r + roll
    np.testing.assert_allclose(p_out[below] / p_in[below], 1.0, rtol=1e-3)
    assert p_out[above].sum() < 1e-8 * p_in[below].sum()
    assert centres[above].size > 0 and centres[below].size > 0


def test_two_domain_field_local_spectra(small_density):
    dens, pos, _ = small_density
    v = 1.0
    shape = dens.shape
    # split the box through the molecule's centroid along z
    cz = int(round(pos[:, 0].mean()))
    field = np.full(shape, 8.0, np.float32)
    field[:cz] = 3.0
    out = apply_local_resolution(dens, field, v, 0.02)
    # windowed local high-pass energy (band 1/5..1/3.2 Å⁻¹) in each half, relative to the density
    zz = np.arange(shape[0])[:, None, None]

    def band_energy(data, window):
        ft = np.fft.rfftn(data * window)
        k = radial_frequency(shape) / v
        band = (k > 1 / 5.0) & (k < 1 / 3.2)
        return float((np.abs(ft[band]) ** 2).sum())

    ratios = []
    for sl in (zz < cz - 6, zz >= cz + 6):
        w = np.broadcast_to(sl, shape).astype(np.float64)
        from scipy.ndimage import gaussian_filter

        w = gaussian_filter(w, 2.0)
        ratios.append(band_energy(out, w) / band_energy(dens.data, w))
    good, bad = ratios
    assert good > 0.8, ratios
    assert bad < 0.02, ratios


def test_bank_interpolation_close_to_exact(small_density):
    dens, pos, _ = small_density
    rng = np.random.default_rng(0)
    field = resolution_field(dens.shape, 1.0, pos, "low", "smooth", rng)
    out = apply_local_resolution(dens, field, 1.0, 0.02)
    scale = float(np.abs(dens.data).max())
    idx = np.round(pos[rng.choice(len(pos), 6, replace=False)]).astype(int)
    for z, y, x in idx:
        exact = lowpass_to_resolution(dens.data, float(field[z, y, x]), 1.0, 0.02)[z, y, x]
        assert abs(out[z, y, x] - exact) < 0.01 * scale


# --------------------------------------------------------------------------- fields
@pytest.mark.parametrize("kind", FIELD_KINDS)
@pytest.mark.parametrize("range_name,v", [("low", 1.0), ("low", 1.4), ("high", 0.5), ("high", 0.9)])
def test_field_values_within_range(small_density, kind, range_name, v):
    _, pos, _ = small_density
    spec = get_range(range_name)
    shape = (24, 26, 28)
    field = resolution_field(shape, v, pos[:200] * 0.3, spec, kind, np.random.default_rng(5))
    assert field.shape == shape and field.dtype == np.float32 and np.all(np.isfinite(field))
    assert field.min() >= 2 * v - 1e-6 and field.min() >= spec.min_A - 1e-6
    assert field.min() >= spec.floor_A(v) and field.max() <= spec.max_A


def test_domain_field_has_sharp_boundaries(small_density):
    dens, pos, _ = small_density
    field, info = resolution_field(dens.shape, 1.0, pos, "low", "domains", np.random.default_rng(2),
                                   n_domains=3, return_params=True)
    vals = np.unique(field)
    assert vals.size == 3 and info["n_domains"] == 3
    # neighbouring voxels either share the value or jump between two domain values
    jumps = np.abs(np.diff(field, axis=0))
    assert np.all((jumps == 0) | (jumps >= np.diff(vals).min() - 1e-6))


# --------------------------------------------------------------------------- noise, B, mask
def test_noise_snr_and_spectra(small_density):
    dens, _, _ = small_density
    rng = np.random.default_rng(1)
    for spectrum in ("white", "coloured", "lowpass"):
        n = add_noise(dens.data, 1.0, rng, 2.0, spectrum=spectrum, lowpass_A=4.0 if spectrum == "lowpass" else None)
        assert n.dtype == np.float32 and n.shape == dens.shape
        np.testing.assert_allclose(np.var(dens.data) / np.var(n), 2.0, rtol=1e-3)
    n = add_noise(dens.data, 1.0, rng, 1.0, spectrum="lowpass", lowpass_A=4.0)
    edges = np.array([0, 0.2, 0.25, 0.27, 1.0])
    p = shell_power(n, 1.0, edges)
    assert p[3] < 1e-8 * p[0]
    assert np.all(add_noise(dens.data, 1.0, rng, None) == 0)


def test_bfactor_sign(small_density):
    dens, _, _ = small_density
    edges = np.array([0.0, 0.05, 0.3, 0.5])
    p0 = shell_power(dens.data, 1.0, edges)
    ps = shell_power(apply_bfactor(dens.data, 1.0, -30.0), 1.0, edges)
    pb = shell_power(apply_bfactor(dens.data, 1.0, 30.0), 1.0, edges)
    assert ps[2] > p0[2] > pb[2]
    np.testing.assert_allclose(ps[2] / p0[2], np.exp(30 * 0.4 ** 2 / 2), rtol=0.6)


def test_mask_tight_inside_loose(small_density):
    dens, pos, _ = small_density
    tight = make_mask(dens, 1.0, {"style": "tight"})
    loose = make_mask(dens, 1.0, {"style": "loose"})
    assert tight.dtype == bool and tight.any() and not tight.all()
    assert loose.sum() > tight.sum() and np.all(loose[tight])
    idx = np.round(pos).astype(int)
    assert loose[tuple(idx.T)].mean() > 0.95


# --------------------------------------------------------------------------- whole cases
def _case(seed, **kw):
    return simulate_case(SMALL, "low", 1.0, seed=seed, margin_A=8.0, **kw)


def _bytes(case):
    return [getattr(case, a).data.tobytes() for a in ("map", "half1", "half2", "truth", "mask", "density")]


def test_case_deterministic_and_seed_dependent():
    a, b, c = _case(11), _case(11), _case(12)
    assert _bytes(a) == _bytes(b) and a.params == b.params
    assert _bytes(a)[0] != _bytes(c)[0] and _bytes(a)[3] != _bytes(c)[3]


def test_case_grids_and_halves(tmp_path):
    case = _case(4, field_kind="mixed")
    for vol in (case.map, case.half1, case.half2, case.truth, case.mask, case.density):
        assert vol.shape == case.map.shape and vol.voxel_size_A == case.map.voxel_size_A
        assert vol.origin_A == case.map.origin_A and vol.data.dtype == np.float32
    np.testing.assert_allclose(case.map.data, (case.half1.data + case.half2.data) / 2, rtol=1e-6, atol=1e-6)
    assert set(np.unique(case.mask.data)) <= {0.0, 1.0}
    lo, hi = get_range("low").floor_A(1.0), get_range("low").max_A
    assert case.truth.data.min() >= lo and case.truth.data.max() <= hi
    out = write_case(case, tmp_path / "c")
    shapes = set()
    for name in ("map", "half1", "half2", "truth", "mask"):
        with mrcfile.open(out / f"{name}.mrc") as m:
            shapes.add((m.data.shape, float(m.voxel_size.x), float(m.header.origin.x)))
            if name == "truth":
                np.testing.assert_array_equal(m.data, case.truth.data)
    assert len(shapes) == 1
    params = json.loads((out / "params.json").read_text())
    assert params["seed"] == 4 and params["field"]["kind"] == "mixed"


def test_case_noise_free_is_filtered_density():
    case = _case(3, field_kind="uniform", noise="none", global_b_A2=0.0, scale=1.0, offset=0.0)
    r = float(case.truth.data.flat[0])
    np.testing.assert_array_equal(case.map.data, lowpass_to_resolution(case.density.data, r, 1.0, 0.02))
    assert np.array_equal(case.half1.data, case.half2.data)


def test_case_noise_override_changes_only_the_noise():
    """scripts/noise_swap.py relies on it: the noise has its own random stream, so another spectrum
    leaves the signal (density and truth) as it was and changes the map."""
    a = _case(5, field_kind="smooth", noise="lowpass", snr=2.0)
    b = _case(5, field_kind="smooth", noise="white", snr=2.0)
    np.testing.assert_array_equal(a.truth.data, b.truth.data)
    np.testing.assert_array_equal(a.density.data, b.density.data)
    assert a.params["noise_spectrum"] == "lowpass" and b.params["noise_spectrum"] == "white"
    assert not np.allclose(a.map.data, b.map.data)


def test_global_b_before_the_field_keeps_the_labels_true():
    """A strong sharpening after the field multiplied the field's small leak above each voxel's cut-off
    by its gain (up to ~90x here); before it, the labels still describe the map. The draws are the same
    either way, and without a global B the two orders give the same map."""
    from deepres.localfilter import local_lowpass

    def beyond(case):  # share of the noise-free map's power beyond the end of each voxel's roll-off
        d, t, m = case.map.data, case.truth.data, case.mask.data > 0.5
        d = d - np.median(d[~m])
        rest = d - local_lowpass(d, 1.0 / (1.0 / t + 0.04), 0.5, 0.0)
        return float((rest[m] ** 2).sum() / (d[m] ** 2).sum())

    kw = dict(field_kind="smooth", noise="none", max_box=80, margin_A=6.0)
    new, old = (simulate_case(SMALL, "high", 0.5, 3, global_b_A2=-100.0, global_b_first=f, **kw) for f in (True, False))
    assert new.params["global_b_first"] is True and old.params["global_b_first"] is False
    np.testing.assert_array_equal(new.truth.data, old.truth.data)
    assert new.truth.data.min() < 2.5 and new.truth.data.max() > 4.0  # a field with fine and coarse regions
    assert beyond(old) > 2.5 * beyond(new) and beyond(old) > 0.3
    a, b = (simulate_case(SMALL, "high", 0.5, 3, global_b_A2=0.0, global_b_first=f, **kw) for f in (True, False))
    np.testing.assert_array_equal(a.map.data, b.map.data)
    assert beyond(a) < 0.02


def _noise_power_beyond(case, k_Ainv):
    """Fraction of the half maps' difference (pure noise) whose power lies beyond ``k_Ainv``."""
    d = case.half1.data - case.half2.data
    p = np.abs(np.fft.rfftn(d)) ** 2
    k = radial_frequency(d.shape) / case.map.voxel_size_A
    return float(p[k > k_Ainv].sum() / p.sum())


def test_noise_cutoff_scale_moves_only_the_low_pass_noise():
    base = _case(6, field_kind="smooth", noise="lowpass", snr=2.0)
    same = _case(6, field_kind="smooth", noise="lowpass", snr=2.0, noise_cutoff_scale=(1.0, 1.0))
    np.testing.assert_array_equal(base.map.data, same.map.data)  # scale 1 is the default, bit for bit
    assert "noise_cutoff_scale" not in base.params and same.params["noise_cutoff_scale"] == 1.0
    finer = _case(6, field_kind="smooth", noise="lowpass", snr=2.0, noise_cutoff_scale=0.6)
    np.testing.assert_array_equal(base.truth.data, finer.truth.data)
    best = base.params["field_min_A"]
    assert finer.params["noise_lowpass_A"] == pytest.approx(0.6 * best)
    # the base noise stops near 1/best (plus one roll-off); the finer one reaches well beyond
    edge = 1.0 / best + base.params["rolloff_Ainv"]
    assert _noise_power_beyond(base, edge) < 1e-3 < 0.05 < _noise_power_beyond(finer, edge)
    drawn = [_case(s, field_kind="smooth", noise="lowpass", snr=2.0, noise_cutoff_scale=(0.7, 1.3))
             .params["noise_cutoff_scale"] for s in (6, 7, 8)]
    assert all(0.7 <= x <= 1.3 for x in drawn) and len(set(drawn)) == 3
    with pytest.raises(ValueError, match="noise_cutoff_scale"):
        _case(6, noise="lowpass", noise_cutoff_scale=(1.2, 0.8))


def test_case_max_box_subbox():
    case = simulate_case(SMALL, "high", 0.5, seed=2, max_box=40, noise="none")
    assert case.map.shape == (40, 40, 40) and case.params["sub_box"] and case.params["edge_pad_vox"] == 6
    assert case.density.shape == case.truth.shape == (40, 40, 40)
    assert case.truth.data.min() >= 1.5


def test_cli_simulate(tmp_path, capsys):
    from deepres.cli import main

    rc = main(["simulate", str(SMALL), "--range", "low", "--voxel-size", "1.0", "--seed", "1",
               "--output-dir", str(tmp_path / "o"), "--field", "domains", "--noise-snr", "2"])
    assert rc in (0, None)
    params = json.loads((tmp_path / "o" / "params.json").read_text())
    assert params["field"]["kind"] == "domains" and params["snr"] == 2.0
    assert all((tmp_path / "o" / f"{n}.mrc").is_file() for n in ("map", "half1", "half2", "truth", "mask"))


def test_dilate_ball_matches_distance_transform():
    from scipy import ndimage

    from deepres.simulate.masks import dilate_ball

    rng = np.random.default_rng(0)
    m = ndimage.gaussian_filter(rng.standard_normal((30, 26, 22)), 2) > 0.1
    m[0, :3, :3] = True  # touches the box edge
    for r in (1.0, 2.5, 4.3):
        np.testing.assert_array_equal(dilate_ball(m, r), ndimage.distance_transform_edt(~m) <= r)


def test_heldout_flag():
    from deepres.simulate import is_heldout

    assert is_heldout("/x/1A2K_l_u.pdb.gz") and is_heldout(SMALL) and not is_heldout("1AK4_target.pdb.gz")


def test_local_filter_weights_sum_to_one():
    """A constant map passes every filter unchanged, so any field must return it (weights sum to 1)."""
    rng = np.random.default_rng(9)
    field = rng.uniform(2.5, 13.0, (16, 18, 20)).astype(np.float32)
    out = apply_local_resolution(np.full(field.shape, 3.0, np.float32), field, 1.0, 0.02)
    np.testing.assert_allclose(out, 3.0, rtol=1e-5)
    # and a field with two values gives each voxel exactly its own filter
    dens = rng.standard_normal(field.shape).astype(np.float32)
    two = np.where(np.arange(16)[:, None, None] < 8, 3.0, 7.0).astype(np.float32) * np.ones_like(field)
    out = apply_local_resolution(dens, two, 1.0, 0.02)
    np.testing.assert_array_equal(out[:8], lowpass_to_resolution(dens, 3.0, 1.0, 0.02)[:8])
    np.testing.assert_array_equal(out[8:], lowpass_to_resolution(dens, 7.0, 1.0, 0.02)[8:])


def test_flat_atomic_b_changes_the_atoms_b_and_nothing_else(small_structure):
    from deepres.simulate.case import flat_atomic_b

    b0 = [a.b_iso for m in small_structure for ch in m for r in ch for a in r]
    flat = flat_atomic_b(small_structure)
    b1 = [a.b_iso for m in flat for ch in m for r in ch for a in r]
    assert len(set(b0)) > 10 and len(set(b1)) == 1 and abs(b1[0] - np.median(b0)) < 1e-3
    assert [a.b_iso for m in small_structure for ch in m for r in ch for a in r] == b0  # the input untouched
    a = _case(7, field_kind="mixed")
    f = _case(7, field_kind="mixed", atomic_b="flat")
    assert a.params["atomic_b"] == "model" and f.params["atomic_b"] == "flat"
    # every draw as before; only what follows from the density differs (the offset is drawn in units
    # of the signal's SD, the mask is made from the map)
    derived = {"atomic_b", "offset", "mask_fraction"}
    assert {k: v for k, v in a.params.items() if k not in derived} == \
        {k: v for k, v in f.params.items() if k not in derived}
    np.testing.assert_array_equal(a.truth.data, f.truth.data)
    assert not np.array_equal(a.density.data, f.density.data)
    # with one B for all, the density at the atoms varies less from atom to atom (same elements)
    cv = []
    for st in (small_structure, flat):
        vol, pos, _ = density_from_structure(st, 1.0, margin_A=8.0)
        peaks = vol.data[tuple(np.round(pos / 1.0).astype(int).T)]
        cv.append(np.std(peaks) / np.mean(peaks))
    assert cv[1] < 0.8 * cv[0]
    with pytest.raises(ValueError, match="atomic_b"):
        _case(7, atomic_b="smooth")
