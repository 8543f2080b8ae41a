#!/usr/bin/env bash
# Device call: GPU time per kernel of one CUDA training step (Nsight Compute, hardware timer per kernel) and whole-step
# comparisons of compile options with the step captured as a CUDA graph. Same staging as tools/gpu-bench.sh.
#   usage (on the device, from the repository root):  bash tools/gpu-profile.sh [model]
set -u
out=${OUT:-/tmp/gpu-out}; mkdir -p "$out"
model=${1:-resnet32}
bash .gpu/run.sh --stage-only >/dev/null || { echo "staging failed"; exit 1; }
libs=$(for f in libcudart.so.13 libcublasLt.so.13 libcurand.so.10 libcudnn.so.9; do find /opt /usr/local /usr/lib -name "$f" 2>/dev/null | head -1; done | xargs -r -n1 dirname | sort -u | paste -sd:)
export LD_LIBRARY_PATH=$libs:/tmp/gpu/ort${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
dev=/tmp/gpu/app/acwa-dev   # tools/Acwa.DevBench: bench step with --cuda-profiler-range and the compile choices
ncu=$(command -v ncu || ls /opt/nvidia/nsight-compute/*/ncu /usr/local/cuda*/bin/ncu 2>/dev/null | head -1)
echo "ncu: $ncu"
for split in false true; do
  echo "=== ncu, split batch reductions $split"
  timeout 150 "$ncu" --clock-control none --profile-from-start off --metrics gpu__time_duration.sum --csv --print-units base \
    "$dev" step --device cuda --model "$model" --steps 1 --repeats 1 --cuda-profiler-range --split-batch-reductions $split > "$out/ncu-$split.csv" 2> "$out/ncu-$split.err"
  echo "exit $?"; tail -3 "$out/ncu-$split.err"
  python3 tools/ncu_summary.py "$out/ncu-$split.csv" 40
done
for split in false true; do
  echo "=== CUDA graph step, split batch reductions $split"
  timeout 40 "$dev" step --device cuda --cuda-graph --model "$model" --steps 20 --repeats 5 --split-batch-reductions $split 2>&1 | grep -E "step [0-9.]+ ms|^│ $model"
done
