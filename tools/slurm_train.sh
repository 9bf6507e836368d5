#!/usr/bin/env bash
# Usage: [GPUS=16 GPUS_PER_NODE=8 CPUS_PER_TASK=5 SRUN_ARGS=...] \
#        tools/slurm_train.sh PARTITION JOB_NAME CONFIG [WORK_DIR] [train.py args...]
# One task per GPU; on partitions without GPUs set GPUS_PER_NODE=0 and GPUS to the task count:
# the tasks then train with gloo.
set -x

PARTITION=$1
JOB_NAME=$2
CONFIG=$3
WORK_DIR=$4
GPUS=${GPUS:-8}
GPUS_PER_NODE=${GPUS_PER_NODE:-8}
CPUS_PER_TASK=${CPUS_PER_TASK:-5}
SRUN_ARGS=${SRUN_ARGS:-""}
PY_ARGS=${@:5}
ROOT="$(dirname "$0")/.."
if [ -z "${PYTHON:-}" ]; then
    if [ -x "$ROOT/.venv/bin/python" ]; then PYTHON="$ROOT/.venv/bin/python"; else PYTHON=python; fi
fi
TASKS_PER_NODE=$GPUS_PER_NODE
[ "$GPUS_PER_NODE" -eq 0 ] && TASKS_PER_NODE=$GPUS
GRES=""
[ "$GPUS_PER_NODE" -gt 0 ] && GRES="--gres=gpu:${GPUS_PER_NODE}"
WORK_DIR_ARG=""
[ -n "$WORK_DIR" ] && WORK_DIR_ARG="--work-dir=${WORK_DIR}"

PYTHONPATH="$ROOT":$PYTHONPATH \
srun -p ${PARTITION} \
    --job-name=${JOB_NAME} \
    ${GRES} \
    --ntasks=${GPUS} \
    --ntasks-per-node=${TASKS_PER_NODE} \
    --cpus-per-task=${CPUS_PER_TASK} \
    --kill-on-bad-exit=1 \
    ${SRUN_ARGS} \
    "$PYTHON" -u "$ROOT/tools/train.py" ${CONFIG} ${WORK_DIR_ARG} --launcher="slurm" ${PY_ARGS}
