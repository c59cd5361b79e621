# Shared steps of the optional-environment scripts in tools/env/
# (setup_mmpretrain_env.sh, setup_reference_env.sh). Sourced, never run:
#
#   source "$(dirname "${BASH_SOURCE[0]}")/lib_venv.sh"
#   venv_init "${MMVLM_XXX_VENV:-$ROOT/.venv-xxx}" setup_xxx_env
#
# Sourcing sets ROOT (the repository), WHEEL_CACHE, REQ, CONSTRAINTS and
# MMCV_VERSION and defines:
#   venv_init VENV TAG     sets VENV, VENV_TAG (prefix of every message),
#                          LOG, STAMP and ACTIVE_CONSTRAINTS (in the venv)
#   say MSG / die MSG HINT...
#                          messages; die prints MSG, a line per HINT and
#                          exits 1
#   pip_step WHAT ARGS...  pip in the venv against $ACTIVE_CONSTRAINTS,
#                          logged to $LOG; dies with the log's tail
#   venv_fingerprint FILE...
#                          sha256 of requirements/*.txt, this file and
#                          FILE... (the inputs a rebuild depends on)
#   venv_exit_if_current FINGERPRINT
#                          exit 0 when the venv's stamp equals FINGERPRINT
#                          and the caller's verify_imports passes
#   venv_create_if_missing creates the venv with $MMVLM_PYTHON (default
#                          python3.11, python3) when it has no python
#   venv_start_log         empties $LOG; dies when constraints.txt is gone
#   cached_wheel DIR GLOB  first wheel in DIR matching GLOB ('' when none)
#   install_wheel WHEEL    pip install --no-deps --force-reinstall WHEEL
#   venv_finish FINGERPRINT
#                          verify_imports, write the stamp, say how long
# The caller defines verify_imports (its own import check, output to $LOG)
# before calling venv_exit_if_current or venv_finish.
#
# Environment variables (read here):
#   MMVLM_PYTHON       interpreter for a new venv
#   MMVLM_WHEEL_CACHE  where built mmcv wheels are kept
#                      (default: ~/.cache/mmvlm/wheels)

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
WHEEL_CACHE="${MMVLM_WHEEL_CACHE:-$HOME/.cache/mmvlm/wheels}"
REQ="$ROOT/requirements"
CONSTRAINTS="$REQ/constraints.txt"
MMCV_VERSION="2.1.0"
LIB_VENV="$ROOT/tools/env/lib_venv.sh"

venv_init() {
    VENV="$1"
    VENV_TAG="$2"
    LOG="$VENV/mmvlm-setup.log"
    STAMP="$VENV/.mmvlm-setup-stamp"
    ACTIVE_CONSTRAINTS="$VENV/mmvlm-constraints.txt"
}

say() { printf '[%s] %s\n' "$VENV_TAG" "$*"; }
die() {
    printf '\n[%s] ERROR: %s\n' "$VENV_TAG" "$1" >&2
    shift
    for line in "$@"; do printf '[%s]   %s\n' "$VENV_TAG" "$line" >&2; done
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

venv_fingerprint() {
    {
        cat "$REQ"/*.txt "$LIB_VENV" "$@"
    } 2>/dev/null | sha256sum | cut -d' ' -f1
}

venv_exit_if_current() {
    mkdir -p "$VENV" 2>/dev/null || die "Cannot create $VENV." \
        "Check write permission on $(dirname "$VENV")."
    if [ -x "$VENV/bin/python" ] && [ -f "$STAMP" ] \
            && [ "$(cat "$STAMP")" = "$1" ]; then
        say "found $VENV with matching inputs; verifying imports"
        if verify_imports; then
            say "environment is up to date ($VENV)"
            exit 0
        fi
        say "import check failed (see $LOG); repairing"
    fi
}

venv_create_if_missing() {
    [ -x "$VENV/bin/python" ] && return 0
    local py="${MMVLM_PYTHON:-}" cand
    if [ -z "$py" ]; then
        for cand in python3.11 python3; do
            if command -v "$cand" >/dev/null 2>&1; then py="$cand"; break; fi
        done
    fi
    [ -n "$py" ] && command -v "$py" >/dev/null 2>&1 || die \
        "No Python interpreter found (MMVLM_PYTHON='${MMVLM_PYTHON:-}')." \
        "Install Python 3.11 or set MMVLM_PYTHON=/path/to/python3.11."
    say "creating $VENV with $py"
    rm -rf "$VENV"
    "$py" -m venv "$VENV" || die "python -m venv failed." \
        "On Debian/Ubuntu: apt-get install python3-venv"
}

venv_start_log() {
    : >"$LOG"
    [ -f "$CONSTRAINTS" ] || die "requirements/constraints.txt is missing." \
        "Restore it from git."
}

cached_wheel() {
    ls "$1"/$2 2>/dev/null | head -n 1
}

install_wheel() {
    pip_step "installing $(basename "$1")" \
        install -q --no-deps --force-reinstall "$1"
}

venv_finish() {
    say "verifying imports"
    verify_imports || { tail -n 20 "$LOG" >&2; die "An import check failed." \
        "Details in $LOG."; }
    printf '%s\n' "$1" >"$STAMP"
    say "ready in $(( $(date +%s) - start_all )) s: $VENV ($(du -sh "$VENV" | cut -f1))"
}
