#!/usr/bin/env bash
# Train the two shipped models exactly as recorded in docs/models.md.
# Needs the bm5 structures (../shared/data/structures/bm5). Resumable: rerun after an interruption
# (simulated samples are cached in data_cache/<range>, training resumes from runs/<range>.pt.ckpt).
set -euo pipefail
cd "$(dirname "$0")/.."
STRUCT=${STRUCT:-../shared/data/structures/bm5}
STEPS=${STEPS:-1600}
mkdir -p runs
for r in ${RANGES:-low high}; do
    .venv/bin/deepres train --range "$r" --structures "$STRUCT" --data-dir "data_cache/$r" \
        --output "runs/$r.pt" --n-train 500 --n-val 48 --steps "$STEPS" --batch 4 --crop 24 \
        --lr 2e-3 --width 16 --seed 0 --workers 2 --threads "${THREADS:-2}" 2>&1 | tee "runs/train_$r.log"
    cp "runs/$r.pt" "src/deepres/models/$r.pt"
done
