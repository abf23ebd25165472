"""Strategies against an oracle engine (answers each paradigm correctly) and a garbage engine (never parses)."""

from __future__ import annotations

import pytest
from rerank_fakes import tag_ids

from rl_rerank.data.types import ranked_docids
from rl_rerank.eval.metrics import evaluate
from rl_rerank.paradigms import get_paradigm
from rl_rerank.rerank import RunOptions, StrategySettings, rerank_requests, windows
from rl_rerank.rerank.fusion import fuse, normalize
from rl_rerank.rerank.strategies import neutral_fill, shuffled_groups


def test_windows_back_to_front():
    assert windows(100, 20, 10) == [(80, 100), (70, 90), (60, 80), (50, 70), (40, 60), (30, 50), (20, 40),
                                    (10, 30), (0, 20)]
    assert windows(15, 20, 10) == [(0, 15)]
    assert windows(0, 20, 10) == []


def test_fusion_minmax_and_zscore():
    rr, fs = {"a": 10.0, "b": 0.0, "c": 5.0}, {"a": 1.0, "b": 3.0, "c": 2.0}
    assert normalize(rr, "minmax") == {"a": 1.0, "b": 0.0, "c": 0.5}
    z = normalize(rr, "zscore")
    assert z["c"] == pytest.approx(0.0) and z["a"] == pytest.approx(-z["b"])
    fused = fuse(rr, fs, "minmax", 0.5)
    assert fused == {"a": pytest.approx(0.5), "b": pytest.approx(0.5), "c": pytest.approx(0.5)}
    assert fuse(rr, fs, "minmax", 0.0) == rr


def test_neutral_fill_keeps_input_order_at_mean():
    class C:
        def __init__(self, d):
            self.docid = d

    out = neutral_fill({"a": 4.0, "b": None, "c": 2.0, "d": None}, [C("a"), C("b"), C("c"), C("d")])
    assert 2.0 < out["d"] < out["b"] < 3.0 + 1e-9 and out["a"] == 4.0


def test_shuffled_groups_cover_every_doc_once(dl20_requests):
    import random

    docs = dl20_requests[0].candidates[:23]
    groups = shuffled_groups(docs, 10, random.Random(1))
    assert [len(g) for g in groups] == [10, 10, 3]
    assert sorted(c.docid for g in groups for c in g) == sorted(c.docid for c in docs)


CASES = [("pointwise", False), ("pointwise", True), ("listwise", False), ("listwise", True), ("setwise", False),
         ("groupwise", False), ("groupwise", True)]


@pytest.mark.parametrize("name,reasoning", CASES)
def test_oracle_reranking_beats_bm25(name, reasoning, oracle, dl20_requests, dl20_qrels):
    """With perfect answers, every strategy must put the judged-relevant documents on top."""
    requests = tag_ids(dl20_requests[:6])
    qrels = {r.query.qid: dl20_qrels[r.query.qid] for r in requests}
    grades = {d: g for q in qrels.values() for d, g in q.items()}
    paradigm = get_paradigm(name, reasoning=reasoning)
    engine = oracle(paradigm, grades)
    settings = StrategySettings(window=20, stride=10, set_size=4, select_k=10, group_size=10, repeats=2)
    run, stats = rerank_requests(engine, paradigm, requests, settings, RunOptions(top_k=30, progress=False))
    base = {r.query.qid: {c.docid: c.score for c in r.candidates[:30]} for r in requests}
    ideal = evaluate({q: {d: float(g) for d, g in qrels[q].items()
                          if d in base[q]} for q in qrels}, qrels)["nDCG@10"]
    got, bm25 = evaluate(run, qrels)["nDCG@10"], evaluate(base, qrels)["nDCG@10"]
    assert got > bm25
    assert got == pytest.approx(ideal)
    assert stats["fallbacks"] == 0 and stats["parse"]["failed"] == 0
    assert stats["queries"] == 6 and stats["documents"] == 6 * 30
    assert set(run[requests[0].query.qid]) == {c.docid for c in requests[0].candidates}  # tail kept below


def test_one_engine_call_per_listwise_pass(oracle, dl20_requests, dl20_qrels):
    requests = tag_ids(dl20_requests[:5])
    paradigm = get_paradigm("listwise")
    engine = oracle(paradigm, {d: g for q in dl20_qrels.values() for d, g in q.items()})
    rerank_requests(engine, paradigm, requests, StrategySettings(window=20, stride=10),
                    RunOptions(top_k=100, chunk_queries=16, progress=False))
    assert engine.counter.calls == len(windows(100, 20, 10))  # all 5 queries' window i in one call


@pytest.mark.parametrize("name", ["pointwise", "listwise", "setwise", "groupwise"])
def test_unparseable_output_keeps_input_order_and_is_counted(name, garbage, dl20_requests):
    requests = dl20_requests[:2]
    paradigm = get_paradigm(name, reasoning=True)
    settings = StrategySettings(window=6, stride=3, set_size=3, select_k=2, group_size=4, repeats=2)
    run, stats = rerank_requests(garbage(), paradigm, requests, settings, RunOptions(top_k=12, progress=False))
    for r in requests:
        assert ranked_docids(run[r.query.qid])[:12] == [c.docid for c in r.candidates[:12]]
    # setwise, per query: pick 1 over 12 docs = 4 sets of 3, then 2 winners-sets (one lone doc, no prompt)
    # -> 1, then 1; pick 2 over 11 docs = 4 + 1 + 1. A lone document never costs a prompt.
    expected = {"pointwise": 24, "listwise": 2 * len(windows(12, 6, 3)), "groupwise": 2 * 2 * 3,
                "setwise": 2 * (6 + 6)}[name]
    assert stats["fallbacks"] == expected
    assert stats["parse"]["failed"] == expected


def test_pointwise_without_label_probability_is_a_counted_fallback(garbage, dl20_requests):
    """An engine whose next tokens are never a score label (all-zero label probabilities): a degenerate read,
    counted as failed + fallback, and the documents keep their input order, not an "ok" score of 0."""
    requests = dl20_requests[:2]
    paradigm = get_paradigm("pointwise", reasoning=False)
    run, stats = rerank_requests(garbage(), paradigm, requests, StrategySettings(), RunOptions(top_k=5, progress=False))
    for r in requests:
        assert ranked_docids(run[r.query.qid])[:5] == [c.docid for c in r.candidates[:5]]
    assert stats["parse"]["ok"] == 0 and stats["parse"]["failed"] == 10 and stats["fallbacks"] == 10
    assert stats["parse"]["notes"] == {"no probability on any score label": 10}
