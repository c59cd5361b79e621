#!/usr/bin/env bash
# Image-level demo: stock closed-set classifier vs language-guided (MiniLM)
# vs Frozen SmolLM2-135M (embedding and generative), same frozen backbone.
#
#   bash projects/demo/run_image_level_demo.sh       # many-concept crops
#   MMVLM_IMAGE_DEMO_TRACK=brain bash projects/demo/run_image_level_demo.sh
#
# Track "concepts" (default; docs/image_level.md): 64x64 single-concept
# crops of the many-concept world (EmojiOne / Noto art of 820 named
# concepts; the fixed seen / validation / test-held-out split), four models
# on the frozen ImageNet EfficientNet-Lite0 trained on the 574 seen names
# from projects/demo/configs/image_level/ with mmengine's runner; writes
# $MMVLM_IMAGE_DEMO_WORK_DIR/{summary.json,results.json,report.md}
# (default work_dirs/image_level). Needs the many-concept art and the
# aerial tiles (bash tools/run_demo.sh, or python -m
# projects.demo.mmvlm_demo.prepare_data, fetches them).
#   MMVLM_IMAGE_DEMO_MODELS    subset of: stock lg frozen-emb frozen-gen
#   MMVLM_IMAGE_DEMO_ITERS     model=iterations overrides, e.g. "lg=300"
#   MMVLM_IMAGE_DEMO_PARALLEL  1 (default): frozen-gen trains in a second
#                              process beside the other three; 0: in turn
#
# Track "brain": the older demo below.
#
# Steps:
#   1. builds .venv-mmpretrain with tools/env/setup_mmpretrain_env.sh when it
#      is missing (mmpretrain needs torchvision, which needs another torch
#      than the main .venv; docs/image_level.md);
#   2. cuts 32x32 patches of the Colin27 MRI around AAL regions (the brain
#      demo's Debian mricron-data download, cached in data/demo/.cache);
#   3. trains the four models with mmengine's runner and scores every test
#      patch against all region names (held-out names included);
#   4. writes $MMVLM_IMAGE_DEMO_WORK_DIR/report.md and results.json.
#
# Environment variables of the brain track:
#   MMVLM_IMAGE_DEMO_ITERS     training iterations of every model (default 200)
#   MMVLM_IMAGE_DEMO_BATCH     batch size (default 16)
#   MMVLM_IMAGE_DEMO_WORK_DIR  output folder (default work_dirs/image_level_demo)
#   MMVLM_IMAGE_DEMO_MODELS    subset of: stock lg-minilm frozen-embedding
#                              frozen-generative (default: all four)
#   MMVLM_DEMO_DATA            data folder (default data/demo)
#   MMVLM_DEMO_THREADS         torch threads (default 1)
set -euo pipefail

PROJECT="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$PROJECT/../.." && pwd)"
cd "$ROOT"
PY="$ROOT/.venv-mmpretrain/bin/python"
TRACK="${MMVLM_IMAGE_DEMO_TRACK:-concepts}"
DATA="${MMVLM_DEMO_DATA:-data/demo}"
THREADS="${MMVLM_DEMO_THREADS:-1}"

bash "$ROOT/tools/env/setup_mmpretrain_env.sh"

export OMP_NUM_THREADS="$THREADS" MKL_NUM_THREADS="$THREADS"
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 TOKENIZERS_PARALLELISM=false
export PYTHONPATH="$PROJECT${PYTHONPATH:+:$PYTHONPATH}"

if [ "$TRACK" = concepts ]; then
    WORK="${MMVLM_IMAGE_DEMO_WORK_DIR:-work_dirs/image_level}"
    MODELS="${MMVLM_IMAGE_DEMO_MODELS:-stock lg frozen-emb frozen-gen}"
    ITERS="${MMVLM_IMAGE_DEMO_ITERS:-}"
    export MMVLM_DEMO_COMMAND="bash projects/demo/run_image_level_demo.sh"
    start=$(date +%s)
    run_models() {
        # shellcheck disable=SC2086
        "$PY" -m mmvlm_demo.image_level_concepts \
            --data-root "$DATA" --cache-dir "$DATA/.cache" \
            --work-dir "$WORK" --iters $ITERS --models "$@"
    }
    # the crops first (once), then frozen-gen in a second process beside
    # the others (MMVLM_IMAGE_DEMO_PARALLEL=0: one after the other)
    "$PY" -m mmvlm_demo.image_level_concepts --prepare-only \
        --data-root "$DATA" --cache-dir "$DATA/.cache"
    GEN="" REST=""
    for m in $MODELS; do
        if [ "$m" = frozen-gen ]; then GEN=$m; else REST="$REST $m"; fi
    done
    if [ "${MMVLM_IMAGE_DEMO_PARALLEL:-1}" = 1 ] && [ -n "$GEN" ]; then
        run_models "$GEN" > "$WORK.frozen-gen.log" 2>&1 &
        gen_pid=$!
        # shellcheck disable=SC2086
        [ -z "$REST" ] || run_models $REST
        wait "$gen_pid" || { tail -20 "$WORK.frozen-gen.log"; exit 1; }
    else
        # shellcheck disable=SC2086
        run_models $REST $GEN
    fi
    echo "[run_image_level_demo] concepts track: $(( $(date +%s) - start )) s"
    cat "$WORK/report.md"
    exit 0
elif [ "$TRACK" != brain ]; then
    echo "MMVLM_IMAGE_DEMO_TRACK=$TRACK: use concepts or brain" >&2
    exit 2
fi

ITERS="${MMVLM_IMAGE_DEMO_ITERS:-200}"
BATCH="${MMVLM_IMAGE_DEMO_BATCH:-16}"
WORK="${MMVLM_IMAGE_DEMO_WORK_DIR:-work_dirs/image_level_demo}"
MODELS="${MMVLM_IMAGE_DEMO_MODELS:-stock lg-minilm frozen-embedding frozen-generative}"
export MMVLM_DEMO_COMMAND="MMVLM_IMAGE_DEMO_TRACK=brain MMVLM_IMAGE_DEMO_ITERS=$ITERS MMVLM_IMAGE_DEMO_BATCH=$BATCH bash projects/demo/run_image_level_demo.sh"
# shellcheck disable=SC2086
"$PY" -m mmvlm_demo.image_level \
    --data-root "$DATA/brain_patches" --cache-dir "$DATA/.cache" \
    --work-dir "$WORK" --iters "$ITERS" --batch-size "$BATCH" \
    --models $MODELS
cat "$WORK/report.md"
