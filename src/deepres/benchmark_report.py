"""The benchmark's Markdown report (:func:`to_markdown`) and the JSON and Markdown files it writes
(:func:`write_report`) from a :func:`deepres.benchmark.run_benchmark` document."""

from __future__ import annotations

import datetime as _dt
import json
import math
from pathlib import Path

import numpy as np

from deepres.metrics import POOL_VOXELS, SUPPORT_FSC
from deepres.ranges import get_range


def jsonable(x):
    """``x`` with NumPy scalars as Python numbers, non-finite floats as None, large arrays summarised."""
    if isinstance(x, dict):
        return {str(k): jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [jsonable(v) for v in x]
    if isinstance(x, (np.integer,)):
        return int(x)
    if isinstance(x, (np.floating, float)):
        x = float(x)
        return x if math.isfinite(x) else None
    if isinstance(x, np.ndarray):
        return jsonable(x.tolist()) if x.size <= 64 else f"<array {x.shape}>"
    if isinstance(x, (str, int, bool)) or x is None:
        return x
    return str(x)


def fmt(x, nd: int = 2, signed: bool = False) -> str:
    """A number for the report: ``nd`` decimals (with sign if ``signed``), '–' for None or non-finite."""
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "–"
    return f"{x:+.{nd}f}" if signed else f"{x:.{nd}f}"


def to_markdown(doc: dict) -> str:
    """Markdown report of a :func:`run_benchmark` document."""
    L: list[str] = []
    est = doc.get("estimator") or {}
    L.append(f"# deepres accuracy benchmark — {doc.get('date', '')}")
    L.append("")
    L.append(f"- estimator under test: **{est.get('name', '?')}** ({est.get('kind', '')})")
    if est.get("desharpen"):
        L.append("- with `desharpen=True`: maps that look sharpened are flattened before the network")
    if est.get("untrained"):
        L.append("- **WARNING: untrained network (development run): the numbers say nothing about accuracy.**")
    if est.get("models"):
        L.append(f"- models: `{json.dumps(est['models'])}`")
    L.append(f"- deepres {doc.get('deepres_version')} at commit {doc.get('git_commit')}")
    mi = doc.get("machine", {})
    L.append(f"- machine: {mi.get('cpu_model', '?')}, {mi.get('cpu_count')} cores, torch {mi.get('torch')} "
             f"({mi.get('torch_threads')} threads), GPU {mi.get('cuda') or 'none'}")
    rel = doc.get("relion") or {}
    if rel.get("version") or rel.get("executable"):
        L.append(f"- RELION: {rel.get('version') or rel.get('executable')} — `relion_postprocess --locres "
                 f"--locres_sampling {rel.get('locres_sampling_A'):g}` on the half maps"
                 + (f", on every {rel['every_nth_case']}-th case only (cases 0, {rel['every_nth_case']}, "
                    f"{2 * rel['every_nth_case']}, ...) to bound the runtime"
                    if rel.get("every_nth_case", 1) > 1 else ""))
    else:
        L.append(f"- **RELION: not run** — {rel.get('note', 'not available')}")
    L.append(f"- total time {doc.get('total_time_s', 0):.0f} s; command: `{doc.get('command', '')}`")
    L.append("")
    L.append("Metrics are over the mask voxels with an estimate (finite, non-zero); *coverage* is the fraction "
             "of mask voxels that have one. MAE/median AE/bias in Å (bias = estimate − truth); r = Pearson, "
             "ρ = Spearman, per case, then averaged over cases. `oracle-median` is a constant equal to the "
             "true median of the case.")
    for rname, res in doc.get("ranges", {}).items():
        spec = get_range(rname)
        L.append("")
        L.append(f"## Range {rname} ({spec.label} Å, working sampling {spec.voxel_size_A:g} Å)")
        L.append("")
        rows = res.get("cases", [])
        if rows:
            vs = [r["case"]["voxel_size_A"] for r in rows]
            sim = [r.get("simulate_s", 0.0) for r in rows]
            L.append(f"{len(rows)} simulated cases on {len({r['case']['structure'] for r in rows})} held-out structures, "
                     f"input voxel sizes {min(vs):g}–{max(vs):g} Å; simulation {sum(sim):.0f} s in all, "
                     f"range total {res.get('time_s', 0):.0f} s.")
            L.append("")
        L.append("| estimator | cases | MAE | median AE | RMSE | bias | r | ρ | within 1 Å | coverage | time/case (s) |")
        L.append("|---|---|---|---|---|---|---|---|---|---|---|")
        for name, a in res.get("summary", {}).items():
            if name.startswith("_"):
                continue
            err = f" ({a['n_errors']} failed)" if a.get("n_errors") else ""
            L.append(f"| {name} | {a['n_cases']}{err} | {fmt(a.get('mae_A_mean'))} | {fmt(a.get('median_ae_A_median'))} | "
                     f"{fmt(a.get('rmse_A_mean'))} | {fmt(a.get('bias_A_mean'), signed=True)} | "
                     f"{fmt(a.get('pearson_mean'))} | {fmt(a.get('spearman_mean'))} | {fmt(a.get('within_1A_mean'))} | "
                     f"{fmt(a.get('coverage_mean'))} | {fmt(a.get('time_s_mean'), 1)} |")
        pooled_rows = [(n, a["pooled"]) for n, a in res.get("summary", {}).items()
                       if not n.startswith("_") and a.get("pooled")]
        if pooled_rows:
            L.append("")
            L.append(f"Pooled over the mask voxels of all cases (up to {POOL_VOXELS} random voxels per case):")
            L.append("")
            L.append("| estimator | voxels | MAE | bias | r | ρ |")
            L.append("|---|---|---|---|---|---|")
            for n, p in pooled_rows:
                L.append(f"| {n} | {p['n_voxels']} | {fmt(p.get('mae_A'))} | {fmt(p.get('bias_A'), signed=True)} | "
                         f"{fmt(p.get('pearson'))} | {fmt(p.get('spearman'))} |")
        paired = res.get("summary", {}).get("_paired")
        if paired:
            L.append("")
            L.append(f"Same table on the {len(paired['case_ids'])} cases every estimator ran on:")
            L.append("")
            L.append("| estimator | MAE | bias | r | ρ | coverage |")
            L.append("|---|---|---|---|---|---|")
            for name, a in paired.items():
                if name == "case_ids":
                    continue
                L.append(f"| {name} | {fmt(a.get('mae_A_mean'))} | {fmt(a.get('bias_A_mean'), signed=True)} | "
                         f"{fmt(a.get('pearson_mean'))} | {fmt(a.get('spearman_mean'))} | {fmt(a.get('coverage_mean'))} |")
        sup = res.get("summary", {}).get("_supported")
        if sup:
            L.append("")
            L.append(f"Only the {len(sup['case_ids'])} of {sup['n_cases_with_fsc']} cases whose best labels the data "
                     f"support: half-map FSC ≥ {SUPPORT_FSC} at the truth's 10th-percentile resolution (column FSC "
                     "below; shell of one roll-off width below the cut-off). In the others the content the "
                     "label promises is under the noise:")
            L.append("")
            L.append("| estimator | cases | MAE | bias | r | ρ | within 1 Å |")
            L.append("|---|---|---|---|---|---|---|")
            for name, a in sup.items():
                if name in ("case_ids", "n_cases_with_fsc") or not a.get("n_cases"):
                    continue
                L.append(f"| {name} | {a['n_cases']} | {fmt(a.get('mae_A_mean'))} | {fmt(a.get('bias_A_mean'), signed=True)} | "
                         f"{fmt(a.get('pearson_mean'))} | {fmt(a.get('spearman_mean'))} | {fmt(a.get('within_1A_mean'))} |")
        names = [n for n in res.get("summary", {}) if not n.startswith("_")]
        L.append("")
        L.append("Per case (MAE / bias / r; '·' = not run):")
        L.append("")
        L.append("| case | structure | Å/vox | field | truth median | FSC | " + " | ".join(names) + " |")
        L.append("|---|---|---|---|---|---|" + "---|" * len(names))
        for row in res.get("cases", []):
            c = row["case"]
            cells = []
            for n in names:
                e = row.get("estimators", {}).get(n)
                if e is None:
                    cells.append("·")
                elif "error" in e:
                    cells.append("error")
                else:
                    cells.append(f"{fmt(e.get('mae_A'))} / {fmt(e.get('bias_A'), signed=True)} / {fmt(e.get('pearson'))}")
            if "error" in row:
                cells = [row["error"]] + [""] * (len(names) - 1)
            L.append(f"| {c['id']} | {c['structure'].replace('.pdb.gz', '')} | {c['voxel_size_A']:g} | "
                     f"{c.get('field_kind') or 'drawn'} | {fmt(row.get('truth_median_A'))} | "
                     f"{fmt(row.get('fsc_at_truth_p10'))} | " + " | ".join(cells) + " |")
        if res.get("real_maps"):
            L.append("")
            L.append("Real maps (median of the estimate inside the mask next to the known figure):")
            L.append("")
            L.append("| map | Å/vox | known (Å) | estimator | median (Å) | p10–p90 (Å) | coverage | per-residue ρ vs B "
                     "(distinct B values) | per-residue ρ vs distance from centre | per-residue ρ vs exposure (1/WCN) | mask |")
            L.append("|---|---|---|---|---|---|---|---|---|---|---|")
            for row in res["real_maps"]:
                if "error" in row:
                    L.append(f"| {row['name']} | | {row['known_A']:g} | error: {row['error']} |" + " |" * 7)
                    continue
                for n, e in row["estimators"].items():
                    pr = e.get("per_residue") or {}
                    prs = (f"{fmt(pr.get('spearman_vs_bfactor'))} ({pr.get('n_residues')} res., "
                           f"{pr.get('n_distinct_bfactors', '?')} distinct B)"
                           if "spearman_vs_bfactor" in pr else ("error" if "error" in pr else "–"))
                    prd = fmt(pr.get("spearman_vs_centre_distance")) if "spearman_vs_bfactor" in pr else "–"
                    pre = fmt(pr.get("spearman_vs_exposure")) if "spearman_vs_bfactor" in pr else "–"
                    if "error" in e:
                        L.append(f"| {row['name']} | {row['voxel_size_A']:.3g} | {row['known_A']:g} | {n} | error |" + " |" * 6)
                        continue
                    L.append(f"| {row['name']} | {row['voxel_size_A']:.3g} | {row['known_A']:g} ({row['known_note']}) | {n} | "
                             f"{fmt(e.get('median_A'))} | {fmt(e.get('p10_A'))}–{fmt(e.get('p90_A'))} | "
                             f"{fmt(e.get('coverage'))} | {prs} | {prd} | {pre} | {row.get('mask', '')} |")
        inv = res.get("invariance")
        if inv:
            L.append("")
            L.append(f"Invariance checks on {inv['case']['id']} ({inv['case']['structure']}), "
                     f"{'all passed' if inv.get('all_passed') else '**not all passed**'}:")
            if inv.get("error"):
                L.append(f"error: {inv['error']}")
            L.append("")
            L.append("| check | statistic | value (Å) | limit (Å) | result | detail |")
            L.append("|---|---|---|---|---|---|")
            for name, c in inv.get("checks", {}).items():
                if "error" in c:
                    L.append(f"| {name} | | | | FAIL | {c['error']} |")
                    continue
                stat = c.get("statistic")
                detail = ""
                if name == "voxel_size":
                    detail = (f"medians {', '.join(fmt(x) for x in c['est_median_A'])} at "
                              f"{', '.join(f'{v:g}' for v in c['voxel_sizes_A'])} Å/vox (truth "
                              f"{', '.join(fmt(x) for x in c['truth_median_A'])})")
                elif "mean_abs_A" in c:
                    detail = f"max {fmt(c.get('max_abs_A'), 3)}, mean {fmt(c.get('mean_abs_A'), 3)}"
                L.append(f"| {name} | {stat} | {fmt(c.get(stat), 3)} | {c['limit_A']:g} | "
                         f"{'pass' if c.get('passed') else 'FAIL'} | {detail} |")
    L.append("")
    return "\n".join(L)


def write_report(doc: dict, output_dir: Path, stem: str | None = None) -> tuple[Path, Path]:
    """Write ``<stem>.json`` and ``<stem>.md``; the stem defaults to ``accuracy_<date>``."""
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    stem = stem or f"accuracy_{_dt.date.today().isoformat()}"
    jp = output_dir / f"{stem}.json"
    mp = output_dir / f"{stem}.md"
    jp.write_text(json.dumps(jsonable(doc), indent=1) + "\n")
    mp.write_text(to_markdown(doc))
    return jp, mp
