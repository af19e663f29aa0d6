#!/usr/bin/env bash
# Install hwsim into ./.venv: the CPU torch wheel first (so pip never pulls a CUDA build),
# then the project with every optional group. Idempotent; safe to rerun.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
. .venv/bin/activate
python -m pip install -q --upgrade pip >/dev/null
python -c "import torch" 2>/dev/null || python -m pip install -q torch==2.13.0
python -m pip install -q -e ".[all]"
# onnx2torch converts .onnx models; without --no-deps it would pull torchvision and a CUDA torch
python -m pip show -q onnx2torch >/dev/null 2>&1 || python -m pip install -q --no-deps "onnx2torch>=1.5"
