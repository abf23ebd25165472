"""Prompt building shared by the paradigms that show several labelled documents [1]..[n] at once."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rl_rerank.data.types import Candidate, Query
from rl_rerank.paradigms.base import DEFAULT_MAX_DOC_TOKENS, DEFAULT_MAX_PROMPT_TOKENS, Paradigm
from rl_rerank.paradigms.budget import TokenCounter, fit_prompt
from rl_rerank.paradigms.prompt_template import instruction_text, load_template
from rl_rerank.paradigms.specials import special_strings


def doc_block(texts: Sequence[str]) -> str:
    """Documents as `[1] text` paragraphs; newlines inside a document are flattened so labels stay visible."""
    return "\n".join(f"[{i}] {' '.join(t.split())}" for i, t in enumerate(texts, start=1))


class MultiDocParadigm(Paradigm):
    """Listwise, setwise and groupwise prompts: query plus labelled documents, fitted to the token budget."""

    def __init__(self, reasoning: bool = False, template: str | None = None,
                 max_doc_tokens: int = DEFAULT_MAX_DOC_TOKENS,
                 max_prompt_tokens: int = DEFAULT_MAX_PROMPT_TOKENS):
        super().__init__(reasoning, template, max_doc_tokens, max_prompt_tokens)
        self.template = load_template(self.name, template, required=("query", "documents"),
                                      default_text=self.default_template)

    def template_values(self) -> dict[str, str]:
        """Paradigm-specific placeholders (e.g. max_score)."""
        return {}

    def messages(self, query: Query, docs: Sequence[Candidate], tokenizer: Any = None) -> list[dict[str, str]]:
        if not docs:
            raise ValueError(f"{self.name} prompts need at least one document")
        extra = self.template_values()
        specials = special_strings(tokenizer)

        def build(query_text: str, texts: list[str]) -> list[dict[str, str]]:
            values = {"instruction": instruction_text(query.instruction), "query": query_text,
                      "documents": doc_block(texts), "num": str(len(texts)), **extra}
            return self.template.render(values, self.reasoning, specials)

        return fit_prompt(build, query.text, [d.full_text() for d in docs], TokenCounter(tokenizer),
                          self.max_doc_tokens, self.max_prompt_tokens)
