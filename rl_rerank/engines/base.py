"""The one engine interface every reranking strategy talks to: generate text, or read label probabilities.

Engines differ in how they run a model (transformers in-process, vLLM offline, an OpenAI-compatible server);
strategies never care which. The only model primitive an engine must add beyond generation is
`next_token_dists`: the top-k next-token distribution after a chat prompt plus a partial assistant answer.
Whole-label probabilities (multi-token labels such as "10" = "1","0") are computed from it here, once,
so every engine reads scores the same way.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field

Messages = list[dict[str, str]]


@dataclass
class GenerationSettings:
    """Sampling settings shared by all engines (greedy by default: reranking wants reproducible output)."""

    max_new_tokens: int = 512
    temperature: float = 0.0
    top_p: float = 1.0
    seed: int = 0
    stop: list[str] = field(default_factory=list)
    logprobs: bool = False  # also return each chosen token's logprob (costs memory in transformers)


@dataclass
class Generation:
    text: str
    prompt_tokens: int
    completion_tokens: int
    #: log-probability of each chosen token (token text, logprob) when the engine can report it.
    token_logprobs: list[tuple[str, float]] | None = None


@dataclass
class TokenUsage:
    """Tokens in and out across every call of one engine (reported in the rerank stats)."""

    prompt_tokens: int = 0
    completion_tokens: int = 0
    calls: int = 0
    #: prompt tokens read from a shared prefix's KV cache instead of being recomputed (transformers engine)
    reused_tokens: int = 0
    #: prompts that shared a prefix with others but were computed in full (prefix too short, model unsupported)
    reuse_fallbacks: int = 0

    def add(self, prompt: int, completion: int) -> None:
        self.prompt_tokens += prompt
        self.completion_tokens += completion

    def snapshot(self) -> tuple[int, int, int, int, int]:
        """(prompt, completion, calls, reused, fallbacks): subtract two snapshots for one run's share."""
        return (self.prompt_tokens, self.completion_tokens, self.calls, self.reused_tokens, self.reuse_fallbacks)


class Engine(ABC):
    """Runs one model (plus optional LoRA adapter) for reranking."""

    #: top-k of the next-token distribution kept by `next_token_dists` (the rest is treated as probability 0).
    top_k: int = 64

    def __init__(self) -> None:
        self.counter = TokenUsage()

    @abstractmethod
    def generate(self, prompts: Sequence[Messages], settings: GenerationSettings | None = None) -> list[Generation]:
        """One completion per chat prompt, in order."""

    @abstractmethod
    def next_token_dists(self, prompts: Sequence[Messages], assistant_texts: Sequence[str]) -> list[dict[str, float]]:
        """For each (prompt, partial assistant answer), the probabilities of the top-k next tokens, keyed by
        the token's decoded text (tokens that decode to the same text are summed)."""

    def label_probs(self, prompts: Sequence[Messages], assistant_prefix: str | Sequence[str],
                    labels: Sequence[str]) -> list[dict[str, float]]:
        """P(label is the whole continuation) for every label, after each prompt + assistant prefix.

        A label's probability multiplies its tokens' probabilities and, when the label can be extended into
        a longer one ("1" -> "10", or any digit after a number), the probability that it is not extended.
        So "1" and "10" are never confused even though both start with the token "1".
        """
        prefixes = [assistant_prefix] * len(prompts) if isinstance(assistant_prefix, str) else list(assistant_prefix)
        points = label_points(labels)
        at_points = self.dists_at_points(prompts, prefixes, points)
        return [{label: whole_label_prob(at, label, labels) for label in labels} for at in at_points]

    def dists_at_points(self, prompts: Sequence[Messages], prefixes: Sequence[str],
                        points: Sequence[str]) -> list[dict[str, dict[str, float]]]:
        """For each prompt, {point: next-token distribution after prefix + point}. Engines that can read
        several positions from one forward pass (transformers) override this; vLLM relies on prefix caching."""
        flat_prompts, flat_texts = [], []
        for prompt, prefix in zip(prompts, prefixes, strict=True):
            for point in points:
                flat_prompts.append(prompt)
                flat_texts.append(prefix + point)
        dists = self.next_token_dists(flat_prompts, flat_texts) if flat_prompts else []
        n = len(points)
        return [dict(zip(points, dists[i * n:(i + 1) * n], strict=True)) for i in range(len(prompts))]

    def close(self) -> None:  # noqa: B027 - an optional hook: engines without resources to free keep this no-op
        """Free the model (vLLM holds memory until told)."""


def label_points(labels: Sequence[str]) -> list[str]:
    """The partial answers whose next-token distribution is needed to score `labels`: the empty prefix and
    every proper prefix of a label (character level), e.g. ["", "1"] for "0".."10"."""
    points = {""}
    for label in labels:
        for i in range(1, len(label)):
            points.add(label[:i])
    return sorted(points, key=lambda p: (len(p), p))


def extends(label: str, token: str, labels: Sequence[str]) -> bool:
    """Does `token` after a complete `label` make it a different answer (a longer label or a longer number)?"""
    if not token:
        return False
    if label.isdigit() and token[0].isdigit():
        return True
    longer = label + token
    return any(other != label and (other.startswith(longer) or longer.startswith(other) and len(other) > len(label))
               for other in labels)


def whole_label_prob(dists: dict[str, dict[str, float]], label: str, labels: Sequence[str]) -> float:
    """P(the answer is exactly `label`) from next-token distributions at the known partial answers.

    Sums over every tokenization path of the label that passes only through known points (a tokenizer may
    have "10" as one token or as "1","0"), then multiplies by the probability of stopping after it when the
    point at the full label is known (only labels that prefix another one need it).
    """

    def walk(done: str) -> float:
        if done == label:
            dist = dists.get(label)
            if dist is None:
                return 1.0
            cont = sum(p for tok, p in dist.items() if extends(label, tok, labels))
            return max(0.0, 1.0 - cont)
        dist = dists.get(done)
        if dist is None:
            return 0.0
        total = 0.0
        for tok, p in dist.items():
            if tok and label.startswith(done + tok):
                total += p * walk(done + tok)
        return total

    return walk("")


def merge_token_probs(pairs: Sequence[tuple[str, float]]) -> dict[str, float]:
    """Top-k (token text, logprob) pairs -> {text: prob}, summing tokens that decode to the same text."""
    out: dict[str, float] = {}
    for text, logprob in pairs:
        if logprob is None or math.isnan(logprob):
            continue
        out[text] = out.get(text, 0.0) + math.exp(logprob)
    return out
