"""The one interface every ranking paradigm implements: prompt, SFT target, parser, per-document scores.

Data flows: (query, docs) -> messages -> model completion -> parse() -> Parsed -> doc_scores().
Parsers never raise on model output: they return a Parsed with a status that callers count.
This module must not import torch (rewards import paradigms, and rewards stay torch-free).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, Literal, Sequence

from rl_rerank.data.types import Candidate, Query

ParseStatus = Literal["ok", "repaired", "failed"]

# One set of prompt budgets for every path that builds prompts (label, training data, rerank), so the same query
# and documents give the same prompt wherever no recipe says otherwise.
DEFAULT_MAX_DOC_TOKENS = 256
DEFAULT_MAX_PROMPT_TOKENS = 4096


@dataclass
class Parsed:
    """What a parser read from one completion.

    value, by paradigm (indices are 0-based positions of the documents in the prompt):
      pointwise: int score in [0, max_score]; listwise: list[int] full permutation;
      setwise: int index; groupwise: list[int] one score per document.
    status: "ok" parsed as asked; "repaired" usable after a documented repair (see note);
    "failed" nothing usable (value is None).
    tags_ok: the required tag structure (<think>/<reason> when reasoning is on, <answer>) was present;
    rewards use it to tell "format wrong" from "answer malformed".
    answer_clean: the answer text itself was read as asked, no repair, whatever the tags around it
    (status is "ok" exactly when tags_ok and answer_clean); REARANK scores the two formats separately.
    """

    status: ParseStatus
    value: Any = None
    reasoning: str | None = None
    tags_ok: bool = False
    note: str = ""
    answer_clean: bool = False

    @property
    def usable(self) -> bool:
        return self.status != "failed"


@dataclass
class ParseStats:
    """Counts of parse outcomes, reported by every caller that parses model output."""

    ok: int = 0
    repaired: int = 0
    failed: int = 0
    notes: dict[str, int] = field(default_factory=dict)

    def add(self, parsed: Parsed) -> Parsed:
        setattr(self, parsed.status, getattr(self, parsed.status) + 1)
        if parsed.note:
            self.notes[parsed.note] = self.notes.get(parsed.note, 0) + 1
        return parsed

    def as_dict(self) -> dict:
        return {"ok": self.ok, "repaired": self.repaired, "failed": self.failed, "notes": dict(self.notes)}


class Paradigm(ABC):
    """A way of asking an LLM to rank: how many documents per prompt, what it must answer, how to read it."""

    name: str = ""
    #: True when one prompt holds exactly one document (pointwise); False for windows/sets/groups.
    single_document: bool = False

    def __init__(self, reasoning: bool = False, template: str | None = None, max_doc_tokens: int = DEFAULT_MAX_DOC_TOKENS,
                 max_prompt_tokens: int = DEFAULT_MAX_PROMPT_TOKENS):
        self.reasoning = reasoning
        self.template_path = template  # None -> packaged default in paradigms/templates/
        self.max_doc_tokens = max_doc_tokens
        self.max_prompt_tokens = max_prompt_tokens

    @abstractmethod
    def messages(self, query: Query, docs: Sequence[Candidate], tokenizer: Any = None) -> list[dict[str, str]]:
        """Chat messages (system/user) asking the model to rank `docs` for `query`.

        With a tokenizer, each document is truncated to `max_doc_tokens` and, if needed, further so that the
        whole prompt stays within `max_prompt_tokens`.
        """

    @abstractmethod
    def target(self, labels: Sequence[int], reasoning: str | None = None) -> str:
        """The SFT completion for documents with these labels (same order as in the prompt)."""

    def parse(self, completion: str, num_docs: int = 1) -> Parsed:
        """Read a completion. Never raises, whatever the string: a parser bug becomes a counted failure."""
        try:
            return self._parse(completion, int(num_docs))
        except Exception as exc:  # never raise on model output
            return Parsed("failed", note=f"parser error: {type(exc).__name__}")

    @abstractmethod
    def _parse(self, completion: str, num_docs: int) -> Parsed:
        """The paradigm's reading of a completion; may raise on input it did not foresee (parse() guards)."""

    @abstractmethod
    def doc_scores(self, parsed: Parsed, num_docs: int) -> list[float] | None:
        """One score per document (higher = more relevant), or None when the parse failed."""
