"""How the estimate moves when the map is sharpened or blurred after reconstruction.

For the first N held-out benchmark cases of a range, estimate the local resolution of the map as
simulated, then of the same map with a global B-factor applied to signal and noise alike
(``apply_bfactor``, B = -50 Å² sharpens, +50 Å² blurs), with the single-map model and with the
half-map model (the half maps stay as simulated, raw; since the half-map mode reads the mean of
the halves, not the map, its answer cannot move). By the resolution convention the truth does not
change; an aspect estimator's answer does. Writes benchmarks/results/sharpening_<range>.md.

    .venv/bin/python benchmarks/sharpening.py --range low --cases 8
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

import deepres
from deepres import benchmark as B
from deepres.simulate.noise import apply_bfactor

B_VALUES = (0.0, -50.0, 50.0)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--range", default="low", choices=["low", "high"])
    p.add_argument("--cases", type=int, default=8)
    p.add_argument("--output-dir", default=str(Path(__file__).parent / "results"))
    a = p.parse_args()
    t0 = time.time()
    rows = []
    for c in B.load_cases(a.range)[: a.cases]:
        sc = B.simulate(c, B.structures_dir(None))
        m = sc.mask.data > 0.5
        v = sc.map.voxel_size_A
        halves = (sc.half1.data, sc.half2.data)
        row = {"case": c.id, "snr": sc.params.get("snr"), "noise": sc.params.get("noise_spectrum")}
        for b in B_VALUES:
            mp = apply_bfactor(sc.map.data, v, b) if b else sc.map.data
            for kind, kw in (("map", {}), ("halves", {"half_maps": halves})):
                r = deepres.estimate(mp, m, v, range=a.range, device="cpu", **kw)
                row[(kind, b)] = float(np.abs(r.resolution.data - sc.truth.data)[m].mean())
                row.setdefault("models", {})[kind] = r.model_id
        rows.append(row)
        print(c.id, {k: round(v, 2) for k, v in row.items() if isinstance(k, tuple)}, flush=True)
    cols = [(k, b) for b in B_VALUES for k in ("map", "halves")]
    head = " | ".join(f"{k} B{b:+.0f}" for k, b in cols)
    lines = [f"# Sharpening after reconstruction ({a.range} range)", "",
             f"Command: `.venv/bin/python benchmarks/sharpening.py --range {a.range} --cases {a.cases}` "
             f"({time.time() - t0:.0f} s, deepres {deepres.__version__}, models {rows[0]['models']}).", "",
             "MAE (Å) inside the mask against the (unchanged) truth; `map`: single-map model, `halves`: "
             "half-map model with the raw half maps (it reads their mean, not the map); B applied to the map only "
             "(signal and noise).", "",
             f"| case | noise | SNR | {head} |", "|---|---|---|" + "---|" * len(cols)]
    for r in rows:
        lines.append(f"| {r['case']} | {r['noise']} | {r['snr']:.1f} | " + " | ".join(f"{r[c]:.2f}" for c in cols) + " |")
    lines.append("| **mean** | | | " + " | ".join(f"**{np.mean([r[c] for r in rows]):.2f}**" for c in cols) + " |")
    out = Path(a.output_dir) / f"sharpening_{a.range}.md"
    out.write_text("\n".join(lines) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
