#!/usr/bin/env bash
# Train the two shipped models exactly as recorded in docs/models.md: stage 1 (v1, 1200 steps from
# random weights), then stage 2 (v2, 1500 fine-tuning steps from v1), and copy v2 into the package.
# Needs the bm5 structures (../shared/data/structures/bm5). Resumable: rerun after an interruption
# (simulated samples are cached in data_cache/<range>; each stage resumes from its .ckpt file).
set -euo pipefail
cd "$(dirname "$0")/.."
STRUCT=${STRUCT:-../shared/data/structures/bm5}
THREADS=${THREADS:-1}
mkdir -p runs
for r in ${RANGES:-low high}; do
    common=(--range "$r" --structures "$STRUCT" --data-dir "data_cache/$r" --n-train 500 --n-val 48
            --batch 4 --crop 24 --width 16 --workers 2 --threads "$THREADS")
    if [ ! -f "runs/${r}_v1.pt" ]; then
        .venv/bin/deepres train "${common[@]}" --output "runs/${r}_v1.pt" --steps 1200 --lr 2e-3 --seed 0 \
            --model-id "deepres-$r-v1" 2>&1 | tee "runs/train_${r}_v1.log"
    fi
    .venv/bin/deepres train "${common[@]}" --output "runs/${r}_v2.pt" --steps 1500 --lr 1e-3 --seed 1 \
        --init "runs/${r}_v1.pt" --model-id "deepres-$r-v2" 2>&1 | tee "runs/train_${r}_v2.log"
    cp "runs/${r}_v2.pt" "src/deepres/models/$r.pt"
done
