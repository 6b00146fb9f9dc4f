"""Reading and writing MRC maps without losing their grid.

Reading checks the file before it trusts it (existence, size, ``MAP`` stamp, mode, dimensions,
data length), so that a bad file gives one clear :class:`~deepres.errors.InputError` instead of a
traceback or a huge allocation. The data are returned as a `(z, y, x)` float32 array whatever the
file's axis order (``MAPC``/``MAPR``/``MAPS``); the header fields needed to write a file on the
very same grid travel in :attr:`deepres.volume.Volume.header`.

Conventions
-----------
* ``NXSTART``/``NYSTART``/``NZSTART`` are read, as in CCP4, as the start of the *column*, *row* and
  *section* axes; ``ORIGIN`` is in x, y, z. The position of the centre of voxel ``[0, 0, 0]`` is
  ``ORIGIN + NSTART * voxel size`` (per physical axis), in Å. Writing uses the input's own fields,
  so a round trip keeps them exactly, whatever a viewer makes of them.
* A file with space group 0 and more than one section is an image stack only when ``MZ`` is 1
  (what MRC2014 and ``mrcfile`` write for stacks). Several programs (ChimeraX ``molmap``,
  older EMAN) write volumes with space group 0 and ``MZ == NZ``; those are read as volumes.
* Supported modes: 0 (int8), 1 (int16), 2 (float32), 6 (uint16), 12 (float16). Complex modes
  (3, 4) and packed 4-bit (101) are refused.
* Compressed files (gzip, as EMDB distributes its maps, ``emd_NNNN.map.gz``, or bzip2) are
  recognised by their first bytes, whatever their name, and decompressed into a temporary file
  that is read as any other and then deleted; the file itself is never changed.
"""

from __future__ import annotations

import bz2
import gzip
import os
import shutil
import tempfile
import warnings
import zlib
from pathlib import Path

import numpy as np

from deepres.errors import InputError
from deepres.volume import Volume

HEADER_BYTES = 1024
_MODE_DTYPES = {0: np.int8, 1: np.int16, 2: np.float32, 6: np.uint16, 12: np.float16}
_MODE_NAMES = {3: "complex int16 (mode 3)", 4: "complex float32 (mode 4)", 101: "packed 4-bit (mode 101)"}
#: Relative tolerance when comparing voxel sizes (axes of one file, or two files).
VOXEL_RTOL = 1e-3


def _header_dtype():
    import mrcfile.dtypes

    return mrcfile.dtypes.HEADER_DTYPE


def _read_header(path: Path, what: str, shown: str | None = None) -> tuple[np.ndarray, int]:
    """Check the file and return its header record (native byte order) and size in bytes.

    ``shown`` names the file in messages (the compressed file the user gave, for a decompressed copy).
    """
    shown = str(path) if shown is None else shown
    if not path.exists():
        raise InputError(f"{what} file {shown} does not exist: check the path")
    if path.is_dir():
        raise InputError(f"{what} {shown} is a directory, not an MRC file: give the path of the .mrc/.map file")
    try:
        size = path.stat().st_size
        with open(path, "rb") as fh:
            raw = fh.read(HEADER_BYTES)
    except OSError as exc:
        raise InputError(f"cannot read {what} file {shown} ({exc.strerror or exc}): check its permissions") from exc
    if size == 0:
        raise InputError(f"{what} file {shown} is empty (0 bytes): it was probably not written completely; copy it again")
    if size < HEADER_BYTES:
        raise InputError(
            f"{what} file {shown} is not an MRC file (only {size} bytes, shorter than the 1024-byte MRC header)"
        )
    hdt = _header_dtype()
    little = np.frombuffer(raw, dtype=hdt.newbyteorder("<"), count=1)[0]
    big = np.frombuffer(raw, dtype=hdt.newbyteorder(">"), count=1)[0]
    stamp = bytes(raw[212:214])
    if stamp[:1] == b"\x11":
        hdr = big
    elif stamp[:1] in (b"\x44", b"\x41"):
        hdr = little
    else:  # no valid machine stamp: take the byte order that gives a known mode
        hdr = little if int(little["mode"]) in _MODE_DTYPES or int(big["mode"]) not in _MODE_DTYPES else big
    hdr = np.array(hdr).astype(hdr.dtype.newbyteorder("="))[()]
    if bytes(hdr["map"]) != b"MAP " and not _plausible(hdr, size):
        raise InputError(
            f"{what} file {shown} is not an MRC file (no 'MAP ' stamp and the header does not describe the file): "
            "convert it to MRC/CCP4 format"
        )
    return hdr, size


#: First bytes of the compressed formats read (gzip, bzip2), their names and openers.
_COMPRESSED = {b"\x1f\x8b": ("gzip", gzip.open), b"BZh": ("bzip2", bz2.open)}


def _compression(path: Path):
    """``(format name, opener)`` of a compressed file, or None (also for a missing, unreadable or
    directory path, which the reader then reports)."""
    try:
        with open(path, "rb") as fh:
            magic = fh.read(3)
    except OSError:
        return None
    for sig, kind in _COMPRESSED.items():
        if magic.startswith(sig):
            return kind
    return None


def _decompress(path: Path, kind, folder: Path, what: str) -> Path:
    """Decompress ``path`` into ``folder``; a damaged archive or a full disk is an InputError."""
    name, opener = kind
    out = folder / "decompressed.mrc"
    try:
        with opener(path, "rb") as src, open(out, "wb") as dst:
            shutil.copyfileobj(src, dst, 1 << 22)
    except OSError as exc:  # gzip.BadGzipFile and bz2's errors are OSErrors; so is a full disk
        if exc.errno is not None:
            raise InputError(
                f"cannot decompress {what} file {path} into {folder} ({exc.strerror or exc}): "
                "free space there (TMPDIR sets the folder) or decompress the file yourself"
            ) from exc
        raise InputError(f"{what} file {path} is a damaged {name} file ({exc}): download or copy it again") from exc
    except (EOFError, ValueError, zlib.error) as exc:
        raise InputError(f"{what} file {path} is a truncated or damaged {name} file: download or copy it again") from exc
    return out


def _plausible(hdr, size: int) -> bool:
    """A header without the 'MAP ' stamp (old MRC) is accepted only if it describes the file exactly."""
    try:
        nx, ny, nz, mode, nsymbt = (int(hdr[k]) for k in ("nx", "ny", "nz", "mode", "nsymbt"))
    except (OverflowError, ValueError):
        return False
    if mode not in _MODE_DTYPES or min(nx, ny, nz) < 1 or nsymbt < 0:
        return False
    return size == HEADER_BYTES + nsymbt + nx * ny * nz * np.dtype(_MODE_DTYPES[mode]).itemsize


def _axis_perm(mapc: int, mapr: int, maps: int) -> tuple[int, int, int] | None:
    """Permutation that turns the file's (section, row, column) array into (z, y, x)."""
    file_axes = (maps, mapr, mapc)  # physical axis (1=x, 2=y, 3=z) of array dims 0, 1, 2
    if sorted(file_axes) != [1, 2, 3]:
        return None
    return (file_axes.index(3), file_axes.index(2), file_axes.index(1))


def _transposed_copy(data: np.ndarray, perm) -> np.ndarray:
    """C-contiguous float32 copy of ``data.transpose(perm)`` (no copy when already so).

    Maps stored with another axis order (e.g. MAPC/MAPR/MAPS = 3/2/1) need a full transposed
    copy; PyTorch's blocked, multi-threaded permute does it about twice as fast as NumPy.
    """
    out = data.transpose(perm)
    if out.flags["C_CONTIGUOUS"] and out.dtype == np.float32:
        return out
    try:
        import torch
    except ImportError:  # pragma: no cover - torch is a dependency; NumPy is the fallback
        return np.ascontiguousarray(out, dtype=np.float32)
    src = np.asarray(data, dtype=np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a read-only source is only read here
        return torch.from_numpy(src).permute(*perm).contiguous().numpy()


def read_volume(path: str | os.PathLike, voxel_size_A: float | None = None, what: str = "map") -> Volume:
    """Read a 3D MRC/CCP4 map as a :class:`Volume` with `(z, y, x)` float32 data.

    Parameters
    ----------
    path : the file: MRC/CCP4, or such a file compressed with gzip or bzip2 (e.g. EMDB's
        ``emd_NNNN.map.gz``), decompressed into a temporary folder (``TMPDIR``) while it is read.
    voxel_size_A : if given, overrides the voxel size in the header (for files whose header has
        none, or a wrong one).
    what : how to name the file in error messages ("map", "mask").

    Raises
    ------
    InputError
        For any file that is missing, unreadable, not MRC, truncated (or a damaged archive), in an unsupported mode, 2D,
        an image stack, without a voxel size, with anisotropic voxels or with NaN/Inf values.
    """
    path = Path(path)
    kind = _compression(path)
    if kind is None:
        return _read_plain(path, voxel_size_A, what, str(path))
    with tempfile.TemporaryDirectory(prefix="deepres-") as tmp:
        vol = _read_plain(_decompress(path, kind, Path(tmp), what), voxel_size_A, what, str(path))
    vol.header["path"] = str(path)
    vol.header["compression"] = kind[0]
    return vol


def _read_plain(path: Path, voxel_size_A: float | None, what: str, shown: str) -> Volume:
    """:func:`read_volume` of an uncompressed file; ``shown`` names it in messages."""
    hdr, size = _read_header(path, what, shown)
    nx, ny, nz, mode, nsymbt = (int(hdr[k]) for k in ("nx", "ny", "nz", "mode", "nsymbt"))
    if mode in _MODE_NAMES:
        raise InputError(
            f"{what} file {shown} holds {_MODE_NAMES[mode]} data, which deepres does not read: "
            "save it as a real-valued (float32) map"
        )
    if mode not in _MODE_DTYPES:
        raise InputError(f"{what} file {shown} has unknown MRC data mode {mode}: save it as a float32 (mode 2) map")
    if min(nx, ny, nz) < 1:
        raise InputError(f"{what} file {shown} has invalid dimensions {nx}x{ny}x{nz} in its header: the file is damaged")
    if nsymbt < 0:
        raise InputError(f"{what} file {shown} has a negative extended-header size ({nsymbt}): the file is damaged")
    itemsize = np.dtype(_MODE_DTYPES[mode]).itemsize
    expected = HEADER_BYTES + nsymbt + nx * ny * nz * itemsize
    if size < expected:
        raise InputError(
            f"{what} file {shown} is truncated: its header announces {nx}x{ny}x{nz} voxels "
            f"({expected} bytes) but the file has {size} bytes; copy or download it again"
        )
    if nz == 1 or ny == 1 or nx == 1:
        raise InputError(f"{what} file {shown} is a 2D image ({nx}x{ny}x{nz}), not a 3D map: give a 3D map")
    ispg, mz = int(hdr["ispg"]), int(hdr["mz"])
    if ispg == 0 and mz == 1:
        raise InputError(
            f"{what} file {shown} is a stack of {nz} 2D images (space group 0, MZ 1), not a 3D map: "
            "give a 3D map, or set its space group to 1 if it really is a volume"
        )
    if ispg >= 401:
        raise InputError(f"{what} file {shown} is a stack of volumes (space group {ispg}): give one 3D map")
    perm = _axis_perm(int(hdr["mapc"]), int(hdr["mapr"]), int(hdr["maps"]))
    if perm is None:
        raise InputError(
            f"{what} file {shown} has an invalid axis order MAPC/MAPR/MAPS = "
            f"{int(hdr['mapc'])}/{int(hdr['mapr'])}/{int(hdr['maps'])}: it must be a permutation of 1, 2, 3"
        )

    # The header is sane and the data are all there: let mrcfile read it (permissive only for the
    # stamp and cosmetic fields we have already checked ourselves).
    import mrcfile

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            # Memory-mapped: the one copy made is the (z, y, x) float32 array itself.
            with mrcfile.mmap(path, mode="r", permissive=True) as mrc:
                raw = mrc.data
                if raw is None or raw.shape != (nz, ny, nx):
                    raise InputError(f"{what} file {shown} could not be read as a {nx}x{ny}x{nz} map: the file is damaged")
                data = _transposed_copy(np.asarray(raw, dtype=np.float32), perm)  # -> (z, y, x)
                if np.shares_memory(data, raw):
                    data = data.copy()  # nothing may point into the map once the file is closed
                h = mrc.header
                cella = tuple(float(v) for v in (h.cella.x, h.cella.y, h.cella.z))
                origin_xyz = tuple(float(v) for v in (h.origin.x, h.origin.y, h.origin.z))
                header = {
                    "mapc": int(h.mapc), "mapr": int(h.mapr), "maps": int(h.maps),
                    "nxstart": int(h.nxstart), "nystart": int(h.nystart), "nzstart": int(h.nzstart),
                    "mx": int(h.mx), "my": int(h.my), "mz": int(h.mz),
                    "cella": cella, "origin": origin_xyz, "ispg": int(h.ispg),
                }
    except InputError:
        raise
    except (ValueError, OSError, EOFError, OverflowError, MemoryError) as exc:
        raise InputError(f"{what} file {shown} could not be read as MRC ({exc}): the file is damaged") from exc


    # Voxel size per physical axis: CELLA / M.
    mxyz = (header["mx"], header["my"], header["mz"])
    sizes = tuple((c / m) if m > 0 and np.isfinite(c) else 0.0 for c, m in zip(cella, mxyz))
    if voxel_size_A is not None:
        if not (np.isfinite(voxel_size_A) and voxel_size_A > 0):
            raise InputError(f"--voxel-size must be a positive number of Å, got {voxel_size_A}")
        vs = float(voxel_size_A)
    else:
        if any(not (s > 0) for s in sizes):
            raise InputError(
                f"{what} file {shown} has no voxel size in its header (CELLA/MX = {sizes[0]:g}, {sizes[1]:g}, "
                f"{sizes[2]:g} Å): give it with --voxel-size A (Å per voxel)"
            )
        if max(sizes) - min(sizes) > VOXEL_RTOL * max(sizes):
            raise InputError(
                f"{what} file {shown} has anisotropic voxels ({sizes[0]:g} x {sizes[1]:g} x {sizes[2]:g} Å): "
                "deepres needs cubic voxels; resample the map to one voxel size first "
                "(or, if the header is wrong, give the true size with --voxel-size)"
            )
        vs = float(np.mean(sizes))

    # Centre of voxel [0,0,0] along each physical axis: ORIGIN + start * voxel size, where the
    # start of physical axis a is the N*START of the file axis (column/row/section) mapped to a.
    starts_crs = (header["nxstart"], header["nystart"], header["nzstart"])
    crs_axes = (header["mapc"], header["mapr"], header["maps"])
    start_xyz = [0, 0, 0]
    for s, a in zip(starts_crs, crs_axes):
        start_xyz[a - 1] = s
    origin_xyz_A = [o if np.isfinite(o) else 0.0 for o in origin_xyz]
    origin_zyx = tuple(origin_xyz_A[a] + start_xyz[a] * vs for a in (2, 1, 0))

    bad = ~np.isfinite(data)
    if bad.any():
        n_nan = int(np.isnan(data).sum())
        n_inf = int(bad.sum()) - n_nan
        raise InputError(
            f"{what} file {shown} contains {n_nan} NaN and {n_inf} infinite values: "
            "replace them (e.g. by 0) or recompute the map"
        )
    header["perm"] = perm
    header["path"] = str(path)
    return Volume(data, vs, origin_zyx, header)


def write_volume(path: str | os.PathLike, data: np.ndarray, like: Volume,
                 label: str | tuple[str, ...] = "deepres local resolution (A)") -> None:
    """Write `(z, y, x)` ``data`` as float32 MRC on the grid of ``like``.

    Shape, voxel size, ORIGIN, N*START, MX/MY/MZ and axis order are those of ``like`` (read by
    :func:`read_volume`); a Volume built in memory gets the standard axis order and an ORIGIN equal
    to its ``origin_A``. ``label`` goes into the header's first label (a tuple: into the first
    ones, at most 10 of 80 characters).
    """
    write_file_order(path, to_file_order(data, like), like, label)


def to_file_order(data: np.ndarray, like: Volume) -> np.ndarray:
    """`(z, y, x)` ``data`` laid out in the axis order of ``like``'s file (float32, C-contiguous;
    ``data`` itself when no copy is needed)."""
    data = np.asarray(data, dtype=np.float32)
    if data.shape != like.shape:
        raise ValueError(f"data shape {data.shape} does not match the grid {like.shape}")
    perm = tuple((like.header or {}).get("perm", (0, 1, 2)))
    return _transposed_copy(data, tuple(np.argsort(perm)))


def write_file_order(path: str | os.PathLike, file_data: np.ndarray, like: Volume,
                     label: str | tuple[str, ...] = "deepres local resolution (A)") -> None:
    """:func:`write_volume` for data already in the file's axis order (:func:`to_file_order`), so
    that several maps on one grid share one transposition."""
    import mrcfile

    h = like.header or {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with mrcfile.new(path, overwrite=True) as mrc:
            mrc.set_data(file_data)
            hd = mrc.header
            hd.ispg = 1
            if "mapc" in h:
                hd.mapc, hd.mapr, hd.maps = h["mapc"], h["mapr"], h["maps"]
                hd.nxstart, hd.nystart, hd.nzstart = h["nxstart"], h["nystart"], h["nzstart"]
                # Keep MX/MY/MZ and CELLA when they describe the voxel size we used, else rebuild them.
                mxyz = (h["mx"], h["my"], h["mz"])
                cella = h["cella"]
                ok = all(m > 0 and abs(c / m - like.voxel_size_A) <= VOXEL_RTOL * like.voxel_size_A
                         for c, m in zip(cella, mxyz))
                if ok:
                    hd.mx, hd.my, hd.mz = mxyz
                    hd.cella = cella
                else:
                    hd.mx, hd.my, hd.mz = mxyz if all(m > 0 for m in mxyz) else (hd.nx, hd.ny, hd.nz)
                    hd.cella = tuple(float(m) * like.voxel_size_A for m in (hd.mx, hd.my, hd.mz))
                hd.origin = h["origin"]
            else:
                mrc.voxel_size = like.voxel_size_A
                z, y, x = like.origin_A
                hd.origin = (x, y, z)
            # (set_data has already computed the header's min/max/mean/rms.)
            labels = ((label,) if isinstance(label, str) else tuple(label))[:10]
            for i, text in enumerate(labels):
                mrc.header.label[i] = text.encode("ascii", "replace")[:80].ljust(80)
            mrc.header.nlabl = len(labels)
