"""ir_measures evaluation: the DL20 BM25 figure, measure names, TREC-DL rel threshold, BRIGHT exclusions."""

from __future__ import annotations

import pytest

from rl_rerank.data.rank_llm import read_requests
from rl_rerank.data.trec import read_qrels
from rl_rerank.data.types import run_from_requests
from rl_rerank.errors import UserError
from rl_rerank.eval.metrics import evaluate, macro_average, parse_measure, remove_excluded


@pytest.fixture(scope="module")
def dl20(dl20_dir):
    run = run_from_requests(read_requests(dl20_dir / "bm25-top100.json"))
    return run, read_qrels(dl20_dir / "qrels.dl20-passage.txt")


def test_dl20_bm25_ndcg10_is_the_published_figure(dl20):
    run, qrels = dl20
    assert round(evaluate(run, qrels)["nDCG@10"], 4) == 0.4796


def test_aliases_and_trec_dl_threshold(dl20):
    run, qrels = dl20
    plain = evaluate(run, qrels, ["R@100", "RR@10", "AP", "MRR@10", "MAP"])
    assert plain["MRR@10"] == plain["RR@10"] and plain["MAP"] == plain["AP"]
    dl = evaluate(run, qrels, ["nDCG@10", "R@100", "AP"], rel_threshold=2)
    explicit = evaluate(run, qrels, ["R(rel=2)@100", "AP(rel=2)"])
    assert dl["R@100"] == explicit["R(rel=2)@100"] and dl["AP"] == explicit["AP(rel=2)"]
    assert dl["R@100"] != plain["R@100"]  # grade-1 passages stop counting as relevant
    assert dl["nDCG@10"] == evaluate(run, qrels)["nDCG@10"]  # graded gains are untouched
    assert str(parse_measure("MAP", 2)) == "AP(rel=2)" and str(parse_measure("MRR@10")) == "RR@10"
    with pytest.raises(UserError, match="unknown measure"):
        parse_measure("Bogus@10")


def test_per_query_means_and_missing_queries():
    qrels = {"q1": {"a": 1, "b": 0}, "q2": {"c": 2}}
    run = {"q1": {"b": 2.0, "a": 1.0}, "q3": {"x": 1.0}}  # q2 unranked, q3 unjudged
    per = evaluate(run, qrels, ["RR@10", "R@1"], per_query=True)
    assert per["RR@10"] == {"q1": 0.5, "q2": 0.0}
    assert per["R@1"] == {"q1": 0.0, "q2": 0.0}
    assert evaluate(run, qrels, ["RR@10"]) == {"RR@10": 0.25}  # missing q2 counts 0, q3 ignored
    assert evaluate({}, qrels, ["nDCG@10"]) == {"nDCG@10": 0.0}


def test_bright_excluded_id_ranked_first_costs_nothing():
    qrels = {"q": {"gold": 1}}
    excluded = {"q": {"self", "dup"}}
    with_excluded = {"q": {"self": 9.0, "gold": 8.0, "dup": 7.0, "other": 1.0}}
    clean = {"q": {"gold": 8.0, "other": 1.0}}
    assert evaluate(with_excluded, qrels)["nDCG@10"] < 1.0
    assert evaluate(remove_excluded(with_excluded, excluded), qrels) == evaluate(clean, qrels) == {"nDCG@10": 1.0}
    assert remove_excluded(with_excluded, excluded) == clean
    assert with_excluded["q"]["self"] == 9.0  # input not modified


def test_bright_exclusions_on_real_aops_ids(bright_dir):
    from rl_rerank.data.bright import load_bright

    split = load_bright(bright_dir / "aops.jsonl.gz")
    qid = next(iter(split.queries))
    gold = sorted(split.qrels[qid])
    banned = sorted(split.excluded[qid])[:20]
    run = {qid: {d: 100.0 - i for i, d in enumerate(banned + gold)}}
    clean = remove_excluded(run, split.excluded)
    assert evaluate(clean, {qid: split.qrels[qid]})["nDCG@10"] == pytest.approx(1.0)
    assert evaluate(run, {qid: split.qrels[qid]})["nDCG@10"] == 0.0


def test_macro_average_over_tasks():
    assert macro_average({"a": {"nDCG@10": 0.2}, "b": {"nDCG@10": 0.4}}) == pytest.approx({"nDCG@10": 0.3})
