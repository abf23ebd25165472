"""Pick an engine by name: the CLI and the evaluator never import an engine module directly."""

from __future__ import annotations

from rl_rerank.engines.base import Engine
from rl_rerank.errors import UserError

ENGINES = ("transformers", "vllm", "openai")


def make_engine(name: str, model: str | None = None, adapter: str | None = None, **kwargs) -> Engine:
    """`name` in ENGINES; kwargs go to the engine (batch_size, dtype, base_url, top_k, ...)."""
    if name == "transformers":
        from rl_rerank.engines.transformers_engine import TransformersEngine

        return TransformersEngine(model=model, adapter=adapter, **kwargs)
    if name == "vllm":
        try:
            from rl_rerank.engines.vllm_engine import VLLMEngine
        except ImportError as exc:
            raise UserError(f"the vllm engine needs vLLM (`pip install rl-rerank[cpu]` or `[gpu]`): {exc}") from exc
        return VLLMEngine(model=model, adapter=adapter, **kwargs)
    if name == "openai":
        if not model:
            raise UserError("the openai engine needs --model (the name the server serves)")
        from rl_rerank.engines.openai_engine import OpenAIEngine

        return OpenAIEngine(model=model, adapter=adapter, **kwargs)
    raise UserError(f"unknown engine {name!r}; expected one of {', '.join(ENGINES)}")
