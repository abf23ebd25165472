"""Rank-R1's reward for setwise rollouts: exact match of the chosen label. Rows carry `qid` and `labels`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from rl_rerank.paradigms.setwise import Setwise
from rl_rerank.rewards.bounds import finite
from rl_rerank.rewards.inputs import as_labels, column, completion_text

RewardFn = Callable[..., list[float]]


def make_setwise(reasoning: bool = True, accept_repaired: bool = False) -> RewardFn:
    """1.0 if the tags are right and the chosen document has the highest label of the set, else 0.0.

    Any document sharing the highest label counts as correct; a set without a positive (all labels <= 0)
    has no right answer and gives 0.0. Several labels in one answer fail to parse (0.0). Range: [0, 1].
    """
    parser = Setwise(reasoning=reasoning)

    def setwise(completions: list[Any], **columns: Any) -> list[float]:
        n = len(completions)
        out = []
        for c, cell in zip(completions, column(columns, "labels", n, "setwise"), strict=True):
            labels = as_labels(cell)
            parsed = parser.parse(completion_text(c), len(labels))
            good = parsed.tags_ok and (parsed.status == "ok" or (accept_repaired and parsed.usable))
            best = max(labels) if labels else 0
            out.append(1.0 if good and best > 0 and labels[parsed.value] == best else 0.0)
        return finite(out, 0.0, 1.0)

    setwise.__name__ = "setwise"
    return setwise
