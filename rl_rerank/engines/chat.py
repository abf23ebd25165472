"""Render a chat prompt plus a partial assistant answer into the exact text/token ids a model continues.

Every local engine renders through here, so transformers and vLLM see the same tokens for the same prompt.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


def render_text(tokenizer: Any, messages: Sequence[dict[str, str]], assistant_text: str = "") -> str:
    """The chat template with the generation prompt, followed by the assistant's answer so far."""
    text = tokenizer.apply_chat_template(list(messages), add_generation_prompt=True, tokenize=False)
    return text + assistant_text


def render_ids(tokenizer: Any, messages: Sequence[dict[str, str]], assistant_text: str = "") -> list[int]:
    # The template already contains the special tokens (BOS, role markers): add none.
    return list(tokenizer(render_text(tokenizer, messages, assistant_text), add_special_tokens=False)["input_ids"])
