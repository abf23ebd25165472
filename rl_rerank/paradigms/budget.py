"""Token budgets: count and cut text (with the tokenizer, else an estimate) so a prompt fits its budget."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

from rl_rerank.paradigms.specials import neutralize_specials, special_strings

CHARS_PER_TOKEN = 4  # budget estimate when no tokenizer is given


class TokenCounter:
    """Counts and truncates text with a tokenizer when given, else with a characters-per-token estimate."""

    def __init__(self, tokenizer: Any = None):
        self.tokenizer = tokenizer

    def count(self, text: str) -> int:
        if self.tokenizer is None:
            return math.ceil(len(text) / CHARS_PER_TOKEN)
        return len(self.tokenizer.encode(text, add_special_tokens=False))

    def truncate(self, text: str, max_tokens: int) -> str:
        max_tokens = max(0, int(max_tokens))
        if self.tokenizer is None:
            limit = max_tokens * CHARS_PER_TOKEN
            return text if len(text) <= limit else text[:limit]
        ids = self.tokenizer.encode(text, add_special_tokens=False)
        if len(ids) <= max_tokens:
            return text
        return self.tokenizer.decode(ids[:max_tokens], skip_special_tokens=True)

    def prompt_length(self, messages: list[dict[str, str]]) -> int:
        """Tokens of the whole prompt, chat markers included when the tokenizer has a chat template."""
        tok = self.tokenizer
        if tok is not None and getattr(tok, "chat_template", None):
            out = tok.apply_chat_template(messages, tokenize=True, add_generation_prompt=True)
            if isinstance(out, dict) or hasattr(out, "keys"):
                out = out["input_ids"]
            return len(out)
        # No template: content plus a few tokens of role markers per message.
        return sum(self.count(m["content"]) + 4 for m in messages)


def fit_prompt(build: Callable[[str, list[str]], list[dict[str, str]]], query: str, doc_texts: Sequence[str],
               counter: TokenCounter, max_doc_tokens: int, max_prompt_tokens: int) -> list[dict[str, str]]:
    """Messages whose documents are cut to `max_doc_tokens`, then further until the prompt fits.

    `build(query, docs)` renders the messages. When even empty documents do not fit, the query is cut too.
    Query and documents are neutralised (neutralize_specials) before they are counted and cut, so the budget
    is spent on the text the model will see.
    """
    specials = special_strings(counter.tokenizer)
    query = neutralize_specials(query, specials)
    doc_texts = [neutralize_specials(t, specials) for t in doc_texts]
    docs = [counter.truncate(t, max_doc_tokens) for t in doc_texts]
    messages = build(query, docs)
    length = counter.prompt_length(messages)
    if length <= max_prompt_tokens:
        return messages
    n = max(1, len(docs))
    overhead = counter.prompt_length(build(query, [""] * len(docs)))
    if overhead > max_prompt_tokens:  # the query alone is too long: keep a quarter of the budget for it
        query = counter.truncate(query, max(1, max_prompt_tokens // 4))
        overhead = counter.prompt_length(build(query, [""] * len(docs)))
    budget = min(max_doc_tokens, max(0, (max_prompt_tokens - overhead) // n))
    for _ in range(50):
        docs = [counter.truncate(t, budget) for t in doc_texts]
        messages = build(query, docs)
        length = counter.prompt_length(messages)
        if length <= max_prompt_tokens or budget == 0:
            break
        budget = max(0, budget - max(1, (length - max_prompt_tokens + n - 1) // n))
    if length > max_prompt_tokens:  # only the template itself is left: cut the query to nothing
        query = counter.truncate(query, 0)
        messages = build(query, docs)
    return messages
