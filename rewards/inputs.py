"""What a reward receives: completion text and dataset columns, read defensively.

TRL's GRPOTrainer calls `f(prompts=..., completions=..., completion_ids=..., **columns)` where every dataset
column arrives as a list aligned with the completions; completions are strings or, for conversational
datasets, lists of {"role", "content"} messages. Model output is untrusted; the columns are ours, so a missing
required column is a configuration error, not something to paper over.
"""

from __future__ import annotations

import json
import math
from typing import Any

from rl_rerank.errors import ConfigError


def completion_text(completion: Any) -> str:
    """The text of one completion: a string as is; for a message list, the last assistant content."""
    if isinstance(completion, str):
        return completion
    if isinstance(completion, dict):
        return _content(completion.get("content", ""))
    if isinstance(completion, (list, tuple)):
        messages = [m for m in completion if isinstance(m, dict)]
        assistant = [m for m in messages if m.get("role") == "assistant"]
        chosen = assistant[-1] if assistant else (messages[-1] if messages else None)
        return _content(chosen.get("content", "")) if chosen else ""
    return "" if completion is None else str(completion)


def _content(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, (list, tuple)):  # multimodal parts: keep the text ones
        return "".join(p.get("text", "") if isinstance(p, dict) else str(p) for p in content)
    return "" if content is None else str(content)


def column(columns: dict[str, Any], name: str, n: int, reward: str, required: bool = True) -> list[Any]:
    """One dataset column as a list of length n (None entries when optional and absent)."""
    values = columns.get(name)
    if values is None:
        if required:
            present = ", ".join(sorted(columns)) or "none"
            raise ConfigError(f"reward {reward!r} needs the dataset column {name!r} (got: {present})")
        return [None] * n
    values = list(values) if not isinstance(values, (str, bytes)) else [values]
    if len(values) != n:
        raise ConfigError(f"reward {reward!r}: column {name!r} has {len(values)} values for {n} completions")
    return values


def as_labels(value: Any) -> list[int]:
    """A `labels` cell (list, tuple, numpy array) as a list of ints; unreadable entries become 0."""
    if value is None:
        return []
    if isinstance(value, (str, bytes)):  # a list stored as JSON text (CSV/JSON round trips)
        try:
            value = json.loads(value)
        except ValueError:
            return []
        if not isinstance(value, list):
            return []
    try:
        items = list(value)
    except TypeError:
        return []
    return [as_int(v) for v in items]


def as_int(value: Any, default: int = 0) -> int:
    try:
        f = float(value)
    except (TypeError, ValueError):
        return default
    return int(f) if math.isfinite(f) else default


def as_float(value: Any) -> float | None:
    """A finite float, or None for missing/NaN/unreadable values."""
    if value is None or isinstance(value, bool):
        return None
    try:
        f = float(value)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None
