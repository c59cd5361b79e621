#!/usr/bin/env bash
# Does mmvlm still work with the newest upstream releases (or a given one)?
#
#   bash tools/env/check_upstream.sh                        # newest allowed versions
#   bash tools/env/check_upstream.sh transformers==5.0.0    # pin some packages
#   bash tools/env/check_upstream.sh transformers==5.0.0 -- tests/models/text_encoders
#
# Builds a second environment (.venv-upstream[-<pins>]) with MMVLM_UNPINNED=1,
# plus the given pins, reusing the cached mmcv wheel, and runs the tests most
# exposed to upstream moves (default: tests/models tests/datasets). A failure
# is reported as "UPSTREAM CHECK FAILED" with the versions that differ from
# requirements/constraints.txt, so a breaking release is named before it
# reaches the pinned environment. Exit status: pytest's.
set -uo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
pins=()
while [ $# -gt 0 ] && [ "$1" != "--" ]; do pins+=("$1"); shift; done
[ "${1:-}" = "--" ] && shift
tests=("$@")
[ ${#tests[@]} -eq 0 ] && tests=(tests/models tests/datasets)

tag=""
if [ ${#pins[@]} -gt 0 ]; then
    tag="-$(printf '%s_' "${pins[@]}" | sed 's/==/-/g' | tr -c 'A-Za-z0-9._\n-' '_' | sed 's/_*$//')"
fi
VENV="${MMVLM_UPSTREAM_VENV:-$ROOT/.venv-upstream$tag}"
extra="$(mktemp)"
trap 'rm -f "$extra"' EXIT
for pin in ${pins[@]+"${pins[@]}"}; do echo "$pin" >>"$extra"; done
say() { printf '[check_upstream] %s\n' "$*"; }

say "environment $VENV (newest allowed versions${tag:+, pinned: ${pins[*]}})"
if ! MMVLM_UNPINNED=1 MMVLM_EXTRA_CONSTRAINTS="$extra" MMVLM_VENV="$VENV" \
        bash "$ROOT/tools/setup_env.sh"; then
    say "UPSTREAM CHECK FAILED: the environment did not build (log: $VENV/mmvlm-setup.log)"
    exit 2
fi
# Versions that differ from the pinned set.
diff_lines="$("$VENV/bin/python" - "$ROOT/requirements/constraints.txt" <<'PY'
import sys
from importlib import metadata
pinned = {}
for line in open(sys.argv[1]):
    line = line.split('#')[0].strip()
    if '==' in line:
        name, version = line.split('==')
        pinned[name.lower().replace('_', '-')] = version
for name, version in sorted(pinned.items()):
    try:
        have = metadata.version(name).split('+')[0]
    except metadata.PackageNotFoundError:
        have = 'missing'
    if have != version:
        print(f'  {name}: pinned {version}, here {have}')
PY
)"
if [ -n "$diff_lines" ]; then
    say "versions that differ from requirements/constraints.txt:"
    printf '%s\n' "$diff_lines"
else
    say "every package is at its pinned version"
fi
cd "$ROOT"
"$VENV/bin/python" -m pytest "${tests[@]}" -q -p no:cacheprovider
rc=$?
if [ $rc -ne 0 ]; then
    say "UPSTREAM CHECK FAILED (pytest exit $rc) in $VENV; versions that differ from the pins:"
    printf '%s\n' "${diff_lines:-  (none)}"
else
    say "upstream check passed in $VENV"
fi
exit $rc
