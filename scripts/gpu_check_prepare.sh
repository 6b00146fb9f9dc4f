#!/usr/bin/env bash
# Prepare the GPU check (scripts/gpu_check.sh) for the lent device machine: everything it needs
# that is not in the repository goes into .gpu/ (ignored by git, about 56 MB: the device tool
# carries at most 64 MiB with the working tree). Run here, from the repository root, after
# `bash scripts/setup.sh` and one `python benchmarks/speed.py` (which fetches EMD-11007):
#
#   bash scripts/gpu_check_prepare.sh
#
# then, with the device tool: run(command="bash scripts/gpu_check.sh", carry=[".gpu"], timeout_s=540)
set -euo pipefail
cd "$(dirname "$0")/.."
CACHE=${DEEPRES_CACHE:-$HOME/.cache/deepres/benchmarks}
BM5=${DEEPRES_BM5_DIR:-../shared/data/structures/bm5}
rm -rf .gpu && mkdir -p .gpu/whl .gpu/data .gpu/bm5
# Python packages the device image lacks (it has torch, numpy, scipy, matplotlib, pandas, pytest,
# hypothesis); Python 3.12 wheels.
.venv/bin/python -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_17_x86_64 \
    --platform manylinux2014_x86_64 -d .gpu/whl mrcfile gemmi starfile
# EMD-11007 and its benchmark mask (speed targets), compressed.
[ -f "$CACHE/emd_11007.map" ] || .venv/bin/python benchmarks/speed.py --only emd11007-low --no-process --no-original --output-dir /tmp
gzip -1 -c "$CACHE/emd_11007.map" > .gpu/data/emd_11007.map.gz
gzip -1 -c "$CACHE/emd_11007_mask.mrc" > .gpu/data/emd_11007_mask.mrc.gz
# The held-out structures (accuracy benchmark on the GPU, simulated cases only).
grep -v '^#' src/deepres/data/heldout_structures.txt | while read -r s; do
    [ -n "$s" ] && cp "$BM5/$s" .gpu/bm5/
done
du -sh .gpu
