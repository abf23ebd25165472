"""Paired significance: known cases (identical runs, a run that wins every query, a hand-computed t-test),
missing queries counting as 0, and the DL20 BM25 run against a perturbed copy of itself."""

from __future__ import annotations

import math

import pytest

from rl_rerank.data import read_qrels, read_requests, run_from_requests
from rl_rerank.eval.metrics import evaluate
from rl_rerank.eval.significance import (
    compare,
    compare_settings,
    compare_values,
    paired_t,
    randomization_p,
    seed_mean,
    sentence,
)


@pytest.fixture(scope="module")
def dl20(dl20_dir):
    run = run_from_requests(read_requests(dl20_dir / "bm25-top100.json"))
    return run, read_qrels(dl20_dir / "qrels.dl20-passage.txt")


def test_identical_runs_are_all_ties(dl20):
    run, qrels = dl20
    r = compare(run, run, qrels)
    assert (r["n"], r["diff"], r["p_t"], r["p_rand"]) == (54, 0.0, 1.0, 1.0)
    assert (r["wins"], r["ties"], r["losses"]) == (0, 54, 0)
    assert round(r["mean_a"], 4) == 0.4796  # the published BM25 figure
    assert sentence(r, "BM25", "BM25").startswith("no significant difference between BM25 and BM25 on nDCG@10")


def test_winning_every_query_exact_permutation_p():
    a = {f"q{i}": 0.5 + 0.01 * i for i in range(10)}
    b = {f"q{i}": 0.2 for i in range(10)}
    r = compare_values(a, b, measure="nDCG@10")
    # only "all +" and "all -" reach the observed |sum| among the 2^10 sign patterns
    assert r["p_rand"] == 2 / 2 ** 10
    assert (r["wins"], r["ties"], r["losses"]) == (10, 0, 0)
    assert r["p_t"] < 1e-6 and r["ci_low"] > 0
    assert sentence(r, "X", "Y").startswith("X beats Y by +0.345 nDCG@10 on 10 queries (95% CI")


def test_winning_every_query_sampled_when_many():
    diffs = [0.1 + 0.001 * i for i in range(40)]
    p = randomization_p(diffs, samples=2000, seed=3)
    assert p == pytest.approx(1 / 2001)  # no random pattern reaches it: only the observed one counts
    assert randomization_p(diffs, samples=2000, seed=3) == p  # fixed seed, same answer


def test_t_test_matches_hand_computation_and_scipy():
    from scipy import stats

    diffs = [1.0, 2.0, 3.0, 4.0]
    # mean 2.5, sd sqrt(5/3), se = sd / 2, t = 2.5 / se = 3.8730, two-sided p with 3 degrees of freedom
    r = paired_t(diffs)
    assert r["t"] == pytest.approx(2.5 / (math.sqrt(5 / 3) / 2))
    assert r["t"] == pytest.approx(3.872983, abs=1e-6)
    assert r["p"] == pytest.approx(0.030466, abs=1e-6)
    half = 3.182446 * math.sqrt(5 / 3) / 2  # t(0.975, 3) = 3.182446
    assert (r["ci_low"], r["ci_high"]) == pytest.approx((2.5 - half, 2.5 + half), abs=1e-5)
    a, b = [0.61, 0.32, 0.55, 0.9, 0.12, 0.44], [0.5, 0.4, 0.3, 0.7, 0.1, 0.45]
    ref = stats.ttest_rel(a, b)
    got = compare_values({str(i): v for i, v in enumerate(a)}, {str(i): v for i, v in enumerate(b)})
    assert got["t"] == pytest.approx(ref.statistic) and got["p_t"] == pytest.approx(ref.pvalue)
    # exact randomization over 2^6 patterns: the observed |sum| 0.87... counted by hand below
    d = [x - y for x, y in zip(a, b, strict=True)]
    import itertools

    hits = sum(abs(sum(s * x for s, x in zip(signs, d, strict=True))) >= abs(sum(d)) - 1e-12
               for signs in itertools.product((1, -1), repeat=6))
    assert got["p_rand"] == hits / 64


def test_missing_query_counts_zero(dl20):
    run, qrels = dl20
    some = sorted(qrels)[:3]
    partial = {q: docs for q, docs in run.items() if q not in some}
    per_q = evaluate(run, qrels, per_query=True)["nDCG@10"]
    r = compare(run, partial, qrels)
    assert r["n"] == 54 and r["losses"] == 0
    assert r["wins"] == sum(per_q[q] > 0 for q in some)
    assert r["diff"] == pytest.approx(sum(per_q[q] for q in some) / 54)
    assert r["mean_b"] == pytest.approx(evaluate(partial, qrels)["nDCG@10"])


def test_perturbed_copy(dl20, tmp_path):
    """Swapping ranks 1 and 10 of every query hurts most queries: significant, and the files give the same."""
    from rl_rerank.data import write_run

    run, qrels = dl20
    worse = {}
    for q, docs in run.items():
        order = sorted(docs, key=lambda d: -docs[d])
        order[0], order[9] = order[9], order[0]
        worse[q] = {d: float(len(order) - i) for i, d in enumerate(order)}
    r = compare(run, worse, qrels)
    assert r["diff"] > 0 and r["p_t"] < 0.05 and r["p_rand"] < 0.05 and r["wins"] > r["losses"]
    assert r["ci_low"] > 0
    write_run(tmp_path / "a.trec", run)
    write_run(tmp_path / "b.trec", worse)
    from_files = compare(tmp_path / "a.trec", tmp_path / "b.trec", qrels)
    assert from_files == r


def test_constant_difference():
    r = paired_t([0.1, 0.1, 0.1])
    assert r["p"] == 0.0 and r["ci_low"] == pytest.approx(0.1)
    assert paired_t([0.3])["p"] == 1.0 and math.isnan(paired_t([0.3])["ci_low"])


def test_settings_are_compared_on_seed_averaged_queries():
    # setting A: two seeds that disagree per query, but whose average is 0.1 above B's on every query
    a1 = {"q1": 0.6, "q2": 0.2, "q3": 0.9}
    a2 = {"q1": 0.4, "q2": 0.6, "q3": 0.5}
    b = {"q1": 0.4, "q2": 0.3, "q3": 0.6}
    assert seed_mean([a1, a2]) == pytest.approx({"q1": 0.5, "q2": 0.4, "q3": 0.7})
    r = compare_settings([a1, a2], [b], measure="nDCG@10")
    assert (r["n"], r["seeds_a"], r["seeds_b"]) == (3, 2, 1)
    assert r["diff"] == pytest.approx(0.1) and (r["wins"], r["ties"], r["losses"]) == (3, 0, 0)
    assert r["p_rand"] == 2 / 2 ** 3  # all three differences equal: only all-+ and all-- reach |sum|
    assert r["seed_means_a"] == pytest.approx([1.7 / 3, 0.5])
    # one seed alone tells a different story: a2 loses q3 and ties q1
    alone = compare_settings([a2], [b])
    assert (alone["wins"], alone["ties"], alone["losses"]) == (1, 1, 1)


def test_settings_must_cover_the_same_queries():
    with pytest.raises(ValueError, match=r"run 2 does not cover the same queries as run 1 \(differs on \['q2'\]\)"):
        seed_mean([{"q1": 0.5, "q2": 0.1}, {"q1": 0.4}])
    with pytest.raises(ValueError, match="different queries"):
        compare_settings([{"q1": 0.5}], [{"q2": 0.5}])
    with pytest.raises(ValueError, match="at least one run"):
        seed_mean([])
