#!/usr/bin/env bash
# Image-level demo (issue 17): brain MRI patches classified by region name,
# stock closed-set classifier vs language-guided (MiniLM) vs Frozen
# SmolLM2-135M (embedding and generative), same backbone and iterations.
#
#   bash projects/demo/run_image_level_demo.sh                 # 200 iterations
#   MMVLM_IMAGE_DEMO_ITERS=60 bash projects/demo/run_image_level_demo.sh
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
# Environment variables:
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
DATA="${MMVLM_DEMO_DATA:-data/demo}"
ITERS="${MMVLM_IMAGE_DEMO_ITERS:-200}"
BATCH="${MMVLM_IMAGE_DEMO_BATCH:-16}"
WORK="${MMVLM_IMAGE_DEMO_WORK_DIR:-work_dirs/image_level_demo}"
MODELS="${MMVLM_IMAGE_DEMO_MODELS:-stock lg-minilm frozen-embedding frozen-generative}"
THREADS="${MMVLM_DEMO_THREADS:-1}"

bash "$ROOT/tools/env/setup_mmpretrain_env.sh"

export OMP_NUM_THREADS="$THREADS" MKL_NUM_THREADS="$THREADS"
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 TOKENIZERS_PARALLELISM=false
export PYTHONPATH="$PROJECT${PYTHONPATH:+:$PYTHONPATH}"
export MMVLM_DEMO_COMMAND="MMVLM_IMAGE_DEMO_ITERS=$ITERS MMVLM_IMAGE_DEMO_BATCH=$BATCH bash projects/demo/run_image_level_demo.sh"
# shellcheck disable=SC2086
"$PY" -m mmvlm_demo.image_level \
    --data-root "$DATA/brain_patches" --cache-dir "$DATA/.cache" \
    --work-dir "$WORK" --iters "$ITERS" --batch-size "$BATCH" \
    --models $MODELS
cat "$WORK/report.md"
