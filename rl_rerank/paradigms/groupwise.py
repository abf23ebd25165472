"""Groupwise scoring (GroupRank): every document of the group gets an integer score, as a JSON object.

The answer `{"[1]": 7, "[2]": 0, ...}` comes inside <answer>, after <reason> when reasoning is on. Model JSON
is often sloppy, so the parser repairs code fences, trailing commas, single quotes, unquoted keys, missing
ids (scored 0), and non-integer or out-of-range values (rounded and clipped), naming each repair in the note.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any, Sequence

from rl_rerank.errors import ConfigError
from rl_rerank.paradigms.base import DEFAULT_MAX_DOC_TOKENS, DEFAULT_MAX_PROMPT_TOKENS, Parsed
from rl_rerank.paradigms.common import join_notes, split_tags, to_int, wrap_target
from rl_rerank.paradigms.multidoc import MultiDocParadigm

GENERIC_REASONING = "I compare the documents with the query and with each other, then score each one."
_KEY = re.compile(r"^\s*\[?\s*(\d{1,9})\s*\]?\s*$")
_PAIR = re.compile(r"""["']?\[?\s*(\d{1,9})\s*\]?["']?\s*:\s*["']?(-?\d+(?:\.\d+)?)""")


def _json_candidates(content: str) -> list[tuple[str, str]]:
    """Increasingly repaired versions of the answer text, each with the repair it needed."""
    text = content.strip()
    out = [(text, "")]
    fence = re.search(r"```(?:json)?\s*(.*?)```", text, flags=re.DOTALL)
    if fence:
        text = fence.group(1).strip()
        out.append((text, "code fence removed"))
    start, end = text.find("{"), text.rfind("}")
    if start != -1 and end > start and (start, end) != (0, len(text) - 1):
        text = text[start:end + 1]
        out.append((text, "text around the JSON object"))
    fixed = re.sub(r",\s*([}\]])", r"\1", text)
    fixed = fixed.replace("'", '"')
    fixed = re.sub(r'([{,]\s*)(\[\s*\d+\s*\]|\d+)(\s*:)', r'\1"\2"\3', fixed)
    if fixed != text:
        out.append((fixed, "JSON syntax repaired"))
    return out


class Groupwise(MultiDocParadigm):
    name = "groupwise"

    def __init__(self, reasoning: bool = False, template: str | None = None, max_doc_tokens: int = DEFAULT_MAX_DOC_TOKENS,
                 max_prompt_tokens: int = DEFAULT_MAX_PROMPT_TOKENS, max_score: int = 10):
        if not isinstance(max_score, int) or max_score < 1:
            raise ConfigError(f"groupwise max_score must be an integer >= 1, got {max_score!r}")
        self.max_score = max_score
        super().__init__(reasoning, template, max_doc_tokens, max_prompt_tokens)

    def template_values(self) -> dict[str, str]:
        return {"max_score": str(self.max_score)}

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
        unknown = changed = 0
        for key, raw in pairs:
            if not 1 <= key <= num_docs:
                unknown += 1
                continue
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
        if unknown:
            notes.append(f"ignored {unknown} unknown id(s)")
        if changed:
            notes.append(f"rounded/clipped {changed} value(s)")
        if missing:
            notes.append(f"scored {missing} missing id(s) 0")
        value = [0 if s is None else s for s in scores]
        status = "ok" if split.tags_ok and not notes else "repaired"
        return Parsed(status, value, split.reasoning, split.tags_ok, join_notes(split.note, *notes))

    def _read_pairs(self, content: str) -> tuple[list[tuple[int, Any]] | None, str]:
        for text, how in _json_candidates(content):
            try:
                obj = json.loads(text)
            except (ValueError, RecursionError):
                continue
            if isinstance(obj, dict):
                pairs = []
                for k, v in obj.items():
                    m = _KEY.match(str(k))
                    if m:
                        pairs.append((int(m.group(1)), v))
                if pairs:
                    odd_keys = any(not re.fullmatch(r"\[\d+\]", str(k)) for k in obj)
                    return pairs, join_notes(how, "keys without brackets" if odd_keys else "")
        found = [(int(k), int(v) if re.fullmatch(r"-?\d{1,9}", v) else v) for k, v in _PAIR.findall(content)]
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
            clipped = min(float(self.max_score), max(0.0, raw))
            return int(math.floor(clipped + 0.5)), True
        if isinstance(raw, str) and re.fullmatch(r"\s*-?\d+(?:\.\d+)?\s*", raw):
            return to_int(raw.strip(), 0, self.max_score)[0], True
        return None, True

    def doc_scores(self, parsed: Parsed, num_docs: int) -> list[float] | None:
        if not parsed.usable or parsed.value is None:
            return None
        return [float(v) for v in parsed.value]
