"""TREC run / qrels / topics: real DL20 files, round trips, malformed lines, atomic writes."""

from __future__ import annotations

import pytest

from rl_rerank.data import read_requests, run_from_requests
from rl_rerank.data.trec import read_qrels, read_run, read_topics, write_qrels, write_run, write_topics
from rl_rerank.data.types import Query
from rl_rerank.errors import DataError


def test_dl20_qrels_and_topics(dl20_dir):
    qrels = read_qrels(dl20_dir / "qrels.dl20-passage.txt")
    assert len(qrels) == 54
    assert qrels["23849"]["1034183"] == 3
    assert {g for docs in qrels.values() for g in docs.values()} == {0, 1, 2, 3}
    n_lines = sum(1 for line in open(dl20_dir / "qrels.dl20-passage.txt") if line.strip())
    assert sum(map(len, qrels.values())) == n_lines
    topics = read_topics(dl20_dir / "topics.dl20.tsv")
    assert len(topics) == 200
    assert topics["1030303"].text == "who is aziz hashim"
    assert set(qrels) <= set(topics)


def test_run_round_trip_sorted_and_ranked(tmp_path, dl20_dir):
    run = run_from_requests(read_requests(dl20_dir / "bm25-top100.json"))
    out = tmp_path / "run.trec"
    write_run(out, run, tag="bm25")
    assert read_run(out) == run
    lines = out.read_text().splitlines()
    assert len(lines) == 54 * 100
    first = [line.split() for line in lines[:100]]
    assert [int(c[3]) for c in first] == list(range(1, 101))
    scores = [float(c[4]) for c in first]
    assert scores == sorted(scores, reverse=True)
    assert {c[5] for c in first} == {"bm25"}


def test_write_run_orders_by_score_and_cuts_top_k(tmp_path):
    out = tmp_path / "r.trec"
    write_run(out, {"q": {"a": 0.5, "b": 2.0, "c": 1.0}}, top_k=2)
    assert [line.split()[2] for line in out.read_text().splitlines()] == ["b", "c"]
    with pytest.raises(ValueError):
        write_run(out, {"q": {"a": 1.0}}, tag="two words")


def test_qrels_and_topics_round_trip(tmp_path):
    qrels = {"1": {"d1": 2, "d2": 0}, "2": {"d3": -1}}
    write_qrels(tmp_path / "q.txt", qrels)
    assert read_qrels(tmp_path / "q.txt") == qrels
    topics = {"7": Query("7", "what is\tbm25"), "8": Query("8", "second")}
    write_topics(tmp_path / "t.tsv", topics)
    back = read_topics(tmp_path / "t.tsv")
    assert {q: t.text for q, t in back.items()} == {"7": "what is bm25", "8": "second"}


@pytest.mark.parametrize(
    "reader, text, line, needle",
    [
        (read_run, "q1 Q0 d1 1 3.5 tag\nq1 Q0 d2 2 3.0\n", 2, "6 whitespace-separated columns"),
        (read_run, "q1 Q0 d1 1 3.5 tag\nq1 Q0 d2 2 high tag\n", 2, "numeric score"),
        (read_run, "q1 Q0 d1 one 3.5 tag\n", 1, "integer rank"),
        (read_run, "q1 Q0 d1 1 3.5 t\n\nq1 Q0 d1 2 3.0 t\n", 3, "repeats"),
        (read_qrels, "1 0 d1 1\n1 0 d2\n", 2, "4 whitespace-separated columns"),
        (read_qrels, "1 0 d1 1\n1 0 d2 0.5\n", 2, "integer relevance grade"),
        (read_topics, "1\tok\n2 no tab here\n", 2, "qid<TAB>query text"),
    ],
)
def test_malformed_lines_name_file_and_line(tmp_path, reader, text, line, needle):
    path = tmp_path / "bad.txt"
    path.write_text(text)
    with pytest.raises(DataError) as err:
        reader(path)
    assert err.value.line == line
    assert err.value.path == str(path)
    assert needle in str(err.value) and f"bad.txt:{line}:" in str(err.value)


def test_missing_file_is_a_data_error(tmp_path):
    with pytest.raises(DataError, match="file not found"):
        read_run(tmp_path / "nope.trec")


class Boom(float):
    """A score that fails when the writer formats it, i.e. midway through the file."""

    def __float__(self):
        raise RuntimeError("disk full")


def test_failed_writes_leave_nothing_behind(tmp_path):
    out = tmp_path / "run.trec"
    with pytest.raises(RuntimeError):
        write_run(out, {"q1": {"a": 1.0}, "q2": {"b": Boom(2.0)}})
    assert list(tmp_path.iterdir()) == []
    out.write_text("old\n")
    with pytest.raises(RuntimeError):
        write_run(out, {"q1": {"a": 1.0}, "q2": {"b": Boom(2.0)}})
    assert out.read_text() == "old\n" and list(tmp_path.iterdir()) == [out]
    with pytest.raises((TypeError, ValueError)):
        write_qrels(tmp_path / "q.txt", {"1": {"a": 1}, "2": {"b": "x"}})
    with pytest.raises(AttributeError):
        write_topics(tmp_path / "t.tsv", [Query("1", "fine"), None])  # type: ignore[list-item]
    assert list(tmp_path.iterdir()) == [out]
