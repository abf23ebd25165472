"""Reward metrics equal ir_measures on random tie-free rankings; JS and the score distributions by hand."""

from __future__ import annotations

import math
import random

import ir_measures
import pytest
from ir_measures import Compat, R, nDCG

from rl_rerank.rewards.metrics import compat, js_divergence, ndcg_at_k, rbo, recall_at_k, to_distribution


def _random_case(rng: random.Random):
    n = rng.randint(1, 30)
    docs = [f"d{i}" for i in range(n)]
    judged = rng.sample(docs, rng.randint(0, n)) + [f"unretrieved{i}" for i in range(rng.randint(0, 3))]
    qrels = {d: rng.choice([0, 0, 1, 2, 3]) for d in judged}
    ranking = docs[:]
    rng.shuffle(ranking)
    run = {d: float(n - i) for i, d in enumerate(ranking)}  # distinct scores: no tie-breaking question
    return ranking, qrels, run


@pytest.mark.parametrize("seed", range(40))
def test_equal_to_ir_measures_on_random_rankings(seed):
    rng = random.Random(seed)
    ranking, qrels, run = _random_case(rng)
    if not qrels:
        qrels = {"unretrieved0": 0}
    measures = [nDCG @ 5, nDCG @ 10, R @ 10, R @ 3, Compat(p=0.9), Compat(p=0.8, normalize=False)]
    values = ir_measures.calc_aggregate(measures, {"q": qrels}, {"q": run})
    got = dict(zip(["n5", "n10", "r10", "r3", "c9", "c8"], (values[m] for m in measures), strict=True))
    assert ndcg_at_k(ranking, qrels, 5) == pytest.approx(got["n5"], abs=1e-9)
    assert ndcg_at_k(ranking, qrels, 10) == pytest.approx(got["n10"], abs=1e-9)
    assert recall_at_k(ranking, qrels, 10) == pytest.approx(got["r10"], abs=1e-9)
    assert recall_at_k(ranking, qrels, 3) == pytest.approx(got["r3"], abs=1e-9)
    assert compat(ranking, qrels, p=0.9, scores=run) == pytest.approx(got["c9"], abs=1e-9)
    assert compat(ranking, qrels, p=0.9) == pytest.approx(got["c9"], abs=1e-9)
    assert compat(ranking, qrels, p=0.8, normalize=False) == pytest.approx(
        got["c8"], abs=1e-9)


def test_ndcg_by_hand():
    # grades: a=3 at rank 2, b=1 at rank 3; ideal a, b
    qrels = {"a": 3, "b": 1, "c": 0}
    dcg = 3 / math.log2(3) + 1 / math.log2(4)
    idcg = 3 / math.log2(2) + 1 / math.log2(3)
    assert ndcg_at_k(["c", "a", "b"], qrels, 10) == pytest.approx(dcg / idcg)
    assert ndcg_at_k(["c", "a", "b"], qrels, 1) == 0.0
    assert ndcg_at_k(["a"], {"a": 0}, 10) == 0.0  # nothing relevant
    assert recall_at_k(["c", "a", "b"], qrels, 2) == 0.5


def test_rbo_by_hand():
    # depth 2: d=1 overlap 0, d=2 overlap {a,b} -> 2/2; weights 1, p
    assert rbo(["a", "b"], ["b", "a"], p=0.5) == pytest.approx((0 + 0.5 * 1.0) / 1.5)
    assert rbo(["a", "b"], ["a", "b"], p=0.5) == 1.0
    assert rbo([], [], p=0.9) == 0.0


def test_distribution_and_js_by_hand():
    assert to_distribution([3, 1, 0]) == [0.75, 0.25, 0.0]
    assert to_distribution([0, 0]) == [0.5, 0.5]
    assert to_distribution([-2, float("nan"), 2]) == [0.0, 0.0, 1.0]
    assert to_distribution([]) == []
    # P = (1, 0), Q = (0.5, 0.5): M = (0.75, 0.25)
    expected = 0.5 * (1 * math.log2(1 / 0.75)) + 0.5 * (0.5 * math.log2(0.5 / 0.75) + 0.5 * math.log2(0.5 / 0.25))
    assert js_divergence([1.0, 0.0], [0.5, 0.5]) == pytest.approx(expected)
    assert js_divergence([1.0, 0.0], [0.0, 1.0]) == pytest.approx(1.0)  # disjoint supports: maximum
    assert js_divergence([0.2, 0.8], [0.2, 0.8]) == 0.0
