#!/usr/bin/env bash
# Compiler wrapper used while building mmcv 2.1.0 from source.
# - torch >= 2.10 headers need C++20, but mmcv 2.1.0's setup.py appends
#   -std=c++14 / -std=c++17 after any user flags: rewrite those to c++20.
# - -g0 last: no debug information. Python's own CFLAGS (pyenv builds) add
#   -g, which makes every translation unit about 35% slower to compile and
#   its object 40-70x larger, for a wheel nobody debugs (measured in
#   docs/installation.md). MMVLM_MMCV_DEBUG=1 keeps -g.
# - MMVLM_MMCV_OPT (e.g. -O1) replaces mmcv's -O3 when set.
real="${MMVLM_REAL_CXX:-g++}"
args=()
for arg in "$@"; do
    case "$arg" in
        -std=c++14|-std=c++17|-std=gnu++14|-std=gnu++17) args+=("-std=c++20") ;;
        *) args+=("$arg") ;;
    esac
done
[ "${MMVLM_MMCV_DEBUG:-0}" = "1" ] || args+=("-g0")
[ -n "${MMVLM_MMCV_OPT:-}" ] && args+=("$MMVLM_MMCV_OPT")
exec "$real" "${args[@]}"
