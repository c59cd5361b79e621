#!/usr/bin/env bash
# The mmvlm demo: real images, ImageNet-pretrained backbones, real language
# models, CPU only.
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
#      tools/test.py), the models of projects/demo/mmvlm_demo/demo_models.py
#      on the seen names of vocabulary_splits.py: per task a stock closed-set
#      model and its language-guided twins (frozen MiniLM + learnable prefix;
#      MiniLM fine-tuned too; brain: frozen SmolLM2-135M + prefix), all on
#      the ImageNet-pretrained EfficientNet-Lite0, same iterations and seed,
#      two trainings at a time; prediction PNGs labelled with their prompts;
#   4. runs the open-vocabulary probes (held-out names, paraphrases,
#      unrelated prompts) through mmvlm.apis:
#      projects/demo/mmvlm_demo/open_vocabulary.py;
#   5. writes $MMVLM_DEMO_WORK_DIR/report.md (metrics side by side, time,
#      files): projects/demo/mmvlm_demo/report.py.
#
# Environment variables:
#   MMVLM_DEMO_ITERS     training iterations of every model (default: the
#                        configs' own, 150)
#   MMVLM_DEMO_WORK_DIR  output folder (default: work_dirs/demo)
#   MMVLM_DEMO_DATA      data folder (default: data/demo)
#   MMVLM_DEMO_THREADS   torch threads per process (default: 1)
#   MMVLM_DEMO_JOBS      trainings run at the same time (default: 2)
#   MMVLM_DEMO_SCRATCH   1: also train the from-scratch twins of the stock
#                        models (docs/demo.md's pretrained-vs-scratch rows)
#   MMVLM_DEMO_SEED      training seed of every model (default: the
#                        configs' own, 0); docs/demo.md's second seed is 1
# The configs read MMVLM_DEMO_DATA and MMVLM_DEMO_ITERS themselves (mmengine
# substitutes environment variables when it reads a config).
set -euo pipefail

PROJECT="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$PROJECT/../.." && pwd)"
cd "$ROOT"
PY="$ROOT/.venv/bin/python"
WORK="${MMVLM_DEMO_WORK_DIR:-work_dirs/demo}"
export MMVLM_DEMO_DATA="${MMVLM_DEMO_DATA:-data/demo}"
DATA="$MMVLM_DEMO_DATA"
JOBS="${MMVLM_DEMO_JOBS:-2}"
if [ -z "${MMVLM_DEMO_ITERS:-}" ]; then
    unset MMVLM_DEMO_ITERS  # an empty value would replace the default
fi

# One compute thread per process by default, two trainings at a time: these
# small models gain little from a second thread, and on a busy machine
# OpenMP threads waiting for each other made a training step up to 30x
# slower (measured on 2 cores).
export OMP_NUM_THREADS="${MMVLM_DEMO_THREADS:-1}"
export MKL_NUM_THREADS="$OMP_NUM_THREADS"

say() { printf '\n\033[1m[demo] %s\033[0m\n' "$*"; }
die() { printf '\n[demo] ERROR: %s\n' "$*" >&2; exit 1; }

if [ -n "${MMVLM_DEMO_SEED:-}" ] && ! [[ "$MMVLM_DEMO_SEED" =~ ^[0-9]+$ ]]; then
    die "MMVLM_DEMO_SEED='$MMVLM_DEMO_SEED' is not a seed: give a whole number (e.g. 1), or unset it for the configs' seed 0"
fi

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
# the second command (controls) adds its times to the main job's
[ "${MMVLM_DEMO_MODELS:-main}" != main ] || : >"$TIMES"
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

ckpt_of() {  # ckpt_of RUN_DIR: the checkpoint the run's last_checkpoint names
    local wd="$1" name
    name="$(xargs basename <"$wd/last_checkpoint" 2>/dev/null)" || return 1
    [ -n "$name" ] && [ -f "$wd/$name" ] && echo "$wd/$name"
}

run_model() {  # run_model KEY KIND TASK CONFIG INIT: train, test, evaluate
    local key="$1" kind="$2" task="$3" cfg="$4" init="$5" wd ckpt init_ckpt
    wd="$WORK/$key"
    rm -f "$WORK/open_vocab/models/$key.json"  # no stale probes
    local init_opt=()
    if [ "$init" != "-" ]; then
        init_ckpt="$(ckpt_of "$WORK/$init")" || {
            echo "no checkpoint of $init to start $key from" >&2
            return 1
        }
        init_opt=("load_from=$init_ckpt")
    fi
    # No validation during training: the test split is evaluated once below.
    timed "train_$key" "$PY" tools/train.py "$cfg" --work-dir "$wd" \
        --cfg-options train_cfg.val_interval=1000000 "${init_opt[@]}" \
        ${MMVLM_DEMO_SEED:+randomness.seed=$MMVLM_DEMO_SEED} || return 1
    ckpt="$(ckpt_of "$wd")" || {
        echo "no checkpoint after training $key" >&2
        return 1
    }
    # prediction PNGs (labelled with the class prompts) go to <run>/vis/;
    # the many-concept models are tested by concept_eval below (the same
    # seen split, and pictures with held-out names)
    if [ "$task" != concepts ]; then
        timed "test_$key" "$PY" tools/test.py "$cfg" "$ckpt" \
            --work-dir "$wd/test" --show-dir "$(cd "$wd" && pwd)/vis" || return 1
    fi
    case "$task:$kind" in
        # the many-concept models: seen / held-out / chance / generalised,
        # both art styles (projects/demo/mmvlm_demo/concept_eval.py)
        concepts:stock) timed "eval_$key" "$PY" -m projects.demo.mmvlm_demo.concept_eval \
            --work-dir "$WORK" --data-root "$DATA" --key "$key" \
            --config "$cfg" --checkpoint "$ckpt" --stock || return 1 ;;
        concepts:*) timed "eval_$key" "$PY" -m projects.demo.mmvlm_demo.concept_eval \
            --work-dir "$WORK" --data-root "$DATA" --key "$key" \
            --config "$cfg" --checkpoint "$ckpt" --per-name || return 1 ;;
        # open-vocabulary probes of a language-guided model, in its own slot;
        # a failure is written to its part and stated by the report
        *:lg-*) timed "probe_$key" "$PY" -m projects.demo.mmvlm_demo.open_vocabulary \
            --work-dir "$WORK" --data-root "$DATA" --models "$key" \
            --jobs 1 --no-merge || return 1 ;;
    esac
    # retention: a language-guided model started from the many-concept one
    # is asked the held-out concepts again after its fine-tune
    case "$init:$kind" in
        -:*|*:stock) ;;
        *) timed "retention_$key" "$PY" -m projects.demo.mmvlm_demo.concept_eval \
            --work-dir "$WORK" --data-root "$DATA" --key "$key" \
            --config "$cfg" --checkpoint "$ckpt" --held-out-only \
            --styles emojione || return 1 ;;
    esac
}

# The runs, from demo_models.py (one table for this script and the report):
# "key kind task config init_from" per line. MMVLM_DEMO_MODELS=controls runs
# the controls (second command of docs/demo.md) into the same work dir.
case "${MMVLM_DEMO_MODELS:-main}" in
    main) tables="DEMO_MODELS" ;;
    controls) tables="CONTROL_MODELS" ;;
    *) die "MMVLM_DEMO_MODELS='$MMVLM_DEMO_MODELS': use main (default) or controls" ;;
esac
if [ "${MMVLM_DEMO_SCRATCH:-0}" = 1 ]; then
    tables="$tables + SCRATCH_MODELS"
fi
mapfile -t RUNS < <("$PY" -c "
from projects.demo.mmvlm_demo.demo_models import (CONTROL_MODELS,
    DEMO_MODELS, SCRATCH_MODELS)
for m in sorted($tables, key=lambda m: -m['seconds']):
    print(m['key'], m['kind'], m['task'], m['config'], m['init_from'] or '-')
")
[ "${#RUNS[@]}" -gt 0 ] || die "no demo models found in demo_models.py"

say "3/5 training and testing ${#RUNS[@]} models, $JOBS at a time" \
    "(logs: $WORK/<run>/run.log)"
for run in "${RUNS[@]}"; do  # no stale exit status of an earlier demo
    rm -f "$WORK/${run%% *}/.status"
done
# Start the longest runnable run whenever a slot is free; a run that
# starts from another's checkpoint waits for it (and fails with it).
pending=("${RUNS[@]}")
while [ "${#pending[@]}" -gt 0 ]; do
    started=0
    for i in "${!pending[@]}"; do
        [ "$(jobs -rp | wc -l)" -lt "$JOBS" ] || break
        read -r key kind task cfg init <<<"${pending[$i]}"
        # a run of this command that another starts from must end first (a
        # run of an earlier command, e.g. main before controls, has ended)
        if [ "$init" != "-" ] && printf '%s\n' "${RUNS[@]}" | grep -q "^$init "; then
            st="$(cat "$WORK/$init/.status" 2>/dev/null || true)"
            [ -n "$st" ] || continue  # not finished yet
            if [ "$st" != 0 ]; then
                mkdir -p "$WORK/$key"
                echo "[demo] $key not started: $init failed" |
                    tee "$WORK/$key/run.log"
                echo 1 >"$WORK/$key/.status"
                unset 'pending[i]'
                continue
            fi
        fi
        mkdir -p "$WORK/$key"
        echo "[demo] start $key ($cfg$([ "$init" = - ] || echo ", from $init"))"
        # each line of the run's output is shown prefixed with its key
        (
            set +e
            run_model "$key" "$kind" "$task" "$cfg" "$init" 2>&1 |
                tee "$WORK/$key/run.log" | sed -u "s/^/[$key] /"
            echo "${PIPESTATUS[0]}" >"$WORK/$key/.status"
        ) &
        unset 'pending[i]'
        started=1
    done
    pending=("${pending[@]}")
    if [ "$started" = 0 ] && [ "${#pending[@]}" -gt 0 ]; then
        wait -n 2>/dev/null || sleep 2  # a slot frees or a run finishes
    fi
done
wait
failed=""
for run in "${RUNS[@]}"; do
    key="${run%% *}"
    if [ "$(cat "$WORK/$key/.status" 2>/dev/null)" != 0 ]; then
        failed="$failed $WORK/$key/run.log"
    fi
done
[ -z "$failed" ] || die "a training or test failed; see$failed"

say "4/5 open vocabulary: prompts never trained on (probed after each" \
    "training; merged here)"
timed open_vocab "$PY" -m projects.demo.mmvlm_demo.open_vocabulary \
    --work-dir "$WORK" --data-root "$DATA" --merge-only

total_key=total
[ "${MMVLM_DEMO_MODELS:-main}" = main ] || total_key="total_$MMVLM_DEMO_MODELS"
printf '%s\t%s\n' "$total_key" "$(($(date +%s) - start_all))" >>"$TIMES"
say "5/5 report"
"$PY" -m projects.demo.mmvlm_demo.report --work-dir "$WORK" --data-root "$DATA"
say "done: $(($(date +%s) - start_all)) s. Report: $WORK/report.md"
