#!/usr/bin/env bash
# The README's main job: the mmvlm demo, a project of its own in
# projects/demo/ (README, configs, data preparation, open-vocabulary step,
# report). This entry point only runs its script; see
# projects/demo/run_demo.sh for the steps and environment variables.
#
#   bash tools/run_demo.sh                        # full demo
#   MMVLM_DEMO_ITERS=20 bash tools/run_demo.sh    # shorter training
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
exec bash "$ROOT/projects/demo/run_demo.sh" "$@"
