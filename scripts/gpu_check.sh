#!/usr/bin/env bash
# One session on the lent GPU machine (one H200, 16 cores; Python 3.12 with a CUDA build of torch;
# no network), in a single device call of at most ~590 s. Prepared here by
# scripts/gpu_check_prepare.sh; started with the device tool:
#   run(command="bash scripts/gpu_check.sh", carry=[".gpu"], timeout_s=595)
# Phases, each with its own deadline (seconds from the start):
#   1. the speed benchmark on EMD-11007, low and high, float32 and bfloat16, on the idle machine;
#   2. simulation of new high-range training maps (ids 2000-3999 of data seed 0, the ids after
#      those the shipped high models trained on; with half maps) and the 48 validation maps on
#      GEN_WORKERS cores until GEN_UNTIL, while the CUDA tests run beside it;
#   3. fine-tuning of both shipped high models on those maps on the GPU (`deepres train --device
#      cuda`, bfloat16), the step count set from a timed probe so that both end by TRAIN_UNTIL.
# Everything lands in $OUT: log.txt (all output), the two model files and their checkpoints, and
# results.tar.gz (speed records, training records).
# Dry run on a CPU machine (small numbers):
#   PY=.venv/bin/python DEVICE=cpu WHEELS=0 SPEED_PRECISIONS= GEN_UNTIL=150 TRAIN_UNTIL=330 N_NEW=8 \
#     SHARD=4 GEN_WORKERS=2 MAX_STEPS=100 BATCH=1 bash scripts/gpu_check.sh
set -uo pipefail
cd "$(dirname "$0")/.."
T0=$(date +%s)
el() { echo $(($(date +%s) - T0)); }
OUT=${OUT:-$PWD/gpu_out}
W=${WORK:-/tmp/gpuwork}
PY=${PY:-python3}
DEVICE=${DEVICE:-cuda}
GEN_WORKERS=${GEN_WORKERS:-14}
GEN_UNTIL=${GEN_UNTIL:-395}
TRAIN_UNTIL=${TRAIN_UNTIL:-570}
N_NEW=${N_NEW:-2000}     # new training maps asked for (ids N_NEW .. 2*N_NEW-1 with shards of SHARD)
SHARD=${SHARD:-100}
MAX_STEPS=${MAX_STEPS:-4000}
BATCH=${BATCH:-8}
LR=${LR:-3e-4}
mkdir -p "$OUT" "$W/cache" "$W/runs" "$W/rec"
LOG="$OUT/log.txt"
exec > >(tee -a "$LOG") 2>&1
export PYTHONUNBUFFERED=1 CUBLAS_WORKSPACE_CONFIG=:4096:8  # deterministic cuBLAS
say() { echo "[$(el) s] $*"; }

# ---- 0. set-up: wheels and deepres into /tmp/site, structures, EMD-11007
rm -rf /tmp/site && mkdir -p /tmp/site
if [ "${WHEELS:-1}" = 1 ]; then
    $PY -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target /tmp/site .gpu/whl/*.whl || exit 1
fi
$PY -m pip install -q --no-index --no-deps --no-build-isolation --no-compile --target /tmp/site . || exit 1
export PYTHONPATH=/tmp/site PATH=/tmp/site/bin:$PATH
rm -rf "$W/bm5"
$PY -c "import tarfile, sys; tarfile.open('.gpu/bm5.tar.xz').extractall(sys.argv[1])" "$W" || exit 1
ls "$W"/bm5/*.pdb | xargs -P 16 -n 40 gzip -1
$PY - "$W/cache" <<'EOF' || exit 1
import gzip, sys
import numpy as np
d = sys.argv[1]
header = open(".gpu/data/emd_11007.header", "rb").read()
with gzip.open(".gpu/data/emd_11007.f16.gz", "rb") as fh:
    values = np.frombuffer(fh.read(), dtype=np.float16).astype(np.float32)
open(f"{d}/emd_11007.map", "wb").write(header + values.tobytes())
EOF
gunzip -c .gpu/data/emd_11007_mask.mrc.gz > "$W/cache/emd_11007_mask.mrc"
touch "$W/cache/emd_11007_mask.mrc"  # newer than the map: the benchmark keeps it
{ nvidia-smi 2>/dev/null | head -15; nproc; free -g | head -2
  $PY -c "import torch, deepres, gemmi; print('torch', torch.__version__, torch.cuda.get_device_name(0) if torch.cuda.is_available() else 'no CUDA', 'deepres', deepres.__version__, 'gemmi', gemmi.__version__)"; }
say "set-up done: $(ls "$W"/bm5 | wc -l) structures"

# ---- 1. speed on the idle machine
for prec in ${SPEED_PRECISIONS-float32 bfloat16}; do
    timeout 90 $PY benchmarks/speed.py --device "$DEVICE" --precision $prec --cache-dir "$W/cache" \
        --emd11007 "$W/cache/emd_11007.map" --only emd11007-low --only emd11007-high --no-original \
        --output-dir "$W/rec" --stem "speed_${DEVICE}_$prec" 2>&1 | tail -4
    cat "$W/rec/speed_${DEVICE}_$prec.md" 2>/dev/null | grep -E '^\| EMD|^- machine'
done
say "speed done"

# ---- 2. simulation in the background (its own process group), CUDA tests beside it
GEN="$W/gen"
mkdir -p "$GEN"
first=$((N_NEW / SHARD))
for i in $(seq 0 $((first - 1))); do : > "$GEN/$(printf 'train_%03d.pt' "$i")"; done  # ids 0..N_NEW-1: skipped
setsid $PY -c "
import sys
from deepres.features import FeatureConfig
from deepres.samples import generate_dataset
generate_dataset('$W/bm5', '$GEN', 'high', n_train=2 * $N_NEW, n_val=48, seed=0, workers=$GEN_WORKERS,
                 shard_size=$SHARD, features=FeatureConfig(half_maps=True))
" > "$W/rec/generate.log" 2>&1 &
GPID=$!
say "simulating with $GEN_WORKERS workers (pid $GPID)"
timeout 150 $PY -m pytest -q -p no:cacheprovider tests/test_model.py tests/test_pipeline.py tests/test_train.py 2>&1 | tail -6
say "tests done"
while kill -0 $GPID 2>/dev/null && [ "$(el)" -lt "$GEN_UNTIL" ]; do sleep 2; done
kill -- -$GPID 2>/dev/null; sleep 1; kill -9 -- -$GPID 2>/dev/null
tail -3 "$W/rec/generate.log"
D="$W/new"
mkdir -p "$D"
ln -sf "$GEN/val_000.pt" "$D/val_000.pt"
n=0
for f in $(ls "$GEN"/train_*.pt | sort); do
    [ -s "$f" ] || continue
    ln -sf "$f" "$D/$(printf 'train_%03d.pt' $n)"
    n=$((n + 1))
done
say "simulation stopped: $n new training shards"
[ -s "$GEN/val_000.pt" ] && [ "$n" -gt 0 ] || { say "no data: stop"; exit 1; }

# ---- 3. fine-tuning on the GPU: a timed probe, then both runs side by side
common=(--range high --structures "$W/bm5" --data-dir "$D" --n-train $((n * SHARD)) --n-val 48 --batch "$BATCH"
        --crop 24 --workers 1 --threads 1 --data-seed 0 --width 24 --context-quantiles 0.1 0.5
        --precision bfloat16 --device "$DEVICE" --lr "$LR" --seed 8)
$PY -m deepres train "${common[@]}" --half-maps --init src/deepres/models/high_halves.pt --steps 120 \
    --val-every 100000 --output "$W/runs/probe.pt" > "$W/rec/probe.log" 2>&1
t25=$(grep -oE '^step 25/120 .* ([0-9.]+) s$' "$W/rec/probe.log" | awk '{print $(NF-1)}')
t100=$(grep -oE '^step 100/120 .* ([0-9.]+) s$' "$W/rec/probe.log" | awk '{print $(NF-1)}')
tail -2 "$W/rec/probe.log"
steps=$($PY -c "
t = (float('${t100:-0}') - float('${t25:-0}')) / 75
left = $TRAIN_UNTIL - $(el) - 45  # loading and validation
print(max(50, min($MAX_STEPS, int(0.8 * left / t) if t > 0 else 200)) // 50 * 50)")
say "probe: ${t25:-?} s at step 25, ${t100:-?} s at step 100 -> $steps steps each"
ve=$((steps / 4))
pids=()  # (a bare `wait` would also wait for the tee of the log)
# ids: the run of 2026-12-04 made deepres-high-v9 / deepres-high-halves-v5 from the files shipped then
# (v8, halves-v4); from the files shipped now (v11, halves-v7) it makes the -gpu ids, never a shipped id.
for kind in single halves; do
    if [ $kind = single ]; then extra=(); init=src/deepres/models/high.pt; id=high_gpu
    else extra=(--half-maps); init=src/deepres/models/high_halves.pt; id=high_halves_gpu; fi
    timeout $((TRAIN_UNTIL - $(el))) $PY -m deepres train "${common[@]}" "${extra[@]}" --init "$init" --steps "$steps" \
        --val-every "$ve" --model-id "deepres-${id//_/-}" --output "$W/runs/$id.pt" > "$W/rec/train_$id.log" 2>&1 &
    pids+=($!)
done
# the shipped files on the same validation maps (on the CPU, beside the training)
for m in high high_halves; do
    $PY scripts/eval_val.py high "$D" "src/deepres/models/$m.pt" > "$W/rec/val_shipped_$m.txt" 2>&1 &
    pids+=($!)
done
wait "${pids[@]}"
cat "$W"/rec/val_shipped_*.txt
for id in high_gpu high_halves_gpu; do
    grep -E '^(starting|validation)' "$W/rec/train_$id.log"; tail -1 "$W/rec/train_$id.log"
    cp "$W/runs/$id.pt" "$OUT/" 2>/dev/null || cp "$W/runs/$id.pt.ckpt" "$OUT/" 2>/dev/null
    cp "$W/runs/$id.pt.train.json" "$W/rec/" 2>/dev/null
done
say "training done"
tar -C "$W" -czf "$OUT/results.tar.gz" rec
ls -la "$OUT"
say "end"
