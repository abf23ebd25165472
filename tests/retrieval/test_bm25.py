"""BM25 (bm25s): the SciFact figures, the cached index, BRIGHT documents and exclusions."""

from __future__ import annotations

import os

import pytest

from rl_rerank.data.auto import corpus_format
from rl_rerank.data.beir import load_beir, write_corpus
from rl_rerank.data.bright import read_examples, write_documents
from rl_rerank.data.types import Candidate
from rl_rerank.errors import DataError
from rl_rerank.eval.metrics import evaluate
from rl_rerank.retrieval import bm25
from rl_rerank.retrieval.bm25 import BM25Params, bm25_run, load_or_build_index


def test_scifact_test_reaches_published_bm25(scifact_dir):
    """Published BM25 on SciFact: 0.665 (BEIR, multifield) to 0.679 (Pyserini flat); R@100 about 0.92."""
    queries, qrels = load_beir(scifact_dir, "test")
    run = bm25_run(scifact_dir, queries, k=100, progress=False)
    assert len(run) == 300 and max(len(v) for v in run.values()) == 100
    scores = evaluate(run, qrels, ["nDCG@10", "R@100"])
    assert scores["nDCG@10"] >= 0.66
    assert scores["R@100"] >= 0.90


def test_index_is_cached_and_reused(tmp_path, monkeypatch, scifact_dir):
    monkeypatch.setenv("RL_RERANK_CACHE", str(tmp_path / "cache"))
    corpus = tmp_path / "corpus.jsonl"
    docs = [d for _, d in zip(range(300), bm25.iter_docs(scifact_dir), strict=False)]
    write_corpus(corpus, docs)
    queries = {"a": docs[5].title, "b": docs[42].text[:200]}

    first = load_or_build_index(corpus, progress=False)
    assert first.built and first.num_docs == 300
    assert first.folder.parent == tmp_path / "cache" / "bm25"
    run1 = first.search(queries, k=10, progress=False)
    assert next(iter(run1["a"])) == docs[5].docid and next(iter(run1["b"])) == docs[42].docid

    def no_reading(*args, **kwargs):
        raise AssertionError("the corpus was read again: the cached index was not used")

    monkeypatch.setattr(bm25, "iter_docs", no_reading)
    second = load_or_build_index(corpus, progress=False)
    assert not second.built and second.folder == first.folder
    assert second.search(queries, k=10, progress=False) == run1
    monkeypatch.undo()
    monkeypatch.setenv("RL_RERANK_CACHE", str(tmp_path / "cache"))

    # Different parameters or a changed corpus file get their own index.
    assert load_or_build_index(corpus, params=BM25Params(k1=1.2, b=0.75), progress=False).built
    write_corpus(corpus, docs[:100])
    os.utime(corpus, ns=(1, 1))
    rebuilt = load_or_build_index(corpus, progress=False)
    assert rebuilt.built and rebuilt.num_docs == 100
    assert len(list((tmp_path / "cache" / "bm25").iterdir())) == 3  # no temp folders left


def test_bright_documents_with_exclusions(tmp_path, monkeypatch, bright_dir):
    """BRIGHT documents are not shared offline: build them around real leetcode examples. Each query's
    excluded id holds the query itself (a near-duplicate, as in BRIGHT), its gold id the first half of it."""
    monkeypatch.setenv("RL_RERANK_CACHE", str(tmp_path / "cache"))
    examples = read_examples(bright_dir / "leetcode.jsonl.gz")[:30]
    docs: dict[str, Candidate] = {}
    own: dict[str, str] = {}  # qid -> an excluded id that no other query uses here
    for ex in examples:
        own[ex.id] = next(d for d in ex.excluded_ids if d not in docs and d not in ex.gold_ids)
        docs[own[ex.id]] = Candidate(own[ex.id], ex.query)
    for ex in examples:
        words = ex.query.split()
        docs.setdefault(ex.gold_ids[0], Candidate(ex.gold_ids[0], " ".join(words[: len(words) // 2])))
    path = tmp_path / "documents.jsonl.gz"
    write_documents(path, docs.values())
    assert corpus_format(path) == "bright"

    queries = {ex.id: ex.query for ex in examples}
    excluded = {ex.id: set(ex.excluded_ids) for ex in examples}
    plain = bm25_run(path, queries, k=5, progress=False)
    clean = bm25_run(path, queries, k=5, exclude=excluded, progress=False)
    own_first = sum(next(iter(plain[ex.id])) == own[ex.id] for ex in examples)
    assert own_first >= 28  # without exclusion the duplicate wins
    everything = bm25_run(path, queries, k=len(docs), progress=False)
    for ex in examples:
        assert not set(clean[ex.id]) & excluded[ex.id]
        # the same as filtering a full ranking, so each query still gets its k best allowed documents
        assert list(clean[ex.id]) == [d for d in everything[ex.id] if d not in excluded[ex.id]][:5]
    gold_first = sum(next(iter(clean[ex.id])) in ex.gold_ids for ex in examples)
    assert gold_first >= 25


def test_bad_corpus_is_a_data_error(tmp_path):
    bad = tmp_path / "corpus.jsonl"
    bad.write_text('{"_id": "1", "text": "fine"}\n{"_id": "2", "text": "broken\n')
    with pytest.raises(DataError) as err:
        load_or_build_index(bad, progress=False)
    assert err.value.line == 2
    weird = tmp_path / "weird.jsonl"
    weird.write_text('{"name": "x"}\n')
    with pytest.raises(DataError, match="'_id' \\(BEIR\\) or 'id' and 'content'"):
        corpus_format(weird)


def test_repeated_document_id_is_one_line_naming_both(tmp_path, monkeypatch):
    """Two documents with one id would merge their scores in a run keyed by docid: refused before indexing."""
    monkeypatch.setenv("RL_RERANK_CACHE", str(tmp_path / "cache"))
    docs = [Candidate("a", "alpha beta"), Candidate("b", "gamma"), Candidate("a", "delta")]
    write_corpus(tmp_path / "corpus.jsonl", docs)
    with pytest.raises(DataError, match=r"corpus.jsonl: unique document ids, but 'a' is document 1 and 3$"):
        load_or_build_index(tmp_path / "corpus.jsonl", progress=False)
    assert not (tmp_path / "cache").exists() or not any((tmp_path / "cache").rglob("meta.json"))
