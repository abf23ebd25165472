"""Groupwise scoring (GroupRank): every document of the group gets an integer score, as a JSON object.

The answer `{"[1]": 7, "[2]": 0, ...}` comes inside <answer>, after <reason> when reasoning is on. Model JSON
is often sloppy, so the parser repairs code fences, trailing commas, single quotes, unquoted keys, missing
ids (scored 0), duplicate ids (the first value stands), and non-integer or out-of-range values (rounded and
clipped), naming each repair in the note. Our own small repairs, not a general JSON fixer: each is named and
counted, and all of them run in linear time on any input. json-repair 0.64.4 was measured against these
promises and fails them: it raises on deep nesting ("[" * 2500 and up: RecursionError; "{" * 2500 to 20000:
ValueError), merges duplicate ids (the last value wins, unseen), turns an unquoted key [2] into "2]", and
logs repairs as free text, not as countable kinds. (1 MB of random JSON-ish garbage: 1.4 s CPU, linear.)
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from rl_rerank.errors import ConfigError
from rl_rerank.paradigms.answer_numbers import label_number, leading_zeros, to_int
from rl_rerank.paradigms.base import (
    DEFAULT_MAX_DOC_TOKENS,
    DEFAULT_MAX_PROMPT_TOKENS,
    Parsed,
    ParseStatus,
    register_paradigm,
)
from rl_rerank.paradigms.multidoc import MultiDocParadigm
from rl_rerank.paradigms.tags import join_notes, split_tags, wrap_target

if TYPE_CHECKING:
    from rl_rerank.data.types import Request
    from rl_rerank.datagen.examples import QueryJob
    from rl_rerank.engines.base import Engine
    from rl_rerank.rerank.strategies import StrategySettings, StrategyStats

GENERIC_REASONING = "I compare the documents with the query and with each other, then score each one."
# ASCII digits only throughout: "٣" or "３" is neither a label nor a score.
_KEY = re.compile(r"\[?\s*([0-9]+)\s*\]?")  # fullmatch on a stripped JSON key: "[3]", "3", "[ 3 ]"
_CLEAN_KEY = re.compile(r"\[[1-9][0-9]*\]")
# key: value pairs in text that is not JSON. Starts at a digit (no optional prefix, so a long run of spaces
# is not rescanned from every position) and never puts two whitespace runs side by side: linear time.
_PAIR = re.compile(r"""(?<![0-9])([0-9]+)\s*(?:\]\s*)?(?:["']\s*)?:\s*["']?(-?[0-9]+(?:\.[0-9]+)?)""")
_NUMBER = re.compile(r"-?[0-9]+(?:\.[0-9]+)?")
_FENCE = "```"


class _Pairs(list):
    """A JSON object read as its (key, value) pairs in order, so duplicate keys are seen, not merged."""


def _json_candidates(content: str) -> list[tuple[str, str]]:
    """Increasingly repaired versions of the answer text, each with the repair it needed."""
    text = content.strip()
    out = [(text, "")]
    fence = text.find(_FENCE)
    if fence != -1:
        close = text.find(_FENCE, fence + len(_FENCE))
        if close != -1:
            inner = text[fence + len(_FENCE):close]
            text = (inner[len("json"):] if inner.startswith("json") else inner).strip()
            out.append((text, "code fence removed"))
    start, end = text.find("{"), text.rfind("}")
    if start != -1 and end > start and (start, end) != (0, len(text) - 1):
        text = text[start:end + 1]
        out.append((text, "text around the JSON object"))
    fixed = re.sub(r",\s*([}\]])", r"\1", text)
    fixed = fixed.replace("'", '"')
    fixed = re.sub(r'([{,]\s*)(\[\s*[0-9]+\s*\]|[0-9]+)(\s*:)', r'\1"\2"\3', fixed)
    if fixed != text:
        out.append((fixed, "JSON syntax repaired"))
    return out


@register_paradigm
class Groupwise(MultiDocParadigm):
    name = "groupwise"

    def __init__(self, reasoning: bool = False, template: str | None = None,
                 max_doc_tokens: int = DEFAULT_MAX_DOC_TOKENS,
                 max_prompt_tokens: int = DEFAULT_MAX_PROMPT_TOKENS, max_score: int = 10):
        if not isinstance(max_score, int) or max_score < 1:
            raise ConfigError(f"groupwise max_score must be an integer >= 1, got {max_score!r}")
        self.max_score = max_score
        super().__init__(reasoning, template, max_doc_tokens, max_prompt_tokens)

    def template_values(self) -> dict[str, str]:
        return {"max_score": str(self.max_score)}

    # ------------------------------------------------------------------ builder and strategy

    def example_rows(self, job: QueryJob) -> list[dict] | None:
        from rl_rerank.datagen.examples import groupwise_rows

        return groupwise_rows(self, job)

    def rerank(self, engine: Engine, requests: Sequence[Request], settings: StrategySettings,
               stats: StrategyStats) -> list[dict[str, float]]:
        from rl_rerank.rerank.strategies import groupwise

        return groupwise(engine, self, requests, settings, stats)

    def docs_per_prompt(self, settings: StrategySettings) -> int:
        return settings.group_size

    def answer_tokens(self, num_docs: int) -> int:
        return 10 + 8 * num_docs

    def target(self, labels: Sequence[int], reasoning: str | None = None) -> str:
        """JSON of the labels themselves (clipped to 0..max_score), keys "[1]".."[n]"."""
        obj = {f"[{i}]": min(self.max_score, max(0, int(v))) for i, v in enumerate(labels, start=1)}
        return wrap_target(json.dumps(obj), self.reasoning, reasoning, "reason", GENERIC_REASONING)

    def _parse(self, completion: str, num_docs: int) -> Parsed:
        split = split_tags(completion if isinstance(completion, str) else str(completion), self.reasoning, "reason")
        if split.answer is None or num_docs <= 0:
            return Parsed("failed", reasoning=split.reasoning, tags_ok=split.tags_ok and split.answer is not None,
                          note=join_notes(split.note, "no scores"))
        pairs, how = self._read_pairs(split.answer)
        if pairs is None:
            return Parsed("failed", reasoning=split.reasoning, tags_ok=split.tags_ok,
                          note=join_notes(split.note, "no JSON scores"))
        scores: list[int | None] = [None] * num_docs
        notes = [how] if how else []
        unknown = changed = duplicate = 0
        seen: set[int] = set()
        for key, raw in pairs:
            if not 1 <= key <= num_docs:
                unknown += 1
                continue
            if key in seen:  # a repeated id: the first value stands (json.loads would keep the last)
                duplicate += 1
                continue
            seen.add(key)
            value, was_changed = self._value(raw)
            if value is None:
                changed += 1
                continue
            changed += was_changed
            scores[key - 1] = value
        missing = sum(s is None for s in scores)
        if missing == num_docs:
            return Parsed("failed", reasoning=split.reasoning, tags_ok=split.tags_ok,
                          note=join_notes(split.note, how, "no score for any document"))
        if duplicate:
            notes.append(f"kept the first of {duplicate} duplicate id(s)")
        if unknown:
            notes.append(f"ignored {unknown} unknown id(s)")
        if changed:
            notes.append(f"rounded/clipped {changed} value(s)")
        if missing:
            notes.append(f"scored {missing} missing id(s) 0")
        filled = [0 if s is None else s for s in scores]
        clean = not notes
        status: ParseStatus = "ok" if split.tags_ok and clean else "repaired"
        return Parsed(status, filled, split.reasoning, split.tags_ok, join_notes(split.note, *notes),
                      answer_clean=clean)

    def _read_pairs(self, content: str) -> tuple[list[tuple[int, Any]] | None, str]:
        """(label, raw value) pairs in answer order, duplicates kept, and the repair that was needed."""
        for text, how in _json_candidates(content):
            try:
                obj = json.loads(text, object_pairs_hook=_Pairs)
            except (ValueError, RecursionError):
                continue
            if isinstance(obj, _Pairs):
                pairs = []
                odd: set[str] = set()
                for k, v in obj:
                    m = _KEY.fullmatch(k.strip())
                    if m:
                        pairs.append((label_number(m.group(1)), v))
                        if not _CLEAN_KEY.fullmatch(k):  # "1", "[01]", " [1] ": read, but a repair
                            odd.add("keys without brackets" if "[" not in k else "keys not in the form [n]")
                if pairs:
                    return pairs, join_notes(how, *sorted(odd))
        found = [(label_number(k), int(v) if re.fullmatch(r"-?[0-9]{1,9}", v) and not leading_zeros(v) else v)
                 for k, v in _PAIR.findall(content)]
        return (found, "scores read with a pattern, not as JSON") if found else (None, "")

    def _value(self, raw: Any) -> tuple[int | None, bool]:
        """Integer score in range, and whether it had to be changed; None when not a number at all."""
        if isinstance(raw, bool):
            return None, True
        if isinstance(raw, int):
            clipped = min(self.max_score, max(0, raw))
            return clipped, clipped != raw
        if isinstance(raw, float):
            if math.isnan(raw):
                return None, True
            return int(math.floor(min(float(self.max_score), max(0.0, raw)) + 0.5)), True
        if isinstance(raw, str) and _NUMBER.fullmatch(raw.strip()):
            return to_int(raw.strip(), 0, self.max_score)[0], True
        return None, True

    def doc_scores(self, parsed: Parsed, num_docs: int) -> list[float] | None:
        if not parsed.usable or parsed.value is None:
            return None
        return [float(v) for v in parsed.value]
