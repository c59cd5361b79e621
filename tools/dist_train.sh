#!/usr/bin/env bash
# Distributed training with torchrun:
#   bash tools/dist_train.sh CONFIG NUM_GPUS [train.py options]
# NNODES, NODE_RANK, PORT and MASTER_ADDR are read from the environment.
# On CPU-only machines NUM_GPUS is the number of processes and the backend
# must be gloo (tools/train.py then starts the process group itself):
#   bash tools/dist_train.sh CONFIG 2 --cfg-options env_cfg.dist_cfg.backend=gloo
# A rank that stops (frozen, swapped out, SIGSTOP) makes the others fail
# after the process-group timeout: tools/train.py sets 300 s unless the
# config has env_cfg.dist_cfg.timeout (torch's default is 30 minutes); then
# torchrun ends the job (a stopped rank after its 30 s grace, by SIGKILL).
# Raise it when rank 0 alone works longer between collectives (e.g. LVIS
# evaluation): --cfg-options env_cfg.dist_cfg.timeout=3600
set -euo pipefail
if [ $# -lt 2 ]; then
    echo "usage: bash tools/dist_train.sh CONFIG NUM_GPUS [options of tools/train.py]" >&2
    exit 2
fi
CONFIG=$1
GPUS=$2
shift 2
NNODES=${NNODES:-1}
NODE_RANK=${NODE_RANK:-0}
PORT=${PORT:-29500}
MASTER_ADDR=${MASTER_ADDR:-127.0.0.1}
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PYTHON=${PYTHON:-python}
[ -x "$ROOT/.venv/bin/python" ] && [ -z "${VIRTUAL_ENV:-}" ] && PYTHON="$ROOT/.venv/bin/python"
exec "$PYTHON" -m torch.distributed.run \
    --nnodes="$NNODES" --node_rank="$NODE_RANK" --master_addr="$MASTER_ADDR" \
    --nproc_per_node="$GPUS" --master_port="$PORT" \
    "$ROOT/tools/train.py" "$CONFIG" --launcher pytorch "$@"
