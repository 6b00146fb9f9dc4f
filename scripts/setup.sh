#!/usr/bin/env bash
# Set up .venv at the repository root with the deepres command in it.
# The pinned CPU build of PyTorch goes in first, so that pip never pulls the CUDA wheels.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
    "$PY" -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip >/dev/null 2>&1 || true
.venv/bin/python -m pip install -q "torch==2.13.0"
.venv/bin/python -m pip install -q -e ".[test]"
echo "deepres installed in $(pwd)/.venv"
