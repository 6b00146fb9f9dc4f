"""``deepres simulate``: write one simulated case (map, half maps, truth, mask, params.json)."""

from __future__ import annotations

import argparse
import os
import time

from deepres.errors import InputError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``deepres simulate``."""
    parser.add_argument("structure", metavar="STRUCTURE", help="atomic model (PDB/mmCIF, gzip allowed)")
    parser.add_argument("--range", dest="range_name", default="low", help="low (2.5-13 A) or high (1.5-6 A)")
    parser.add_argument("--voxel-size", type=float, default=None,
                        help="sampling in A/voxel (default: the range's working sampling, 1.0 or 0.5)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (the case is a function of it)")
    parser.add_argument("--output-dir", "-o", required=True, help="directory for the MRC files and params.json")
    parser.add_argument("--field", choices=("uniform", "smooth", "domains", "radial", "mixed"), default=None,
                        help="kind of local-resolution field (default: drawn from the seed)")
    parser.add_argument("--noise", choices=("white", "coloured", "lowpass", "none"), default=None,
                        help="noise spectrum (default: drawn)")
    parser.add_argument("--noise-snr", type=float, default=None,
                        help="per-half-map SNR in the molecule (default: drawn log-uniformly in 0.5-20)")
    parser.add_argument("--max-box", type=int, default=128,
                        help="largest box edge in voxels; bigger molecules give a sub-box around a random atom "
                             "(0: no limit)")
    parser.add_argument("--mask", dest="mask_style", choices=("tight", "loose"), default=None,
                        help="mask style (default: drawn)")
    parser.add_argument("--write-density", action="store_true", help="also write the unfiltered density.mrc")


def run(args: argparse.Namespace) -> int:
    """Simulate and write the case; print a one-line summary unless ``--quiet``."""
    from deepres.ranges import get_range
    from deepres.simulate import simulate_case, write_case

    if not os.path.isfile(args.structure):
        raise InputError(f"structure file not found: {args.structure}")
    spec = get_range(args.range_name)
    if args.voxel_size is not None and args.voxel_size <= 0:
        raise InputError("--voxel-size must be > 0")
    if args.voxel_size is not None and spec.floor_A(args.voxel_size) > spec.max_A:
        raise InputError(f"--voxel-size {args.voxel_size} is too coarse for the {spec.name} range "
                         f"(Nyquist {2 * args.voxel_size:g} A > {spec.max_A:g} A)")
    if args.noise_snr is not None and args.noise_snr <= 0:
        raise InputError("--noise-snr must be > 0")
    t0 = time.perf_counter()
    try:
        case = simulate_case(args.structure, spec, args.voxel_size, seed=args.seed, field_kind=args.field,
                             noise=args.noise, snr=args.noise_snr, max_box=args.max_box or None,
                             mask_style=args.mask_style)
    except ValueError as exc:  # e.g. a file with no protein atoms
        raise InputError(str(exc)) from exc
    out = write_case(case, args.output_dir, density=args.write_density)
    if not getattr(args, "quiet", False):
        p = case.params
        snr = "" if p["snr"] is None else f" snr {p['snr']:.2f}"
        print(f"{out}: {p['box_shape'][0]}^3 voxels at {p['voxel_size_A']:g} A, field {p['field']['kind']} "
              f"{p['field_min_A']:.2f}-{p['field_max_A']:.2f} A, noise {p['noise_spectrum']}"
              f"{snr}, {time.perf_counter() - t0:.1f} s")
    return 0
