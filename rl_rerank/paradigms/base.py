"""The one interface every ranking paradigm implements: prompt, SFT target, parser, per-document scores.

Data flows: (query, docs) -> messages -> model completion -> parse() -> Parsed -> doc_scores().
Parsers never raise on model output: they return a Parsed with a status that callers count.
This module must not import torch (rewards import paradigms, and rewards stay torch-free).

A paradigm is one unit: its class (registered by name with `register_paradigm`), its prompt template, its
training-example builder (`example_rows`) and its reranking strategy (`rerank`). Everything else (data
building, reranking, labelling, rewards, command-line choices) finds it by name in `PARADIGMS`.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Literal, TypeVar

from rl_rerank.data.types import Candidate, Query

if TYPE_CHECKING:  # only for annotations: paradigms stay importable without the engines or datasets
    from rl_rerank.data.types import Request
    from rl_rerank.datagen.examples import QueryJob
    from rl_rerank.engines.base import Engine
    from rl_rerank.rerank.strategies import StrategySettings, StrategyStats

ParseStatus = Literal["ok", "repaired", "failed"]
TeacherLabels = Literal["scores", "lists"]

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
    """A way of asking an LLM to rank: how many documents per prompt, what it must answer, how to read it,
    how its training examples are built and how it reranks a candidate list."""

    name: ClassVar[str] = ""
    #: True when one prompt holds exactly one document (pointwise); False for windows/sets/groups.
    single_document: ClassVar[bool] = False
    #: What a teacher's samples become in labelled data (`rl-rerank label`): "scores" (one integer per
    #: document, consensus of k samples), "lists" (a permutation per window, kept by NDCG), None (not labelled).
    teacher_labels: ClassVar[TeacherLabels | None] = None
    #: Text of the default prompt template when it is not packaged as paradigms/templates/<name>.txt
    #: (a paradigm defined outside this package).
    default_template: ClassVar[str | None] = None

    def __init__(self, reasoning: bool = False, template: str | None = None,
                 max_doc_tokens: int = DEFAULT_MAX_DOC_TOKENS,
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

    # ------------------------------------------------------------------ the unit's data builder and strategy

    @abstractmethod
    def example_rows(self, job: QueryJob) -> list[dict] | None:
        """Training rows (SFT or GRPO, per job.settings.mode) for one query, or None when the query has too few
        candidates (counted by the caller). Builders live in rl_rerank.datagen.examples."""

    @abstractmethod
    def rerank(self, engine: Engine, requests: Sequence[Request], settings: StrategySettings,
               stats: StrategyStats) -> list[dict[str, float]]:
        """The reranking strategy: per request, {docid: score} (higher is better). Strategies live in
        rl_rerank.rerank.strategies; a prompt whose output does not parse falls back and is counted."""

    def docs_per_prompt(self, settings: StrategySettings) -> int:
        """The most documents one prompt holds under these strategy settings (sizes the engine's context)."""
        return 1

    def answer_tokens(self, num_docs: int) -> int:
        """Completion tokens the answer alone needs for `num_docs` documents (reasoning budget not included)."""
        return 24

    # ------------------------------------------------------------------ probability scoring (reasoning off)

    def answer_prefix(self) -> str:
        """Assistant text after which the answer comes; engines read label probabilities after it."""
        return "<answer>"

    def score_labels(self) -> list[str]:
        """The whole answers whose probabilities score a single document; [] when the paradigm is not scored
        from label probabilities (it generates)."""
        return []

    def score_from_probs(self, probs: Mapping[int, float]) -> float:
        """Ranking score from {label value: probability}: the expected label value, probabilities renormalised
        over the finite positive ones; 0.0 without any mass."""
        clean = {int(k): float(p) for k, p in probs.items() if math.isfinite(float(p)) and float(p) > 0}
        total = sum(clean.values())
        return sum(k * p for k, p in clean.items()) / total if total else 0.0

    def read_probs(self, probs: Mapping[int, float]) -> Parsed:
        """score_from_probs as a counted parse: "failed" when no label has any probability."""
        if not any(math.isfinite(float(p)) and float(p) > 0 for p in probs.values()):
            return Parsed("failed", note="no probability on any score label")
        return Parsed("ok", self.score_from_probs(probs), tags_ok=True, answer_clean=True)

    def score_from_generation(self, parsed: Parsed, prob_of_answer: float | None = None) -> float:
        """Score of a single document from a generated answer: its doc_scores entry, 0.0 when unusable."""
        scores = self.doc_scores(parsed, 1) if parsed.usable else None
        return float(scores[0]) if scores else 0.0


# ----------------------------------------------------------------------------------------------- registry

#: Every paradigm by name. Filled by `register_paradigm` (the package's own modules register on import).
PARADIGMS: dict[str, type[Paradigm]] = {}

P = TypeVar("P", bound=type[Paradigm])


def register_paradigm(cls: P) -> P:
    """Class decorator: make a paradigm findable by its `name` (get_paradigm, the CLI, data building, rerank).

    A second class under a taken name is refused (ValueError): two paradigms answering to one name would make
    recipes and caches ambiguous. Registering the same class again is a no-op (module reloads).
    """
    if not (isinstance(cls, type) and issubclass(cls, Paradigm)) or not cls.name:
        raise ValueError(f"register_paradigm takes a Paradigm subclass with a non-empty `name`, got {cls!r}")
    taken = PARADIGMS.get(cls.name)
    if taken is not None and (taken.__module__, taken.__qualname__) != (cls.__module__, cls.__qualname__):
        raise ValueError(f"paradigm name {cls.name!r} is taken by {taken.__module__}.{taken.__qualname__}")
    PARADIGMS[cls.name] = cls
    return cls
