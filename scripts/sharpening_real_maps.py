"""The tail B (deepres.sharpening) of real maps, with the window the pipeline uses for each range.

No network runs: for each map, its radial power, a low-pass filter's edge if one is found, and the
tail B over 60-95 % of the highest frequency each range's network sees.

    .venv/bin/python scripts/sharpening_real_maps.py examples/emd_3488/emd_3488.mrc MAP ...
"""

from __future__ import annotations

import sys

from deepres.lowpass import bin_width_cpv, detect_lowpass, radial_log_power
from deepres.mrc import read_volume
from deepres.ranges import get_range
from deepres.sharpening import band_top_Ainv, measure_sharpening


def main(argv=None) -> int:
    paths = sys.argv[1:] if argv is None else argv
    if not paths:
        print(__doc__)
        return 2
    for p in paths:
        vol = read_volume(p)
        d, v = vol.data, vol.voxel_size_A
        radial = radial_log_power(d, bin_width_cpv(d.shape))
        cut = detect_lowpass(d, v, radial)
        for name in ("low", "high"):
            s = measure_sharpening(*radial, v, band_top_Ainv(v, get_range(name).voxel_size_A, cut))
            print(f"{p}  {'x'.join(map(str, d.shape))} at {v:.3f} A  range {name}  filter edge "
                  f"{'-' if cut is None else f'{cut.edge_A:.2f} A'}  "
                  + ("tail B not measurable" if s is None else
                     f"tail B {s.tail_b_A2:+.1f} A^2 over {s.window_A[0]:.2f}-{s.window_A[1]:.2f} A"
                     + ("  -> reported as sharpened" if s.sharpened else "")))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
