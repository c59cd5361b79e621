#!/usr/bin/env bash
# Does mmvlm still work on the maintained OpenMMLab revival (the onedl-*
# packages), the stack beside the pinned upstream one?
#
#   bash tools/env/check_onedl.sh                      # default tests
#   bash tools/env/check_onedl.sh -- tests/models -x   # any pytest arguments
#
# Builds (or confirms) .venv-onedl with tools/env/setup_onedl_env.sh (pins:
# requirements/constraints-onedl.txt; onedl-mmcv is compiled once and
# cached) and runs the tests most exposed to the OpenMMLab packages
# (default: tests/models, which there include the mmpretrain classifiers,
# in the same environment as mmdet and mmseg). A failure ends with
# "ONEDL CHECK FAILED" and the revival's versions. Exit status: pytest's
# (2 when the environment did not build).
#
# Environment variables:
#   MMVLM_ONEDL_VENV   venv path (default: <repo>/.venv-onedl)
set -uo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
[ "${1:-}" = "--" ] && shift
tests=("$@")
[ ${#tests[@]} -eq 0 ] && tests=(tests/models)
VENV="${MMVLM_ONEDL_VENV:-$ROOT/.venv-onedl}"
say() { printf '[check_onedl] %s\n' "$*"; }

say "environment $VENV (requirements/constraints-onedl.txt)"
if ! MMVLM_ONEDL_VENV="$VENV" bash "$ROOT/tools/env/setup_onedl_env.sh"; then
    say "ONEDL CHECK FAILED: the environment did not build (log: $VENV/mmvlm-setup.log)"
    exit 2
fi
versions="$("$VENV/bin/python" - <<'PY'
from importlib import metadata
names = ('torch', 'torchvision', 'onedl-mmengine', 'onedl-mmcv',
         'onedl-mmdetection', 'onedl-mmsegmentation', 'onedl-mmpretrain',
         'transformers')
print(' '.join(f'{n}=={metadata.version(n)}' for n in names))
PY
)"
say "versions: $versions"
cd "$ROOT"
# Its own temporary folder: the check may run beside the pinned suite.
basetemp="$(mktemp -d "${TMPDIR:-/tmp}/mmvlm-onedl-XXXXXX")"
trap 'rm -rf "$basetemp"' EXIT
"$VENV/bin/python" -m pytest "${tests[@]}" -q -p no:cacheprovider \
    --basetemp="$basetemp"
rc=$?
if [ $rc -ne 0 ]; then
    say "ONEDL CHECK FAILED (pytest exit $rc) in $VENV; $versions"
else
    say "onedl check passed in $VENV"
fi
exit $rc
