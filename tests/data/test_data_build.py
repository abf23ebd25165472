"""Run -> requests (with texts), and the format detection used by commands."""

from __future__ import annotations

import pytest

from rl_rerank.data.auto import load_queries, read_qrels_auto
from rl_rerank.data.beir import fetch_docs, load_beir
from rl_rerank.data.build import build_requests, docids_in_top_k
from rl_rerank.data.rank_llm import read_requests
from rl_rerank.data.trec import read_qrels, read_topics
from rl_rerank.data.types import Candidate, Query, run_from_requests
from rl_rerank.errors import DataError, UserError


def test_rebuild_dl20_requests_from_run(dl20_dir):
    original = read_requests(dl20_dir / "bm25-top100.json")
    run = run_from_requests(original)
    docs = {c.docid: c.text for r in original for c in r.candidates}
    topics = read_topics(dl20_dir / "topics.dl20.tsv")  # 200 topics, only the 54 ranked ones come back
    rebuilt = build_requests(run, docs, topics, top_k=20)
    assert len(rebuilt) == 54
    by_qid = {r.query.qid: r for r in original}
    for req in rebuilt:
        want = by_qid[req.query.qid].candidates[:20]
        assert [c.docid for c in req.candidates] == [c.docid for c in want]
        assert [c.rank for c in req.candidates] == list(range(1, 21))
        assert req.candidates[0].score == want[0].score and req.candidates[0].text == want[0].text
    assert len(docids_in_top_k(run, 20)) <= 54 * 20


def test_titles_come_from_candidates_and_mismatches_raise(scifact_dir):
    run = {"1": {"4983": 2.0, "31715818": 1.0}}
    docs = fetch_docs(scifact_dir, docids_in_top_k(run))
    (req,) = build_requests(run, docs, {"1": "q text"})
    assert req.query == Query("1", "q text")
    assert req.candidates[0].title.startswith("Microstructural")
    with pytest.raises(UserError, match="no text in the corpus.*'missing'"):
        build_requests({"1": {"missing": 1.0}}, docs, {"1": "q"})
    with pytest.raises(UserError, match="no query text"):
        build_requests(run, docs, {"2": "other"})
    assert build_requests(run, {"4983": Candidate("4983", "t")}, {"1": "q"}, top_k=1)[0].candidates[0].text == "t"


def test_load_queries_detects_each_source(scifact_dir, dl20_dir, bright_dir):
    beir = load_queries(scifact_dir, split="test")
    assert beir.kind == "beir" and len(beir.queries) == 300 and beir.qrels == load_beir(scifact_dir).qrels
    plain = load_queries(scifact_dir / "queries.jsonl")
    assert plain.kind == "beir-queries" and len(plain.queries) == 1109 and plain.qrels is None
    topics = load_queries(dl20_dir / "topics.dl20.tsv")
    assert topics.kind == "topics" and len(topics.queries) == 200
    br = load_queries(bright_dir / "aops.jsonl.gz")
    assert br.kind == "bright" and len(br.queries) == 111 and len(br.excluded) == 111
    with pytest.raises(DataError):
        load_queries(bright_dir)


def test_read_qrels_auto(scifact_dir, dl20_dir):
    assert read_qrels_auto(dl20_dir / "qrels.dl20-passage.txt") == read_qrels(dl20_dir / "qrels.dl20-passage.txt")
    assert read_qrels_auto(scifact_dir / "qrels" / "test.tsv") == load_beir(scifact_dir).qrels
