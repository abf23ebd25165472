"""Mix reranker scores with first-stage scores (GroupRank's final score may include the retriever's)."""

from __future__ import annotations

import math
from collections.abc import Mapping

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


def fuse_top_k(rerank: Mapping[str, float], first_stage: Mapping[str, float], k: int, method: str = "zscore",
               weight: float = 0.5) -> dict[str, float]:
    """Fuse only the first-stage top-k (what the reranker scored); the rest stays below in first-stage order.

    A reranked run also holds the unreranked tail with placeholder scores below the head; normalising over
    those placeholders would squash the reranker's spread and leave the fusion equal to the first stage.
    """
    order = sorted(first_stage, key=lambda d: (-first_stage[d], d))
    head = [d for d in order[:k] if d in rerank]
    fused = fuse({d: rerank[d] for d in head}, first_stage, method, weight)
    floor = min(fused.values()) if fused else 0.0
    for i, d in enumerate(d for d in order if d not in fused):
        fused[d] = floor - 1.0 - i
    return fused
