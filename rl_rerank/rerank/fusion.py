"""Mix reranker scores with first-stage scores (GroupRank's final score may include the retriever's)."""

from __future__ import annotations

import math
from typing import Mapping

FUSION_METHODS = ("zscore", "minmax")


def normalize(scores: Mapping[str, float], method: str) -> dict[str, float]:
    """Per-query normalisation so scores on different scales can be added. Constant lists map to 0."""
    if not scores:
        return {}
    values = list(scores.values())
    if method == "minmax":
        lo, hi = min(values), max(values)
        span = hi - lo
        return {d: (s - lo) / span if span > 0 else 0.0 for d, s in scores.items()}
    if method == "zscore":
        mean = sum(values) / len(values)
        std = math.sqrt(sum((v - mean) ** 2 for v in values) / len(values))
        return {d: (s - mean) / std if std > 0 else 0.0 for d, s in scores.items()}
    raise ValueError(f"unknown fusion method {method!r}; expected one of {FUSION_METHODS}")


def fuse(rerank: Mapping[str, float], first_stage: Mapping[str, float], method: str = "zscore",
         weight: float = 0.0) -> dict[str, float]:
    """(1 - weight) * norm(rerank) + weight * norm(first_stage), over the documents the reranker scored.

    weight 0 returns the reranker's scores unchanged (no normalisation), so fusion off changes nothing.
    A document without a first-stage score gets the first-stage minimum after normalisation.
    """
    if weight <= 0:
        return dict(rerank)
    a = normalize(rerank, method)
    b = normalize({d: first_stage[d] for d in rerank if d in first_stage}, method)
    floor = min(b.values()) if b else 0.0
    return {d: (1 - weight) * a[d] + weight * b.get(d, floor) for d in rerank}
