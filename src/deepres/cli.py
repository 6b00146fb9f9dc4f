"""The ``deepres`` command line (also ``python -m deepres``).

Adding a subcommand
-------------------
Subcommands live in :data:`SUBCOMMANDS`, a list of :class:`Subcommand` entries
``(name, help, "module:add_arguments_fn", "module:run_fn")``. The functions are given as strings
and imported only when the parser is built (``add_arguments``) or the subcommand runs (``run``),
so ``deepres --help`` stays quick. To add one, append a line here::

    Subcommand("simulate", "simulate a map at a known resolution from an atomic model",
               "deepres.simulate.cli:add_arguments", "deepres.simulate.cli:run"),

or call :func:`register` from code that runs before :func:`main`. Contract:

* ``add_arguments(parser: argparse.ArgumentParser) -> None`` adds the subcommand's options
  (keep the module light: no torch import at module level if you can avoid it);
* ``run(args: argparse.Namespace) -> int | None`` does the work and returns the exit status
  (None means 0). Raise :class:`deepres.errors.InputError` for anything the user must fix: the
  CLI prints ``deepres: error: <message>`` and exits 2. ``args.debug``/``args.quiet`` exist for
  every subcommand.

A subcommand whose module cannot be imported (not written yet, optional dependency missing) is
left out of the parser instead of breaking the whole command.
"""

from __future__ import annotations

import argparse
import importlib
import sys
import time
import traceback
from dataclasses import dataclass
from typing import Callable


@dataclass(frozen=True)
class Subcommand:
    """One ``deepres <name>`` subcommand (see the module docstring)."""

    name: str
    help: str
    add_arguments: str | Callable[[argparse.ArgumentParser], None]
    run: str | Callable[[argparse.Namespace], "int | None"]


def _resolve(ref):
    if callable(ref):
        return ref
    module, _, attr = ref.partition(":")
    return getattr(importlib.import_module(module), attr)


SUBCOMMANDS: list[Subcommand] = [
    Subcommand("estimate", "estimate the local resolution of a cryo-EM map",
               "deepres.cli:add_estimate_arguments", "deepres.cli:run_estimate"),
    Subcommand("mask", "make a mask of the molecule from the map (threshold or mass, low-pass, extension)",
               "deepres.cli:add_mask_arguments", "deepres.cli:run_mask"),
    Subcommand("filter", "low-pass a map voxel by voxel to its local resolution (a locally filtered map)",
               "deepres.cli:add_filter_arguments", "deepres.cli:run_filter"),
    Subcommand("models", "the shipped models (or model files): ids, checksums, sizes and the training runs that made them",
               "deepres.cli:add_models_arguments", "deepres.cli:run_models"),
    Subcommand("simulate", "simulate a map at a known local resolution from an atomic model",
               "deepres.simulate.cli:add_arguments", "deepres.simulate.cli:run"),
    Subcommand("benchmark", "accuracy benchmark on simulated held-out maps, real maps and invariance checks",
               "deepres.benchmark:add_arguments", "deepres.benchmark:run_from_args"),
    Subcommand("train", "train a model on maps simulated from atomic models (see docs/models.md)",
               "deepres.train:add_arguments", "deepres.train:run"),
]


def register(sub: Subcommand) -> None:
    """Add (or replace) a subcommand."""
    SUBCOMMANDS[:] = [s for s in SUBCOMMANDS if s.name != sub.name] + [sub]


# ----------------------------------------------------------------------------------------------
# progress on the terminal


class TerminalProgress:
    """One line per step on stderr, with a percentage for the network; silent when disabled."""

    def __init__(self, enabled: bool, stream=None):
        self.stream = stream or sys.stderr
        self.enabled = enabled
        self._step = None
        self._t0 = time.perf_counter()
        self._last = 0.0

    def __call__(self, step: str, fraction: float | None = None) -> None:
        if not self.enabled:
            return
        now = time.perf_counter()
        if step != self._step:
            if self._step is not None:
                self.stream.write("\n")
            self._step = step
            self._last = 0.0
        elif fraction is not None and fraction < 1.0 and now - self._last < 0.2:
            return
        self._last = now
        pct = f" {100 * fraction:3.0f}%" if fraction is not None else ""
        self.stream.write(f"\r[{now - self._t0:6.1f} s] {step}{pct}")
        self.stream.flush()

    def close(self) -> None:
        if self.enabled and self._step is not None:
            self.stream.write("\n")
            self.stream.flush()
            self._step = None


# ----------------------------------------------------------------------------------------------
# deepres estimate


def add_estimate_arguments(p: argparse.ArgumentParser) -> None:
    p.description = (
        "Estimate the local resolution of a cryo-EM map inside a mask. Writes resolution.mrc "
        "(resolution in Å at each voxel of the mask, 0 outside, on the map's grid), "
        "resolution_chimera.mrc (the same with the background set to the median, for colouring), "
        "histogram.xmd and summary.json into the output directory, all at once."
    )
    p.add_argument("volume", metavar="VOLUME", help="the map to analyse (MRC/CCP4 file, a full map, not a half map)")
    p.add_argument("--mask", required=True, metavar="MASK",
                   help="binary mask (MRC, 1 on the molecule, 0 outside) on the same grid as VOLUME")
    p.add_argument("--range", default="low", metavar="low|high|2.5-13|1.5-6",
                   help="expected resolution range: 'low' = 2.5-13 Å (default; works at 1 Å/voxel), "
                        "'high' = 1.5-6 Å (for maps better than ~4 Å; works at 0.5 Å/voxel, 8x the memory)")
    p.add_argument("--output-dir", "-o", metavar="DIR",
                   help="where to write the results (default: <VOLUME name>_deepres beside VOLUME)")
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"],
                   help="run the network on the GPU (cuda), the CPU, or the GPU if there is one (auto, default)")
    p.add_argument("--precision", default="float32", choices=["float32", "bfloat16"],
                   help="arithmetic of the network's learned convolutions: float32 (default) or bfloat16 "
                        "(faster on CPUs with AMX and on recent GPUs; estimates change by ~0.04 Å on average, "
                        "see docs/training-history.md)")
    p.add_argument("--voxel-size", type=float, metavar="A",
                   help="voxel size in Å, overriding the file headers (for maps whose header has none or a wrong one)")
    p.add_argument("--force", action="store_true", help="replace the output directory if it exists and is not empty")
    p.add_argument("--no-report", action="store_true", help="do not write the report (figures, ChimeraX script)")
    p.add_argument("--model", metavar="PDB", dest="atomic_model",
                   help="atomic model (PDB/mmCIF) fitted in the map: the report adds per-residue resolution")
    p.add_argument("--half-maps", nargs=2, metavar=("HALF1", "HALF2"),
                   help="the two unfiltered half maps (same grid as VOLUME): use the model that also reads them, "
                        "which tells signal from noise band by band; it reads their mean, so sharpening VOLUME "
                        "changes nothing (VOLUME sets the output grid)")
    p.add_argument("--no-lowpass-floor", action="store_true",
                   help="for a map low-pass filtered below the range (e.g. at its FSC resolution), report values "
                        "finer than its content can hold instead of flooring them at the content's end "
                        "(the filter is detected and reported either way)")
    p.add_argument("--desharpen", action="store_true",
                   help="for a single map whose power rises toward high frequency (sharpened after "
                        "reconstruction), blur it until it no longer does before the network: the single-map "
                        "models read sharpened maps finer than they are (the slope is measured and reported "
                        "either way; not used with --half-maps)")


def _estimate_files_call(estimate_files, args, progress):
    return estimate_files(
        args.volume, args.mask, output_dir=args.output_dir, range=args.range, device=args.device,
        voxel_size_A=args.voxel_size, force=args.force, report=not args.no_report,
        model_path=args.atomic_model, progress=progress, precision=args.precision,
        half_map_paths=args.half_maps, lowpass_floor=not args.no_lowpass_floor, desharpen=args.desharpen,
    )


def run_estimate(args: argparse.Namespace) -> int:
    from deepres.pipeline import estimate_files

    import warnings

    progress = TerminalProgress(enabled=(not args.quiet) and sys.stderr.isatty())
    with warnings.catch_warnings():
        if not args.debug:  # what matters reaches result.warnings and is printed below
            warnings.simplefilter("ignore")
        try:
            result, outdir = _estimate_files_call(estimate_files, args, progress)
        finally:
            progress.close()
    if not args.quiet:
        s = result
        print(f"Median resolution {s.median_A:.2f} Å.")
        print(f"Highest resolution {s.highest_A:.2f} Å, lowest resolution {s.lowest_A:.2f} Å "
              f"({s.stats.n_voxels} mask voxels, {s.spec.name} range {s.spec.label} Å, model {s.model_id}, {s.device}).")
        for w in s.warnings:
            print(f"Warning: {w}")
        print(f"Results in {outdir}")
    return 0


def add_models_arguments(p: argparse.ArgumentParser) -> None:
    p.description = (
        "Identify models: id, sha256 (as recorded in every output), range, inputs, parameters, file size, and what "
        "their training cost in all (runs, steps, hours of training; simulating the maps is not counted). "
        "--lineage lists the training runs, oldest first, as each model file records them."
    )
    p.add_argument("which", nargs="*", metavar="MODEL",
                   help="low, high, low_halves, high_halves or a model file (default: the four shipped models)")
    p.add_argument("--lineage", action="store_true", help="list the training runs that made each model")
    p.add_argument("--json", action="store_true", help="print JSON instead of tables")


def run_models(args: argparse.Namespace) -> int:
    import json

    from deepres.lineage import format_lineage, format_models, read_model_info, shipped_infos

    infos = [read_model_info(w) for w in args.which] if args.which else shipped_infos()
    if args.quiet:
        return 0
    if args.json:
        print(json.dumps([i.to_dict() for i in infos], indent=1))
    elif args.lineage:
        print("\n\n".join(format_lineage(i) for i in infos))
    else:
        print(format_models(infos))
    return 0


# ----------------------------------------------------------------------------------------------
# deepres mask


def add_mask_arguments(p: argparse.ArgumentParser) -> None:
    from deepres.masking import EXTEND_A, LOWPASS_A, MIN_PIECE_FRACTION

    p.description = (
        "Make a binary mask of the molecule from the map itself, on the map's grid, for maps that come "
        "without one: low-pass, threshold (at a level, or at the volume of the molecule's mass), drop small "
        "pieces, extend outward. Look at the mask over the map before using it with 'deepres estimate'."
    )
    p.add_argument("volume", metavar="VOLUME", help="the map (MRC/CCP4, may be gzip-compressed)")
    level = p.add_mutually_exclusive_group(required=True)
    level.add_argument("--threshold", type=float, metavar="LEVEL",
                       help="level in the map's units, applied to the low-passed map (e.g. the contour level "
                            "EMDB recommends for the entry)")
    level.add_argument("--mass-kda", type=float, metavar="KDA",
                       help="the molecule's mass in kDa: the level encloses its volume (1.21 Å³/Da, protein)")
    p.add_argument("--lowpass", type=float, default=LOWPASS_A, metavar="A",
                   help=f"low-pass the map to this resolution (Å) before thresholding (default {LOWPASS_A:g}; 0: none)")
    p.add_argument("--extend", type=float, default=EXTEND_A, metavar="A",
                   help=f"extend the thresholded region outward by this distance (Å; default {EXTEND_A:g})")
    p.add_argument("--min-piece", type=float, default=MIN_PIECE_FRACTION, metavar="F",
                   help="drop connected pieces smaller than this fraction of the largest "
                        f"(default {MIN_PIECE_FRACTION:g}, as in the simulator's masks)")
    p.add_argument("--voxel-size", type=float, metavar="A", help="voxel size in Å, overriding the header")
    p.add_argument("--output", "-o", metavar="MASK",
                   help="the mask file to write (default: <VOLUME name>_mask.mrc beside VOLUME)")
    p.add_argument("--force", action="store_true", help="replace the output file if it exists")


def run_mask(args: argparse.Namespace) -> int:
    from pathlib import Path

    import numpy as np

    from deepres import __version__
    from deepres.masking import make_mask
    from deepres.mrc import read_volume, write_volume
    from deepres.outputs import check_output_file, input_stem, staged_output_file

    src = Path(args.volume)
    out = Path(args.output) if args.output else src.with_name(f"{input_stem(src)}_mask.mrc")
    out = check_output_file(out, [src], args.force)
    vol = read_volume(src, args.voxel_size, what="map")
    res = make_mask(vol, threshold=args.threshold, mass_kDa=args.mass_kda, lowpass_A=args.lowpass,
                    extend_A=args.extend, min_piece_fraction=args.min_piece)
    p = res.parameters
    how = (f"level {res.level:.4g}" + (f" (volume of {p['mass_kDa']:g} kDa)" if p["mass_kDa"] is not None else "")
           + (f" on the map low-passed to {p['lowpass_A']:g} A" if p["lowpass_A"] else " on the map")
           + f", extended {p['extend_A']:g} A")
    labels = ("deepres mask: 1 on the molecule, 0 outside", f"deepres {__version__} mask {how}"[:80],
              f"made from {src.name}"[:80])
    with staged_output_file(out) as tmp:
        write_volume(tmp, res.mask.astype(np.float32), vol, labels)
    if not args.quiet:
        print(f"Mask {out}: {res.n_voxels} voxels, {res.volume_A3:.4g} A^3"
              + (f" ({res.volume_A3 / (p['mass_kDa'] * 1000 * p['protein_A3_per_Da']):.2f}x the molecular volume)"
                 if p["mass_kDa"] is not None else "") + ".")
        print(f"Made from {how}; {res.n_pieces_kept} piece(s) kept, {res.n_pieces_dropped} smaller dropped.")
        for w in res.warnings:
            print(f"Warning: {w}")
        print(f"Look at it over the map (ChimeraX: open {src} {out}), then: deepres estimate {src} --mask {out}")
    return 0


# ----------------------------------------------------------------------------------------------
# deepres filter


def add_filter_arguments(p: argparse.ArgumentParser) -> None:
    from deepres.localfilter import ROLLOFF_AINV

    p.description = (
        "Low-pass the map voxel by voxel to its local resolution (as cryoSPARC's local filtering or "
        "RELION's local-resolution-filtered map): detail finer than a region's resolution is removed there. "
        "Voxels without an estimate are filtered at the coarsest resolution found."
    )
    p.add_argument("volume", metavar="VOLUME", help="the map to filter (MRC/CCP4, may be gzip-compressed)")
    p.add_argument("resolution", metavar="RESOLUTION",
                   help="local-resolution map in Å on the map's grid (deepres' resolution.mrc, or its output folder)")
    p.add_argument("--rolloff", type=float, default=ROLLOFF_AINV, metavar="AINV",
                   help=f"width of each low-pass's raised-cosine edge in 1/Å (default {ROLLOFF_AINV:g}, the resolution "
                        "convention of the low range)")
    p.add_argument("--voxel-size", type=float, metavar="A", help="voxel size in Å, overriding both headers")
    p.add_argument("--output", "-o", metavar="MAP",
                   help="the filtered map to write (default: <VOLUME name>_locfilt.mrc beside VOLUME)")
    p.add_argument("--force", action="store_true", help="replace the output file if it exists")


def run_filter(args: argparse.Namespace) -> int:
    from pathlib import Path

    from deepres import __version__
    from deepres.localfilter import local_lowpass
    from deepres.mrc import read_volume, write_volume
    from deepres.outputs import check_output_file, input_stem, staged_output_file
    from deepres.pipeline import check_same_grid

    src, res_path = Path(args.volume), Path(args.resolution)
    if res_path.is_dir():
        res_path = res_path / "resolution.mrc"
    out = check_output_file(Path(args.output) if args.output else src.with_name(f"{input_stem(src)}_locfilt.mrc"),
                            [src, res_path], args.force)
    vol = read_volume(src, args.voxel_size, what="map")
    res = read_volume(res_path, args.voxel_size, what="local-resolution map")
    check_same_grid(vol, res, str(src), str(res_path), what="local-resolution map")
    filtered = local_lowpass(vol.data, res.data, vol.voxel_size_A, rolloff_Ainv=args.rolloff)
    pos = res.data[res.data > 0]
    labels = ("deepres local low-pass: each voxel to its local resolution",
              f"deepres {__version__} filter, roll-off {args.rolloff:g}/A",
              f"map {src.name}"[:80], f"local resolution {res_path}"[-80:])
    with staged_output_file(out) as tmp:
        write_volume(tmp, filtered, vol, labels)
    if not args.quiet:
        print(f"Filtered map {out}: each voxel low-passed to its local resolution "
              f"({float(pos.min()):.2f}-{float(pos.max()):.2f} A; {res.data.size - pos.size} voxels without an "
              f"estimate at {float(pos.max()):.2f} A).")
    return 0


# ----------------------------------------------------------------------------------------------


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The full parser, or (``only``) one whose other subcommands are listed but not imported.

    ``main`` passes the subcommand named on the command line, so ``deepres --help`` and
    ``deepres estimate ...`` do not import the modules (torch, scipy.stats, gemmi) of the others.
    """
    from deepres import __version__

    parser = argparse.ArgumentParser(
        prog="deepres",
        description="Local resolution of cryo-EM maps with a 3D neural network (a reimplementation of Xmipp DeepRes).",
    )
    parser.add_argument("--version", action="version", version=f"deepres {__version__}")
    subs = parser.add_subparsers(dest="command", metavar="COMMAND")
    subs.required = True
    for sc in SUBCOMMANDS:
        if only is not None and sc.name != only:
            subs.add_parser(sc.name, help=sc.help, description=sc.help)  # listed, not imported
            continue
        try:
            add = _resolve(sc.add_arguments)
        except (ImportError, AttributeError):
            continue
        sp = subs.add_parser(sc.name, help=sc.help, description=sc.help)
        add(sp)
        sp.add_argument("--quiet", "-q", action="store_true", help="print nothing but errors")
        sp.add_argument("--debug", action="store_true", help="show the full traceback on errors")
        sp.set_defaults(_run=sc.run)
    return parser


def _error(msg: str) -> None:
    msg = " ".join(str(msg).split())  # one line
    sys.stderr.write(f"deepres: error: {msg}\n")


def _sigterm_as_interrupt() -> None:
    """Let ``kill`` (SIGTERM) clean up like Ctrl-C: no partial output is left."""
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        return

    def handler(signum, frame):
        raise KeyboardInterrupt

    try:
        signal.signal(signal.SIGTERM, handler)
    except (ValueError, OSError):  # pragma: no cover - exotic platforms
        pass


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``deepres`` command; returns the exit status."""
    from deepres.errors import DeepResError, InputError

    argv = sys.argv[1:] if argv is None else list(argv)
    names = {sc.name for sc in SUBCOMMANDS}
    chosen = next((a for a in argv if not a.startswith("-")), None)
    parser = build_parser(only=chosen if chosen in names else "")
    args = parser.parse_args(argv)
    debug = getattr(args, "debug", False)
    _sigterm_as_interrupt()
    try:
        run = _resolve(args._run)
        status = run(args)
        return int(status or 0)
    except InputError as exc:
        if debug:
            traceback.print_exc()
        _error(exc)
        return 2
    except DeepResError as exc:
        if debug:
            traceback.print_exc()
        _error(exc)
        return 1
    except KeyboardInterrupt:
        if debug:
            traceback.print_exc()
        sys.stderr.write("deepres: interrupted; no output was written\n")
        return 130
    except OSError as exc:  # disk full, permissions changed under our feet, ...
        if debug:
            traceback.print_exc()
        where = f" ({exc.filename})" if getattr(exc, "filename", None) else ""
        _error(f"system error{where}: {exc.strerror or exc}; nothing was written")
        return 1
    except MemoryError:
        if debug:
            traceback.print_exc()
        _error("out of memory: use a tighter mask, crop the map, or --range low")
        return 1
    except Exception as exc:  # noqa: BLE001 - one line for the user, the traceback with --debug
        if debug:
            traceback.print_exc()
        _error(f"internal error ({type(exc).__name__}: {exc}); rerun with --debug and report the traceback")
        return 1


def console_main() -> None:  # pragma: no cover - thin wrapper
    sys.exit(main())


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
