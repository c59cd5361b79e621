#!/usr/bin/env bash
# The mmvlm demo: real images, a real pretrained language model, CPU only.
#
#   bash tools/run_demo.sh                        # full demo (~15 min, 2 cores)
#   MMVLM_DEMO_ITERS=20 bash tools/run_demo.sh    # shorter training (smoke run)
#
# (tools/run_demo.sh runs this script.) Steps, each visible in the terminal;
# training logs show the ETA:
#   1. builds .venv with tools/setup_env.sh when it is missing;
#   2. fetches and converts the demo data into $MMVLM_DEMO_DATA (PyPI
#      deepforest tree crowns -> COCO tiles; Debian mricron-data Colin27 MRI
#      + AAL atlas -> mmseg slices): projects/demo/mmvlm_demo/{trees,brain}.py,
#      docs/demo_data.md;
#   3. trains and tests, with the stock mmdet / mmseg runners (tools/train.py,
#      tools/test.py), a language-guided ATSS detector and a language-guided
#      FPN segmentor (MiniLM text model + learnable prefix) and their stock
#      closed-set twins (same iterations, same seed): projects/demo/configs/,
#      with prediction PNGs labelled with their prompts;
#   4. runs open-vocabulary inference with prompts never trained on, through
#      mmvlm.apis: projects/demo/mmvlm_demo/open_vocabulary.py;
#   5. writes $MMVLM_DEMO_WORK_DIR/report.md (metrics side by side, time,
#      files): projects/demo/mmvlm_demo/report.py.
#
# Environment variables:
#   MMVLM_DEMO_ITERS     training iterations of every model (default: the
#                        configs' own, 300 detection / 200 segmentation)
#   MMVLM_DEMO_WORK_DIR  output folder (default: work_dirs/demo)
#   MMVLM_DEMO_DATA      data folder (default: data/demo)
#   MMVLM_DEMO_THREADS   torch threads per process (default: 1)
# The configs read MMVLM_DEMO_DATA and MMVLM_DEMO_ITERS themselves (mmengine
# substitutes environment variables when it reads a config).
set -euo pipefail

PROJECT="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$PROJECT/../.." && pwd)"
cd "$ROOT"
PY="$ROOT/.venv/bin/python"
CONFIGS="projects/demo/configs"
WORK="${MMVLM_DEMO_WORK_DIR:-work_dirs/demo}"
export MMVLM_DEMO_DATA="${MMVLM_DEMO_DATA:-data/demo}"
DATA="$MMVLM_DEMO_DATA"
if [ -z "${MMVLM_DEMO_ITERS:-}" ]; then
    unset MMVLM_DEMO_ITERS  # an empty value would replace the default
fi

# One compute thread per process by default: these small models gain little
# from a second thread, and on a busy machine OpenMP threads waiting for
# each other made a training step up to 30x slower (measured on 2 cores).
export OMP_NUM_THREADS="${MMVLM_DEMO_THREADS:-1}"
export MKL_NUM_THREADS="$OMP_NUM_THREADS"

say() { printf '\n\033[1m[demo] %s\033[0m\n' "$*"; }
die() { printf '\n[demo] ERROR: %s\n' "$*" >&2; exit 1; }

start_all=$(date +%s)
if [ ! -x "$PY" ] || [ ! -f "$ROOT/.venv/.mmvlm-setup-stamp" ] ||
    ! "$PY" -c 'import mmdet, mmseg, mmvlm, nibabel' >/dev/null 2>&1; then
    say "1/5 building the environment (.venv) with tools/setup_env.sh"
    bash "$ROOT/tools/setup_env.sh" || die "environment build failed (see above)"
else
    say "1/5 environment found in .venv"
fi

mkdir -p "$WORK"
TIMES="$WORK/timings.tsv"
: >"$TIMES"
timed() {  # timed NAME CMD...: run CMD, append "NAME<TAB>seconds" to $TIMES
    local name="$1" t0
    shift
    t0=$(date +%s)
    "$@"
    printf '%s\t%s\n' "$name" "$(($(date +%s) - t0))" >>"$TIMES"
}

say "2/5 preparing the demo data in $DATA (downloads once, then reuses)"
timed prepare_data "$PY" -m projects.demo.mmvlm_demo.prepare_data \
    --data-root "$DATA" || die "data preparation failed (see the message above)"
"$PY" -m projects.demo.mmvlm_demo.prepare_data --data-root "$DATA" --check

run_model() {  # run_model NAME CONFIG: train, then test with PNGs
    local name="$1" cfg="$CONFIGS/$2" wd ckpt
    wd="$WORK/$name"
    # No validation during training: the test split is evaluated once below.
    timed "train_$name" "$PY" tools/train.py "$cfg" --work-dir "$wd" \
        --cfg-options train_cfg.val_interval=1000000
    ckpt="$wd/$(cat "$wd/last_checkpoint" | xargs basename)"
    [ -f "$ckpt" ] || die "no checkpoint after training $name ($ckpt)"
    # prediction PNGs (labelled with the class prompts) go to <run>/vis/
    timed "test_$name" "$PY" tools/test.py "$cfg" "$ckpt" \
        --work-dir "$wd/test" --show-dir "$(cd "$wd" && pwd)/vis"
}

say "3/5 detection: tree crowns (stock ATSS, then language-guided ATSS + MiniLM)"
run_model det_stock atss_r18-tiny_trees.py
run_model det_lg lg-atss_r18-tiny_minilm_trees.py

say "3/5 segmentation: brain regions (stock FPN, then language-guided FPN + MiniLM)"
run_model seg_stock fpn_r18-tiny_brain.py
run_model seg_lg lg-fpn_r18-tiny_minilm_brain.py

say "4/5 open vocabulary: prompts never trained on"
timed open_vocab "$PY" -m projects.demo.mmvlm_demo.open_vocabulary \
    --work-dir "$WORK" --data-root "$DATA"

printf 'total\t%s\n' "$(($(date +%s) - start_all))" >>"$TIMES"
say "5/5 report"
"$PY" -m projects.demo.mmvlm_demo.report --work-dir "$WORK" --data-root "$DATA"
say "done: $(($(date +%s) - start_all)) s. Report: $WORK/report.md"
