#!/usr/bin/env bash
# Install the optional web demo (projects/web_demo) and what its browser
# tests need, without root installs:
#
#   bash tools/env/setup_web_demo_env.sh
#
#   1. gradio + selenium into the main .venv, exactly the versions of
#      requirements/web_demo-constraints.txt, with --no-deps: every other
#      dependency is already in .venv at requirements/constraints.txt
#      (torch, numpy, transformers and pillow are not touched). `pip check`
#      must then report nothing but gradio's pillow<13 cap (see the
#      constraints file);
#   2. headless Chromium + chromedriver from Debian's packages
#      (apt-get download + dpkg-deb -x, no dpkg install), with the shared
#      libraries the machine image lacks, into $MMVLM_CHROMIUM_DIR
#      (default ~/.cache/mmvlm/chromium). The browser tests and
#      projects/web_demo read it from there; they set LD_LIBRARY_PATH to
#      its usr/lib folders themselves (source $MMVLM_CHROMIUM_DIR/env.sh to
#      run the browser by hand).
#
# A second run with unchanged inputs only checks that both still work.
#
# Environment variables:
#   MMVLM_VENV          the venv to install into (default <repo>/.venv)
#   MMVLM_CHROMIUM_DIR  where Chromium is unpacked
#                       (default ~/.cache/mmvlm/chromium)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
VENV="${MMVLM_VENV:-$ROOT/.venv}"
PY="$VENV/bin/python"
DEST="${MMVLM_CHROMIUM_DIR:-$HOME/.cache/mmvlm/chromium}"
PINS="$ROOT/requirements/web_demo-constraints.txt"
start=$(date +%s)

say() { echo "[setup_web_demo_env] $*"; }
die() {
    echo "[setup_web_demo_env] ERROR: $1" >&2
    shift
    for hint in "$@"; do echo "  $hint" >&2; done
    exit 1
}

[ -x "$PY" ] || die "no Python at $PY" \
    "run 'bash tools/setup_env.sh' first (or set MMVLM_VENV)."

# Debian packages: the browser and its driver, and the libraries of their
# dependency tree that the python machine image does not have (found with
# ldd; the check below names any that is still missing).
BROWSER_DEBS=(chromium chromium-common chromium-driver)
LIB_DEBS=(libopenh264-7 libdouble-conversion3 libharfbuzz-subset0 libpulse0
          libflac12 libopus0 libxnvctrl0 libminizip1 libopenjp2-7 libogg0
          libsndfile1 libasyncns0 libvorbis0a libvorbisenc2 libmpg123-0
          libmp3lame0)
LIBPATH="$DEST/usr/lib/chromium:$DEST/usr/lib/x86_64-linux-gnu"
LIBPATH="$LIBPATH:$DEST/usr/lib/x86_64-linux-gnu/pulseaudio"

# ---- 1. python packages -------------------------------------------------
pip_ok() {
    # pip check on the packages of $PINS (the base .venv has its own,
    # older reports), less the one accepted conflict: gradio's pillow cap.
    local names out
    names=$(grep -v '^#' "$PINS" | cut -d= -f1 | tr 'A-Z_' 'a-z-' |
            paste -sd'|')
    out=$("$PY" -m pip check 2>&1 | tr 'A-Z_' 'a-z-' |
          grep -E "^($names) " | grep -v '^gradio .*pillow<13' || true)
    if [ -n "$out" ]; then
        echo "$out" >&2
        return 1
    fi
}

if "$PY" - "$PINS" <<'EOF' 2>/dev/null
import sys
from importlib.metadata import version
pins = [l.split('==') for l in open(sys.argv[1])
        if '==' in l and not l.startswith('#')]
bad = [n for n, v in pins if version(n) != v.strip()]
sys.exit(1 if bad else 0)
EOF
then
    say "python packages already at requirements/web_demo-constraints.txt"
else
    say "installing gradio + selenium (requirements/web_demo-constraints.txt)"
    log=$(mktemp)
    "$PY" -m pip install -q --no-deps -r "$PINS" > "$log" 2>&1 || {
        grep -v '^WARNING: Location' "$log" | tail -20 >&2
        die "pip could not install $PINS" \
            "check the network to PyPI, or the versions in that file."
    }
    rm -f "$log"
fi
pip_ok || die "pip check found broken requirements (above)" \
    "requirements/web_demo-constraints.txt no longer fits constraints.txt;" \
    "re-resolve it in a throwaway venv against requirements/constraints.txt."
"$PY" -c 'import gradio, selenium' ||
    die "gradio or selenium does not import in $VENV"

# ---- 2. Chromium from Debian packages ------------------------------------
browser_ok() {
    [ -x "$DEST/usr/lib/chromium/chromium" ] &&
        [ -x "$DEST/usr/bin/chromedriver" ] || return 1
    local missing
    missing=$(LD_LIBRARY_PATH="$LIBPATH" ldd \
        "$DEST/usr/lib/chromium/chromium" "$DEST/usr/bin/chromedriver" \
        2>/dev/null | grep 'not found' | sort -u || true)
    if [ -n "$missing" ]; then
        echo "$missing" >&2
        return 1
    fi
    LD_LIBRARY_PATH="$LIBPATH" timeout 60 \
        "$DEST/usr/lib/chromium/chromium" --headless --no-sandbox \
        --disable-gpu --dump-dom 'data:text/html,<p>mmvlm-ok</p>' \
        2>/dev/null | grep -q mmvlm-ok
}

if browser_ok 2>/dev/null; then
    say "Chromium already in $DEST"
else
    command -v apt-get >/dev/null ||
        die "apt-get not found" "the browser comes from Debian packages."
    say "downloading Chromium + chromedriver from Debian packages"
    tmp=$(mktemp -d)
    trap 'rm -rf "$tmp"' EXIT
    if ! (cd "$tmp" && apt-get download -q "${BROWSER_DEBS[@]}" \
            "${LIB_DEBS[@]}" >/dev/null 2>&1); then
        apt-get update -qq >/dev/null 2>&1 || true
        (cd "$tmp" && apt-get download -q "${BROWSER_DEBS[@]}" \
            "${LIB_DEBS[@]}" >/dev/null 2>&1) ||
            die "apt-get download failed" \
                "packages: ${BROWSER_DEBS[*]} ${LIB_DEBS[*]}"
    fi
    rm -rf "$DEST"
    mkdir -p "$DEST"
    for deb in "$tmp"/*.deb; do
        dpkg-deb -x "$deb" "$DEST"
    done
    (cd "$tmp" && ls ./*.deb) > "$DEST/packages.txt"
    browser_ok || die "Chromium from $DEST does not start" \
        "a library named above is missing: add its Debian package to" \
        "LIB_DEBS in tools/env/setup_web_demo_env.sh."
fi
cat > "$DEST/env.sh" <<EOF
# source this to run the unpacked Chromium by hand
export LD_LIBRARY_PATH="$LIBPATH\${LD_LIBRARY_PATH:+:\$LD_LIBRARY_PATH}"
export MMVLM_CHROMIUM="$DEST/usr/lib/chromium/chromium"
export MMVLM_CHROMEDRIVER="$DEST/usr/bin/chromedriver"
EOF
version=$(LD_LIBRARY_PATH="$LIBPATH" "$DEST/usr/bin/chromedriver" --version)
say "ready after $(( $(date +%s) - start )) s: $("$PY" -c \
    'import gradio, selenium; print("gradio", gradio.__version__,
    "selenium", selenium.__version__)'), $version"
