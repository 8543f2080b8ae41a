#!/usr/bin/env bash
# One device call that checks and times the CUDA path (issue: CUDA training verified and fast on the GPU).
# Made for the device machine (GPU, PyTorch, no .NET): the acwa CLI and the developer tool acwa-dev (tools/Acwa.DevBench:
# the bench commands plus the diagnostics: CUDA-vs-CPU checks, PyTorch side by side, compile choices, profiler ranges) are
# carried self-contained, published together (archives under .gpu/, see docs/gpu.md). Steps run in order of importance; each has its own time limit and writes its log to $OUT, so one
# failing step does not hide the others, and steps that would start after GPU_BENCH_DEADLINE seconds (default 400)
# are skipped, so that the call ends inside its lease.
#   usage (on the device, from the repository root):  bash tools/gpu-bench.sh
set -u
# Logs go to one archive, $OUT/logs.tar.xz (a device call returns at most 8 files), written on exit.
final=${OUT:-/tmp/gpu-out}; out=/tmp/gpu-logs; mkdir -p "$final" "$out"
trap 'tar -cJf "$final/logs.tar.xz" -C "$out" . && echo "logs: $final/logs.tar.xz"' EXIT
deadline=${GPU_BENCH_DEADLINE:-400}
bash .gpu/run.sh --stage-only >/dev/null || { echo "staging failed"; exit 1; }
libs=$(for f in libcudart.so.13 libcublasLt.so.13 libcurand.so.10 libcudnn.so.9; do find /opt /usr/local /usr/lib -name "$f" 2>/dev/null | head -1; done | xargs -r -n1 dirname | sort -u | paste -sd:)
export LD_LIBRARY_PATH=$libs:/tmp/gpu/ort${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
acwa=/tmp/gpu/app/acwa
dev=/tmp/gpu/app/acwa-dev
step() {
  local name=$1 limit=$2; shift 2
  if (( SECONDS + 5 > deadline )); then echo "=== $name: skipped (at ${SECONDS}s, deadline ${deadline}s)"; return; fi
  echo "=== $name (at ${SECONDS}s): $*"; timeout "$limit" "$@" > "$out/$name.txt" 2>&1; local rc=$?
  grep -v '^\s*$' "$out/$name.txt" | tail -n "${TAIL:-25}"; echo "=== $name exit $rc (at ${SECONDS}s)"
}
{ nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.sm,clocks.max.sm --format=csv; python3 -c 'import torch; print("torch", torch.__version__, "cuda", torch.version.cuda)'; } 2>&1 | tee "$out/device.txt"
fx=tests/Acwa.Onnx.Tests/Fixtures/torch
bm=.gpu/bench-models
# Sequence and text models (unrolled LSTM/GRU/RNN, embeddings with int64 token ids, 1-D convolutions): CUDA vs CPU over
# 8 steps, plain and as CUDA graphs, then throughput.
TAIL=30 step bench-train-sequence 150 "$dev" train --device cuda --cuda-graph --model $fx/tiny_lstm.onnx,$fx/tiny_gru.onnx,$fx/tiny_rnn.onnx,$fx/tiny_text.onnx,$fx/tiny_conv1d.onnx --no-epoch --check-steps 8 --windows 3 --steps 30 --warmup 10
# Step vs forward of the bench sequence and text models (batch 64), plain, then as CUDA graphs beside PyTorch eager on
# the same GPU (torch_reference.py gpu-step; 2026-12-04: its cuDNN LSTM 4.2 ms against our 16.3, docs/gpu.md).
torch="--torch tools/torch_reference.py --python python3"
if [[ -f $bm/seq_lstm.onnx ]]; then
  TAIL=8 step bench-step-sequence 150 "$acwa" bench step --device cuda --model $bm/text.onnx,$bm/seq_lstm.onnx --batch 64 --steps 20 --repeats 5
  # The whole-node LSTM/GRU rules (forward = cuDNN, gradient = reverse-time Scan), off by default on CUDA until measured here.
  TAIL=8 step bench-step-fused-recurrent 150 "$dev" step --device cuda --model $bm/seq_lstm.onnx,$bm/seq_gru.onnx --batch 64 --steps 20 --repeats 5 --fused-recurrent true
  TAIL=12 step bench-step-sequence-graph 150 "$dev" step --device cuda --cuda-graph --model $bm/text.onnx,$bm/seq_lstm.onnx --batch 64 --steps 20 --repeats 5 $torch
fi
# CUDA vs CPU over 8 steps (plain step and the step captured as a CUDA graph: replays from each direction's third run),
# then throughput of both beside PyTorch eager in the same call, and one ACWA epoch end.
TAIL=40 step bench-train 200 "$dev" train --device cuda --cuda-graph --torch tools/torch_reference.py --python python3 --check-steps 8 --windows 5 --steps 50 --warmup 20
# Step vs forward per model, steps as CUDA graphs, then plain.
TAIL=16 step bench-step-graph 90 "$dev" step --device cuda --cuda-graph --model mlp,cnn,resnet20,resnet32 --steps 20 --repeats 5 $torch
step bench-step 60 "$acwa" bench step --device cuda --model mlp,cnn,resnet20,resnet32 --steps 20 --repeats 5
# Whole-step comparisons of compile choices on ResNet-32 with launch costs out of the way (CUDA graphs), ~10 s each;
# GPU_BENCH_VARIANTS=1 (measured 2026-11-27, docs/gpu.md).
s="$dev step --device cuda --cuda-graph --model resnet32 --steps 20 --repeats 5"
if [[ ${GPU_BENCH_VARIANTS:-0} == 1 ]]; then
  TAIL=6 step graph-split-off 30 $s --split-batch-reductions false
  TAIL=6 step graph-cwg-im2col 30 $s --conv-weight-grad Im2ColConvMatMul
  TAIL=6 step graph-cwg-overtransposed 30 $s --conv-weight-grad ConvOverTransposed
  TAIL=6 step graph-cwg-tapsgemm 30 $s --conv-weight-grad TapsGemm
  TAIL=6 step graph-cwg-pertap 30 $s --conv-weight-grad PerTapGemm
  TAIL=6 step graph-cig-flipped 30 $s --conv-input-grad FlippedConvStride1ElseTranspose
  TAIL=6 step graph-pertensor 30 $s --per-tensor-optimizer
fi
# Models users fine-tune (made by `/usr/bin/python3 tools/export_bench_models.py .gpu/bench-models`, carried with the
# call): step vs forward on the GPU, batch 64, plain and as CUDA graphs (the CPU figures are in docs/fine-tuning.md).
if [[ -f $bm/mobilenetv3.onnx ]]; then
  TAIL=8 step bench-step-finetune 90 "$acwa" bench step --device cuda --model $bm/mobilenetv2.onnx,$bm/mobilenetv3.onnx,$bm/vit.onnx --batch 64 --steps 20 --repeats 5
  TAIL=12 step bench-step-finetune-graph 120 "$dev" step --device cuda --cuda-graph --model $bm/mobilenetv2.onnx,$bm/mobilenetv3.onnx,$bm/vit.onnx --batch 64 --steps 20 --repeats 5 $torch
fi
step bench-train-imported 60 "$dev" train --device cuda --cuda-graph --model $fx/tiny_vit.onnx,$fx/tiny_mobilenet.onnx --no-epoch --check-steps 5 --windows 3 --steps 30 --warmup 10
# GPU time per kernel of one plain ResNet-32 step (Nsight Compute's timer per kernel; tools/ncu_summary.py sums by name).
ncu=$(command -v ncu || ls /usr/local/cuda*/bin/ncu 2>/dev/null | head -1)
if [[ -n $ncu ]] && (( SECONDS + 40 < deadline )); then
  echo "=== ncu-resnet32 (at ${SECONDS}s)"
  timeout 60 "$ncu" --clock-control none --profile-from-start off --metrics gpu__time_duration.sum --csv --print-units base \
    "$dev" step --device cuda --model resnet32 --steps 1 --repeats 1 --cuda-profiler-range > "$out/ncu-resnet32.csv" 2> "$out/ncu-resnet32.err"
  python3 tools/ncu_summary.py "$out/ncu-resnet32.csv" 25 | tee "$out/ncu-resnet32.txt"
fi
# Host-side time per node of ResNet-32's plain CUDA step (ORT profile, warm-up runs left out; the JSON stays on the device).
[[ ${GPU_BENCH_PROFILE:-0} == 1 ]] && TAIL=30 step bench-step-profile 45 "$acwa" bench step --device cuda --model resnet32 --steps 5 --repeats 2 --profile /tmp/gpu-prof
[[ ${GPU_BENCH_EVAL:-0} == 1 ]] && step bench-eval 60 "$acwa" bench eval --device cuda --model resnet32,resnet20 --resnet-images 4096 --repeats 3
echo "=== done at ${SECONDS}s"
