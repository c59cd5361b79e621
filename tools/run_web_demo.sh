#!/usr/bin/env bash
# Serve the web demo (projects/web_demo) on http://127.0.0.1:7860/, offline;
# options after the script name go to the app (--help lists them). Install
# its packages first: bash tools/env/setup_web_demo_env.sh. One torch thread
# by default (docs/web_demo.md: 10x faster than two on a loaded 2-core box).
cd "$(dirname "${BASH_SOURCE[0]}")/.." && OMP_NUM_THREADS="${OMP_NUM_THREADS:-1}" GRADIO_ANALYTICS_ENABLED=False HF_HUB_OFFLINE=1 exec "${MMVLM_VENV:-.venv}/bin/python" -m projects.web_demo.mmvlm_web_demo.app "$@"
