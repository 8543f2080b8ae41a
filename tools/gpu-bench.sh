#!/usr/bin/env bash
# One device call that checks and times the CUDA path (issue: CUDA training verified and fast on the GPU).
# Made for the device machine (GPU, PyTorch, no .NET): the acwa CLI is carried self-contained (archives under .gpu/,
# see docs/gpu.md). Steps run in order of importance; each has its own time limit and writes its log to $OUT, so one
# failing step does not hide the others, and steps that would start after GPU_BENCH_DEADLINE seconds (default 400)
# are skipped, so that the call ends inside its lease.
#   usage (on the device, from the repository root):  bash tools/gpu-bench.sh
set -u
out=${OUT:-/tmp/gpu-out}; mkdir -p "$out"
deadline=${GPU_BENCH_DEADLINE:-400}
bash .gpu/run.sh --stage-only >/dev/null || { echo "staging failed"; exit 1; }
libs=$(for f in libcudart.so.13 libcublasLt.so.13 libcurand.so.10 libcudnn.so.9; do find /opt /usr/local /usr/lib -name "$f" 2>/dev/null | head -1; done | xargs -r -n1 dirname | sort -u | paste -sd:)
export LD_LIBRARY_PATH=$libs:/tmp/gpu/ort${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
acwa=/tmp/gpu/app/acwa
step() {
  local name=$1 limit=$2; shift 2
  if (( SECONDS + 5 > deadline )); then echo "=== $name: skipped (at ${SECONDS}s, deadline ${deadline}s)"; return; fi
  echo "=== $name (at ${SECONDS}s): $*"; timeout "$limit" "$@" > "$out/$name.txt" 2>&1; local rc=$?
  grep -v '^\s*$' "$out/$name.txt" | tail -n "${TAIL:-25}"; echo "=== $name exit $rc (at ${SECONDS}s)"
}
{ nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.sm,clocks.max.sm --format=csv; python3 -c 'import torch; print("torch", torch.__version__, "cuda", torch.version.cuda)'; } 2>&1 | tee "$out/device.txt"
# CUDA vs CPU over 8 steps (plain step and the step captured as a CUDA graph: replays from each direction's third run),
# then throughput of both beside PyTorch eager in the same call, and one ACWA epoch end.
TAIL=40 step bench-train 200 "$acwa" bench train --device cuda --cuda-graph --torch tools/torch_reference.py --python python3 --check-steps 8 --windows 5 --steps 50 --warmup 20
# Step vs forward per model, then ResNet-32's per-op-type time (ORT profile; the JSON stays on the device).
step bench-step 60 "$acwa" bench step --device cuda --model mlp,cnn,resnet20,resnet32 --steps 20 --repeats 5
TAIL=45 step bench-step-profile 45 "$acwa" bench step --device cuda --model resnet32 --steps 5 --repeats 2 --profile /tmp/gpu-prof
# Whole-step comparisons of the gradient decompositions chosen without a GPU measurement (ResNet-32, ~10 s each).
TAIL=8 step cwg-im2col 30 "$acwa" bench step --device cuda --model resnet32 --steps 20 --repeats 5 --conv-weight-grad Im2ColConvMatMul
TAIL=8 step cwg-tapsgemm 30 "$acwa" bench step --device cuda --model resnet32 --steps 20 --repeats 5 --conv-weight-grad TapsGemm
TAIL=8 step cwg-pertap 30 "$acwa" bench step --device cuda --model resnet32 --steps 20 --repeats 5 --conv-weight-grad PerTapGemm
TAIL=8 step cwg-overtransposed 30 "$acwa" bench step --device cuda --model resnet32 --steps 20 --repeats 5 --conv-weight-grad ConvOverTransposed
TAIL=8 step cig-flipped 30 "$acwa" bench step --device cuda --model resnet32 --steps 20 --repeats 5 --conv-input-grad FlippedConvStride1ElseTranspose
TAIL=8 step bench-step-pertensor 30 "$acwa" bench step --device cuda --model mlp,resnet32 --steps 20 --repeats 5 --per-tensor-optimizer
# Exported models (fixtures of TorchTrainingStepTests): a one-block ViT and a MobileNetV3-style net, CUDA vs CPU over 5
# steps, then throughput.
fx=tests/Acwa.Onnx.Tests/Fixtures/torch
step bench-train-imported 60 "$acwa" bench train --device cuda --model $fx/tiny_vit.onnx,$fx/tiny_mobilenet.onnx --no-epoch --check-steps 5 --windows 3 --steps 30 --warmup 10
# Models users fine-tune (made by `/usr/bin/python3 tools/export_bench_models.py .gpu/bench-models`, carried with the
# call): step vs forward on the GPU, batch 64 (the CPU figures are in docs/fine-tuning.md).
bm=.gpu/bench-models
[[ -f $bm/mobilenetv3.onnx ]] && step bench-step-finetune 90 "$acwa" bench step --device cuda --model $bm/mobilenetv2.onnx,$bm/mobilenetv3.onnx,$bm/vit.onnx --batch 64 --steps 20 --repeats 5
[[ ${GPU_BENCH_EVAL:-0} == 1 ]] && step bench-eval 60 "$acwa" bench eval --device cuda --models resnet32,resnet20 --resnet-images 4096 --repeats 3
echo "=== done at ${SECONDS}s"
