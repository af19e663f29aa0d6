#!/usr/bin/env bash
# Install hwsim into ./.venv: torch first, then the project with every optional group.
# Idempotent; safe to rerun (an installed torch is kept).
#
# Which torch build, chosen by HWSIM_TORCH:
#   cpu (default)  the CPU wheel from PyTorch's CPU index (about 200 MB, no CUDA libraries); when that
#                  index cannot be reached, the default index is used instead (on a machine whose pip
#                  serves CPU wheels, as a local mirror may, that still gives the CPU build)
#   cuda           the default index's Linux wheel, which is the CUDA build (several GB of nvidia-*)
#   <URL>          any wheel index, e.g. https://download.pytorch.org/whl/cu126 for a given CUDA
# HWSIM_TORCH_SPEC overrides the version (default torch==2.13.0).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
. .venv/bin/activate
python -m pip install -q --upgrade pip >/dev/null
TORCH_SPEC=${HWSIM_TORCH_SPEC:-torch==2.13.0}
case "${HWSIM_TORCH:-cpu}" in
    cpu) INDEX=https://download.pytorch.org/whl/cpu ;;
    cuda) INDEX="" ;;
    http://*|https://*|file://*) INDEX=$HWSIM_TORCH ;;
    *) echo "error: HWSIM_TORCH: expected cpu, cuda or an index URL, got '$HWSIM_TORCH'" >&2; exit 2 ;;
esac
reachable() {  # a quick probe, so an offline machine falls back in seconds rather than pip's minutes
    python - "$1" <<'PY' 2>/dev/null
import sys, urllib.request
urllib.request.urlopen(sys.argv[1].rstrip("/") + "/torch/", timeout=5)
PY
}
if ! python -c "import torch" 2>/dev/null; then
    if [ -n "$INDEX" ] && reachable "$INDEX"; then
        echo "installing $TORCH_SPEC from $INDEX" >&2
        python -m pip install -q --index-url "$INDEX" "$TORCH_SPEC"
    else
        [ -n "$INDEX" ] && echo "note: $INDEX cannot be reached; installing $TORCH_SPEC from the default index" >&2
        python -m pip install -q "$TORCH_SPEC"
    fi
fi
python -m pip install -q -e ".[all]"
# onnx2torch converts .onnx models; without --no-deps it would pull torchvision and a CUDA torch
python -m pip show -q onnx2torch >/dev/null 2>&1 || python -m pip install -q --no-deps "onnx2torch>=1.5"
