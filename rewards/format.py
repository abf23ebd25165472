"""Format rewards, usable alone or beside a ranking reward: did the completion follow the paradigm's shape?

1.0 tags as required and a clean answer; 0.5 tags right but the answer needed repair; 0.0 otherwise.
Range: [0, 1]. Multi-document paradigms take the number of documents from `labels` (or `num_docs`); any
registered paradigm works (rl_rerank.paradigms), `max_score` goes to those that take it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from rl_rerank.errors import ConfigError
from rl_rerank.paradigms import PARADIGMS, get_paradigm, paradigm_names, paradigm_options
from rl_rerank.rewards.bounds import finite
from rl_rerank.rewards.inputs import as_int, as_labels, column, completion_text

RewardFn = Callable[..., list[float]]


def make_format(paradigm: str | None = None, reasoning: bool = True, max_score: int = 10) -> RewardFn:
    """Format reward for one paradigm, or (paradigm=None) for the one named per row in a `paradigm` column."""
    if paradigm is not None and paradigm not in PARADIGMS:
        raise ConfigError(f"format reward: unknown paradigm {paradigm!r}; choose one of: {', '.join(paradigm_names())}")
    parsers: dict[str, Any] = {}

    def parser_for(name: str):
        if name not in parsers:
            opts = {"max_score": max_score} if "max_score" in paradigm_options(name) else {}
            parsers[name] = get_paradigm(name, reasoning=reasoning, **opts)
        return parsers[name]

    reward_name = f"format_{paradigm}" if paradigm else "format"

    def format_reward(completions: list[Any], **columns: Any) -> list[float]:
        n = len(completions)
        names = [paradigm] * n if paradigm else [str(p) for p in column(columns, "paradigm", n, reward_name)]
        bad = sorted({p for p in names if p not in PARADIGMS})
        if bad:
            raise ConfigError(f"reward {reward_name!r}: unknown paradigm(s) {', '.join(bad)} in column 'paradigm'")
        labels = column(columns, "labels", n, reward_name, required=False)
        counts = column(columns, "num_docs", n, reward_name, required=False)
        out = []
        for c, name, cell, count in zip(completions, names, labels, counts, strict=True):
            if PARADIGMS[name].single_document:
                num = 1
            elif cell is not None:
                num = len(as_labels(cell))
            elif count is not None:
                num = as_int(count)
            else:
                raise ConfigError(f"reward {reward_name!r} needs the column 'labels' or 'num_docs' for {name}")
            parsed = parser_for(name).parse(completion_text(c), num)
            out.append(0.0 if not parsed.tags_ok else 1.0 if parsed.status == "ok" else 0.5 if parsed.usable else 0.0)
        return finite(out, 0.0, 1.0)

    format_reward.__name__ = reward_name
    return format_reward
