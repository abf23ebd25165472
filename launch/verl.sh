#!/usr/bin/env bash
# Stage 2 on verl (PPO with a critic, or GRPO; one node or a Ray cluster), from a verl recipe:
#
#   bash launch/verl.sh configs/reasonrank-listwise/ppo-verl.yaml [STEP] [extra Hydra overrides...]
#
# STEP: all (default: setup, data, merge, train) | setup | data | merge | train | head | worker | dry
#   setup  verl's own virtualenv ($VERL_VENV, default .venv-verl) with verl's pins ($VERL_SPEC, default
#          "verl[vllm]==0.9.1": torch 2.11, vLLM 0.24, transformers 5.9), plus this package without its
#          dependencies (the reward adapter needs only the standard library); checks the adapter imports there.
#   data   rl-rerank export-rl-data (in our venv, $RL_RERANK_PYTHON, default .venv/bin/python): the recipe's
#          GRPO rows as verl parquet in data_dir (kept when train.parquet exists; FORCE_DATA=1 rebuilds).
#   merge  rl-rerank export --merge of the stage-1 adapter: verl's actor starts from that full model.
#   train  python -m verl.trainer.main_ppo with the recipe's overrides (NNODES / GPUS_PER_NODE override
#          trainer.nnodes / trainer.n_gpus_per_node); verl starts its own local Ray when none is running.
#   head   multi-node, on node 0: setup, data, merge, `ray start --head`, wait for $NNODES nodes, train.
#   worker multi-node, on every other node: setup, then `ray start --address $RAY_HEAD --block`.
#   dry    print every command of `all` without running anything (DRY=1 does the same for any STEP).
# Multi-node needs this checkout, the data folder and the merged model at the same paths on every node
# (a shared filesystem), e.g.  node 0: NNODES=2 bash launch/verl.sh CFG head
#                              node 1: RAY_HEAD=10.0.0.1:6379 bash launch/verl.sh CFG worker
# Afterwards: python -m verl.model_merger merge --backend fsdp --local_dir <default_local_dir>/global_step_N/actor
#   --target_dir MERGED (in verl's venv), then rl-rerank import-verl --checkpoint MERGED --out ADAPTER.
set -euo pipefail
cd "$(dirname "$0")/.."
config=${1:?usage: bash launch/verl.sh CONFIG [all|setup|data|merge|train|head|worker|dry] [overrides...]}
step=${2:-all}
shift $(( $# >= 2 ? 2 : 1 ))
ours=${RL_RERANK_PYTHON:-.venv/bin/python}
[ -x "$ours" ] || ours=python3
venv=${VERL_VENV:-.venv-verl}
spec=${VERL_SPEC:-verl[vllm]==0.9.1}
port=${RAY_PORT:-6379}
dry=${DRY:-0}
[ "$step" = dry ] && { dry=1; step=all; }

run() {  # run a command, or print it (shell-quoted) in dry mode
  if [ "$dry" = 1 ]; then printf '+'; printf ' %q' "$@"; printf '\n'; else "$@"; fi
}
field() { "$ours" -m rl_rerank.training.verl_launch "$config" get "$1"; }

setup() {
  local stamp=$venv/.rl_rerank-verl
  if [ "$dry" != 1 ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$spec" ]; then return 0; fi
  [ -x "$venv/bin/python" ] || run "${PYTHON:-python3.11}" -m venv "$venv"
  run "$venv/bin/python" -m pip install --quiet "$spec"
  run "$venv/bin/python" -m pip install --quiet --no-deps -e .
  run "$venv/bin/python" -c "from rl_rerank.rewards.verl import compute_score"
  [ "$dry" = 1 ] || echo "$spec" > "$stamp"
}

data() {
  local dir
  dir=$(field data_dir)
  if [ "$dry" != 1 ] && [ -f "$dir/train.parquet" ] && [ "${FORCE_DATA:-0}" != 1 ]; then return 0; fi
  run "$ours" -m rl_rerank.cli export-rl-data --config "$(field recipe)" --format verl --out "$dir" \
    --val-fraction "$(field val_fraction)" --overwrite
}

merge() {
  local merged
  merged=$(field merged_model)
  if [ "$dry" != 1 ] && [ -f "$merged/config.json" ]; then return 0; fi
  if [ "$(basename "$merged")" != merged ]; then
    echo "verl.sh: merged_model must be <export folder>/merged (rl-rerank export --merge writes it there)" >&2
    exit 2
  fi
  run "$ours" -m rl_rerank.cli export --adapter "$(field stage1)" --out "$(dirname "$merged")" --merge
}

train() {
  local cmd flags=()
  [ -n "${NNODES:-}" ] && flags+=(--nnodes "$NNODES")
  [ -n "${GPUS_PER_NODE:-}" ] && flags+=(--gpus-per-node "$GPUS_PER_NODE")
  mapfile -t cmd < <("$ours" -m rl_rerank.training.verl_launch "$config" command --python "$venv/bin/python" \
    ${flags[@]+"${flags[@]}"} -- "$@")
  [ "${#cmd[@]}" -gt 0 ] || { echo "verl.sh: could not read $config" >&2; exit 2; }
  run "${cmd[@]}"
}

head_node() {
  run "$venv/bin/ray" start --head --port "$port"
  export RAY_ADDRESS=127.0.0.1:$port
  local want=${NNODES:-1}
  if [ "$dry" != 1 ]; then
    for _ in $(seq 1 120); do  # up to 10 minutes for the workers to join
      have=$("$venv/bin/python" -c "import ray; ray.init(address='$RAY_ADDRESS', logging_level='ERROR'); \
print(sum(1 for n in ray.nodes() if n['Alive']))" 2>/dev/null || echo 0)
      [ "$have" -ge "$want" ] && break
      sleep 5
    done
  fi
}

case "$step" in
  setup) setup ;;
  data) data ;;
  merge) merge ;;
  train) train "$@" ;;
  all) setup; data; merge; train "$@" ;;
  head) setup; data; merge; head_node; train "$@" ;;
  worker) setup; run "$venv/bin/ray" start --address "${RAY_HEAD:?set RAY_HEAD=<head ip>:$port}" --block ;;
  *) echo "usage: bash launch/verl.sh CONFIG [all|setup|data|merge|train|head|worker|dry] [overrides...]" >&2; exit 2 ;;
esac
