"""The command line: help, success output, the subcommand registry, error reporting."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from pipeline_helpers import use_untrained, write_pair

from deepres import cli

ENV = {**os.environ, "OMP_NUM_THREADS": "1"}


def test_python_m_help_lists_every_option():
    p = subprocess.run([sys.executable, "-m", "deepres", "estimate", "--help"], capture_output=True, text=True, env=ENV)
    assert p.returncode == 0
    for opt in ("--mask", "--range", "--output-dir", "--device", "--voxel-size", "--force", "--quiet",
                "--debug", "--no-report", "--model", "--precision", "--half-maps", "--no-lowpass-floor", "--desharpen"):
        assert opt in p.stdout
    top = subprocess.run([sys.executable, "-m", "deepres", "--help"], capture_output=True, text=True, env=ENV)
    assert top.returncode == 0 and "estimate" in top.stdout


def test_subprocess_error_is_one_line_exit_2(tmp_path):
    p = subprocess.run([sys.executable, "-m", "deepres", "estimate", str(tmp_path / "nope.mrc"), "--mask",
                        str(tmp_path / "m.mrc")], capture_output=True, text=True, env=ENV)
    assert p.returncode == 2
    assert p.stderr.startswith("deepres: error: map file") and "does not exist" in p.stderr
    assert p.stderr.count("\n") == 1 and "Traceback" not in p.stderr


def test_estimate_prints_summary(tmp_path, monkeypatch, capsys):
    use_untrained(monkeypatch)
    vp, mp = write_pair(tmp_path, shape=(26, 28, 24))
    rc = cli.main(["estimate", str(vp), "--mask", str(mp), "--device", "cpu", "--no-report"])
    assert rc == 0
    out = capsys.readouterr()
    assert "Median resolution" in out.out and "Highest resolution" in out.out
    assert out.err == ""  # not a terminal: no progress display
    outdir = tmp_path / "map_deepres"  # default: <stem>_deepres beside the map
    params = json.loads((outdir / "summary.json").read_text())["parameters"]
    assert params["report"] is False and params["precision"] == "float32"
    # --quiet prints nothing; --force replaces the folder; --precision is recorded
    rc = cli.main(["estimate", str(vp), "--mask", str(mp), "--device", "cpu", "--no-report", "--quiet", "--force",
                   "--range", "2.5-13", "--precision", "bfloat16"])
    assert rc == 0
    out = capsys.readouterr()
    assert out.out == "" and out.err == ""
    assert json.loads((outdir / "summary.json").read_text())["parameters"]["precision"] == "bfloat16"


def test_estimate_reads_gzipped_inputs_as_emdb_ships_them(tmp_path, monkeypatch, capsys):
    import gzip

    import mrcfile
    import numpy as np

    use_untrained(monkeypatch)
    vp, mp = write_pair(tmp_path, shape=(26, 28, 24))
    assert cli.main(["estimate", str(vp), "--mask", str(mp), "--device", "cpu", "--no-report", "-q",
                     "--output-dir", str(tmp_path / "plain")]) == 0
    gz = []
    for p in (vp, mp):
        gz.append(p.with_name(p.stem + ".map.gz"))
        with gzip.open(gz[-1], "wb") as fh:
            fh.write(p.read_bytes())
    assert cli.main(["estimate", str(gz[0]), "--mask", str(gz[1]), "--device", "cpu", "--no-report", "-q"]) == 0
    outdir = tmp_path / "map_deepres"  # map.map.gz -> map_deepres, not map.map_deepres
    with mrcfile.open(outdir / "resolution.mrc") as a, mrcfile.open(tmp_path / "plain" / "resolution.mrc") as b:
        assert np.array_equal(a.data, b.data) and a.voxel_size == b.voxel_size
    inputs = json.loads((outdir / "summary.json").read_text())["inputs"]
    assert inputs["volume"]["path"].endswith("map.map.gz")  # the file given, and its own checksum
    capsys.readouterr()


def test_progress_display_only_on_a_terminal():
    import io

    class Tty(io.StringIO):
        def isatty(self):
            return True

    s = Tty()
    p = cli.TerminalProgress(enabled=True, stream=s)
    p("reading", None)
    p("running the network", 0.5)
    p.close()
    assert "reading" in s.getvalue() and "50%" in s.getvalue()
    q = io.StringIO()
    p2 = cli.TerminalProgress(enabled=False, stream=q)
    p2("reading", None)
    assert q.getvalue() == ""


def test_debug_shows_traceback(tmp_path, capsys):
    rc = cli.main(["estimate", str(tmp_path / "x.mrc"), "--mask", str(tmp_path / "y.mrc"), "--debug"])
    err = capsys.readouterr().err
    assert rc == 2 and "Traceback" in err and "deepres: error:" in err


def test_registry(monkeypatch, capsys):
    calls = []

    def add(p):
        p.add_argument("--n", type=int, default=1)

    def run(args):
        calls.append(args.n)
        return 0

    monkeypatch.setattr(cli, "SUBCOMMANDS", list(cli.SUBCOMMANDS))
    cli.register(cli.Subcommand("hello", "say hello", add, run))
    cli.register(cli.Subcommand("broken", "not installed", "deepres.no_such_module:add", "deepres.no_such_module:run"))
    assert cli.main(["hello", "--n", "3"]) == 0 and calls == [3]
    with pytest.raises(SystemExit):
        cli.main(["broken"])  # left out of the parser, not a crash at start-up
    assert cli.main(["estimate", "/nonexistent.mrc", "--mask", "/nonexistent2.mrc"]) == 2


def test_help_does_not_import_the_other_subcommands():
    """`deepres --help` and `deepres simulate --help` stay light: no torch, no benchmark module."""
    import subprocess
    import sys

    code = (
        "import sys\n"
        "from deepres.cli import main\n"
        "for argv in (['--help'], ['simulate', '--help']):\n"
        "    try:\n"
        "        main(argv)\n"
        "    except SystemExit:\n"
        "        pass\n"
        "print('torch' in sys.modules, 'deepres.benchmark' in sys.modules, 'deepres.train' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip().splitlines()[-1] == "False False False"


def test_train_refuses_a_reversed_input_voxel_range(tmp_path, capsys):
    """``deepres train --input-voxel-size HI LO``: one line, exit 2, and nothing simulated."""
    rc = cli.main(["train", "--structures", str(tmp_path), "--data-dir", str(tmp_path / "d"), "--output",
                   str(tmp_path / "m.pt"), "--input-voxel-size", "1.2", "0.5"])
    err = capsys.readouterr().err
    assert rc == 2 and "--input-voxel-size needs 0 < LO <= HI" in err and err.count("\n") == 1
    assert not (tmp_path / "d").exists()


def test_train_refuses_more_sparsity_bands_than_bands(tmp_path, capsys):
    """``deepres train --sparsity-bands K`` with K above --n-bands: one line, exit 2, nothing simulated."""
    rc = cli.main(["train", "--structures", str(tmp_path), "--data-dir", str(tmp_path / "d"), "--output",
                   str(tmp_path / "m.pt"), "--n-bands", "8", "--sparsity-bands", "9"])
    err = capsys.readouterr().err
    assert rc == 2 and "--sparsity-bands needs 0 <= K <= --n-bands (8), got 9" in err and err.count("\n") == 1
    assert not (tmp_path / "d").exists()


@pytest.mark.parametrize("value", ["-0.1", "nan", "inf"])
def test_train_refuses_a_bad_corr_weight(tmp_path, capsys, value):
    """``deepres train --corr-weight L`` with L negative or not finite: one line, exit 2, nothing simulated."""
    rc = cli.main(["train", "--structures", str(tmp_path), "--data-dir", str(tmp_path / "d"), "--output",
                   str(tmp_path / "m.pt"), "--corr-weight", value])
    err = capsys.readouterr().err
    assert rc == 2 and "--corr-weight needs a finite value >= 0" in err and err.count("\n") == 1
    assert not (tmp_path / "d").exists()


@pytest.mark.parametrize("lo,hi", [("0", "1"), ("1.2", "0.8"), ("nan", "1")])
def test_train_refuses_a_bad_noise_cutoff_scale(tmp_path, capsys, lo, hi):
    """``deepres train --noise-cutoff-scale LO HI`` outside 0 < LO <= HI: one line, exit 2, nothing simulated."""
    rc = cli.main(["train", "--structures", str(tmp_path), "--data-dir", str(tmp_path / "d"), "--output",
                   str(tmp_path / "m.pt"), "--noise-cutoff-scale", lo, hi])
    err = capsys.readouterr().err
    assert rc == 2 and "--noise-cutoff-scale needs 0 < LO <= HI" in err and err.count("\n") == 1
    assert not (tmp_path / "d").exists()


def test_train_refuses_a_missing_more_data_folder(tmp_path, capsys):
    """``deepres train --more-data DIR`` with no such folder: one line, exit 2, nothing simulated."""
    rc = cli.main(["train", "--structures", str(tmp_path), "--data-dir", str(tmp_path / "d"), "--output",
                   str(tmp_path / "m.pt"), "--more-data", str(tmp_path / "nowhere")])
    err = capsys.readouterr().err
    assert rc == 2 and "--more-data: no folder" in err and err.count("\n") == 1
    assert not (tmp_path / "d").exists()
