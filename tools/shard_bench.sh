#!/bin/bash
# Sharded evaluation measured on this machine (docs/scale-out.md): for the Fashion-MNIST test set and a large npy set (the
# training set repeated REPEAT times), an unsharded `acwa eval`, then N = 1, 2, 4 concurrent `acwa eval --shard I/N`
# processes, then `acwa metrics merge`; prints a markdown table (wall time, per-shard samples/s, merge time, whether the
# merged report equals the unsharded one byte for byte) and the load average.
# Usage: tools/shard_bench.sh [WORKDIR]   (env: REPEAT=17 -> 1,020,000 samples; MODEL=models/mlp.onnx; THREADS=1 per process)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
WORK=${1:-/tmp/acwa-shard-bench}
REPEAT=${REPEAT:-17}
MODEL=${MODEL:-$ROOT/models/mlp.onnx}
THREADS=${THREADS:-1}
FM=${FM:-/usr/share/datasets/fashion-mnist}
ACWA=(dotnet "$ROOT/src/Acwa.Cli/bin/Release/net10.0/acwa.dll")
mkdir -p "$WORK"

# npy v1.0 header for SHAPE of |u1, padded to 64 bytes.
npy_header() {
  local dict="{'descr': '|u1', 'fortran_order': False, 'shape': $1, }"
  local total=$((10 + ${#dict} + 1)); local padded=$(( (total + 63) / 64 * 64 ))
  local pad=$((padded - total)); local hlen=$((padded - 10))
  printf '\x93NUMPY\x01\x00'; printf "\\x$(printf %02x $((hlen & 255)))\\x$(printf %02x $((hlen >> 8)))"
  printf '%s%*s\n' "$dict" "$pad" ''
}
N_BIG=$((60000 * REPEAT))
if [ ! -f "$WORK/x.npy" ] || [ "$(cat "$WORK/n" 2>/dev/null)" != "$N_BIG" ]; then
  gzip -dc "$FM/train-images-idx3-ubyte.gz" | tail -c +17 > "$WORK/x.raw"
  gzip -dc "$FM/train-labels-idx1-ubyte.gz" | tail -c +9 > "$WORK/y.raw"
  { npy_header "($N_BIG, 28, 28)"; for _ in $(seq "$REPEAT"); do cat "$WORK/x.raw"; done; } > "$WORK/x.npy"
  { npy_header "($N_BIG,)"; for _ in $(seq "$REPEAT"); do cat "$WORK/y.raw"; done; } > "$WORK/y.npy"
  rm -f "$WORK/x.raw" "$WORK/y.raw"; echo "$N_BIG" > "$WORK/n"
fi

now() { date +%s.%N; }
row() { # NAME DATASET SAMPLES
  local name=$1 ds=$2 samples=$3 d="$WORK/$1"
  rm -rf "$d"; mkdir -p "$d"
  local t0; t0=$(now)
  "${ACWA[@]}" eval --model "$MODEL" --dataset "$ds" --threads "$THREADS" --json "$d/whole.json" > "$d/whole.log"
  local tw; tw=$(echo "$(now) - $t0" | bc)
  echo "| $name | $samples | unsharded | $(printf %.1f "$tw") | $(grep -o '([0-9]* samples/s)' "$d/whole.log" | tr -dc 0-9) | - | - |"
  for n in 1 2 4; do
    mkdir -p "$d/n$n"; t0=$(now)
    for i in $(seq 0 $((n - 1))); do
      "${ACWA[@]}" eval --model "$MODEL" --dataset "$ds" --threads "$THREADS" --shard "$i/$n" --json "$d/n$n/part-$i.json" > "$d/n$n/log-$i" &
    done
    wait
    local wall; wall=$(echo "$(now) - $t0" | bc)
    local rates; rates=$(for i in $(seq 0 $((n - 1))); do grep -o '"samples_per_second": [0-9.]*' "$d/n$n/part-$i.json" | grep -o '[0-9.]*$' | cut -d. -f1; done | paste -sd/)
    t0=$(now)
    "${ACWA[@]}" metrics merge "$d"/n$n/part-*.json --json "$d/n$n/merged.json" > "$d/n$n/merge.log"
    local mt; mt=$(echo "$(now) - $t0" | bc)
    local inproc; inproc=$(grep -o 'merge took [0-9.]* ms' "$d/n$n/merge.log" | grep -o '[0-9.]* ms')
    local same=no; cmp -s "$d/whole.json" "$d/n$n/merged.json" && same=yes
    echo "| $name | $samples | N = $n | $(printf %.1f "$wall") | $rates | $(printf %.2f "$mt") s ($inproc) | $same |"
  done
}
echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg); $(nproc) logical cores; model $(basename "$MODEL"); --threads $THREADS per process; $(date -u '+%Y-%m-%d %H:%M UTC')"
echo
echo "| data | samples | processes | wall s | samples/s per shard | merge (process; in-process) | merged = unsharded |"
echo "|---|---|---|---|---|---|---|"
row fashion-mnist-test fashion-mnist 10000
row train-x$REPEAT "npy:$WORK/x.npy,$WORK/y.npy" "$N_BIG"
echo
echo "load average at end: $(cut -d' ' -f1-3 /proc/loadavg)"
