#!/usr/bin/env bash
# Create .venv-scalesim with SCALE-Sim v3 (scalesim==3.0.0), which needs numpy<2.4 and so cannot
# share the main venv. Idempotent and quiet: does nothing when the venv already imports scalesim.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=.venv-scalesim
if [ -x "$VENV/bin/python" ] && "$VENV/bin/python" -c "import scalesim" >/dev/null 2>&1; then
    exit 0
fi
PY=${PYTHON:-python3}
LOG=$(mktemp)
trap 'rm -f "$LOG"' EXIT
# pip's index warnings go to the log; it is shown only when the install fails.
if ! { "$PY" -m venv "$VENV" && "$VENV/bin/python" -m pip install -q --disable-pip-version-check \
        "numpy<2.4" "scalesim==3.0.0"; } >"$LOG" 2>&1; then
    cat "$LOG" >&2
    echo "setup_scalesim.sh: could not install scalesim==3.0.0 into $VENV" >&2
    exit 1
fi
