#!/usr/bin/env bash
# Build (or confirm) the environment, then run the test suite.
#   bash tools/run_tests.sh                 # everything
#   bash tools/run_tests.sh tests/models -x # any pytest arguments
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$ROOT/tools/setup_env.sh"
cd "$ROOT"
echo "[run_tests] $("$ROOT/.venv/bin/python" -m pytest --version 2>&1)"
if [ $# -eq 0 ]; then
    set -- tests
fi
exec "$ROOT/.venv/bin/python" -m pytest "$@"
