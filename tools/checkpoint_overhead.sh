#!/usr/bin/env bash
# Overhead of mid-epoch checkpoints (acwa train --checkpoint-every STEPS) on whole epochs of step-imbalanced Fashion-MNIST.
# For each model, runs without and with --checkpoint-every (interleaved, REPEATS times) and prints a markdown table:
# median epoch seconds of each, the checkpoint seconds the run itself measured (EpochTimings.Checkpoint, from metrics.json)
# without and with the mid-epoch ones, what they add as a share of the epoch, and the size of one checkpoint. Usage: tools/checkpoint_overhead.sh [STEPS] [REPEATS] [EPOCHS]
set -euo pipefail
cd "$(dirname "$0")/.."
steps=${1:-200} repeats=${2:-3} epochs=${3:-2}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
dotnet build src/Acwa.Cli -c Release -v q -nologo >/dev/null
acwa() { dotnet src/Acwa.Cli/bin/Release/net10.0/acwa.dll "$@"; }
echo "| model | steps/epoch | epoch s, epoch-end checkpoint only (median, range) | epoch s, --checkpoint-every $steps | checkpoint s per epoch, without / with | added by mid-epoch checkpoints, share of the epoch (median, range) | checkpoint size |"
echo "|---|---|---|---|---|---|---|"
for model in mlp cnn; do
  for r in $(seq 1 "$repeats"); do
    for every in 0 "$steps"; do
      acwa train --model "$model" --epochs "$epochs" --checkpoint-every "$every" --policy acwa --quiet --out "$tmp/$model-$every-$r" >/dev/null
    done
  done
  python3 - "$tmp" "$model" "$steps" "$repeats" <<'PY'
import json, os, statistics, sys
tmp, model, steps, repeats = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
def epochs(every):
    out = []
    for r in range(1, repeats + 1):
        out += json.load(open(f"{tmp}/{model}-{every}-{r}/metrics.json"))
    return out
base, ck = epochs(0), epochs(steps)
def med(xs): return statistics.median(xs)
def rng(xs): return f"{min(xs):.2f}-{max(xs):.2f}"
bt = [e["timings"]["total"] for e in base]; ct = [e["timings"]["total"] for e in ck]
bc = [e["timings"]["checkpoint"] for e in base]; cs = [e["timings"]["checkpoint"] for e in ck]
share = [(e["timings"]["checkpoint"] - med(bc)) / e["timings"]["total"] for e in ck]
spe = ck[0]["global_step"]
size = os.path.getsize(f"{tmp}/{model}-{steps}-1/checkpoint.acwa")
print(f"| {model} | {spe} | {med(bt):.2f} ({rng(bt)}) | {med(ct):.2f} ({rng(ct)}) | {med(bc):.4f} / {med(cs):.4f} | {100*med(share):.2f} % ({100*min(share):.2f}-{100*max(share):.2f} %) | {size/1e6:.2f} MB |")
PY
done
echo
echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg); $(nproc) cores"
