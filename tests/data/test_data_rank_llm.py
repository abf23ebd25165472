"""rank_llm request files: the shared DL20 JSON list, JSONL candidates, both writers, bad input."""

from __future__ import annotations

import json

import pytest

from rl_rerank.data.rank_llm import (
    read_candidates_jsonl,
    read_hits_json,
    read_requests,
    write_candidates_jsonl,
    write_hits_json,
    write_requests,
)
from rl_rerank.data.types import Candidate, Query, Request
from rl_rerank.errors import DataError


@pytest.fixture(scope="module")
def dl20(dl20_dir):
    return read_requests(dl20_dir / "bm25-top100.json")


def test_dl20_hits_file(dl20, dl20_dir):
    assert len(dl20) == 54
    assert all(len(r.candidates) == 100 for r in dl20)
    first = dl20[0]
    assert first.query == Query("23849", "are naturalization records public information")
    c = first.candidates[0]
    assert (c.docid, c.rank, round(c.score, 4)) == ("4348282", 1, 10.0663)
    assert c.text.startswith("Civil Records Definition.")
    assert [c.rank for c in first.candidates] == list(range(1, 101))
    raw = json.loads((dl20_dir / "bm25-top100.json").read_text())
    assert [h["docid"] for h in raw[5]["hits"]] == [c.docid for c in dl20[5].candidates]


def test_both_layouts_round_trip(tmp_path, dl20):
    write_hits_json(tmp_path / "r.json", dl20)
    assert read_requests(tmp_path / "r.json") == dl20
    write_candidates_jsonl(tmp_path / "r.jsonl", dl20)
    assert read_requests(tmp_path / "r.jsonl") == dl20
    assert len((tmp_path / "r.jsonl").read_text().splitlines()) == 54


def test_titles_instructions_and_missing_scores(tmp_path):
    reqs = [
        Request(Query("q1", "what", instruction="Judge relevance"), [
            Candidate("d1", "body one", title="Title", score=None, rank=1),
            Candidate("d2", "body two", score=None, rank=2),
        ]),
        Request(Query("q2", "empty list"), []),
    ]  # fmt: skip
    write_requests(tmp_path / "r.jsonl", reqs)
    back = read_requests(tmp_path / "r.jsonl")
    assert back[0].query.instruction == "Judge relevance"
    assert back[0].candidates[0].title == "Title" and back[0].candidates[0].text == "body one"
    assert [c.score for c in back[0].candidates] == [-1.0, -2.0]  # order kept through rank-derived scores
    assert back[1].query.qid == "q2" and back[1].candidates == []
    write_requests(tmp_path / "r.json", reqs)
    back = read_requests(tmp_path / "r.json")
    assert back[0].candidates[0].text == "Title\nbody one"  # the hits layout has one content field
    assert back[0].query.instruction == "Judge relevance" and back[1].query.qid == "q2"


def test_jsonl_doc_variants(tmp_path):
    lines = [
        {"query": {"text": "t", "qid": 7}, "candidates": [
            {"docid": 1, "score": 3, "doc": "plain string"},
            {"docid": "b", "score": 2.5, "doc": {"contents": "from contents", "title": "T"}},
            {"docid": "c", "score": "1.5", "doc": {"segment": "from segment"}},
        ]},
    ]  # fmt: skip
    path = tmp_path / "x.jsonl"
    path.write_text("\n".join(json.dumps(x) for x in lines) + "\n")
    (req,) = read_candidates_jsonl(path)
    assert req.query.qid == "7"
    assert [(c.docid, c.text, c.title, c.score, c.rank) for c in req.candidates] == [
        ("1", "plain string", None, 3.0, 1),
        ("b", "from contents", "T", 2.5, 2),
        ("c", "from segment", None, 1.5, 3),
    ]


HIT = '{"content": "c", "qid": 1, "docid": "d", "rank": 1, "score": 1.0}'


@pytest.mark.parametrize(
    "text, line, needle",
    [
        ('[\n  {"query": "q",\n   "hits": [\n    ' + HIT + ',\n    {"content": "c", "qid": 1}\n]}]', 5, "'docid'"),
        ('[\n {"query": "q", "hits": [' + HIT.replace('"score": 1.0', '"score": "high"') + "]}\n]", 2, "number"),
        ('[\n {"query": "q", "hits": [' + HIT + "]},\n {\"query\": \"q2\"}\n]", 3, "'hits'"),
        ('[\n {"query": "q", "hits": [' + HIT + "]\n ,]", 3, "valid JSON"),
        ('[{"query": "q", "hits": [' + HIT + "," + HIT.replace("1,", "2,", 1) + "]}]", 1, "one qid per entry"),
        ('[{"query": "q", "hits": []}]', 1, "one qid per entry"),
        ('{"query": "q", "hits": []}', 1, "a JSON list"),
    ],
)
def test_malformed_hits_json(tmp_path, text, line, needle):
    path = tmp_path / "bad.json"
    path.write_text(text)
    with pytest.raises(DataError) as err:
        read_hits_json(path)
    assert err.value.line == line and err.value.path == str(path)
    assert needle in str(err.value)


@pytest.mark.parametrize(
    "bad, needle",
    [
        ('{"query": {"text": "t"}, "candidates": []}', "'qid'"),
        ('{"query": {"text": "t", "qid": "1"}, "candidates": [{"docid": "d", "score": 1}]}', "'doc'"),
        ('{"query": {"text": "t", "qid": "1"}, "candidates": [{"docid": "d", "score": "x", "doc": "t"}]}', "number"),
        ('{"query": {"text": "t", "qid": "1"}, "candidates": [{"docid": "d", "doc": {"x": 1}}]}', "'text'"),
        ('{"query": "t", "candidates": []}', "'query' to be dict"),
        ('{"query": {"text": "t", "qid": "1"}, "candidates": [', "JSON object per line"),
    ],
)
def test_malformed_candidates_jsonl(tmp_path, bad, needle):
    path = tmp_path / "bad.jsonl"
    good = '{"query": {"text": "t", "qid": "0"}, "candidates": []}'
    path.write_text(good + "\n\n" + bad + "\n")
    with pytest.raises(DataError) as err:
        read_requests(path)
    assert err.value.line == 3 and needle in str(err.value)
    assert str(err.value).startswith(f"{path}:3: ")


def test_failing_writes_leave_no_file(tmp_path, dl20):
    def broken():
        yield dl20[0]
        raise RuntimeError("producer died")

    for writer, name in ((write_hits_json, "a.json"), (write_candidates_jsonl, "b.jsonl")):
        with pytest.raises(RuntimeError):
            writer(tmp_path / name, broken())
    assert list(tmp_path.iterdir()) == []
