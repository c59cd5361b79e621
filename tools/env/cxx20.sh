#!/usr/bin/env bash
# Compiler wrapper used while building mmcv 2.1.0 from source.
# torch >= 2.10 headers need C++20, but mmcv 2.1.0's setup.py appends
# -std=c++14 / -std=c++17 after any user flags. Rewrite those to c++20.
real="${MMVLM_REAL_CXX:-g++}"
args=()
for arg in "$@"; do
    case "$arg" in
        -std=c++14|-std=c++17|-std=gnu++14|-std=gnu++17) args+=("-std=c++20") ;;
        *) args+=("$arg") ;;
    esac
done
exec "$real" "${args[@]}"
