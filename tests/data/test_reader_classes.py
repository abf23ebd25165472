"""Every file reader against every class of bad input (issue 11): a UTF-8 BOM is dropped; an empty or blank
file, a repeated query id, a repeated docid within a query, a NaN/Infinity score and an id containing whitespace
are DataErrors naming the file (and line); no error line echoes more than ~80 characters of a value."""

from __future__ import annotations

import gzip
import json
from collections.abc import Callable
from pathlib import Path

import pytest

from rl_rerank.data import beir, bright, rank_llm, trec
from rl_rerank.data.auto import read_qrels_auto
from rl_rerank.errors import DataError

Entry = tuple[str, list[tuple[str, float]]]  # (qid, [(docid, score), ...])


def _lines(path: Path, lines: list[str]) -> None:
    text = "".join(line + "\n" for line in lines)
    if path.suffix == ".gz":
        with gzip.open(path, "wt", encoding="utf-8") as fh:
            fh.write(text)
    else:
        path.write_text(text, encoding="utf-8")


def _json(obj) -> str:
    return json.dumps(obj, allow_nan=True)


def w_run(p, es):
    _lines(p, [f"{q} Q0 {d} {i + 1} {s} t" for q, docs in es for i, (d, s) in enumerate(docs)])


def w_trec_qrels(p, es):
    _lines(p, [f"{q} 0 {d} 1" for q, docs in es for d, _ in docs])


def w_topics(p, es):
    _lines(p, [f"{q}\tquery {q}" for q, _ in es])


def w_beir_queries(p, es):
    _lines(p, [_json({"_id": q, "text": f"query {q}"}) for q, _ in es])


def w_beir_qrels(p, es):
    _lines(p, ["query-id\tcorpus-id\tscore"] + [f"{q}\t{d}\t1" for q, docs in es for d, _ in docs])


def w_corpus(p, es):
    _lines(p, [_json({"_id": d, "title": "", "text": f"doc {d}"}) for _, docs in es for d, _ in docs])


def w_examples(p, es):
    _lines(p, [_json({"id": q, "query": f"query {q}", "gold_ids": [d for d, _ in docs], "excluded_ids": ["N/A"]})
               for q, docs in es])


def w_documents(p, es):
    _lines(p, [_json({"id": d, "content": f"doc {d}"}) for _, docs in es for d, _ in docs])


def w_hits(p, es):
    p.write_text(_json([{"query": f"query {q}", "hits": [{"qid": q, "docid": d, "content": f"doc {d}", "rank": i + 1,
                                                          "score": s} for i, (d, s) in enumerate(docs)]}
                        for q, docs in es]), encoding="utf-8")


def w_candidates(p, es):
    _lines(p, [_json({"query": {"qid": q, "text": f"query {q}"},
                      "candidates": [{"docid": d, "score": s, "doc": {"text": f"doc {d}"}} for d, s in docs]})
               for q, docs in es])


def _first_qid(result) -> str:
    """The first query id (or docid, for document files) a reader returned."""
    if isinstance(result, dict):
        return next(iter(result))
    first = result[0]
    if hasattr(first, "candidates"):
        return first.query.qid
    return first.id if hasattr(first, "gold_ids") else first.docid


# name: (file name, writer, reader, classes that apply)
ALL = {"bom", "empty", "whitespace"}
READERS: dict[str, tuple[str, Callable, Callable, set[str]]] = {
    "trec.read_run": ("run.trec", w_run, trec.read_run, ALL | {"dup_doc", "nonfinite"}),
    "trec.read_qrels": ("qrels.txt", w_trec_qrels, trec.read_qrels, ALL | {"dup_doc"}),
    "auto.read_qrels_auto": ("qrels.tsv", w_beir_qrels, read_qrels_auto, ALL | {"dup_doc"}),
    "trec.read_topics": ("topics.tsv", w_topics, trec.read_topics, ALL | {"dup_query"}),
    "beir.read_queries": ("queries.jsonl", w_beir_queries, beir.read_queries, ALL | {"dup_query"}),
    "beir.read_qrels": ("test.tsv", w_beir_qrels, beir.read_qrels, ALL | {"dup_doc"}),
    "beir.iter_corpus": ("corpus.jsonl", w_corpus, lambda p: list(beir.iter_corpus(p)), ALL),
    "bright.read_examples": ("ex.jsonl.gz", w_examples, bright.read_examples, ALL | {"dup_query"}),
    "bright.iter_documents": ("docs.jsonl", w_documents, lambda p: list(bright.iter_documents(p)), ALL),
    "rank_llm.read_hits_json": ("req.json", w_hits, rank_llm.read_requests,
                                ALL | {"dup_query", "dup_doc", "nonfinite"}),
    "rank_llm.read_candidates_jsonl": ("req.jsonl", w_candidates, rank_llm.read_requests,
                                       ALL | {"dup_query", "dup_doc", "nonfinite"}),
}
GOOD: list[Entry] = [("23849", [("d1", 2.5), ("d2", 1.0)]), ("q2", [("d3", 0.5)])]


def applies(klass: str):
    return [pytest.param(name, id=name) for name, spec in READERS.items() if klass in spec[3]]


def _path(tmp_path: Path, name: str) -> Path:
    return tmp_path / READERS[name][0]


def _raises(name: str, path: Path, needle: str) -> DataError:
    with pytest.raises(DataError) as err:
        READERS[name][2](path)
    msg = str(err.value)
    assert msg.startswith(str(path)) and needle in msg, msg
    assert len(msg) < len(str(path)) + 400 and "\n" not in msg  # one line, no echo of a whole value
    return err.value


@pytest.mark.parametrize("name", list(READERS))
def test_good_file_reads(name, tmp_path):
    path = _path(tmp_path, name)
    READERS[name][1](path, GOOD)
    assert READERS[name][2](path)


@pytest.mark.parametrize("name", applies("bom"))
def test_utf8_bom_is_dropped(name, tmp_path):
    path = _path(tmp_path, name)
    READERS[name][1](path, GOOD)
    raw = path.read_bytes() if path.suffix != ".gz" else gzip.decompress(path.read_bytes())
    raw = b"\xef\xbb\xbf" + raw
    path.write_bytes(gzip.compress(raw) if path.suffix == ".gz" else raw)
    first = _first_qid(READERS[name][2](path))
    assert "\ufeff" not in first and first in ("23849", "d1")


@pytest.mark.parametrize("name", applies("empty"))
@pytest.mark.parametrize("content", ["", "\n  \n\t\n"], ids=["0-byte", "blank"])
def test_empty_or_blank_file_is_an_error(name, content, tmp_path):
    path = _path(tmp_path, name)
    _lines(path, [content] if content else [])
    _raises(name, path, "no ")


@pytest.mark.parametrize("name", applies("whitespace"))
@pytest.mark.parametrize("huge", [False, True], ids=["short", "1MB"])
def test_id_with_whitespace_is_an_error(name, huge, tmp_path):
    bad = ("x" * 1_000_000 if huge else "a") + " b"
    path = _path(tmp_path, name)
    READERS[name][1](path, [GOOD[0], (bad, [(bad, 1.0)])])
    err = _raises(name, path, "")
    line = {"trec.read_run": 3, "trec.read_qrels": 3, "beir.read_qrels": 4, "auto.read_qrels_auto": 4,
            "beir.iter_corpus": 3, "bright.iter_documents": 3}.get(name, 2)
    assert err.line == line or name == "rank_llm.read_hits_json" and err.line is not None


@pytest.mark.parametrize("name", applies("dup_query"))
@pytest.mark.parametrize("huge", [False, True], ids=["short", "1MB"])
def test_repeated_query_id_is_an_error(name, huge, tmp_path):
    qid = "x" * 1_000_000 if huge else "q7"
    path = _path(tmp_path, name)
    READERS[name][1](path, [(qid, [("d1", 1.0)]), ("q8", [("d2", 1.0)]), (qid, [("d3", 2.0)])])
    err = _raises(name, path, "repeats")
    assert err.line == 3 or name == "rank_llm.read_hits_json" and err.line is not None


@pytest.mark.parametrize("name", applies("dup_doc"))
@pytest.mark.parametrize("huge", [False, True], ids=["short", "1MB"])
def test_repeated_docid_within_a_query_is_an_error(name, huge, tmp_path):
    docid = "y" * 1_000_000 if huge else "d1"
    path = _path(tmp_path, name)
    READERS[name][1](path, [("q1", [(docid, 2.0), ("d2", 1.5), (docid, 1.0)])])
    err = _raises(name, path, "repeats")
    assert err.line is not None


@pytest.mark.parametrize("name", applies("nonfinite"))
@pytest.mark.parametrize("score", [float("nan"), float("inf"), float("-inf"), "NaN", "1e400"])
def test_nan_or_infinite_score_is_an_error(name, score, tmp_path):
    path = _path(tmp_path, name)
    READERS[name][1](path, [("q1", [("d1", 1.0), ("d2", score)])])
    _raises(name, path, "")


def test_bright_example_without_excluded_ids_names_the_line(tmp_path):
    path = tmp_path / "ex.jsonl"
    _lines(path, [_json({"id": "1", "query": "q", "gold_ids": ["a"], "excluded_ids": ["N/A"]}),
                  _json({"id": "2", "query": "q", "gold_ids": ["b"]})])
    err = _raises("bright.read_examples", path, "'excluded_ids' (missing)")
    assert err.line == 2


@pytest.mark.parametrize("writer,args", [
    (trec.write_run, ({"q 1": {"d1": 1.0}},)),
    (trec.write_run, ({"q1": {"d\t1": 1.0}},)),
    (trec.write_qrels, ({"q1": {"d 1": 1}},)),
    (beir.write_qrels, ({"q1": {"d 1": 1}},)),
    (trec.write_topics, ({"q 1": trec.Query("q 1", "text")},)),
    (beir.write_queries, ([trec.Query("q 1", "text")],)),
    (beir.write_corpus, ([rank_llm.Candidate("d 1", "text")],)),
    (rank_llm.write_requests, ([rank_llm.Request(trec.Query("q1", "t"), [rank_llm.Candidate("d 1", "x")])],)),
], ids=["run-qid", "run-docid", "trec-qrels", "beir-qrels", "topics", "beir-queries", "corpus", "requests"])
def test_writers_refuse_ids_with_whitespace(writer, args, tmp_path):
    """Never write a file our own readers (and trec_eval) cannot read back; nothing is left behind."""
    from rl_rerank.errors import UserError

    path = tmp_path / "out.jsonl"
    with pytest.raises(UserError, match="whitespace"):
        writer(path, *args)
    assert list(tmp_path.iterdir()) == []
