"""MRC reading and writing: geometry kept exactly, every bad file a clean InputError."""

from __future__ import annotations

import struct

import mrcfile
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pipeline_helpers import MAP_1AKE, write_mrc

from deepres.errors import InputError
from deepres.mrc import read_volume, write_volume


def test_round_trip_keeps_origin_and_data(tmp_path):
    v = read_volume(MAP_1AKE)
    assert v.shape == (49, 46, 48) and v.voxel_size_A == pytest.approx(1.5)
    assert v.origin_A == pytest.approx((-9.91, 11.881, -10.994), abs=1e-3)  # (z, y, x)
    out = tmp_path / "o.mrc"
    write_volume(out, v.data, v)
    with mrcfile.open(MAP_1AKE) as a, mrcfile.open(out) as b:
        for f in ("nx", "ny", "nz", "mx", "my", "mz", "nxstart", "nystart", "nzstart", "mapc", "mapr", "maps"):
            assert int(a.header[f]) == int(b.header[f]), f
        assert tuple(a.header.origin.item()) == tuple(b.header.origin.item())
        assert np.allclose(a.voxel_size.item(), b.voxel_size.item())
        assert np.array_equal(a.data, b.data)


@pytest.mark.parametrize("dtype", [np.float32, np.int16])
def test_read_array_is_an_own_writable_copy(tmp_path, dtype):
    d = np.arange(4 * 5 * 6).reshape(4, 5, 6).astype(dtype)
    p = write_mrc(tmp_path / "a.mrc", d, 1.0, dtype=dtype)
    before = p.read_bytes()
    v = read_volume(p)  # the file is memory-mapped while it is read, then closed
    assert v.data.dtype == np.float32 and v.data.flags["C_CONTIGUOUS"] and v.data.flags["WRITEABLE"]
    v.data += 1.0  # a valid array of its own, after the file is closed ...
    assert np.array_equal(v.data, d.astype(np.float32) + 1.0)
    assert p.read_bytes() == before  # ... and the input file is untouched


def test_nstart_and_origin_both_honoured(tmp_path):
    p = write_mrc(tmp_path / "a.mrc", np.zeros((4, 5, 6)), 2.0, origin_xyz=(10.0, 20.0, 30.0))
    with mrcfile.open(p, mode="r+") as m:
        m.header.nxstart, m.header.nystart, m.header.nzstart = 1, 2, 3
    v = read_volume(p)
    assert v.origin_A == pytest.approx((30 + 3 * 2.0, 20 + 2 * 2.0, 10 + 1 * 2.0))


def test_axis_order_is_transposed_on_read_and_restored_on_write(tmp_path):
    # Physical (z, y, x) array with distinct extents, stored with MAPC=3 (columns along z),
    # MAPR=1 (rows along x), MAPS=2 (sections along y): file array is (y, x, z).
    zyx = np.arange(4 * 5 * 6, dtype=np.float32).reshape(4, 5, 6)
    file_arr = np.ascontiguousarray(zyx.transpose(1, 2, 0))  # (sections=y, rows=x, columns=z)
    p = tmp_path / "perm.mrc"
    with mrcfile.new(p) as m:
        m.set_data(file_arr)
        m.header.mapc, m.header.mapr, m.header.maps = 3, 1, 2
        m.header.mx, m.header.my, m.header.mz = 6, 5, 4  # intervals along physical x, y, z
        m.header.cella = (6.0, 5.0, 4.0)
    v = read_volume(p)
    assert v.shape == (4, 5, 6)
    assert np.array_equal(v.data, zyx)
    out = tmp_path / "out.mrc"
    write_volume(out, v.data * 2, v)
    with mrcfile.open(out) as m:
        assert (int(m.header.mapc), int(m.header.mapr), int(m.header.maps)) == (3, 1, 2)
        assert np.array_equal(m.data, file_arr * 2)
    assert np.array_equal(read_volume(out).data, zyx * 2)


@pytest.mark.parametrize("dtype", [np.int8, np.int16, np.uint16, np.float16, np.float32])
def test_supported_modes(tmp_path, dtype):
    data = (np.arange(3 * 4 * 5).reshape(3, 4, 5) % 7).astype(dtype)
    v = read_volume(write_mrc(tmp_path / "m.mrc", data, 1.2))
    assert v.data.dtype == np.float32 and np.array_equal(v.data, data.astype(np.float32))


def _patch_int(path, offset, value):
    with open(path, "r+b") as fh:
        fh.seek(offset)
        fh.write(struct.pack("<i", value))


@pytest.mark.parametrize("mode,word", [(3, "complex"), (4, "complex"), (101, "4-bit")])
def test_unsupported_modes_refused(tmp_path, mode, word):
    p = write_mrc(tmp_path / "c.mrc", np.zeros((8, 8, 8)), 1.0)
    _patch_int(p, 12, mode)  # MODE is the 4th word
    with pytest.raises(InputError, match=word):
        read_volume(p)


def test_image_2d_and_stack_refused_but_ispg0_volume_read(tmp_path):
    p = write_mrc(tmp_path / "img.mrc", np.zeros((1, 8, 8)), 1.0)
    with pytest.raises(InputError, match="2D image"):
        read_volume(p)
    s = tmp_path / "stack.mrc"
    with mrcfile.new(s) as m:
        m.set_data(np.zeros((5, 8, 8), np.float32))
        m.set_image_stack()
        m.voxel_size = 1.0
    with pytest.raises(InputError, match="stack of 5"):
        read_volume(s)
    # ChimeraX-style volume with ispg 0 and MZ == NZ is a volume (as the 1AKE test map)
    v = read_volume(write_mrc(tmp_path / "v0.mrc", np.zeros((5, 8, 8)), 1.0, ispg=0))
    assert v.shape == (5, 8, 8)


def test_voxel_size_missing_needs_option(tmp_path):
    p = tmp_path / "nov.mrc"
    with mrcfile.new(p) as m:
        m.set_data(np.zeros((8, 8, 8), np.float32))
        m.header.cella = (0.0, 0.0, 0.0)
    with pytest.raises(InputError, match="--voxel-size"):
        read_volume(p)
    assert read_volume(p, voxel_size_A=1.3).voxel_size_A == pytest.approx(1.3)
    out = tmp_path / "o.mrc"
    v = read_volume(p, voxel_size_A=1.3)
    write_volume(out, v.data, v)
    assert read_volume(out).voxel_size_A == pytest.approx(1.3)


def test_anisotropic_refused(tmp_path):
    p = tmp_path / "an.mrc"
    with mrcfile.new(p) as m:
        m.set_data(np.zeros((8, 8, 8), np.float32))
        m.voxel_size = (1.0, 1.0, 1.2)
    with pytest.raises(InputError, match="anisotropic"):
        read_volume(p)


def test_nan_inf_counted(tmp_path):
    d = np.zeros((8, 8, 8), np.float32)
    d[0, 0, :3] = np.nan
    d[1, 1, 1] = np.inf
    with pytest.raises(InputError, match="3 NaN and 1 infinite"):
        read_volume(write_mrc(tmp_path / "n.mrc", d, 1.0))


def test_bad_files(tmp_path):
    with pytest.raises(InputError, match="does not exist"):
        read_volume(tmp_path / "missing.mrc")
    with pytest.raises(InputError, match="directory"):
        read_volume(tmp_path)
    (tmp_path / "empty.mrc").write_bytes(b"")
    with pytest.raises(InputError, match="empty"):
        read_volume(tmp_path / "empty.mrc")
    (tmp_path / "text.mrc").write_text("hello, this is not a map\n" * 100)
    with pytest.raises(InputError, match="not an MRC"):
        read_volume(tmp_path / "text.mrc")
    p = write_mrc(tmp_path / "t.mrc", np.ones((10, 10, 10)), 1.0)
    raw = p.read_bytes()
    (tmp_path / "trunc.mrc").write_bytes(raw[:-100])
    with pytest.raises(InputError, match="truncated"):
        read_volume(tmp_path / "trunc.mrc")


# --- property-based: random header fields and truncation never give anything but a Volume or an
# InputError -------------------------------------------------------------------------------------

_INT_FIELDS = {  # word index -> name
    0: "nx", 1: "ny", 2: "nz", 3: "mode", 4: "nxstart", 5: "nystart", 6: "nzstart",
    7: "mx", 8: "my", 9: "mz", 16: "mapc", 17: "mapr", 18: "maps", 22: "ispg", 23: "nsymbt",
}
_FLOAT_FIELDS = {10: "cella.x", 11: "cella.y", 12: "cella.z", 49: "origin.x", 50: "origin.y", 51: "origin.z"}


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    ints=st.dictionaries(st.sampled_from(sorted(_INT_FIELDS)),
                         st.one_of(st.integers(-3, 40), st.integers(-2**31, 2**31 - 1)), max_size=4),
    floats=st.dictionaries(st.sampled_from(sorted(_FLOAT_FIELDS)),
                           st.one_of(st.floats(allow_nan=True, allow_infinity=True, width=32),
                                     st.sampled_from([0.0, -1.0, 1e-30])), max_size=3),
    cut=st.one_of(st.none(), st.integers(0, 1024 + 6 * 7 * 8 * 4 + 10)),
    stamp=st.sampled_from([b"MAP ", b"PAM ", b"\x00\x00\x00\x00"]),
)
def test_header_fuzz(tmp_path, ints, floats, cut, stamp):
    p = write_mrc(tmp_path / "base.mrc", np.random.default_rng(0).normal(size=(6, 7, 8)), 1.1)
    raw = bytearray(p.read_bytes())
    for w, v in ints.items():
        raw[4 * w: 4 * w + 4] = struct.pack("<i", v)
    for w, v in floats.items():
        raw[4 * w: 4 * w + 4] = struct.pack("<f", v)
    raw[208:212] = stamp
    if cut is not None:
        raw = raw[:cut]
    f = tmp_path / "fuzz.mrc"
    f.write_bytes(bytes(raw))
    try:
        v = read_volume(f)
    except InputError as exc:
        assert str(exc) and "\n" not in str(exc)
        return
    assert v.data.ndim == 3 and v.data.dtype == np.float32
    assert np.isfinite(v.data).all()
    assert v.voxel_size_A > 0 and np.isfinite(v.voxel_size_A)
    assert all(np.isfinite(o) for o in v.origin_A)


# --- compressed files (EMDB distributes maps as emd_NNNN.map.gz) -----------------------------------

def _compress(src, dst, module):
    import bz2
    import gzip

    opener = {"gzip": gzip.open, "bz2": bz2.open}[module]
    with open(src, "rb") as a, opener(dst, "wb") as b:
        b.write(a.read())
    return dst


@pytest.mark.parametrize("module,name", [("gzip", "m.map.gz"), ("bz2", "m.mrc.bz2")])
def test_compressed_file_reads_as_the_plain_one(tmp_path, module, name):
    plain = read_volume(MAP_1AKE)
    p = _compress(MAP_1AKE, tmp_path / name, module)
    before = p.read_bytes()
    v = read_volume(p)
    assert np.array_equal(v.data, plain.data) and v.data.flags["WRITEABLE"]
    assert v.voxel_size_A == plain.voxel_size_A and v.origin_A == plain.origin_A
    assert v.header["path"] == str(p) and v.header["compression"] == ("gzip" if module == "gzip" else "bzip2")
    assert {k: v.header[k] for k in plain.header if k != "path"} == {k: plain.header[k] for k in plain.header
                                                                     if k != "path"}
    assert p.read_bytes() == before  # the compressed input is untouched
    # recognised by content, not by name: a gzip file named .mrc reads too
    q = _compress(MAP_1AKE, tmp_path / "named_plain.mrc", module)
    assert np.array_equal(read_volume(q).data, plain.data)


def test_compressed_bad_files_name_the_given_file(tmp_path):
    import gzip

    full = _compress(MAP_1AKE, tmp_path / "full.map.gz", "gzip").read_bytes()
    (tmp_path / "cut.map.gz").write_bytes(full[: len(full) // 2])
    with pytest.raises(InputError, match=r"cut\.map\.gz is a truncated or damaged gzip file"):
        read_volume(tmp_path / "cut.map.gz")
    # a valid gzip header, then a deflate block of the reserved type 3 (zlib.error, not an OSError)
    (tmp_path / "bad_block.map.gz").write_bytes(b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff\x07" + bytes(50))
    with pytest.raises(InputError, match=r"bad_block\.map\.gz is a truncated or damaged gzip file"):
        read_volume(tmp_path / "bad_block.map.gz")
    (tmp_path / "junk.map.gz").write_bytes(b"\x1f\x8b" + b"not really gzip" * 10)
    with pytest.raises(InputError, match=r"junk\.map\.gz is a (truncated or )?damaged gzip file"):
        read_volume(tmp_path / "junk.map.gz")
    # a complete archive of something that is not a 3D map: the message names the .gz, not a temporary file
    img = write_mrc(tmp_path / "img.mrc", np.ones((1, 8, 8)), 1.0)
    with gzip.open(tmp_path / "img.mrc.gz", "wb") as fh:
        fh.write(img.read_bytes())
    with pytest.raises(InputError, match=r"map file \S*img\.mrc\.gz is a 2D image"):
        read_volume(tmp_path / "img.mrc.gz")


def test_default_output_dir_drops_the_compression_suffix(tmp_path):
    from deepres.outputs import default_output_dir

    assert default_output_dir(tmp_path / "emd_1234.map.gz") == tmp_path / "emd_1234_deepres"
    assert default_output_dir(tmp_path / "emd_1234.mrc.bz2") == tmp_path / "emd_1234_deepres"
    assert default_output_dir(tmp_path / "emd_1234.map") == tmp_path / "emd_1234_deepres"
