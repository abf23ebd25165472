#!/usr/bin/env bash
# Multi-node example: 2 nodes x 8 GPUs, DeepSpeed ZeRO-3. Run the same command on every node; only
# MACHINE_RANK differs (0 on the node whose address is MAIN_IP). Under SLURM, srun sets it for you:
#   srun --nodes=2 --ntasks-per-node=1 bash launch/multinode.sh erank-pointwise grpo
#
#   MAIN_IP=10.0.0.1 MACHINE_RANK=0 bash launch/multinode.sh erank-pointwise sft     # node 0
#   MAIN_IP=10.0.0.1 MACHINE_RANK=1 bash launch/multinode.sh erank-pointwise sft     # node 1
set -euo pipefail
cd "$(dirname "$0")/.."
recipe=${1:?recipe}; stage=${2:?stage}; shift 2
[ "$stage" = rl ] && stage=grpo
case "$stage" in sft*) cmd=sft ;; *) cmd=rl ;; esac
nodes=${NUM_NODES:-${SLURM_NNODES:-2}}
gpus_per_node=${GPUS_PER_NODE:-8}
rank=${MACHINE_RANK:-${SLURM_NODEID:-0}}
main_ip=${MAIN_IP:-$(scontrol show hostnames "${SLURM_JOB_NODELIST:-}" 2>/dev/null | head -n1)}
python=${PYTHON:-.venv/bin/python}
[ -x "$python" ] || python=python
exec "$python" -m accelerate.commands.launch --config_file "${ACCELERATE_CONFIG:-launch/multinode_zero3.yaml}" \
  --num_machines "$nodes" --num_processes $(( nodes * gpus_per_node )) --machine_rank "$rank" \
  --main_process_ip "$main_ip" --main_process_port "${MAIN_PORT:-29500}" \
  -m rl_rerank.cli "$cmd" --config "configs/$recipe/$stage.yaml" "$@"
