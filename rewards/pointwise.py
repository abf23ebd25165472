"""Rewards for pointwise (one document per prompt) rollouts: ERank's pooled listwise reward and the error
against a target score. Rows carry `qid`, `docid`, `label` (> 0 = positive) and optionally `ref_score`
(reference score of the SFT model), `teacher_score`, `label_score` (the grade on the 0..10 scale of the SFT
targets) and `max_grade`.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from typing import Any

from rl_rerank.errors import ConfigError
from rl_rerank.paradigms.pointwise import Pointwise
from rl_rerank.rewards.bounds import finite
from rl_rerank.rewards.grades import grade_to_score
from rl_rerank.rewards.inputs import as_float, as_int, column, completion_text

RewardFn = Callable[..., list[float]]


def make_erank(max_score: int = 10, reasoning: bool = True, pos_scale: float = 1.0,
               neg_above_penalty: float = -0.5, neg_below_max: float = 0.5, format_penalty: float = -1.0,
               ref_default: float = 0.0, accept_repaired: bool = False, positive_label: int = 1,
               graded_penalty: bool = True, tie_weight: float = 0.5) -> RewardFn:
    """ERank's listwise-derived reward for a pointwise model (constants are ours; the paper's were not given).

    All completions of the batch with the same `qid` (N documents x G rollouts) are pooled and ranked by
    their parsed score, ties at the smallest rank (rank = 1 + number of pooled items with a higher score).
    Only well-formed completions (tags as required, score parsed cleanly) enter the pool. Then:
      - unformatted completion: `format_penalty` (-1.0);
      - positive (label >= `positive_label`, default 1; 2 for TREC-DL, whose grade 1 means "related"):
        `pos_scale / rank` (1.0 at rank 1, 0.5 at rank 2, ...);
      - negative scored at or above the lowest-scored positive of the pool (above or tied with some
        positive): `neg_above_penalty` (-0.5) times the share of the pool's positive rollouts it ranks above,
        ties counting `tie_weight` (0.5) (`graded_penalty`, default); with graded_penalty false the flat
        `neg_above_penalty` (the first reading of the paper). Why graded: with a flat penalty, one positive
        rollout scored 0 puts every negative at -0.5 whatever it answers, so all G rollouts of every
        negative get the same reward and GRPO's advantage is zero (seen on DL 2021: 100% zero-variance
        groups); graded, a negative that ties the positives (-0.25) still beats one above them (-0.5), and
        scoring everything alike still never pays (ties are penalised);
      - negative below every positive (or no positive in the pool): the smooth squared-error term
        `neg_below_max * (1 - ((s - ref) / max_score)^2)`, ref = `ref_score` column clipped to 0..max_score,
        `ref_default` (0.0) when missing: keeps negatives near the SFT model's calibration.
    Range: [min(format_penalty, neg_above_penalty, 0), max(pos_scale, neg_below_max)] = [-1, 1] by default.
    """
    if not 0.0 < float(tie_weight) <= 1.0:
        raise ValueError(f"erank tie_weight must be in (0, 1], got {tie_weight}")
    if int(positive_label) < 1:
        raise ValueError(
            f"erank positive_label must be >= 1 (grade of the least relevant positive), got {positive_label}")
    parser = Pointwise(reasoning=reasoning, max_score=max_score)
    lo = min(format_penalty, neg_above_penalty, 0.0)
    hi = max(pos_scale, neg_below_max, 0.0)

    def erank(completions: list[Any], **columns: Any) -> list[float]:
        n = len(completions)
        qids = column(columns, "qid", n, "erank")
        labels = [as_int(v) for v in column(columns, "label", n, "erank")]
        refs = [as_float(v) for v in column(columns, "ref_score", n, "erank", required=False)]
        scores: list[int | None] = []
        for c in completions:
            parsed = parser.parse(completion_text(c), 1)
            good = parsed.tags_ok and (parsed.status == "ok" or (accept_repaired and parsed.usable))
            scores.append(parsed.value if good else None)
        pools: dict[Any, list[int]] = defaultdict(list)
        for i, qid in enumerate(qids):
            pools[str(qid)].append(i)
        rewards = [float(format_penalty)] * n
        for members in pools.values():
            pooled = {i: s for i in members if (s := scores[i]) is not None}  # parsed scores, in row order
            values = sorted(pooled.values(), reverse=True)
            positives = [s for i, s in pooled.items() if labels[i] >= positive_label]
            lowest_positive = min(positives) if positives else None
            for i, s in pooled.items():
                if labels[i] >= positive_label:
                    rank = 1 + sum(1 for v in values if v > s)
                    rewards[i] = pos_scale / rank
                elif lowest_positive is not None and s >= lowest_positive:
                    if graded_penalty:
                        beaten = sum(1.0 for v in positives if v < s) + tie_weight * sum(1.0 for v in positives
                                                                                        if v == s)
                        rewards[i] = neg_above_penalty * beaten / len(positives)
                    else:
                        rewards[i] = neg_above_penalty
                else:
                    given = refs[i]
                    ref = min(float(max_score), max(0.0, given if given is not None else ref_default))
                    rewards[i] = neg_below_max * (1.0 - ((s - ref) / max_score) ** 2)
        return finite(rewards, lo, hi)

    erank.__name__ = "erank"
    return erank


def make_pointwise_error(max_score: int = 10, reasoning: bool = True, format_penalty: float = -1.0,
                         accept_repaired: bool = False) -> RewardFn:
    """1 - |s - t| / max_score for a well-formed score s against a target t on the 0..max_score scale.

    t = `teacher_score`, else `ref_score`, else the judged grade on the SFT targets' scale: `label_score`
    (what the GRPO builder writes), else `label` mapped by rewards.grades.grade_to_score with the row's
    `max_grade` (binary 1 -> 10; 0-3 grades 1 -> 3, 2 -> 7, 3 -> 10). A raw `label` without `max_grade` is a
    ConfigError: its scale is unknown, and comparing a 0-1 grade with a 0-10 answer rewards the wrong score.
    t is clipped to 0..max_score. Unformatted completions get `format_penalty` (-1.0).
    Range: [min(format_penalty, 0), 1] = [-1, 1] by default.
    """
    parser = Pointwise(reasoning=reasoning, max_score=max_score)
    lo = min(format_penalty, 0.0)
    sources = ("teacher_score", "ref_score", "label_score", "label")

    def pointwise_error(completions: list[Any], **columns: Any) -> list[float]:
        n = len(completions)
        if all(columns.get(name) is None for name in sources):
            column(columns, "teacher_score", n, "pointwise_error")  # raises: nothing to compare against
        teacher = [as_float(v) for v in column(columns, "teacher_score", n, "pointwise_error", required=False)]
        ref = [as_float(v) for v in column(columns, "ref_score", n, "pointwise_error", required=False)]
        mapped = [as_float(v) for v in column(columns, "label_score", n, "pointwise_error", required=False)]
        label = [as_float(v) for v in column(columns, "label", n, "pointwise_error", required=False)]
        top = [as_float(v) for v in column(columns, "max_grade", n, "pointwise_error", required=False)]
        out = []
        for c, t, r, m, g, mg in zip(completions, teacher, ref, mapped, label, top, strict=True):
            target = next((x for x in (t, r, m) if x is not None), None)
            if target is None and g is not None:
                if mg is None:
                    raise ConfigError("reward 'pointwise_error': a row has only a raw `label`; give `label_score` "
                                      "(the grade on the 0..max_score scale) or `max_grade` (the highest grade of "
                                      "the qrels) beside it")
                target = float(grade_to_score(int(g), int(mg), max_score=max_score))
            target = min(float(max_score), max(0.0, target or 0.0))
            parsed = parser.parse(completion_text(c), 1)
            good = parsed.tags_ok and (parsed.status == "ok" or (accept_repaired and parsed.usable))
            out.append(1.0 - abs(parsed.value - target) / max_score if good else format_penalty)
        return finite(out, lo, 1.0)

    pointwise_error.__name__ = "pointwise_error"
    return pointwise_error
