#!/usr/bin/env bash
# The main job: install, run the quickstart sweep on the bundled digits data, then serve
# the dashboard on http://127.0.0.1:8050 (Ctrl-C stops it). Rerunning resumes the sweep.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh
. .venv/bin/activate
DB=${HWSIM_DB:-results/quickstart.db}
hwsim sweep configs/sweeps/quickstart.yaml --db "$DB"
exec hwsim serve "$DB" --host 127.0.0.1 --port "${PORT:-8050}"
