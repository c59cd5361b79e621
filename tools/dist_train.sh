#!/usr/bin/env bash
# Distributed training with torchrun:
#   bash tools/dist_train.sh CONFIG NUM_GPUS [train.py options]
# NNODES, NODE_RANK, PORT and MASTER_ADDR are read from the environment.
# On CPU-only machines NUM_GPUS is the number of processes and the backend
# must be gloo (tools/train.py then starts the process group itself):
#   bash tools/dist_train.sh CONFIG 2 --cfg-options env_cfg.dist_cfg.backend=gloo
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
