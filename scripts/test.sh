#!/usr/bin/env bash
# Install everything the tests need (Debian chromium + chromedriver, the project with all
# extras, SCALE-Sim in its own venv) and run the whole suite, lint included.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v chromium >/dev/null 2>&1 || ! command -v chromedriver >/dev/null 2>&1; then
    SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium chromium-driver >/dev/null
fi
bash scripts/install.sh
bash scripts/setup_scalesim.sh
. .venv/bin/activate
export HWSIM_REQUIRE_BROWSER=1 HWSIM_REQUIRE_SCALESIM=1
ruff check .
lint-imports                       # the layer contracts in pyproject.toml [tool.importlinter]
python -m pytest -n 2 -q --durations=15 "$@"
