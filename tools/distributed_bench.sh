#!/usr/bin/env bash
# Measures what docs/distributed.md reports (CPU, 2 ranks on one machine):
#  1. per model (mlp, cnn, resnet20, resnet32): the gradient length (split-step manifest), the train time per step with one
#     process and with 2 ranks (global batch 128, one intra-op thread per process; a small synthetic set, epoch 2 of 2);
#  2. the in-place float all-reduce of those gradient lengths on 2 ranks (acwa-dev mpi allreduce, median of 50);
#  3. the epoch time of the MLP and the CNN on Fashion-MNIST (step imbalance) with 1 process (1 and 2 threads) and 2 ranks.
# Usage: tools/distributed_bench.sh OUT_DIR   (after dotnet build Acwa.Onnx.sln -c Release)
set -euo pipefail
out=${1:?usage: $0 OUT_DIR}; mkdir -p "$out"; out=$(cd "$out" && pwd)
bin=$(cd "$(dirname "$0")/.." && pwd)/tests/Acwa.Onnx.Tests/bin/Release/net10.0
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
mpi="mpirun --oversubscribe -np 2"
acwa="dotnet $bin/acwa.dll"
# 1. a synthetic 28x28 set (2,000 images: 10 classes, a bright block per class, noise)
python3 - "$out" <<'PY'
import random, struct, sys
random.seed(0); d=sys.argv[1]
def npy(path, descr, shape, data):
    hdr="{'descr': '%s', 'fortran_order': False, 'shape': (%s), }"%(descr, ", ".join(map(str,shape))+("," if len(shape)==1 else ""))
    hdr+=" "*((64-(10+len(hdr)+1)%64)%64)+"\n"
    open(path,'wb').write(b"\x93NUMPY\x01\x00"+struct.pack("<H",len(hdr))+hdr.encode()+data)
ys=[]; xs=bytearray()
for k in range(2000):
    c=k%10; img=bytearray(random.randrange(60) for _ in range(784)); r,cc=(c//5)*14,(c%5)*5
    for i in range(r,r+7):
        for j in range(cc,cc+5): img[i*28+j]=200
    ys.append(c); xs+=img
npy(d+'/x.npy','|u1',(2000,28,28),bytes(xs)); npy(d+'/y.npy','<i8',(2000,),struct.pack("<2000q",*ys))
PY
per_step() { python3 -c "import json,sys;m=json.load(open('$1/metrics.json'))[-1];print('%.2f'%(1000*m['timings']['train']/ (m['global_step']/len(json.load(open('$1/metrics.json'))))))"; }
glen() { python3 -c "import json;print(json.load(open('$1/artifacts/manifest.json'))['split_step']['gradient_length'])"; }
common="--dataset npy:$out/x.npy,$out/y.npy --imbalance none --epochs 2 --batch 128 --threads 1 --seed 1 --quiet"
lengths=()
echo "model gradient_floats one_process_ms_per_step two_ranks_ms_per_step" | tee "$out/steps.txt"
for m in mlp cnn resnet20 resnet32; do
  rm -rf "$out/$m-1" "$out/$m-2"
  $acwa train $common --model $m --out "$out/$m-1" > "$out/$m-1.log" 2>&1
  $mpi $acwa train $common --model $m --out "$out/$m-2" --distributed > "$out/$m-2.log" 2>&1
  g=$(glen "$out/$m-2"); lengths+=("$g")
  echo "$m $g $(per_step "$out/$m-1") $(per_step "$out/$m-2")" | tee -a "$out/steps.txt"
done
# 2. all-reduce of those lengths
$mpi dotnet "$bin/acwa-dev.dll" mpi allreduce --lengths "$(IFS=,; echo "${lengths[*]}")" --repeats 50 | grep -o 'allreduce .*' | tee "$out/allreduce.txt"
# 3. epoch times on Fashion-MNIST
fm="--dataset fashion-mnist --epochs 1 --batch 128 --seed 1 --quiet"
echo "model config epoch_s train_s" | tee "$out/epochs.txt"
for m in mlp cnn; do
  for cfg in "1p-1t" "1p-2t" "2r-1t"; do
    rm -rf "$out/fm-$m-$cfg"
    case $cfg in
      1p-1t) $acwa train $fm --model $m --threads 1 --out "$out/fm-$m-$cfg" > "$out/fm-$m-$cfg.log" 2>&1 ;;
      1p-2t) $acwa train $fm --model $m --threads 2 --out "$out/fm-$m-$cfg" > "$out/fm-$m-$cfg.log" 2>&1 ;;
      2r-1t) $mpi $acwa train $fm --model $m --threads 1 --out "$out/fm-$m-$cfg" --distributed > "$out/fm-$m-$cfg.log" 2>&1 ;;
    esac
    python3 -c "import json;m=json.load(open('$out/fm-$m-$cfg/metrics.json'))[-1]['timings'];print('$m $cfg %.2f %.2f'%(m['total'],m['train']))" | tee -a "$out/epochs.txt"
  done
done
