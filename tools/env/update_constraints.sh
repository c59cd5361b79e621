#!/usr/bin/env bash
# Regenerate requirements/constraints.txt, the exact versions tools/setup_env.sh
# installs by default.
#
#   bash tools/env/update_constraints.sh              # build, test, write
#   bash tools/env/update_constraints.sh --freeze .venv   # write the versions of
#                                                     # an existing, tested env
#
# It builds a fresh environment (.venv-constraints) with the newest versions
# that requirements/*.txt allow (MMVLM_UNPINNED=1; torch stays at the pinned
# CPU build, mmcv at the compiled 2.1.0), runs the whole test suite there, and
# only when it passes writes every installed package's version to
# requirements/constraints.txt. Review the diff, then rebuild .venv
# (bash tools/setup_env.sh) and commit both.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
VENV="${MMVLM_CONSTRAINTS_VENV:-$ROOT/.venv-constraints}"
OUT="$ROOT/requirements/constraints.txt"
say() { printf '[update_constraints] %s\n' "$*"; }

if [ "${1:-}" = "--freeze" ]; then
    [ -n "${2:-}" ] && [ -x "$2/bin/python" ] || {
        echo "usage: $0 --freeze VENV  (VENV: a built environment, e.g. .venv)" >&2
        exit 2
    }
    VENV="$(cd "$2" && pwd)"
    say "freezing $VENV as it is (no build, no tests: run them there first)"
else
    say "building $VENV with the newest allowed versions"
    rm -rf "$VENV"
    MMVLM_UNPINNED=1 MMVLM_VENV="$VENV" bash "$ROOT/tools/setup_env.sh"
fi
if [ "${1:-}" != "--freeze" ]; then
    say "running the test suite in $VENV"
    (cd "$ROOT" && "$VENV/bin/python" -m pytest tests -q -x -p no:cacheprovider) || {
        say "tests FAILED with the newest versions: constraints.txt left unchanged."
        say "Fix the code (or cap the package in requirements/*.txt), then run again."
        exit 1
    }
fi
"$VENV/bin/python" - "$VENV" "$OUT" <<'PY'
import datetime
import subprocess
import sys

venv, out = sys.argv[1:]
frozen = subprocess.run(
    [f'{venv}/bin/python', '-m', 'pip', 'freeze', '--all',
     '--exclude-editable'], check=True, capture_output=True,
    text=True).stdout.splitlines()
pins = []
for line in frozen:
    name = line.split('==')[0].split(' @ ')[0].strip().lower()
    if name in ('pip', 'setuptools', 'wheel', 'mmcv', 'mmvlm'):
        # pip, setuptools, wheel: the build tools of requirements/build.txt
        # (setuptools<70 for mmcv's setup.py, installed last on purpose:
        # pinning it here would make pip swap torch for one that accepts
        # it); mmcv: compiled locally (below).
        continue
    if ' @ ' in line:
        raise SystemExit(f'{line!r} was not installed from an index; '
                         'constraints need name==version lines.')
    # torch's local label (+cpu) is dropped: torch==X matches X+cpu and the
    # CUDA build alike.
    pins.append(line.split('+')[0])
pins.append('mmcv==2.1.0')
pyver = '%d.%d' % sys.version_info[:2]
header = [
    '# Exact versions of every package in the mmvlm environment: the set the',
    '# test suite last passed with. tools/setup_env.sh installs against this',
    '# file (MMVLM_UNPINNED=1 ignores it). Do not edit by hand: regenerate',
    '# with `bash tools/env/update_constraints.sh` (builds the newest allowed',
    '# versions, runs the tests, writes this file).',
    f'# Written {datetime.date.today()} with Python {pyver}; mmcv is compiled '
    'locally.',
]
with open(out, 'w') as f:
    f.write('\n'.join(header + sorted(pins, key=str.lower)) + '\n')
print(f'[update_constraints] wrote {len(pins)} pins to {out}')
PY
