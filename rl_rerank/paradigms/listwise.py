"""Listwise ranking (RankGPT / ReasonRank / REARANK): the answer is a permutation `[3] > [1] > [2]`.

Partial or repeated permutations are repaired the way rank_llm-style rerankers do: duplicates and unknown
labels dropped, missing labels appended in input order; the repair is reported in `Parsed.note`.
"""

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

GENERIC_REASONING = "I compare each document with the query and order them from most to least relevant."
# ASCII digits only ("[٣]" or "[３]" is no label); labels with leading zeros are not strict.
_STRICT = re.compile(r"\s*\[[1-9][0-9]{0,5}\](?:\s*>\s*\[[1-9][0-9]{0,5}\])*\s*")
_BRACKETED = re.compile(r"\[\s*([0-9]+)\s*\]")
_BARE = re.compile(r"(?<![0-9.])([0-9]+)(?![0-9.])")


def ranking_from_labels(labels: Sequence[int]) -> list[int]:
    """0-based indices by label descending, ties in input order (Python's sort is stable)."""
    return sorted(range(len(labels)), key=lambda i: -labels[i])


def repair_permutation(ids: Sequence[int], num_docs: int) -> tuple[list[int], str]:
    """0-based ids -> a full permutation of range(num_docs) and a note naming every repair made."""
    seen: set[int] = set()
    out: list[int] = []
    dropped_dup = dropped_bad = 0
    for i in ids:
        if not 0 <= i < num_docs:
            dropped_bad += 1
        elif i in seen:
            dropped_dup += 1
        else:
            seen.add(i)
            out.append(i)
    missing = [i for i in range(num_docs) if i not in seen]
    out.extend(missing)
    notes = []
    if dropped_dup:
        notes.append(f"dropped {dropped_dup} duplicate id(s)")
    if dropped_bad:
        notes.append(f"dropped {dropped_bad} unknown id(s)")
    if missing:
        notes.append(f"appended {len(missing)} missing id(s) in input order")
    return out, ", ".join(notes)


@register_paradigm
class Listwise(MultiDocParadigm):
    name = "listwise"
    teacher_labels = "lists"

    # ------------------------------------------------------------------ builder and strategy

    def example_rows(self, job: QueryJob) -> list[dict] | None:
        from rl_rerank.datagen.examples import listwise_rows

        return listwise_rows(self, job)

    def rerank(self, engine: Engine, requests: Sequence[Request], settings: StrategySettings,
               stats: StrategyStats) -> list[dict[str, float]]:
        from rl_rerank.rerank.strategies import listwise

        return listwise(engine, self, requests, settings, stats)

    def docs_per_prompt(self, settings: StrategySettings) -> int:
        return settings.window

    def answer_tokens(self, num_docs: int) -> int:
        return 8 + 5 * num_docs

    def target(self, labels: Sequence[int], reasoning: str | None = None) -> str:
        answer = " > ".join(f"[{i + 1}]" for i in ranking_from_labels(labels))
        return wrap_target(answer, self.reasoning, reasoning, "think", GENERIC_REASONING)

    def _parse(self, completion: str, num_docs: int) -> Parsed:
        split = split_tags(completion if isinstance(completion, str) else str(completion), self.reasoning, "think")
        if split.answer is None or num_docs <= 0:
            return Parsed("failed", reasoning=split.reasoning, tags_ok=split.tags_ok and split.answer is not None,
                          note=join_notes(split.note, "no ranking"))
        content = split.answer
        tokens = _BRACKETED.findall(content)
        how = ""
        if not tokens:
            tokens = _BARE.findall(content)
            how = "labels without brackets" if tokens else ""
        if not tokens:
            return Parsed("failed", reasoning=split.reasoning, tags_ok=split.tags_ok,
                          note=join_notes(split.note, "no ranking"))
        zeros = "labels with leading zeros" if any(leading_zeros(t) for t in tokens) else ""
        perm, repair = repair_permutation([label_number(t) - 1 for t in tokens], num_docs)
        clean = bool(_STRICT.fullmatch(content)) and not repair and not how and not zeros
        status: ParseStatus = "ok" if clean and split.tags_ok else "repaired"
        if not clean and not repair and not how and not zeros:
            how = "text around the ranking"
        return Parsed(status, perm, split.reasoning, split.tags_ok, join_notes(split.note, how, zeros, repair),
                      answer_clean=clean)

    def doc_scores(self, parsed: Parsed, num_docs: int) -> list[float] | None:
        """Score n - position, so the first-ranked document scores highest."""
        if not parsed.usable or parsed.value is None:
            return None
        scores = [0.0] * num_docs
        for pos, i in enumerate(parsed.value):
            if 0 <= i < num_docs:
                scores[i] = float(num_docs - pos)
        return scores
