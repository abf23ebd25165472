"""Rewards for listwise rollouts (one permutation of a window per completion): ReasonRank and REARANK.

Rows carry `qid` and `labels` (graded relevance per document in prompt order; the prompt order is the
first-stage order, so REARANK's initial ranking is the identity).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from rl_rerank.paradigms.listwise import Listwise
from rl_rerank.rewards.bounds import finite
from rl_rerank.rewards.inputs import as_labels, column, completion_text
from rl_rerank.rewards.metrics import compat, ndcg_at_k, recall_at_k
from rl_rerank.rewards.rankings import qrels_of

RewardFn = Callable[..., list[float]]


def make_reasonrank(reasoning: bool = True, k: int = 10, recall_weight: float = 0.2, rbo_weight: float = 0.1,
                    rbo_p: float = 0.9, malformed: float = 0.0, format_penalty: float = -1.0,
                    accept_repaired: bool = False) -> RewardFn:
    """ReasonRank's multi-view reward: NDCG@k + 0.2 Recall@k + 0.1 RBO when the format is right.

    RBO compares the predicted list with the gold list (relevant documents by grade; ties in the order the
    prediction gives them, as ir_measures' Compat), truncated at the window length with p = `rbo_p` (0.9),
    normalised so the ideal list scores 1. `malformed` (0.0) when the tags are right but the answer is not a
    clean permutation (a repaired one counts as malformed unless `accept_repaired`); `format_penalty` (-1.0)
    when the tags are wrong. Range: [-1, 1 + recall_weight + rbo_weight] = [-1, 1.3] by default.
    """
    parser = Listwise(reasoning=reasoning)
    hi = 1.0 + recall_weight + rbo_weight

    def reasonrank(completions: list[Any], **columns: Any) -> list[float]:
        n = len(completions)
        out = []
        for c, cell in zip(completions, column(columns, "labels", n, "reasonrank"), strict=True):
            labels = as_labels(cell)
            parsed = parser.parse(completion_text(c), len(labels))
            if not parsed.tags_ok:
                out.append(format_penalty)
            elif not (parsed.status == "ok" or (accept_repaired and parsed.usable)):
                out.append(malformed)
            else:
                qrels = qrels_of(labels)
                ranking = parsed.value
                out.append(ndcg_at_k(ranking, qrels, k) + recall_weight * recall_at_k(ranking, qrels, k)
                           + rbo_weight * compat(ranking, qrels, p=rbo_p))
        return finite(out, min(format_penalty, malformed, 0.0), hi)

    reasonrank.__name__ = "reasonrank"
    return reasonrank


def make_rearank(reasoning: bool = True, k: int = 10, rank_weight: float = 0.8, tags_weight: float = 0.1,
                 list_weight: float = 0.1) -> RewardFn:
    """REARANK: r = 0.8 r_rank + 0.1 format_tags + 0.1 format_list.

    r_rank = (NDCG@k(pred) - NDCG@k(initial)) / (NDCG@k(ideal) - NDCG@k(initial)), initial = prompt order,
    clipped to [-1, 1] (the ratio explodes when the initial ranking is nearly ideal). When the initial
    ranking is already ideal (or nothing is relevant), r_rank = 1 if the prediction is ideal too, else -1.
    The ranking is read from a repaired permutation when needed; when nothing can be read, r_rank = -1.
    format_tags = 1 if the tags are right; format_list = 1 if the answer is a clean full permutation, scored
    independently of the tags (`<answer>[2] > [1] > [3]</answer>` without the required <think> still earns it).
    Range: [-rank_weight, rank_weight + tags_weight + list_weight] = [-0.8, 1.0] by default.
    """
    parser = Listwise(reasoning=reasoning)

    def rearank(completions: list[Any], **columns: Any) -> list[float]:
        n = len(completions)
        out = []
        for c, cell in zip(completions, column(columns, "labels", n, "rearank"), strict=True):
            labels = as_labels(cell)
            parsed = parser.parse(completion_text(c), len(labels))
            r_rank = -1.0
            if parsed.usable:
                qrels = qrels_of(labels)
                pred = ndcg_at_k(parsed.value, qrels, k)
                init = ndcg_at_k(list(range(len(labels))), qrels, k)
                ideal = 1.0 if any(g > 0 for g in labels) else 0.0
                gap = ideal - init
                if gap > 1e-9:
                    r_rank = max(-1.0, min(1.0, (pred - init) / gap))
                else:
                    r_rank = 1.0 if pred >= ideal - 1e-9 else -1.0
            tags = 1.0 if parsed.tags_ok else 0.0
            # REARANK scores the two formats separately: the list term asks only whether the answer text is
            # a clean full permutation, whatever the tags around it (status "ok" would need both).
            clean = 1.0 if parsed.answer_clean else 0.0
            out.append(rank_weight * r_rank + tags_weight * tags + list_weight * clean)
        return finite(out, -rank_weight, rank_weight + tags_weight + list_weight)

    rearank.__name__ = "rearank"
    return rearank
