"""Tests of the benchmark harness: metrics with known answers, the command-template estimator,
the case lists, and the report. Fast: synthetic arrays and tiny fake cases only."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from deepres import benchmark as B
from deepres.benchmark_cases import data_file
from deepres.metrics import aggregate, atom_values, pearson, score_map, spearman
from deepres.volume import Volume


def _truth(shape=(16, 16, 16), seed=0):
    rng = np.random.default_rng(seed)
    t = 3.0 + 5.0 * rng.random(shape)
    m = np.zeros(shape, dtype=np.float32)
    m[3:-3, 3:-3, 3:-3] = 1
    return t.astype(np.float32), m


# ---------------------------------------------------------------------------- metrics


def test_perfect_estimator():
    t, m = _truth()
    s = score_map(t, t, m)
    assert s["mae_A"] == 0.0 and s["median_ae_A"] == 0.0 and s["bias_A"] == 0.0
    assert s["pearson"] == pytest.approx(1.0) and s["spearman"] == pytest.approx(1.0)
    assert s["coverage"] == 1.0 and s["n_mask"] == int(m.sum())
    assert s["within_1A"] == 1.0


def test_constant_offset_gives_bias():
    t, m = _truth()
    s = score_map(t + 0.7, t, m)
    assert s["bias_A"] == pytest.approx(0.7, abs=1e-5)
    assert s["mae_A"] == pytest.approx(0.7, abs=1e-5)
    assert s["rmse_A"] == pytest.approx(0.7, abs=1e-5)
    assert s["pearson"] == pytest.approx(1.0)
    s = score_map(t - 1.5, t, m)
    assert s["bias_A"] == pytest.approx(-1.5, abs=1e-5)


def test_outside_mask_is_ignored_and_missing_values_reduce_coverage():
    t, m = _truth()
    e = t.copy()
    e[m == 0] = 100.0  # garbage outside the mask does not count
    inside = np.argwhere(m > 0)
    n = len(inside)
    for k, (z, y, x) in enumerate(inside[: n // 4]):
        e[z, y, x] = 0.0 if k % 2 else np.nan  # no estimate
    s = score_map(e, t, m)
    assert s["mae_A"] == 0.0
    assert s["coverage"] == pytest.approx(1 - (n // 4) / n)
    assert s["n_scored"] == n - n // 4


def test_no_estimate_at_all():
    t, m = _truth()
    s = score_map(np.zeros_like(t), t, m)
    assert s["coverage"] == 0.0 and s["mae_A"] is None and s["pearson"] is None


def test_constant_estimate_has_no_correlation_and_shapes_are_checked():
    t, m = _truth()
    s = score_map(np.full_like(t, 5.0), t, m)
    assert s["pearson"] is None and s["spearman"] is None
    with pytest.raises(ValueError, match="shapes differ"):
        score_map(t[:-1], t, m)


def test_a_truth_that_hardly_varies_has_no_correlation():
    """A field spanning less than MIN_TRUTH_SPREAD_A counts as uniform: r and ρ are undefined,
    not a correlation with rounding noise; MAE and bias are still scored."""
    from deepres.metrics import MIN_TRUTH_SPREAD_A

    t, m = _truth()
    flat = 6.0 + (t - t.min()) / (t.max() - t.min()) * 0.5 * MIN_TRUTH_SPREAD_A
    s = score_map(flat + 0.2, flat, m)
    assert s["pearson"] is None and s["spearman"] is None
    assert s["bias_A"] == pytest.approx(0.2, abs=1e-5)
    wide = 6.0 + (t - t.min()) / (t.max() - t.min()) * 2 * MIN_TRUTH_SPREAD_A
    assert score_map(wide, wide, m)["pearson"] == pytest.approx(1.0)


def test_correlations():
    x = np.arange(50, dtype=float)
    assert pearson(x, 2 * x + 1) == pytest.approx(1.0)
    assert pearson(x, -x) == pytest.approx(-1.0)
    assert spearman(x, np.exp(x / 10)) == pytest.approx(1.0)  # monotone, not linear
    assert pearson(x, x ** 3) < 1.0
    assert np.isnan(pearson(np.ones(5), x[:5]))


def test_aggregate():
    t, m = _truth()
    scores = [score_map(t + d, t, m) for d in (0.0, 1.0, -1.0)]
    a = aggregate(scores, [1.0, 2.0, 3.0])
    assert a["n_cases"] == 3
    assert a["mae_A_mean"] == pytest.approx(2 / 3, abs=1e-5)
    assert a["bias_A_mean"] == pytest.approx(0.0, abs=1e-5)
    assert a["time_s_total"] == 6.0


def test_atom_values_trilinear_and_axis_order():
    # value = x index: interpolation at an atom's x gives back its x position
    shape = (6, 7, 8)
    zz, yy, xx = np.meshgrid(*[np.arange(n) for n in shape], indexing="ij")
    vs, origin = 2.0, (10.0, 20.0, 30.0)  # (z, y, x)
    xyz = np.array([[30.0 + 2.0 * 2.5, 20.0 + 2.0 * 1.0, 10.0 + 2.0 * 3.0]])  # x=2.5, y=1, z=3 voxels
    assert atom_values(xx.astype(float), vs, origin, xyz)[0] == pytest.approx(2.5)
    assert atom_values(yy.astype(float), vs, origin, xyz)[0] == pytest.approx(1.0)
    assert atom_values(zz.astype(float), vs, origin, xyz)[0] == pytest.approx(3.0)
    assert np.isnan(atom_values(xx.astype(float), vs, origin, np.array([[0.0, 0.0, 0.0]]))[0])


# ---------------------------------------------------------------------------- cases


@pytest.mark.parametrize("rname,fname", [("low", None), ("high", None), ("low", "benchmark_cases_low_coarse.json"),
                                         ("high", "benchmark_cases_high_coarse.json"),
                                         ("low", "benchmark_cases_low_draw2.json"),
                                         ("high", "benchmark_cases_high_draw2.json"),
                                         ("low", "benchmark_cases_low_draw3.json"),
                                         ("high", "benchmark_cases_high_draw3.json"),
                                         ("low", "benchmark_cases_low_draw4.json"),
                                         ("high", "benchmark_cases_high_draw4.json")])
def test_case_files_reference_only_heldout_structures(rname, fname):
    held = set(B.heldout_structures())
    cases = B.load_cases(rname, None if fname is None else data_file(fname))
    assert len(cases) >= 20
    assert len({c.structure for c in cases}) >= 20
    assert all(c.structure in held for c in cases)
    assert len({c.id for c in cases}) == len(cases)
    assert all(c.range == rname for c in cases)
    coarse_files = fname is not None and "coarse" in fname
    lo, hi = {"low": (1.6, 2.4), "high": (0.85, 1.25)}[rname] if coarse_files else {"low": (0.8, 1.6),
                                                                                  "high": (0.5, 0.9)}[rname]
    assert all(lo - 1e-9 <= c.voxel_size_A <= hi + 1e-9 for c in cases)
    assert len({c.field_kind for c in cases}) >= 4
    inv = B.load_invariance_case(rname)
    assert inv is not None and inv.structure in held


@pytest.mark.parametrize("rname", ["low", "high"])
def test_second_draw_uses_other_structures_and_other_seeds(rname):
    usual = B.load_cases(rname)
    draw2 = B.load_cases(rname, data_file(f"benchmark_cases_{rname}_draw2.json"))
    assert not {c.structure for c in usual} & {c.structure for c in draw2}
    assert not {c.seed for c in usual} & {c.seed for c in draw2}
    assert all(c.id.startswith(f"{rname}2-") for c in draw2)


@pytest.mark.parametrize("rname", ["low", "high"])
def test_third_draw_has_new_seeds(rname):
    earlier = B.load_cases(rname) + B.load_cases(rname, data_file(f"benchmark_cases_{rname}_draw2.json"))
    draw3 = B.load_cases(rname, data_file(f"benchmark_cases_{rname}_draw3.json"))
    assert len(draw3) == 30
    assert not {c.seed for c in earlier} & {c.seed for c in draw3}
    assert all(c.id.startswith(f"{rname}3-") for c in draw3)


@pytest.mark.parametrize("rname", ["low", "high"])
def test_fourth_draw_has_new_seeds(rname):
    earlier = [c for f in ("", "_draw2", "_draw3")
               for c in B.load_cases(rname, data_file(f"benchmark_cases_{rname}{f}.json"))]
    draw4 = B.load_cases(rname, data_file(f"benchmark_cases_{rname}_draw4.json"))
    assert len(draw4) == 30
    assert not {c.seed for c in earlier} & {c.seed for c in draw4}
    assert all(c.id.startswith(f"{rname}4-") for c in draw4)


def test_heldout_list_is_disjoint_from_training_if_known():
    held = B.heldout_structures()
    assert len(held) == len(set(held)) and len(held) > 20


# ---------------------------------------------------------------------------- harness


def _fake_case(case: B.Case, shape=(20, 20, 20)):
    """A cheap stand-in for simulate_case: a smooth blob, a truth gradient, a mask."""
    rng = np.random.default_rng(case.seed)
    t, m = _truth(shape, case.seed)
    mp = rng.normal(size=shape).astype(np.float32)
    v = case.voxel_size_A
    vol = lambda a: Volume(np.asarray(a, np.float32), v)  # noqa: E731
    return SimpleNamespace(map=vol(mp), half1=vol(mp + 0.1), half2=vol(mp - 0.1), truth=vol(t), mask=vol(m),
                           params={"fake": True})


class _TruthEstimator(B.Estimator):
    name = "truth"
    needs_truth = True

    def run(self, inputs):
        return np.asarray(inputs.truth.data, np.float32)


def _write_truth_command(tmp_path: Path) -> str:
    """A fake external tool: writes the truth (saved beside the inputs) as its result."""
    script = tmp_path / "fake_tool.py"
    script.write_text(
        "import sys, shutil, os\n"
        "mask, outdir, vs = sys.argv[1], sys.argv[2], float(sys.argv[3])\n"
        "src = os.path.join(os.path.dirname(mask), 'truth.mrc')\n"
        "shutil.copy(src, os.path.join(outdir, 'res.mrc'))\n"
    )
    return f"{sys.executable} {script} {{mask}} {{outdir}} {{voxel_size}}"


class _TruthWritingCommand(B.CommandEstimator):
    """Writes the truth next to the inputs before running the command (so the command can copy it)."""

    def run(self, inputs):
        from deepres.mrc import write_volume

        d = Path(inputs.files()["mask"]).parent
        write_volume(d / "truth.mrc", inputs.truth.data, inputs.truth)
        return super().run(inputs)


def test_command_template_estimator_scores_zero_error(tmp_path):
    cases = [B.Case(f"t-{i}", "low", "none.pdb", seed=i, voxel_size_A=1.1) for i in range(2)]
    est = _TruthWritingCommand(_write_truth_command(tmp_path), "res.mrc", name="fake-tool")
    res = B.run_cases(cases, [est, B.OracleMedianEstimator()], simulate_fn=_fake_case, workdir=tmp_path / "w")
    for row in res["cases"]:
        e = row["estimators"]["fake-tool"]
        assert "error" not in e, e
        assert e["mae_A"] == pytest.approx(0.0, abs=1e-6)
        assert e["pearson"] == pytest.approx(1.0)
        assert e["coverage"] == 1.0
        assert row["estimators"]["oracle-median"]["mae_A"] > 0.5
    assert res["summary"]["fake-tool"]["mae_A_mean"] == pytest.approx(0.0, abs=1e-6)
    assert res["summary"]["fake-tool"]["n_errors"] == 0


def test_command_placeholders_are_quoted(tmp_path):
    est = B.CommandEstimator("tool {map} {mask} {half1} {half2} {outdir} {voxel_size} {range}", "x.mrc")
    case = _fake_case(B.Case("q", "high", "s", 0, 0.75))
    inp = B.CaseInputs("q", "high", case.map, case.mask, case.half1, case.half2, case.truth,
                       workdir=tmp_path / "dir with space")
    cmd = est.command_for(inp, tmp_path / "out dir")
    assert "'" in cmd and "0.75" in cmd and cmd.endswith(" high")
    assert est.needs_halves


def test_failing_command_is_reported_not_fatal(tmp_path):
    cases = [B.Case("f", "low", "s", 0, 1.0)]
    est = B.CommandEstimator(f"{sys.executable} -c 'import sys; sys.exit(3)'", "r.mrc", name="broken")
    res = B.run_cases(cases, [est], simulate_fn=_fake_case, workdir=tmp_path)
    assert "status 3" in res["cases"][0]["estimators"]["broken"]["error"]
    assert res["summary"]["broken"]["n_errors"] == 1


def test_in_process_estimator_and_report(tmp_path):
    cases = [B.Case(f"c{i}", "low", "s", i, 1.0, "smooth") for i in range(3)]
    res = B.run_cases(cases, [_TruthEstimator(), B.OracleMedianEstimator()], simulate_fn=_fake_case)
    doc = {"date": "today", "estimator": {"name": "truth", "kind": "test"}, "relion": {"note": "missing"},
           "machine": {}, "ranges": {"low": res}}
    md = B.to_markdown(doc)
    assert "RELION: not run" in md and "| truth | 3 | 0.00 |" in md
    jp, mp = B.write_report(doc, tmp_path, "acc")
    assert json.loads(jp.read_text())["ranges"]["low"]["summary"]["truth"]["mae_A_mean"] == 0.0
    assert mp.read_text() == md


def test_invariance_of_an_exact_estimator(tmp_path):
    """A map-only estimator that is exactly invariant passes every check."""

    class LocalMean(B.Estimator):
        name = "local-mean"

        def run(self, inputs):
            from scipy import ndimage

            d = np.asarray(inputs.map.data, np.float64)
            m = np.asarray(inputs.mask.data) > 0
            z = (d - d[m].mean()) / d[m].std()
            out = 5.0 + ndimage.uniform_filter(z, 3, mode="wrap")
            return np.where(m, out, 0.0).astype(np.float32)

    case = B.Case("inv", "low", "s", 1, 1.0, "uniform")
    out = B.run_invariance("low", LocalMean(), case, Path("."), tmp_path, simulate_fn=_fake_case)
    assert set(out["checks"]) == {"scale_x1000", "offset", "rot90_z", "rot90_y", "rot90_x", "voxel_size"}
    assert out["checks"]["scale_x1000"]["passed"] and out["checks"]["offset"]["passed"]
    assert all(out["checks"][f"rot90_{a}"]["passed"] for a in "zyx")


def test_threshold_mask():
    shape = (32, 32, 32)
    zz, yy, xx = np.meshgrid(*[np.arange(n) for n in shape], indexing="ij")
    blob = np.exp(-((zz - 16) ** 2 + (yy - 16) ** 2 + (xx - 16) ** 2) / (2 * 3.0 ** 2)).astype(np.float32)
    m = B.threshold_mask(Volume(blob, 1.0), dilate_vox=0)
    m3 = B.threshold_mask(Volume(blob, 1.0))
    assert m.data[16, 16, 16] == 1 and m.data[0, 0, 0] == 0
    assert m3.data.sum() > m.data.sum()
    assert set(np.unique(m3.data)) <= {0.0, 1.0}


def test_cli_parser_registers_benchmark():
    from deepres.cli import build_parser

    args = build_parser().parse_args(["benchmark", "--quick", "--range", "low", "--command", "x {map}"])
    assert args.quick and args.ranges == "low" and args.command_template == "x {map}"


def test_relion_estimator_command_line_with_a_fake_relion(tmp_path, monkeypatch):
    """The RELION line runs `relion_postprocess` from PATH with the half maps and reads <o>_locres.mrc."""
    bindir = tmp_path / "bin"
    bindir.mkdir()
    fake = bindir / "relion_postprocess"
    fake.write_text(
        f"#!{sys.executable}\n"
        "import sys, shutil\n"
        "a = sys.argv[1:]\n"
        "if '--version' in a:\n"
        "    print('RELION version: 0.0-fake'); sys.exit(0)\n"
        "opt = {a[i]: a[i + 1] for i in range(len(a) - 1) if a[i].startswith('--') and not a[i + 1].startswith('--')}\n"
        "assert '--locres' in a and float(opt['--angpix']) > 0 and opt['--i2'].endswith('half2.mrc')\n"
        "shutil.copy(opt['--mask'], opt['--o'] + '_locres.mrc')\n"
    )
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bindir}:{__import__('os').environ['PATH']}")
    assert B.RelionEstimator.find() == str(fake)
    est = B.RelionEstimator(sampling_A=12.0, every=2)
    assert "0.0-fake" in est.describe()["version"]
    cases = [B.Case(f"r{i}", "low", "s", i, 1.0) for i in range(3)]
    res = B.run_cases(cases, [est, B.OracleMedianEstimator()], simulate_fn=_fake_case, workdir=tmp_path / "w")
    ran = [row["case"]["id"] for row in res["cases"] if "relion" in row["estimators"]]
    assert ran == ["r0", "r2"]  # every 2nd case
    e = res["cases"][0]["estimators"]["relion"]
    assert "error" not in e, e
    assert e["coverage"] == 1.0  # the fake returns the mask: 1 A everywhere inside
    assert e["bias_A"] < 0
    assert res["summary"]["_paired"]["case_ids"] == ["r0", "r2"]


def test_missing_model_fails_early():
    from deepres.errors import InputError

    with pytest.raises(InputError, match="--model-file"):
        B.DeepResEstimator(model_files={"low": "/nonexistent/low.pt"}).check(["low"])
    B.DeepResEstimator(untrained=True).check(["low", "high"])  # nothing to load


def test_voxel_size_check_passes_each_maps_own_voxel_size(tmp_path):
    """The two-sampling check must hand the estimator the voxel size each map was simulated at."""
    seen = []

    class Recorder(B.Estimator):
        name = "recorder"

        def run(self, inputs):
            seen.append(float(inputs.map.voxel_size_A))
            m = np.asarray(inputs.mask.data) > 0
            return np.where(m, 5.0, 0.0).astype(np.float32)

    case = B.Case("inv", "low", "s", 1, 1.0, "uniform")
    B.run_invariance("low", Recorder(), case, Path("."), tmp_path, simulate_fn=_fake_case)
    assert seen[-2:] == list(B.INVARIANCE_VOXEL_SIZES["low"])


def test_per_residue_ranks_core_against_periphery():
    """A map that grows with the distance from the model's centre ranks residues by that distance."""
    import gemmi

    from deepres.metrics import per_residue

    path = Path(__file__).resolve().parent / "data" / "1BVN_l_u.pdb.gz"
    st = gemmi.read_structure(str(path))
    xyz = np.array([a.pos.tolist() for ch in st[0] for r in ch for a in r])  # (x, y, z) Å
    centre = xyz.mean(axis=0)
    lo = xyz.min(axis=0) - 5.0
    shape = tuple(int(n) for n in np.ceil((xyz.max(axis=0) - lo + 5.0) / 1.0)[::-1])  # (z, y, x)
    zz, yy, xx = np.indices(shape, dtype=np.float64)
    pos = np.stack([xx + lo[0], yy + lo[1], zz + lo[2]], axis=-1)
    values = (3.0 + 0.2 * np.linalg.norm(pos - centre, axis=-1)).astype(np.float32)
    pr = per_residue(values, 1.0, (lo[2], lo[1], lo[0]), str(path))
    assert pr["n_residues"] == pr["n_residues_total"] > 50
    assert pr["spearman_vs_centre_distance"] > 0.95
    means = {round(float(np.mean([a.b_iso for a in r])), 2) for ch in st[0] for r in ch}
    assert pr["n_distinct_bfactors"] == len(means)


def test_residue_exposure_tracks_real_b_factors_and_ranks_estimates():
    """The exposure (1/WCN) of 1BVN's residues follows their refined B-factors (buried residues are
    ordered), and a map that grows with each residue's B ranks residues by exposure as well."""
    import gemmi

    from deepres.metrics import per_residue, residue_exposure, spearman

    path = Path(__file__).resolve().parent / "data" / "1BVN_l_u.pdb.gz"
    st = gemmi.read_structure(str(path))
    st.remove_hydrogens()
    res = [r for ch in st[0] for r in ch if not r.is_water()]
    exp = residue_exposure(st[0])
    assert exp.shape == (len(res),) and np.all(np.isfinite(exp)) and np.all(exp > 0)
    b = np.array([np.mean([a.b_iso for a in r]) for r in res])
    assert spearman(exp, b) > 0.4  # the literature's 0.5-0.6 for crystal structures
    # a map equal to each residue's B near its atoms: its per-residue values are the B's ranks
    xyz = np.array([a.pos.tolist() for r in res for a in r])
    ab = np.array([a.b_iso for r in res for a in r])
    lo = xyz.min(axis=0) - 4.0
    shape = tuple(int(n) for n in np.ceil((xyz.max(axis=0) - lo + 4.0) / 1.0)[::-1])
    grid = np.zeros(shape, np.float32)
    idx = np.round(xyz - lo).astype(int)[:, ::-1]
    for (z, y, x), v in zip(idx, ab):
        grid[z - 1:z + 2, y - 1:y + 2, x - 1:x + 2] = v + 1.0
    pr = per_residue(grid, 1.0, (lo[2], lo[1], lo[0]), str(path))
    assert pr["spearman_vs_exposure"] > 0.3 and pr["spearman"] > 0.5
    # and the reversed map the reverse
    rev = np.where(grid > 0, grid.max() + 1.0 - grid, 0.0).astype(np.float32)
    assert per_residue(rev, 1.0, (lo[2], lo[1], lo[0]), str(path))["spearman_vs_exposure"] < -0.3


def test_shell_fsc_measures_the_half_maps_signal_to_noise():
    from deepres.metrics import shell_fsc

    rng = np.random.default_rng(0)
    shape = (40, 40, 40)
    m = np.ones(shape, np.float32)
    sig = rng.normal(size=shape).astype(np.float32)  # white: the same power in every shell
    n1, n2 = (rng.normal(size=shape).astype(np.float32) for _ in range(2))
    assert shell_fsc(sig, sig, m, 1.0, 4.0, 0.02) == pytest.approx(1.0)
    assert abs(shell_fsc(n1, n2, m, 1.0, 4.0, 0.02)) < 0.1
    # equal signal and noise power per half map: FSC = SNR / (1 + SNR) = 0.5
    assert shell_fsc(sig + n1, sig + n2, m, 1.0, 4.0, 0.02) == pytest.approx(0.5, abs=0.06)
    assert shell_fsc(sig + n1, sig + n2, m, 1.0, 4.0, 0.02) == pytest.approx(
        shell_fsc(sig + n1, sig + n2, m, 2.0, 8.0, 0.01), abs=0.06)  # Å units: the same cycles/voxel


def test_benchmark_reports_the_cases_whose_labels_the_data_support():
    def fake(case):
        sc = _fake_case(case)
        if case.seed == 1:  # independent half maps: nothing is supported
            rng = np.random.default_rng(5)
            sc.half1 = Volume(rng.normal(size=sc.map.shape).astype(np.float32), case.voxel_size_A)
            sc.half2 = Volume(rng.normal(size=sc.map.shape).astype(np.float32), case.voxel_size_A)
        return sc

    cases = [B.Case(f"c{i}", "low", "s", i, 1.0, "smooth") for i in range(3)]
    res = B.run_cases(cases, [_TruthEstimator(), B.OracleMedianEstimator()], simulate_fn=fake)
    fsc = [r["fsc_at_truth_p10"] for r in res["cases"]]
    assert fsc[0] > 0.9 and fsc[2] > 0.9 and fsc[1] < 0.143
    sup = res["summary"]["_supported"]
    assert sup["case_ids"] == ["c0", "c2"] and sup["truth"]["n_cases"] == 2
    md = B.to_markdown({"date": "d", "estimator": {"name": "truth"}, "relion": {}, "machine": {}, "ranges": {"low": res}})
    assert "Only the 2 of 3 cases whose best labels the data support" in md


def test_deepres_estimator_with_half_maps_passes_them(tmp_path, monkeypatch):
    """``--half-maps``: the estimator needs the halves, hands them to deepres.estimate (which then
    takes the half-map model), and is skipped where a case has none."""
    import deepres

    seen = []
    real_estimate = deepres.estimate

    def spy(*args, **kwargs):
        seen.append(kwargs.get("half_maps"))
        return real_estimate(*args, **kwargs)

    monkeypatch.setattr(deepres, "estimate", spy)
    est = B.DeepResEstimator(device="cpu", untrained=True, half_maps=True)
    assert est.needs_halves and est.describe()["half_maps"] is True
    cases = [B.Case("h", "low", "s", 0, 1.0)]
    big = lambda c: _fake_case(c, shape=(26, 26, 26))  # noqa: E731 - the network needs >= 20 voxels
    res = B.run_cases(cases, [est], simulate_fn=big, workdir=tmp_path / "a")
    entry = res["cases"][0]["estimators"][est.name]
    assert "error" not in entry and entry["coverage"] == 1.0
    assert len(seen) == 1 and seen[0] is not None and len(seen[0]) == 2
    no_halves = lambda c: SimpleNamespace(**{**vars(big(c)), "half1": None, "half2": None})  # noqa: E731
    res = B.run_cases(cases, [est], simulate_fn=no_halves, workdir=tmp_path / "b")
    assert len(seen) == 1  # not run without half maps
    assert est.name not in res["cases"][0]["estimators"]
