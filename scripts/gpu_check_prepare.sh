#!/usr/bin/env bash
# Prepare the GPU session (scripts/gpu_check.sh) for the lent device machine: everything it needs
# that is not in the repository goes into .gpu/ (ignored by git). The device tool carries at most
# 64 MiB with the working tree (about 9 MB), so the inputs are packed tightly (about 50 MB):
#   - the Python 3.12 wheels the device image lacks (mrcfile, gemmi, starfile; 3 MB);
#   - all 620 bm5 structures, uncompressed and packed as one tar.xz (21 MB; gzip-compressed again
#     on the device, so that file names, and with them the training/validation split, are the
#     same as here);
#   - EMD-11007 as its header plus its values in float16 (26 MB gzipped; the largest change of a
#     value is 0.008 in a map whose values reach 28.6, which changes no timing), and its mask.
# Run here, from the repository root, after `bash scripts/setup.sh` (the first run fetches
# EMD-11007 through benchmarks/speed.py, ~1 min):
#
#   bash scripts/gpu_check_prepare.sh
#
# then, with the device tool: run(command="bash scripts/gpu_check.sh", carry=[".gpu"], timeout_s=595)
set -euo pipefail
cd "$(dirname "$0")/.."
CACHE=${DEEPRES_CACHE:-$HOME/.cache/deepres/benchmarks}
BM5=${DEEPRES_BM5_DIR:-../shared/data/structures/bm5}
rm -rf .gpu && mkdir -p .gpu/whl .gpu/data
.venv/bin/python -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_17_x86_64 \
    --platform manylinux2014_x86_64 -d .gpu/whl mrcfile gemmi starfile
[ -f "$CACHE/emd_11007.map" ] || .venv/bin/python benchmarks/speed.py --only emd11007-low --no-process --no-original --output-dir /tmp
.venv/bin/python - "$CACHE" <<'EOF'
import gzip, sys
import mrcfile
import numpy as np
cache = sys.argv[1]
with mrcfile.open(f"{cache}/emd_11007.map", permissive=True) as m:
    head = 1024 + int(m.header.nsymbt)
    data = np.asarray(m.data)
with open(f"{cache}/emd_11007.map", "rb") as fh:
    header = fh.read(head)
assert data.dtype == np.float32
open(".gpu/data/emd_11007.header", "wb").write(header)
with gzip.open(".gpu/data/emd_11007.f16.gz", "wb", compresslevel=6) as fh:
    fh.write(data.astype(np.float16).tobytes())  # file order, as mrcfile returns it
print(f"EMD-11007: {head} header bytes, {data.shape} values, largest float16 change "
      f"{float(np.abs(data.astype(np.float16).astype(np.float32) - data).max()):.4f}")
EOF
gzip -1 -c "$CACHE/emd_11007_mask.mrc" > .gpu/data/emd_11007_mask.mrc.gz
tmp=$(mktemp -d)
mkdir "$tmp/bm5" && cp "$BM5"/* "$tmp/bm5/" && gunzip "$tmp"/bm5/*.gz
tar -C "$tmp" -cf - bm5 | xz -9 -T2 > .gpu/bm5.tar.xz
rm -rf "$tmp"
du -sh .gpu
