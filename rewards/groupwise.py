"""GroupRank's reward for groupwise rollouts (a JSON object of scores per completion).

Rows carry `qid` and `labels` (graded relevance per document in prompt order).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from rl_rerank.paradigms.groupwise import Groupwise
from rl_rerank.rewards.bounds import finite
from rl_rerank.rewards.inputs import as_labels, column, completion_text
from rl_rerank.rewards.metrics import js_divergence, ndcg_at_k, recall_at_k, to_distribution
from rl_rerank.rewards.rankings import pessimistic_ranking, qrels_of

RewardFn = Callable[..., list[float]]


def make_grouprank(reasoning: bool = True, k: int = 10, recall_weight: float = 0.2, js_weight: float = 0.1,
                   json_penalty: float = -0.1, format_penalty: float = -0.5, max_score: int = 10,
                   accept_repaired: bool = False) -> RewardFn:
    """R = NDCG@k + 0.2 Recall@k + 0.1 (1 - JS(P, Q)) when tags and JSON parse.

    The ranking sorts documents by predicted score, ties pessimistically (least relevant first), so equal
    scores never help. JS normalisation: P = predicted scores divided by their sum, Q = labels divided by
    their sum (uniform when all are 0; negatives count as 0), JS with log base 2 so 1 - JS is in [0, 1].
    `json_penalty` (-0.1) when the tags are right but the JSON needed repair or is unreadable (repaired
    JSON is accepted when `accept_repaired`); `format_penalty` (-0.5) when the tags are wrong.
    Range: [-0.5, 1 + recall_weight + js_weight] = [-0.5, 1.3] by default.
    """
    parser = Groupwise(reasoning=reasoning, max_score=max_score)
    hi = 1.0 + recall_weight + js_weight

    def grouprank(completions: list[Any], **columns: Any) -> list[float]:
        n = len(completions)
        out = []
        for c, cell in zip(completions, column(columns, "labels", n, "grouprank"), strict=True):
            labels = as_labels(cell)
            parsed = parser.parse(completion_text(c), len(labels))
            if not parsed.tags_ok:
                out.append(format_penalty)
            elif not (parsed.status == "ok" or (accept_repaired and parsed.usable)):
                out.append(json_penalty)
            else:
                scores = parsed.value
                ranking = pessimistic_ranking(scores, labels)
                qrels = qrels_of(labels)
                js = js_divergence(to_distribution(scores), to_distribution(labels))
                out.append(ndcg_at_k(ranking, qrels, k) + recall_weight * recall_at_k(ranking, qrels, k)
                           + js_weight * (1.0 - js))
        return finite(out, min(format_penalty, json_penalty, 0.0), hi)

    grouprank.__name__ = "grouprank"
    return grouprank
