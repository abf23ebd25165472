"""Pointwise scoring (ERank): one document per prompt, an integer relevance score 0..max_score.

Ranking score: with reasoning off the engines read the probability of each whole score label after
`answer_prefix()` and call `score_from_probs`; with reasoning on they generate, parse, and call
`score_from_generation` with the probability of the generated answer when they know it.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from rl_rerank.data.types import Candidate, Query
from rl_rerank.errors import ConfigError
from rl_rerank.paradigms.answer_numbers import first_number, leading_zeros, to_int
from rl_rerank.paradigms.base import (
    DEFAULT_MAX_DOC_TOKENS,
    DEFAULT_MAX_PROMPT_TOKENS,
    Paradigm,
    Parsed,
    ParseStatus,
    register_paradigm,
)
from rl_rerank.paradigms.budget import TokenCounter, fit_prompt
from rl_rerank.paradigms.prompt_template import instruction_text, load_template
from rl_rerank.paradigms.specials import special_strings
from rl_rerank.paradigms.tags import join_notes, split_tags, wrap_target

if TYPE_CHECKING:
    from rl_rerank.data.types import Request
    from rl_rerank.datagen.examples import QueryJob
    from rl_rerank.engines.base import Engine
    from rl_rerank.rerank.strategies import StrategySettings, StrategyStats

GENERIC_REASONING = "I compare what the query asks for with what the document says and rate how much it helps."
SCORE_MODES = ("erank", "expected")
DEFAULT_SCORE_MODE = "erank"
DEFAULT_MAX_SCORE = 10
_DIGITS = re.compile(r"[0-9]+")  # ASCII only (str.isdigit and \d accept "٧" and "７")


@register_paradigm
class Pointwise(Paradigm):
    name = "pointwise"
    single_document = True
    teacher_labels = "scores"

    def __init__(self, reasoning: bool = False, template: str | None = None,
                 max_doc_tokens: int = DEFAULT_MAX_DOC_TOKENS,
                 max_prompt_tokens: int = DEFAULT_MAX_PROMPT_TOKENS, max_score: int = DEFAULT_MAX_SCORE,
                 score_mode: str = DEFAULT_SCORE_MODE):
        super().__init__(reasoning, template, max_doc_tokens, max_prompt_tokens)
        if not isinstance(max_score, int) or max_score < 1:
            raise ConfigError(f"pointwise max_score must be an integer >= 1, got {max_score!r}")
        if score_mode not in SCORE_MODES:
            raise ConfigError(f"pointwise score_mode must be one of {', '.join(SCORE_MODES)}, got {score_mode!r}")
        self.max_score = max_score
        self.score_mode = score_mode
        self.template = load_template(self.name, template, required=("query", "document"),
                                      default_text=self.default_template)

    # ------------------------------------------------------------------ prompt and target

    def messages(self, query: Query, docs: Sequence[Candidate], tokenizer: Any = None) -> list[dict[str, str]]:
        if len(docs) != 1:
            raise ValueError(f"pointwise prompts hold exactly one document, got {len(docs)}")

        specials = special_strings(tokenizer)

        def build(query_text: str, texts: list[str]) -> list[dict[str, str]]:
            return self.template.render({"instruction": instruction_text(query.instruction), "query": query_text,
                                         "document": texts[0], "max_score": str(self.max_score)}, self.reasoning,
                                        specials)

        return fit_prompt(build, query.text, [docs[0].full_text()], TokenCounter(tokenizer),
                          self.max_doc_tokens, self.max_prompt_tokens)

    def target(self, labels: Sequence[int], reasoning: str | None = None) -> str:
        """labels = [score]; the score is clipped to 0..max_score."""
        if len(labels) != 1:
            raise ValueError(f"pointwise target takes one label (the score), got {len(labels)}")
        score = min(self.max_score, max(0, int(labels[0])))
        return wrap_target(str(score), self.reasoning, reasoning, "think", GENERIC_REASONING)

    # ------------------------------------------------------------------ parsing

    def _parse(self, completion: str, num_docs: int) -> Parsed:
        split = split_tags(completion if isinstance(completion, str) else str(completion), self.reasoning, "think")
        if split.answer is None:
            return Parsed("failed", reasoning=split.reasoning, tags_ok=False, note=join_notes(split.note, "no score"))
        content = split.answer.strip()
        if _DIGITS.fullmatch(content):
            value, changed = to_int(content, 0, self.max_score)
            notes = ["score out of range, clipped"] if changed else []
            if leading_zeros(content):
                notes.append("leading zeros")
            if not notes:
                status: ParseStatus = "ok" if split.tags_ok else "repaired"
                return Parsed(status, value, split.reasoning, split.tags_ok, split.note, answer_clean=True)
            return Parsed("repaired", value, split.reasoning, split.tags_ok, join_notes(split.note, *notes))
        token = first_number(content if split.answer_tagged else content[:200])
        if token is None:
            return Parsed("failed", reasoning=split.reasoning, tags_ok=split.tags_ok,
                          note=join_notes(split.note, "no score"))
        value, changed = to_int(token, 0, self.max_score)
        note = "score read from surrounding text" + (", clipped/rounded" if changed else "")
        return Parsed("repaired", value, split.reasoning, split.tags_ok,
                      join_notes(split.note, note, "leading zeros" if leading_zeros(token) else ""))

    def doc_scores(self, parsed: Parsed, num_docs: int = 1) -> list[float] | None:
        if not parsed.usable:
            return None
        return [float(parsed.value)]


    # ------------------------------------------------------------------ builder and strategy

    def example_rows(self, job: QueryJob) -> list[dict] | None:
        from rl_rerank.datagen.examples import pointwise_rows

        return pointwise_rows(self, job)

    def rerank(self, engine: Engine, requests: Sequence[Request], settings: StrategySettings,
               stats: StrategyStats) -> list[dict[str, float]]:
        from rl_rerank.rerank.strategies import pointwise

        return pointwise(engine, self, requests, settings, stats)

    # ------------------------------------------------------------------ probability scoring (answer_prefix: base)

    def score_labels(self) -> list[str]:
        return [str(k) for k in range(self.max_score + 1)]

    def read_probs(self, probs: Mapping[int, float]) -> Parsed:
        """score_from_probs as a counted parse: "failed" (value None) when no score label has any probability.

        All-zero (or all non-finite) label probabilities mean the model put its mass elsewhere (e.g. a
        different answer format): a degenerate read that callers count as a fallback, never an "ok" 0.0.
        """
        if not _has_mass(probs, self.max_score):
            return Parsed("failed", note="no probability on any score label")
        return Parsed("ok", self.score_from_probs(probs), tags_ok=True, answer_clean=True)

    def score_from_probs(self, probs: Mapping[int, float]) -> float:
        """Ranking score from the probabilities of the whole score labels.

        "erank": s* x P(s*), s* the most probable score, P the raw (not renormalised) label probability, as
        ERank ranks by s x P(s); ties between scores go to the higher score.
        "expected": sum_k k P(k) with P renormalised over 0..max_score.
        Keys outside 0..max_score and negative or non-finite probabilities are ignored; no mass gives 0.0
        (read_probs reports that case as a failed parse).
        """
        clean = _clean_probs(probs, self.max_score)
        if not clean:
            return 0.0
        if self.score_mode == "expected":
            total = sum(clean.values())
            return sum(k * p for k, p in clean.items()) / total
        best = max(clean, key=lambda k: (clean[k], k))
        return best * min(1.0, clean[best])

    def score_from_generation(self, parsed: Parsed, prob_of_answer: float | None = None) -> float:
        """s x P(s) when the probability of the generated score is known, else s; 0.0 when parsing failed."""
        if not parsed.usable or parsed.value is None:
            return 0.0
        score = float(parsed.value)
        if prob_of_answer is None:
            return score
        p = float(prob_of_answer)
        if not math.isfinite(p):
            return score
        return score * min(1.0, max(0.0, p))


def _clean_probs(probs: Mapping[int, float], max_score: int) -> dict[int, float]:
    """{score: probability} for scores 0..max_score with a finite positive probability."""
    clean = {}
    for k, p in dict(probs).items():
        try:
            k, p = int(k), float(p)
        except (TypeError, ValueError):
            continue
        if 0 <= k <= max_score and math.isfinite(p) and p > 0:
            clean[k] = p
    return clean


def _has_mass(probs: Mapping[int, float], max_score: int) -> bool:
    return bool(_clean_probs(probs, max_score))
