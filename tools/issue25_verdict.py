#!/usr/bin/env python3
"""Issue 25, step 4: the verdict, computed from the final reports' paired differences.

Reads the results.json of each final (data set, model) report (`acwa reproduce ... --report-only`, test split) and prints
one markdown table: per report, the reference (the best baseline by mean test macro-F1) and every adaptive candidate's
paired difference with its 95 % interval in test macro-F1 and minority-class F1. A candidate family (tuned variants
FAMILY-<letter><value> count as FAMILY) *beats* the best static baseline only if it appears in every report given and
both its intervals lie above 0 in each.
Standard library only.
"""
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from issue25_select import BUILTIN_BASELINES, TAG  # noqa: E402  (the families of the tuning grid)


def family(name):
    """A tuned variant FAMILY-<letter><value> counts as FAMILY (each data set may have chosen another value)."""
    m = TAG.match(name)
    return m.group("family") if m and name not in BUILTIN_BASELINES else name


def main(paths):
    reports = []
    for p in paths:
        with open(p) as f:
            d = json.load(f)
        if d.get("split", "test") != "test":
            sys.exit(f"{p}: split {d['split']!r}: the verdict is taken on the test split")
        if not d.get("paired"):
            sys.exit(f"{p}: no paired differences (fewer than 2 seeds, or no baseline)")
        reports.append((p, d))
    print("| data set | model | seeds | best baseline (test macro-F1) | candidate | macro-F1 difference [95 % CI] | minority F1 difference [95 % CI] | beats? |")
    print("|---|---|---|---|---|---|---|---|")
    wins = {}
    for p, d in reports:
        methods = {m["name"]: m for m in d["methods"]}
        ref = d["paired"]["reference"]
        data = d["dataset"].split(",")[0].replace("idx:", "").split("/")[-2] if d["dataset"].startswith("idx:") else d["dataset"]
        for r in d["paired"]["methods"]:
            m = methods[r["name"]]
            if m.get("baseline", r["name"] in BUILTIN_BASELINES):
                continue
            f1, mi = r["macro_f1"], r["minority_f1"]
            beats = f1["lower"] is not None and f1["lower"] > 0 and mi["lower"] > 0
            wins.setdefault(family(r["name"]), []).append(beats)
            cell = lambda x: f"{100 * x['mean']:+.2f} [{100 * x['lower']:+.2f}, {100 * x['upper']:+.2f}]"
            print(f"| {data} `{d['imbalance']}` | {d['model']} | {d['seeds']} | {ref} ({100 * methods[ref]['macro_f1']['mean']:.2f}) "
                  f"| {r['name']} | {cell(f1)} | {cell(mi)} | {'**yes**' if beats else 'no'} |")
    print()
    everywhere = [n for n, w in wins.items() if len(w) == len(reports) and all(w)]
    if everywhere:
        print(f"Verdict: {', '.join(everywhere)} beat(s) the best static baseline on every report given.")
    else:
        ahead = {n: sum(w) for n, w in wins.items() if any(w)}
        print("Verdict: no adaptive candidate beats the best static baseline on every report given; "
              + (", ".join(f"{n} on {k} of {len(reports)}" for n, k in ahead.items()) + " only." if ahead
                 else "none has both intervals above 0 on any report."))


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit("usage: issue25_verdict.py RESULTS.json...")
    main(sys.argv[1:])
