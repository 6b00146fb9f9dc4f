"""Bad input (issue 7): every case exits 2 with one clear line naming the problem, writes nothing,
and leaves the inputs untouched."""

from __future__ import annotations

import os
import struct

import mrcfile
import numpy as np
import pytest
from pipeline_helpers import snapshot, synthetic_map, use_untrained, write_mrc, write_pair

from deepres import cli


@pytest.fixture
def work(tmp_path, monkeypatch):
    """A folder with a good map/mask pair, the untrained network, and a checker."""
    use_untrained(monkeypatch)
    monkeypatch.chdir(tmp_path)
    vp, mp = write_pair(tmp_path, shape=(28, 26, 30))
    return tmp_path, vp, mp


def refused(capsys, folder, argv, *needles, status=2):
    """Run the CLI; assert status, one-line message containing the needles, nothing written."""
    before = snapshot(folder)
    rc = cli.main(argv)
    err = capsys.readouterr().err
    assert rc == status, err
    assert err.startswith("deepres: error: ") and err.count("\n") == 1 and "Traceback" not in err, err
    for n in needles:
        assert n in err, (n, err)
    assert snapshot(folder) == before  # inputs untouched, no output, no temporary folder
    return err


def est(vp, mp, *extra, out="out"):
    return ["estimate", str(vp), "--mask", str(mp), "--output-dir", str(out), "--device", "cpu", "--no-report", *extra]


def test_missing_directory_empty_notmrc(work, capsys):
    d, vp, mp = work
    refused(capsys, d, est(d / "missing.mrc", mp), "missing.mrc", "does not exist")
    refused(capsys, d, est(vp, d / "missing_mask.mrc"), "mask file", "does not exist")
    (d / "sub").mkdir()
    refused(capsys, d, est(d / "sub", mp), "is a directory")
    (d / "empty.mrc").write_bytes(b"")
    refused(capsys, d, est(d / "empty.mrc", mp), "empty.mrc", "empty")
    (d / "notes.mrc").write_text("not a map at all\n" * 200)
    refused(capsys, d, est(d / "notes.mrc", mp), "notes.mrc", "not an MRC file")


def test_unreadable(work, capsys, monkeypatch):
    d, vp, mp = work
    if os.geteuid() == 0:  # root reads any file: make opening it fail as it would for a user
        import builtins

        import deepres.mrc

        def no_read(path, *a, **k):
            if str(path) == str(vp):
                raise PermissionError(13, "Permission denied")
            return builtins.open(path, *a, **k)

        monkeypatch.setattr(deepres.mrc, "open", no_read, raising=False)
        refused(capsys, d, est(vp, mp), "cannot read", "Permission denied", "permissions")
        return
    os.chmod(vp, 0)
    try:
        refused(capsys, d, est(vp, mp), "cannot read", "permissions")
    finally:
        os.chmod(vp, 0o644)


def test_truncated(work, capsys):
    d, vp, mp = work
    raw = vp.read_bytes()
    (d / "cut.mrc").write_bytes(raw[: len(raw) - 1000])
    refused(capsys, d, est(d / "cut.mrc", mp), "cut.mrc", "truncated")


@pytest.mark.parametrize("mode,word", [(4, "complex"), (101, "4-bit")])
def test_unsupported_mode(work, capsys, mode, word):
    d, vp, mp = work
    raw = bytearray(vp.read_bytes())
    raw[12:16] = struct.pack("<i", mode)
    (d / "odd.mrc").write_bytes(bytes(raw))
    refused(capsys, d, est(d / "odd.mrc", mp), "odd.mrc", word)


def test_2d_and_stack(work, capsys):
    d, vp, mp = work
    write_mrc(d / "img.mrc", np.zeros((1, 30, 30)), 1.0)
    refused(capsys, d, est(d / "img.mrc", mp), "img.mrc", "2D image")
    with mrcfile.new(d / "stack.mrc") as m:
        m.set_data(np.zeros((10, 30, 30), np.float32))
        m.set_image_stack()
        m.voxel_size = 1.0
    refused(capsys, d, est(d / "stack.mrc", mp), "stack.mrc", "stack of 10")


def test_voxel_size_missing_then_given(work, capsys):
    d, vp, mp = work
    data, mask = synthetic_map((28, 26, 30))
    for name, arr in (("nv_map.mrc", data), ("nv_mask.mrc", mask.astype(np.float32))):
        with mrcfile.new(d / name) as m:
            m.set_data(arr)
            m.header.cella = (0.0, 0.0, 0.0)
    refused(capsys, d, est(d / "nv_map.mrc", d / "nv_mask.mrc"), "no voxel size", "--voxel-size")
    assert cli.main(est(d / "nv_map.mrc", d / "nv_mask.mrc", "--voxel-size", "1.0", out=d / "ok")) == 0
    assert mrcfile.read(d / "ok" / "resolution.mrc").shape == data.shape


def test_anisotropic(work, capsys):
    d, vp, mp = work
    with mrcfile.new(d / "an.mrc") as m:
        m.set_data(np.zeros((28, 26, 30), np.float32))
        m.voxel_size = (1.0, 1.1, 1.0)
    refused(capsys, d, est(d / "an.mrc", mp), "an.mrc", "anisotropic")


def test_nan_in_map(work, capsys):
    d, vp, mp = work
    data = mrcfile.read(vp).copy()
    data[3, 4, 5:9] = np.nan
    write_mrc(d / "nan.mrc", data, 1.0)
    refused(capsys, d, est(d / "nan.mrc", mp), "nan.mrc", "4 NaN")


def test_mask_problems(work, capsys):
    d, vp, mp = work
    data = mrcfile.read(vp)
    refused(capsys, d, est(vp, vp), "not a binary mask")  # the map given as its own mask
    write_mrc(d / "zero.mrc", np.zeros(data.shape), 1.0)
    refused(capsys, d, est(vp, d / "zero.mrc"), "zero.mrc", "empty")
    write_mrc(d / "small.mrc", np.ones((20, 26, 30)), 1.0)
    err = refused(capsys, d, est(vp, d / "small.mrc"), "not on the grid", "30x26x28", "30x26x20")
    assert "small.mrc" in err and "map.mrc" in err
    write_mrc(d / "shifted.mrc", mrcfile.read(mp), 1.0, origin_xyz=(3.0, 0.0, 0.0))
    refused(capsys, d, est(vp, d / "shifted.mrc"), "not on the grid", "origin")
    write_mrc(d / "vs.mrc", mrcfile.read(mp), 1.2)
    refused(capsys, d, est(vp, d / "vs.mrc"), "not on the grid", "1.2 A")


def test_mask_empty_after_resampling(work, capsys):
    d, vp, mp = work
    data, _ = synthetic_map((60, 60, 60), 0.5)  # 0.5 A map, low range works at 1 A
    one = np.zeros(data.shape, np.float32)
    one[30, 30, 30] = 1
    write_mrc(d / "m05.mrc", data, 0.5)
    write_mrc(d / "one.mrc", one, 0.5)
    refused(capsys, d, est(d / "m05.mrc", d / "one.mrc"), "empty once resampled", "larger mask")


def test_map_too_small(work, capsys):
    d, vp, mp = work
    data, mask = synthetic_map((16, 16, 16))
    write_mrc(d / "tiny.mrc", data, 1.0)
    write_mrc(d / "tinym.mrc", mask.astype(np.float32), 1.0)
    refused(capsys, d, est(d / "tiny.mrc", d / "tinym.mrc"), "too small for the network", "pad the map")


def test_too_large_for_memory(work, capsys, monkeypatch):
    d, vp, mp = work
    monkeypatch.setenv("DEEPRES_MAX_MEMORY_GB", "0.01")
    refused(capsys, d, est(vp, mp, "--range", "high"), "not enough memory", "GB", "--range low", "crop")


def test_output_dir_problems(work, capsys):
    d, vp, mp = work
    (d / "full").mkdir()
    (d / "full" / "keep.txt").write_text("mine")
    refused(capsys, d, est(vp, mp, out=d / "full"), "not empty", "--force")
    refused(capsys, d, est(vp, mp, out=vp), "is or contains the input")
    refused(capsys, d, est(vp, mp, "--force", out=d), "is or contains the input")  # would delete the inputs
    refused(capsys, d, est(vp, mp, out=d / "nofolder" / "out"), "does not exist")


def test_output_is_a_file(work, capsys):
    d, vp, mp = work
    (d / "afile").write_text("x")
    refused(capsys, d, est(vp, mp, out=d / "afile"), "not a directory")


def test_read_only_destination(work, capsys):
    d, vp, mp = work
    if os.geteuid() == 0:
        target = "/sys/deepres_out"  # sysfs refuses new folders, even to root
    else:
        ro = d / "ro"
        ro.mkdir()
        os.chmod(ro, 0o555)
        target = ro / "out"
    try:
        refused(capsys, d, est(vp, mp, out=target), "cannot write in")
    finally:
        if os.geteuid() != 0:
            os.chmod(d / "ro", 0o755)


def test_bad_options(work, capsys):
    d, vp, mp = work
    refused(capsys, d, est(vp, mp, "--range", "medium"), "unknown range")
    refused(capsys, d, est(vp, mp, "--voxel-size", "0"), "--voxel-size")
    refused(capsys, d, est(vp, mp, "--model", str(d / "none.pdb")), "none.pdb", "does not exist")


def test_ctrl_c_leaves_nothing(work, capsys, monkeypatch):
    d, vp, mp = work
    import deepres.model

    def interrupted(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(deepres.model, "predict", interrupted)
    before = snapshot(d)
    assert cli.main(est(vp, mp)) == 130
    assert "interrupted" in capsys.readouterr().err
    assert snapshot(d) == before


def test_non_finite_network_output_is_refused_not_written(work, capsys, monkeypatch):
    """A NaN from the network (as one from the front end's rounding could once give) is never written as
    a resolution: exit 1, one line, nothing written (np.clip would have kept it)."""
    d, vp, mp = work
    import deepres.model

    real = deepres.model.predict

    def with_nan(*a, **k):
        out = real(*a, **k)
        out[a[2]] = np.where(np.arange(int(a[2].sum())) % 7 == 0, np.nan, out[a[2]])
        return out

    monkeypatch.setattr(deepres.model, "predict", with_nan)
    refused(capsys, d, est(vp, mp), "no finite estimate at", "nothing was written", status=1)


def test_failure_while_writing_leaves_nothing_and_keeps_old_output(work, capsys, monkeypatch):
    d, vp, mp = work
    (d / "prev").mkdir()
    (d / "prev" / "resolution.mrc").write_text("old result")
    import deepres.pipeline

    def boom(*a, **k):
        raise OSError(28, "No space left on device")


    monkeypatch.setattr(deepres.pipeline, "format_xmd", boom)
    before = snapshot(d)
    rc = cli.main(est(vp, mp, "--force", out=d / "prev"))
    assert rc == 1 and "No space left" in capsys.readouterr().err
    assert snapshot(d) == before
