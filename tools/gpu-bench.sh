#!/usr/bin/env bash
# One device call that checks and times the CUDA path (issue: CUDA training verified and fast on the GPU).
# Made for the device machine (GPU, PyTorch, no .NET): the acwa CLI is carried self-contained by
# ../shared/tools/gpu/pack (archives under .gpu/). Each step has its own time limit and writes its log to $OUT,
# so one failing step does not hide the others.
#   usage (on the device, from the repository root):  bash tools/gpu-bench.sh
set -u
out=${OUT:-/tmp/gpu-out}; mkdir -p "$out"
bash .gpu/run.sh --stage-only >/dev/null || { echo "staging failed"; exit 1; }
libs=$(for f in libcudart.so.13 libcublasLt.so.13 libcurand.so.10 libcudnn.so.9; do find /opt /usr/local /usr/lib -name "$f" 2>/dev/null | head -1; done | xargs -r -n1 dirname | sort -u | paste -sd:)
export LD_LIBRARY_PATH=$libs:/tmp/gpu/ort${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
acwa=/tmp/gpu/app/acwa
step() { local name=$1 limit=$2; shift 2; echo "=== $name: $*"; timeout "$limit" "$@" 2>&1 | tee "$out/$name.txt"; echo "=== $name exit ${PIPESTATUS[0]}"; }
{ nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv; python3 -c 'import torch; print("torch", torch.__version__, "cuda", torch.version.cuda)'; } 2>&1 | tee "$out/device.txt"
step bench-train 140 "$acwa" bench train --device cuda --torch tools/torch_reference.py --python python3 --windows 5 --steps 50 --warmup 20
# CUDA graphs (StepRunnerOptions.CudaGraph): graph vs CPU trajectory over 8 steps (replays from step 3), throughput beside the plain step.
step bench-train-graph 150 "$acwa" bench train --device cuda --cuda-graph --no-epoch --check-steps 8 --windows 5 --steps 50 --warmup 20
# Exported models (fixtures of TorchTrainingStepTests): a one-block ViT (LayerNorm, attention, GELU; chunk bounds and the
# class-token expand folded for CUDA) and a MobileNetV3-style net - CUDA vs CPU over 5 steps, then throughput.
fx=tests/Acwa.Onnx.Tests/Fixtures/torch
step bench-train-imported 60 "$acwa" bench train --device cuda --model $fx/tiny_vit.onnx,$fx/tiny_mobilenet.onnx --no-epoch --check-steps 5 --windows 3 --steps 30 --warmup 10
step bench-step 45 "$acwa" bench step --device cuda --model mlp,cnn,resnet20,resnet32 --steps 20 --repeats 5
# Per-op-type time of ResNet-32's CUDA step (ORT profile; the JSON stays on the device, the table goes to the log).
step bench-step-profile 40 "$acwa" bench step --device cuda --model resnet32 --steps 5 --repeats 2 --profile /tmp/gpu-prof
# Whole-step comparisons of the choices made without a GPU (each ~15 s): the per-tensor optimizer (the fused update removes
# ~1,400 of ResNet-32's nodes) and the im2col weight gradient (one depthwise Conv instead of 9 Slices + Concat + Pad per conv).
step bench-step-pertensor 30 "$acwa" bench step --device cuda --model mlp,resnet32 --steps 20 --repeats 5 --per-tensor-optimizer
step bench-step-im2col 30 "$acwa" bench step --device cuda --model cnn,resnet32 --steps 20 --repeats 5 --conv-weight-grad Im2ColConvMatMul
# Models users fine-tune (MobileNetV2/V3-style, a small ViT; made here by `/usr/bin/python3 tools/export_bench_models.py .gpu/bench-models`, carried with
# the call): step vs forward on the GPU, batch 64 (the CPU figures are in docs/fine-tuning.md).
bm=.gpu/bench-models
[[ -f $bm/mobilenetv3.onnx ]] && step bench-step-finetune 90 "$acwa" bench step --device cuda --model $bm/mobilenetv2.onnx,$bm/mobilenetv3.onnx,$bm/vit.onnx --batch 64 --steps 20 --repeats 5
[[ ${GPU_BENCH_EVAL:-0} == 1 ]] && step bench-eval 60 "$acwa" bench eval --device cuda --models resnet32,resnet20 --resnet-images 4096 --repeats 3
