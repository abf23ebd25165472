"""Client for an OpenAI-compatible server (`vllm serve MODEL [--enable-lora --lora-modules name=path]`).

Lets a large model run on its own GPUs while rl-rerank only sends prompts. Requests go out concurrently
(the server batches them). Label probabilities use the chat API with `continue_final_message`, a vLLM
extension that continues a partial assistant answer, and `top_logprobs` for the next token.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from rl_rerank.engines.base import Engine, Generation, GenerationSettings, Messages, merge_token_probs
from rl_rerank.errors import UserError


class OpenAIEngine(Engine):
    """`tokenizer` (hub id or folder of the served model's tokenizer, optional): prompts are then fitted with
    exact token counts and the model's own special tokens are neutralised in documents (see
    paradigms.specials.neutralize_specials); without it, chat-marker shapes (<|...|>, [INST], <s>, ...) are."""

    def __init__(self, model: str, adapter: str | None = None, base_url: str | None = None,
                 api_key: str | None = None, top_k: int = 20, concurrency: int = 16, timeout: float = 600.0,
                 tokenizer: str | None = None):
        super().__init__()
        try:
            from openai import OpenAI
        except ImportError:
            raise UserError("--engine openai needs the openai client: pip install 'rl-rerank[openai]'") from None

        if tokenizer:
            from rl_rerank.models import load_tokenizer

            self.tokenizer = load_tokenizer(tokenizer)

        # With vLLM, a LoRA module is addressed by its served name instead of the base model's.
        self.model = adapter or model
        self.top_k = top_k
        self.concurrency = concurrency
        self.client = OpenAI(base_url=base_url or os.environ.get("OPENAI_BASE_URL", "http://127.0.0.1:8000/v1"),
                             api_key=api_key or os.environ.get("OPENAI_API_KEY", "EMPTY"), timeout=timeout)

    def _map(self, fn, items):
        with ThreadPoolExecutor(max_workers=max(1, self.concurrency)) as pool:
            results = list(pool.map(fn, items))
        self.counter.calls += 1
        return results

    def _count(self, usage) -> None:
        if usage is not None:
            self.counter.add(int(usage.prompt_tokens or 0), int(usage.completion_tokens or 0))

    def generate(self, prompts: Sequence[Messages], settings: GenerationSettings | None = None) -> list[Generation]:
        settings = settings or GenerationSettings()

        def one(messages: Messages) -> Generation:
            kwargs: dict[str, Any] = dict(model=self.model, messages=list(messages), max_tokens=settings.max_new_tokens,
                          temperature=settings.temperature, top_p=settings.top_p, seed=settings.seed)
            if settings.stop:
                kwargs["stop"] = list(settings.stop)
            if settings.logprobs:
                kwargs["logprobs"] = True
            resp = self.client.chat.completions.create(**kwargs)
            choice = resp.choices[0]
            logprobs = None
            if settings.logprobs and choice.logprobs is not None and choice.logprobs.content:
                logprobs = [(c.token, c.logprob) for c in choice.logprobs.content]
            self._count(resp.usage)
            usage = resp.usage
            return Generation(text=choice.message.content or "",
                              prompt_tokens=int(getattr(usage, "prompt_tokens", 0) or 0),
                              completion_tokens=int(getattr(usage, "completion_tokens", 0) or 0),
                              token_logprobs=logprobs)

        return self._map(one, list(prompts))

    def next_token_dists(self, prompts: Sequence[Messages], assistant_texts: Sequence[str]) -> list[dict[str, float]]:
        def one(item) -> dict[str, float]:
            messages, text = item
            messages = list(messages)
            extra = {}
            if text:
                messages = messages + [{"role": "assistant", "content": text}]
                extra = {"continue_final_message": True, "add_generation_prompt": False}
            resp = self.client.chat.completions.create(
                model=self.model, messages=messages, max_tokens=1, temperature=0.0, logprobs=True,
                top_logprobs=self.top_k, extra_body=extra or None)
            self._count(resp.usage)
            content = resp.choices[0].logprobs.content if resp.choices[0].logprobs else None
            if not content:
                return {}
            return merge_token_probs([(t.token, t.logprob) for t in content[0].top_logprobs])

        return self._map(one, list(zip(prompts, assistant_texts, strict=True)))
