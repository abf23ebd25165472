"""Setwise selection (Rank-R1): the answer is the label of the single most relevant document, `[k]`."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TYPE_CHECKING

from rl_rerank.paradigms.answer_numbers import label_number, leading_zeros
from rl_rerank.paradigms.base import Parsed, ParseStatus, register_paradigm
from rl_rerank.paradigms.multidoc import MultiDocParadigm
from rl_rerank.paradigms.tags import join_notes, split_tags, wrap_target

if TYPE_CHECKING:
    from rl_rerank.data.types import Request
    from rl_rerank.datagen.examples import QueryJob
    from rl_rerank.engines.base import Engine
    from rl_rerank.rerank.strategies import StrategySettings, StrategyStats

GENERIC_REASONING = "I check which document answers the query most directly and completely."
# ASCII digits only ("[٣]" or "[３]" is no label); a label with leading zeros is not strict.
_STRICT = re.compile(r"\s*\[([1-9][0-9]{0,5})\]\s*")
_BRACKETED = re.compile(r"\[\s*([0-9]+)\s*\]")
_BARE = re.compile(r"(?<![0-9.])([0-9]+)(?![0-9.])")


def best_index(labels: Sequence[int]) -> int:
    """0-based index of the highest label, the first one on ties."""
    return max(range(len(labels)), key=lambda i: (labels[i], -i))


@register_paradigm
class Setwise(MultiDocParadigm):
    name = "setwise"

    # ------------------------------------------------------------------ builder and strategy

    def example_rows(self, job: QueryJob) -> list[dict] | None:
        from rl_rerank.datagen.examples import setwise_rows

        return setwise_rows(self, job)

    def rerank(self, engine: Engine, requests: Sequence[Request], settings: StrategySettings,
               stats: StrategyStats) -> list[dict[str, float]]:
        from rl_rerank.rerank.strategies import setwise

        return setwise(engine, self, requests, settings, stats)

    def docs_per_prompt(self, settings: StrategySettings) -> int:
        return settings.set_size

    def target(self, labels: Sequence[int], reasoning: str | None = None) -> str:
        if not labels:
            raise ValueError("setwise target needs at least one label")
        return wrap_target(f"[{best_index(labels) + 1}]", self.reasoning, reasoning, "think", GENERIC_REASONING)

    def _parse(self, completion: str, num_docs: int) -> Parsed:
        split = split_tags(completion if isinstance(completion, str) else str(completion), self.reasoning, "think")
        if split.answer is None:
            return Parsed("failed", reasoning=split.reasoning, note=join_notes(split.note, "no label"))
        content = split.answer
        strict = _STRICT.fullmatch(content)
        if strict and 1 <= int(strict.group(1)) <= num_docs:
            status: ParseStatus = "ok" if split.tags_ok else "repaired"
            return Parsed(status, int(strict.group(1)) - 1, split.reasoning, split.tags_ok, split.note,
                          answer_clean=True)
        found = _BRACKETED.findall(content) or _BARE.findall(content if split.answer_tagged else content[-200:])
        labels = {label_number(x) for x in found}
        valid = {k for k in labels if 1 <= k <= num_docs}
        if len(labels) > 1:
            return Parsed("failed", reasoning=split.reasoning, tags_ok=split.tags_ok,
                          note=join_notes(split.note, "several labels given"))
        if not valid:
            return Parsed("failed", reasoning=split.reasoning, tags_ok=split.tags_ok,
                          note=join_notes(split.note, "no valid label"))
        zeros = "label with leading zeros" if any(leading_zeros(x) for x in found) else ""
        how = "" if zeros and _BRACKETED.fullmatch(content.strip()) else "label read from surrounding text"
        return Parsed("repaired", valid.pop() - 1, split.reasoning, split.tags_ok, join_notes(split.note, zeros, how))

    def doc_scores(self, parsed: Parsed, num_docs: int) -> list[float] | None:
        """1.0 for the chosen document, 0.0 for the others."""
        if not parsed.usable or parsed.value is None:
            return None
        return [1.0 if i == parsed.value else 0.0 for i in range(num_docs)]
