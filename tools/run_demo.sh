#!/usr/bin/env bash
# The mmvlm demo: real images, a real pretrained language model, CPU only.
#
#   bash tools/run_demo.sh                 # full demo (~15 min on 2 CPU cores)
#   MMVLM_DEMO_ITERS=20 bash tools/run_demo.sh   # shorter training (smoke run)
#
# Steps (each visible in the terminal; training logs show the ETA):
#   1. builds .venv with tools/setup_env.sh when it is missing;
#   2. fetches and converts the demo data into data/demo/ (PyPI deepforest
#      tree crowns -> COCO tiles; Debian mricron-data Colin27 MRI + AAL atlas
#      -> mmseg slices), see docs/demo_data.md;
#   3. trains and evaluates, with the stock mmdet / mmseg runners, a
#      language-guided ATSS detector and a language-guided FPN segmentor
#      (MiniLM text model + learnable prefix) and their stock closed-set
#      twins (same iterations, same seed): configs/demo/;
#   4. writes prediction PNGs labelled with their prompts, runs
#      open-vocabulary inference with prompts never trained on;
#   5. writes work_dirs/demo/report.md (metrics side by side, time, files).
#
# Environment variables:
#   MMVLM_DEMO_ITERS     training iterations of every model (default: config)
#   MMVLM_DEMO_WORK_DIR  output folder (default: work_dirs/demo)
#   MMVLM_DEMO_DATA      data folder (default: data/demo)
#   MMVLM_DEMO_THREADS   torch threads per process (default: 1)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
PY="$ROOT/.venv/bin/python"
WORK="${MMVLM_DEMO_WORK_DIR:-work_dirs/demo}"
DATA="${MMVLM_DEMO_DATA:-data/demo}"
ITERS="${MMVLM_DEMO_ITERS:-}"

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
timed prepare_data "$PY" tools/dataset_converters/prepare_demo_data.py \
    --data-root "$DATA" || die "data preparation failed (see the message above)"
"$PY" tools/dataset_converters/prepare_demo_data.py --data-root "$DATA" --check

# Launchers: the repository's tools/train.py / tools/test.py (stock CLI of
# mmdet / mmseg, any config), else the ones shipped in the codebase wheels.
launcher() {  # launcher train|test CONFIG -> path of the script
    local kind="$1" cfg="$2" scope site
    if [ -f "$ROOT/tools/$kind.py" ]; then
        echo "$ROOT/tools/$kind.py"
        return
    fi
    case "$cfg" in *trees*) scope=mmdet ;; *) scope=mmseg ;; esac
    site=$("$PY" -c "import $scope, os; print(os.path.dirname($scope.__file__))")
    echo "$site/.mim/tools/$kind.py"
}

run_model() {  # run_model NAME CONFIG: train, then test with PNGs
    local name="$1" cfg="$2" wd ckpt data_opts
    wd="$WORK/$name"
    case "$cfg" in
    *trees*) data_opts=(
        "train_dataloader.dataset.data_root=$DATA/trees/"
        "test_dataloader.dataset.data_root=$DATA/trees/"
        "val_dataloader.dataset.data_root=$DATA/trees/"
        "test_evaluator.ann_file=$DATA/trees/annotations/test.json"
        "val_evaluator.ann_file=$DATA/trees/annotations/test.json") ;;
    *) data_opts=(
        "train_dataloader.dataset.data_root=$DATA/brain/"
        "test_dataloader.dataset.data_root=$DATA/brain/"
        "val_dataloader.dataset.data_root=$DATA/brain/") ;;
    esac
    local iter_opts=()
    if [ -n "$ITERS" ]; then
        local warm=$((ITERS / 2 < 30 ? (ITERS / 2 > 0 ? ITERS / 2 : 1) : 30))
        iter_opts=("train_cfg.max_iters=$ITERS"
            "default_hooks.checkpoint.interval=$ITERS"
            "param_scheduler.0.end=$warm" "param_scheduler.1.begin=$warm"
            "param_scheduler.1.end=$ITERS")
    fi
    # No validation during training: the test split is evaluated once below.
    timed "train_$name" "$PY" "$(launcher train "$cfg")" "$cfg" --work-dir "$wd" \
        --cfg-options "${data_opts[@]}" "${iter_opts[@]}" train_cfg.val_interval=1000000
    ckpt="$wd/$(cat "$wd/last_checkpoint" | xargs basename)"
    [ -f "$ckpt" ] || die "no checkpoint after training $name ($ckpt)"
    # prediction PNGs (labelled with the class prompts) go to <run>/vis/
    timed "test_$name" "$PY" "$(launcher test "$cfg")" "$cfg" "$ckpt" \
        --work-dir "$wd/test" --show-dir "$(cd "$wd" && pwd)/vis" \
        --cfg-options "${data_opts[@]}"
}

say "3/5 detection: tree crowns (stock ATSS, then language-guided ATSS + MiniLM)"
run_model det_stock configs/demo/atss_r18-tiny_trees.py
run_model det_lg configs/demo/lg-atss_r18-tiny_minilm_trees.py

say "3/5 segmentation: brain regions (stock FPN, then language-guided FPN + MiniLM)"
run_model seg_stock configs/demo/fpn_r18-tiny_brain.py
run_model seg_lg configs/demo/lg-fpn_r18-tiny_minilm_brain.py

say "4/5 open vocabulary: prompts never trained on"
timed open_vocab "$PY" tools/demo_open_vocab.py --work-dir "$WORK" --data-root "$DATA"

printf 'total\t%s\n' "$(($(date +%s) - start_all))" >>"$TIMES"
say "5/5 report"
"$PY" tools/demo_report.py --work-dir "$WORK"
say "done: $(($(date +%s) - start_all)) s. Report: $WORK/report.md"
