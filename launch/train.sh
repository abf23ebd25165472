#!/usr/bin/env bash
# Run any stage of any recipe on N GPUs (or N CPU processes when no GPU is visible).
#
#   bash launch/train.sh RECIPE STAGE NUM_GPUS [ACCELERATE_CONFIG] [-- rl-rerank options]
#
#   RECIPE   a folder under configs/ (erank-pointwise, grouprank-groupwise, reasonrank-listwise, rank-r1-setwise, demo)
#   STAGE    sft | grpo (alias rl) | any YAML name in that folder (sft-cpu, grpo-cpu, ...)
#   NUM_GPUS processes on this machine (one per GPU)
#   ACCELERATE_CONFIG  launch/ddp.yaml | launch/zero2.yaml (default) | launch/zero3.yaml | launch/zero3_offload.yaml
#
# Examples:
#   bash launch/train.sh erank-pointwise sft 8
#   bash launch/train.sh erank-pointwise grpo 8 launch/zero3.yaml -- --set trl.num_iterations=2
#   bash launch/train.sh demo sft 2 launch/zero2.yaml            # CPU: two gloo processes
# With vLLM in server mode start launch/vllm_server.sh on other GPUs first and pass
#   -- --set trl.use_vllm=true --set trl.vllm_mode=server --set trl.vllm_server_host=HOST
set -euo pipefail
cd "$(dirname "$0")/.."
if [ $# -lt 3 ]; then sed -n 2,17p "$0" >&2; exit 2; fi
recipe=$1; stage=$2; nproc=$3; shift 3
acc=launch/zero2.yaml
if [ $# -gt 0 ] && [ "$1" != "--" ]; then acc=$1; shift; fi
[ "${1:-}" = "--" ] && shift

case "$stage" in
  rl) stage=grpo ;;
esac
config=configs/$recipe/$stage.yaml
[ -f "$config" ] || { echo "train.sh: no $config (recipes: $(ls configs | tr '\n' ' '))" >&2; exit 2; }
[ -f "$acc" ] || { echo "train.sh: no accelerate config $acc" >&2; exit 2; }
case "$stage" in
  sft*) cmd=sft ;;
  grpo*) cmd=rl ;;
  *) echo "train.sh: STAGE must start with sft or grpo, got $stage" >&2; exit 2 ;;
esac

python=${PYTHON:-.venv/bin/python}
[ -x "$python" ] || python=python
launch=("$python" -m accelerate.commands.launch --config_file "$acc" --num_processes "$nproc")
if ! { command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; }; then
  # CPU: several real processes need the multi-GPU launcher (gloo); `--cpu` would start only one.
  # DeepSpeed configs keep precision in their JSON ("auto" -> bf16=False from the CPU trl defaults).
  grep -q "DEEPSPEED" "$acc" || launch+=(--mixed_precision no)
fi
export TOKENIZERS_PARALLELISM=false
set -x
exec "${launch[@]}" -m rl_rerank.cli "$cmd" --config "$config" "$@"
