#!/usr/bin/env bash
# Wheels for a GPU image that has Python 3.12, torch, transformers, peft, accelerate, pyarrow, pandas, numba,
# msgpack, ninja, py-cpuinfo and nvidia-ml-py (the lent H100/H200 image) but not the training stack.
# Run here, where pip reaches the package registry; the wheels land in .whl/ (git-ignored, ~15 MB):
#
#   bash benchmarks/gpu_wheels.sh            # once; then on the GPU machine (carry: [".whl"]):
#   python3 -m pip install -q --no-index --no-deps --no-compile --target /tmp/site .whl/*.whl \
#     && export PYTHONPATH=/tmp/site
#   python3 benchmarks/gpu_check.py --tokenizer TOK --requests shared/data/trec-dl-2020/bm25-top100.json \
#     --data shared/data/beir-scifact --out $OUT
#
# Versions are this checkout's pins (the .venv's installed versions). deepspeed ships only a source archive: it is
# built here into a pure-Python wheel (no ops compiled; DeepSpeed JIT-builds what it needs with the image's nvcc).
# rl_rerank itself goes as a wheel too (its eval/ and rewards/ folders map to rl_rerank.eval / rl_rerank.rewards).
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-.whl}
py=${PYTHON:-.venv/bin/python}
mkdir -p "$out"
exclude="$(git rev-parse --git-common-dir)/info/exclude"
grep -qx '/.whl/' "$exclude" 2>/dev/null || echo '/.whl/' >> "$exclude"

version() { "$py" -m pip show "$1" 2>/dev/null | awk '/^Version:/{print $2}'; }

# Missing from the image (pure Python unless marked); their own dependencies are listed too (--no-deps below).
PURE=(trl datasets dill multiprocess hjson pydantic annotated-types typing-inspection bm25s ir-measures)
BINARY=(pydantic-core PyStemmer pytrec-eval-terrier)   # compiled: fetched for CPython 3.12 manylinux x86_64
PLATFORMS=(--platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_17_x86_64
           --platform manylinux2014_x86_64 --platform manylinux1_x86_64)

pins=()
for name in "${PURE[@]}" "${BINARY[@]}"; do
  v=$(version "$name")
  if [ -z "$v" ]; then echo "gpu_wheels: $name is not installed in $py; skipped" >&2; continue; fi
  pins+=("$name==$v")
done
"$py" -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
  "${PLATFORMS[@]}" -d "$out" "${pins[@]}"
"$py" -m pip wheel -q --no-deps --no-build-isolation -w "$out" "deepspeed==$(version deepspeed)"
"$py" -m pip wheel -q --no-deps --no-build-isolation -w "$out" .
ls -1 "$out"
du -sh "$out"
