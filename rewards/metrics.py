"""Ranking metrics used inside rewards: small, pure, and equal to ir_measures on tie-free rankings.

Evaluation uses ir_measures itself; these exist because a reward is computed per completion thousands of
times and must not pay for building a qrels/run object each time. tests/rewards/test_reward_metrics.py checks
equality with ir_measures (nDCG@k, R@k, Compat) on random rankings.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Mapping, Sequence
from typing import TypeVar

# A document key: docids in evaluation, candidate positions (int) in rewards. A TypeVar, not Hashable, because
# Mapping is invariant in its key type (a dict[int, int] is not a Mapping[Hashable, float]).
Doc = TypeVar("Doc", bound=Hashable)


def ndcg_at_k(ranking: Sequence[Doc], qrels: Mapping[Doc, float], k: int = 10) -> float:
    """nDCG@k as trec_eval's ndcg_cut: linear gain (the grade), discount log2(rank + 1).

    The ideal ranking is built from all judged documents in `qrels`, retrieved or not; negative grades
    count as 0. No relevant document gives 0.0 (as trec_eval).
    """
    gains = sorted((max(0.0, float(g)) for g in qrels.values()), reverse=True)[:k]
    ideal = sum(g / math.log2(i + 2) for i, g in enumerate(gains) if g > 0)
    if ideal <= 0:
        return 0.0
    dcg = 0.0
    for i, doc in enumerate(ranking[:k]):
        g = max(0.0, float(qrels.get(doc, 0)))
        if g > 0:
            dcg += g / math.log2(i + 2)
    return dcg / ideal


def recall_at_k(ranking: Sequence[Doc], qrels: Mapping[Doc, float], k: int = 10) -> float:
    """Share of the relevant documents (grade >= 1, as ir_measures' R@k) found in the top k; 0.0 if none."""
    relevant = {d for d, g in qrels.items() if g >= 1}
    if not relevant:
        return 0.0
    return len(relevant.intersection(ranking[:k])) / len(relevant)


def rbo(ranking: Sequence[Hashable], reference: Sequence[Hashable], p: float = 0.9, depth: int | None = None) -> float:
    """Rank-biased overlap truncated at `depth`, divided by the sum of its weights so it lies in [0, 1].

    RBO = sum_d p^(d-1) A_d / sum_d p^(d-1), A_d the overlap of the two prefixes of length d divided by d;
    depth defaults to the longer list. This is the form ir_measures' Compat uses.
    """
    depth = max(len(ranking), len(reference)) if depth is None else int(depth)
    if depth <= 0:
        return 0.0
    seen_a: set = set()
    seen_b: set = set()
    score = norm = 0.0
    weight = 1.0
    for d in range(depth):
        if d < len(ranking):
            seen_a.add(ranking[d])
        if d < len(reference):
            seen_b.add(reference[d])
        score += weight * len(seen_a & seen_b) / (d + 1)
        norm += weight
        weight *= p
    return score / norm


def compat(ranking: Sequence[Doc], qrels: Mapping[Doc, float], p: float = 0.9, normalize: bool = True,
           scores: Mapping[Doc, float] | None = None) -> float:
    """Compatibility (Clarke et al., 2021): RBO between the ranking and the ideal ranking of the relevant docs.

    The ideal lists the documents with grade > 0 by grade, ties ordered as in `ranking` (the best tie order
    for this ranking; ir_measures uses the run scores, which is the same thing). With `normalize`, divided by
    the ideal's own RBO so a perfect ranking scores 1.0. In [0, 1]; 0.0 without relevant documents.
    """
    position = {d: i for i, d in reversed(list(enumerate(ranking)))}
    if scores is not None:
        order = {d: -float(s) for d, s in scores.items()}
    else:
        order = {d: float(i) for d, i in position.items()}
    ideal = [d for d, g in qrels.items() if g > 0]
    ideal.sort(key=lambda d: order.get(d, 0.0 if scores is not None else float(len(ranking))))
    ideal.sort(key=lambda d: -qrels[d])
    depth = max(len(ranking), len(ideal))
    value = rbo(ranking, ideal, p, depth)
    if normalize:
        best = rbo(ideal, ideal, p, depth)
        value = value / best if best > 0 else value
    return value


def to_distribution(values: Sequence[float]) -> list[float]:
    """Non-negative scores -> probabilities by dividing by their sum (uniform when all are 0).

    Sum normalisation keeps the shape of the scores and ignores their scale, so predicted 0-10 scores and
    0-3 relevance grades can be compared; negative or non-finite values count as 0.
    """
    clean = [float(v) if isinstance(v, (int, float)) and math.isfinite(v) and v > 0 else 0.0 for v in values]
    total = sum(clean)
    if not clean:
        return []
    if total <= 0:
        return [1.0 / len(clean)] * len(clean)
    return [v / total for v in clean]


def js_divergence(p: Sequence[float], q: Sequence[float]) -> float:
    """Jensen-Shannon divergence with log base 2, so it lies in [0, 1]."""
    def kl(a: Sequence[float], m: Sequence[float]) -> float:
        return sum(x * math.log2(x / y) for x, y in zip(a, m, strict=True) if x > 0 and y > 0)

    m = [(x + y) / 2 for x, y in zip(p, q, strict=True)]
    value = 0.5 * kl(p, m) + 0.5 * kl(q, m)
    return min(1.0, max(0.0, value))
