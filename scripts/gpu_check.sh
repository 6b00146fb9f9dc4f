#!/usr/bin/env bash
# The GPU check of issue 5, run on the lent device machine (one H200; Python 3.12 with a CUDA
# build of torch; no network). Prepared here by scripts/gpu_check_prepare.sh; started with the
# device tool: run(command="bash scripts/gpu_check.sh", carry=[".gpu"], timeout_s=540).
# Writes into $OUT (or ./gpu_out): the CUDA tests' log, the speed benchmark on EMD-11007 (low and
# high; float32 and bfloat16) and the held-out accuracy benchmark of the low range with CUDA +
# bfloat16 (the issue allows mixed precision only where the accuracy targets still hold).
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-$PWD/gpu_out}
mkdir -p "$OUT" /tmp/cache
export PYTHONUNBUFFERED=1
# Dry run elsewhere: PY=.venv/bin/python DEVICE=cpu WHEELS=0 bash scripts/gpu_check.sh
PY=${PY:-python3}
DEVICE=${DEVICE:-cuda}
rm -rf /tmp/site && mkdir -p /tmp/site
if [ "${WHEELS:-1}" = 1 ]; then
    $PY -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target /tmp/site .gpu/whl/*.whl || exit 1
fi
$PY -m pip install -q --no-index --no-deps --no-build-isolation --no-compile --target /tmp/site . || exit 1
export PYTHONPATH=/tmp/site PATH=/tmp/site/bin:$PATH
gunzip -c .gpu/data/emd_11007.map.gz > /tmp/cache/emd_11007.map
gunzip -c .gpu/data/emd_11007_mask.mrc.gz > /tmp/cache/emd_11007_mask.mrc
{ nvidia-smi; $PY -c "import torch, deepres; print(torch.__version__, torch.cuda.get_device_name(0) if torch.cuda.is_available() else 'no CUDA', deepres.__version__)"; } 2>&1 | tee "$OUT/device.txt"
$PY -m pytest -q -p no:cacheprovider tests/test_model.py tests/test_pipeline.py 2>&1 | tail -15 | tee "$OUT/pytest.log"
for prec in float32 bfloat16; do
    timeout 150 $PY benchmarks/speed.py --device $DEVICE --precision $prec --cache-dir /tmp/cache \
        --emd11007 /tmp/cache/emd_11007.map --only emd11007-low --only emd11007-high --no-original \
        --output-dir "$OUT" --stem "speed_${DEVICE}_$prec" 2>&1 | tail -8
done
timeout 200 $PY -m deepres benchmark --range low --device $DEVICE --precision bfloat16 --no-real --no-invariance \
    --relion off --structures-dir .gpu/bm5 --output-dir "$OUT" --stem accuracy_low_${DEVICE}_bf16 --quiet 2>&1 | tail -5
ls -la "$OUT"
