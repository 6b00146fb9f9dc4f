"""Compare two held-out benchmark records case by case (the rule used to decide whether a new
model file replaces the shipped one: see docs/models.md, "How a file is chosen").

Usage: python scripts/compare_records.py RANGE OLD.json NEW.json [--estimator deepres] [--new-estimator NAME]
(e.g. --new-estimator deepres-halves to compare a single-map record with a half-map one;
OLD and NEW may each be several records joined by commas, whose cases are pooled, e.g. the three
draws of held-out cases; --cases FILE keeps only the case ids of a case file)

Prints the per-case MAE of both, how many cases the new record is better in, the mean MAE and the
mean per-case Pearson r of each (cases whose r is defined in both).
"""

import argparse
import json

import numpy as np


def cases(paths: str, range_name: str, estimator: str) -> dict:
    """Per-case results of ``estimator`` in the records ``paths`` (comma-separated), pooled."""
    out = {}
    for path in paths.split(","):
        with open(path) as fh:
            doc = json.load(fh)
        out |= {c["case"]["id"]: c["estimators"][estimator] for c in doc["ranges"][range_name]["cases"]}
    return out


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("range")
    p.add_argument("old")
    p.add_argument("new")
    p.add_argument("--estimator", default="deepres", help="estimator name in OLD (and in NEW by default)")
    p.add_argument("--new-estimator", default=None, help="estimator name in NEW")
    p.add_argument("--cases", default=None, metavar="FILE", help="only the case ids of this case file")
    a = p.parse_args()
    old, new = cases(a.old, a.range, a.estimator), cases(a.new, a.range, a.new_estimator or a.estimator)
    ids = sorted(set(old) & set(new))
    if a.cases:
        from deepres.benchmark_cases import load_cases

        keep = {c.id for c in load_cases(a.range, a.cases)}
        ids = [i for i in ids if i in keep]
    better = 0
    for i in ids:
        mo, mn = old[i]["mae_A"], new[i]["mae_A"]
        better += mn < mo
        ro, rn = old[i].get("pearson"), new[i].get("pearson")
        rtxt = "" if ro is None or rn is None else f"  r {ro:.3f} -> {rn:.3f}"
        print(f"{i}: MAE {mo:.3f} -> {mn:.3f}{rtxt}")
    both_r = [i for i in ids if old[i].get("pearson") is not None and new[i].get("pearson") is not None]
    print(f"mean MAE {np.mean([old[i]['mae_A'] for i in ids]):.4f} -> {np.mean([new[i]['mae_A'] for i in ids]):.4f}; "
          f"better in {better} of {len(ids)} cases; mean per-case r over {len(both_r)} cases "
          f"{np.mean([old[i]['pearson'] for i in both_r]):.4f} -> {np.mean([new[i]['pearson'] for i in both_r]):.4f}")
