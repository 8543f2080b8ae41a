#!/usr/bin/env python3
"""Sums GPU time per kernel name from an `ncu --csv --metrics gpu__time_duration.sum` log (docs/gpu.md).

usage: python3 tools/ncu_summary.py NCU.csv [top]
Prints the total, the kernel count, and the kernels taking most time (count, total us, share)."""
import csv
import sys
from collections import defaultdict


def main() -> None:
    path, top = sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 30
    with open(path, newline="") as f:
        lines = [l for l in f if l.startswith('"')]  # ncu prints its own ==PROF== lines too
    rows = list(csv.DictReader(lines))
    time = defaultdict(float)
    count = defaultdict(int)
    for r in rows:
        if r.get("Metric Name") != "gpu__time_duration.sum":
            continue
        v = float(r["Metric Value"].replace(",", ""))
        scale = {"ns": 1e-3, "nsecond": 1e-3, "us": 1.0, "usecond": 1.0, "ms": 1e3, "msecond": 1e3, "s": 1e6, "second": 1e6}
        us = v * scale[r.get("Metric Unit", "nsecond")]
        name = r["Kernel Name"][:110]
        time[name] += us
        count[name] += 1
    total = sum(time.values())
    print(f"{sum(count.values())} kernels, {total:.0f} us of GPU time in all")
    for name, us in sorted(time.items(), key=lambda kv: -kv[1])[:top]:
        print(f"{count[name]:5d} {us:9.1f} us {100 * us / total:5.1f}%  {name}")


if __name__ == "__main__":
    main()
