"""BEIR folders on the real SciFact data: streamed corpus, queries, qrels, splits, writers, bad input."""

from __future__ import annotations

import json
import types

import pytest

from rl_rerank.data.auto import fetch_docs
from rl_rerank.data.beir import (
    iter_corpus,
    load_beir,
    read_qrels,
    read_queries,
    write_corpus,
    write_qrels,
    write_queries,
)
from rl_rerank.data.types import Candidate, Query
from rl_rerank.errors import DataError


def test_scifact_counts(scifact_dir):
    corpus = iter_corpus(scifact_dir)
    assert isinstance(corpus, types.GeneratorType)  # streamed, not a list
    docs = list(corpus)
    assert len(docs) == 5183
    assert len({d.docid for d in docs}) == 5183
    assert docs[0].docid == "4983" and docs[0].title.startswith("Microstructural development")
    assert all(d.text for d in docs)
    assert len(read_queries(scifact_dir)) == 1109
    train = read_qrels(scifact_dir / "qrels" / "train.tsv")
    assert len(train) == 809 and sum(map(len, train.values())) == 919


def test_load_beir_test_split(scifact_dir):
    queries, qrels = load_beir(scifact_dir, "test")
    assert len(queries) == 300 and len(qrels) == 300
    assert sum(map(len, qrels.values())) == 339
    assert set(queries) == set(qrels)
    assert qrels["1"] == {"31715818": 1}
    assert queries["1"].text == "0-dimensional biomaterials show inductive properties."
    with pytest.raises(DataError, match="split 'dev'.*test, train"):
        load_beir(scifact_dir, "dev")


def test_fetch_docs_streams_only_what_is_asked(scifact_dir):
    found = fetch_docs(scifact_dir / "corpus.jsonl", {"4983", "31715818", "no-such-doc"})
    assert set(found) == {"4983", "31715818"}
    assert found["31715818"].text and isinstance(found["4983"], Candidate)
    assert fetch_docs(scifact_dir, []) == {}


def test_writers_round_trip(tmp_path, scifact_dir):
    docs = [d for _, d in zip(range(50), iter_corpus(scifact_dir), strict=False)]
    assert write_corpus(tmp_path / "corpus.jsonl", iter(docs)) == 50
    assert list(iter_corpus(tmp_path)) == docs
    queries = {"a": Query("a", "first"), "b": Query("b", "second", instruction="find evidence")}
    write_queries(tmp_path / "queries.jsonl", queries)
    assert read_queries(tmp_path) == queries
    qrels = {"a": {"4983": 1}, "b": {"x": 2, "y": 0}}
    write_qrels(tmp_path / "qrels" / "test.tsv", qrels)
    assert (tmp_path / "qrels" / "test.tsv").read_text().startswith("query-id\tcorpus-id\tscore\n")
    assert read_qrels(tmp_path / "qrels" / "test.tsv") == qrels
    assert load_beir(tmp_path, "test") == (queries, qrels)


@pytest.mark.parametrize(
    "name, text, line, needle",
    [
        ("corpus.jsonl", '{"_id": "1", "title": "", "text": "ok"}\n{"_id": "2", "title": "t"}\n', 2, "'text'"),
        ("corpus.jsonl", '{"_id": "1", "text": "ok"}\n{"_id": "2", "text": "x"\n', 2, "JSON object per line"),
        ("corpus.jsonl", '["not", "an", "object"]\n', 1, "a JSON object"),
        ("corpus.jsonl", '{"text": "no id"}\n', 1, "'_id'"),
        ("queries.jsonl", '{"_id": "1", "text": "q"}\n{"_id": "1", "text": "again"}\n', 2, "repeats"),
        ("queries.jsonl", '{"_id": "1", "text": 5}\n', 1, "'text' to be str"),
        ("qrels.tsv", "query-id\tcorpus-id\tscore\n1\td1\t1\n1\td2\n", 3, "3 tab-separated columns"),
        ("qrels.tsv", "query-id\tcorpus-id\tscore\n1\td1\tyes\n", 2, "integer score"),
    ],
)
def test_malformed_inputs(tmp_path, name, text, line, needle):
    path = tmp_path / name
    path.write_text(text)
    reader = {"corpus.jsonl": lambda p: list(iter_corpus(p)), "queries.jsonl": read_queries, "qrels.tsv": read_qrels}
    with pytest.raises(DataError) as err:
        reader[name](path)
    assert err.value.line == line and err.value.path == str(path)
    assert needle in str(err.value)


def test_failing_write_leaves_no_file(tmp_path, scifact_dir):
    def docs():
        yield from (d for _, d in zip(range(3), iter_corpus(scifact_dir), strict=False))
        raise RuntimeError("source broke midway")

    with pytest.raises(RuntimeError):
        write_corpus(tmp_path / "corpus.jsonl", docs())
    with pytest.raises(AttributeError):
        write_queries(tmp_path / "queries.jsonl", [Query("1", "ok"), None])  # type: ignore[list-item]
    with pytest.raises((TypeError, ValueError)):
        write_qrels(tmp_path / "q.tsv", {"1": {"a": 1}, "2": {"b": "high"}})
    assert list(tmp_path.iterdir()) == []


def test_written_corpus_is_plain_beir_json(tmp_path):
    write_corpus(tmp_path / "c.jsonl", [Candidate("d1", "body", title=None)])
    assert json.loads((tmp_path / "c.jsonl").read_text()) == {"_id": "d1", "title": "", "text": "body"}
