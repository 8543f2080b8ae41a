#!/usr/bin/env python3
"""Issue 25, step 2: choose each method family's setting from a tuning grid's *validation* report.

Reads the results.json that `acwa reproduce ... --split validation --report-only` wrote (tools/issue25_tune.sh),
groups the methods into families (a tuned variant is named FAMILY-<letter><value>, e.g. focal-g0.5, la-drw-t1.5;
a built-in name is its family's default setting) and keeps, per family, the setting with the highest mean validation
balanced accuracy over seeds (validation macro-F1 on the imbalanced validation split favours plain CE: see
docs/reproduce.md). Prints a markdown table (every setting, mean +- std over seeds, the chosen one in bold) and,
with --args, the reproduce options that run the chosen settings under the same names (so finished seeds are reused).
Standard library only.
"""
import argparse
import json
import re
import sys

TAG = re.compile(r"^(?P<family>.+)-[a-z]+(?P<value>[0-9][0-9.]*)$")
BUILTIN_BASELINES = {"ce", "focal", "cb", "ldam-drw", "la", "la-drw"}


def family_of(name, builtins):
    """A built-in name is its own family; FAMILY-<letter><value> belongs to FAMILY."""
    m = TAG.match(name)
    return name if name in builtins or not m else m.group("family")


def load(path):
    with open(path) as f:
        d = json.load(f)
    if d.get("split") != "validation":
        sys.exit(f"{path}: split is {d.get('split')!r}, not 'validation': choose on validation numbers only")
    return d


def choose(d):
    """Per family, the method with the highest mean validation balanced accuracy."""
    builtins = {m["name"] for m in d["methods"] if not TAG.match(m["name"])}
    families = {}
    for m in d["methods"]:
        families.setdefault(family_of(m["name"], builtins), []).append(m)
    return {fam: max(ms, key=lambda m: m["balanced_accuracy"]["mean"]) for fam, ms in families.items()}


def rank(paths):
    chosen = [choose(load(p)) for p in paths]
    common = [f for f in chosen[0] if all(f in c for c in chosen)]
    score = {f: sum(c[f]["balanced_accuracy"]["mean"] for c in chosen) / len(chosen) for f in common}
    print("| rank | family | kind | chosen settings | mean val. balanced accuracy |")
    print("|---|---|---|---|---|")
    for i, f in enumerate(sorted(common, key=lambda f: -score[f]), 1):
        kind = "baseline" if chosen[0][f].get("baseline", f in BUILTIN_BASELINES) else "candidate"
        print(f"| {i} | {f} | {kind} | {', '.join(c[f]['name'] for c in chosen)} | {100 * score[f]:.2f} |")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("results", nargs="+", help="results.json of a --split validation report (several with --rank)")
    ap.add_argument("--rank", action="store_true", help="rank the families by their chosen setting's validation balanced "
                    "accuracy, averaged over the reports given (how the CNN confirmation's methods are picked)")
    ap.add_argument("--args", action="store_true", help="print the reproduce options of the chosen settings")
    ap.add_argument("--families", help="comma-separated families to keep in --args (default all)")
    a = ap.parse_args()
    if a.rank:
        return rank(a.results)
    if len(a.results) != 1:
        sys.exit("give one results.json (several only with --rank)")
    a.results = a.results[0]
    d = load(a.results)
    builtins = {m["name"] for m in d["methods"] if not TAG.match(m["name"])}
    chosen = choose(d)
    print(f"Data set `{d['dataset']}` `{d['imbalance']}`, model `{d['model']}`, {d['epochs']} epochs, {d['seeds']} seeds; "
          "validation balanced accuracy / macro-F1, percent, mean +- std over seeds; chosen in bold.\n")
    print("| family | setting (loss / policy) | val. balanced accuracy | val. macro-F1 |")
    print("|---|---|---|---|")
    for fam in chosen:
        best = chosen[fam]
        ms = [m for m in d["methods"] if family_of(m["name"], builtins) == fam]
        for m in ms:
            ba, f1 = m["balanced_accuracy"], m["macro_f1"]
            cell = f"{m['name']}: `{m['loss']}` / `{m['policy']}`"
            if m.get("feedback") not in (None, "validation"):
                cell += f" (feedback {m['feedback']})"
            if m is best:
                cell = f"**{cell}**"
            print(f"| {fam} | {cell} | {100 * ba['mean']:.2f} ± {100 * ba['std']:.2f} | {100 * f1['mean']:.2f} ± {100 * f1['std']:.2f} |")
    if a.args:
        if a.families:
            keep = a.families.split(",")
            unknown = [f for f in keep if f not in chosen]
            if unknown:
                sys.exit(f"{a.results}: no family {', '.join(unknown)} (families: {', '.join(chosen)})")
            chosen = {f: chosen[f] for f in keep}
        print()
        builtin_chosen = [m["name"] for m in chosen.values() if m["name"] in builtins]
        parts = [f"--methods {','.join(builtin_chosen)}"] if builtin_chosen else []
        for fam, m in chosen.items():
            if m["name"] in builtins:
                continue
            kind = "--extra-baseline" if m.get("baseline", fam in BUILTIN_BASELINES) else "--extra-method"
            spec = f"{m['name']}={m['loss']}/{m['policy']}"
            if (m.get("optimizer") or "adam") != "adam" or m.get("lr", d["lr"]) != d["lr"]:  # not reproduce's Adam at --lr
                spec += f"/{m.get('optimizer') or 'adam'}:lr={m.get('lr', d['lr'])}"
            if m.get("feedback") not in (None, "validation"):
                spec += f"/feedback={m['feedback']}"
            parts.append(f"{kind} '{spec}'")
        print(" ".join(parts))


if __name__ == "__main__":
    main()
