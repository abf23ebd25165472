"""BRIGHT examples on the real shared data (12 tasks, 1,384 queries), documents, writers, bad input."""

from __future__ import annotations

import gzip
import json

import pytest

from rl_rerank.data.auto import fetch_docs
from rl_rerank.data.bright import (
    TASKS,
    BrightExample,
    iter_documents,
    load_bright,
    read_all_examples,
    read_examples,
    write_documents,
    write_examples,
)
from rl_rerank.data.types import Candidate
from rl_rerank.errors import DataError

# Per-task query counts observed in ../shared/data/bright/examples (the BRIGHT paper's Table 1).
COUNTS = {
    "biology": 103, "earth_science": 116, "economics": 103, "psychology": 101, "robotics": 101,
    "stackoverflow": 117, "sustainable_living": 108, "leetcode": 142, "pony": 112, "aops": 111,
    "theoremqa_questions": 194, "theoremqa_theorems": 76,
}  # fmt: skip


@pytest.fixture(scope="module")
def all_examples(bright_dir):
    return read_all_examples(bright_dir)


def test_all_tasks_and_counts(all_examples):
    assert list(all_examples) == list(TASKS)
    assert {t: len(v) for t, v in all_examples.items()} == COUNTS
    assert sum(len(v) for v in all_examples.values()) == 1384
    assert all(ex.gold_ids for v in all_examples.values() for ex in v)


def test_na_lists_mean_none(all_examples):
    bio = all_examples["biology"]
    assert all(ex.excluded_ids == [] for ex in bio)  # ["N/A"] in the file
    assert bio[0].gold_ids_long == [
        "insects_attracted_to_light/Proximate_and_ultimate_causation.txt",
        "insects_attracted_to_light/Phototaxis.txt",
    ]
    assert len(bio[0].gold_ids) == 5
    aops = all_examples["aops"]
    assert all(ex.gold_ids_long == [] for ex in aops)  # no long-document setting for aops
    assert all(ex.excluded_ids for ex in aops)
    assert aops[0].id in aops[0].excluded_ids  # a query's own source is excluded
    assert all(ex.excluded_ids for ex in all_examples["leetcode"] + all_examples["theoremqa_questions"])


def test_load_bright_queries_qrels_excluded(bright_dir):
    split = load_bright(bright_dir / "leetcode.jsonl.gz")
    assert len(split.queries) == 142 and len(split.qrels) == 142 and len(split.excluded) == 142
    some = next(iter(split.qrels))
    assert set(split.qrels[some].values()) == {1}
    assert load_bright(bright_dir / "leetcode.jsonl.gz", long_documents=True).qrels == {}
    long_bio = load_bright(bright_dir / "biology.jsonl.gz", long_documents=True)
    assert len(long_bio.qrels) == 103 and long_bio.excluded == {}
    assert "insects_attracted_to_light/Phototaxis.txt" in long_bio.qrels["0"]


@pytest.mark.parametrize("suffix", [".jsonl", ".jsonl.gz"])
def test_examples_round_trip_plain_and_gz(tmp_path, all_examples, suffix):
    examples = all_examples["pony"] + all_examples["aops"][:3]
    out = tmp_path / f"task{suffix}"
    write_examples(out, examples)
    assert read_examples(out) == examples
    if suffix == ".jsonl.gz":
        row = json.loads(gzip.open(out, "rt").readline())
        assert row["excluded_ids"] == ["N/A"] and set(row) == {
            "id", "query", "reasoning", "gold_ids", "gold_ids_long", "excluded_ids", "gold_answer"}  # fmt: skip


def test_documents_stream_and_round_trip(tmp_path, all_examples):
    """Documents are not shared offline; build them around the real gold ids of the biology task."""
    bio = all_examples["biology"][:20]
    docs = [Candidate(g, f"{ex.gold_answer[:200]} ({i})") for ex in bio for i, g in enumerate(ex.gold_ids)]
    for suffix in (".jsonl", ".jsonl.gz"):
        path = tmp_path / f"documents{suffix}"
        assert write_documents(path, iter(docs)) == len(docs)
        assert list(iter_documents(path)) == docs
    want = {bio[3].gold_ids[0], bio[7].gold_ids[-1], "absent"}
    assert set(fetch_docs(tmp_path / "documents.jsonl.gz", want)) == want - {"absent"}


@pytest.mark.parametrize(
    "row, needle",
    [
        ({"id": "1", "query": "q", "excluded_ids": ["N/A"]}, "'gold_ids'"),
        ({"id": "1", "query": "q", "gold_ids": "d1", "excluded_ids": ["N/A"]}, "list of ids"),
        ({"id": "1", "gold_ids": ["d1"], "excluded_ids": ["N/A"]}, "'query'"),
        ({"query": "q", "gold_ids": ["d1"], "excluded_ids": ["N/A"]}, "'id'"),
        ({"id": "1", "query": "q", "gold_ids": ["d1"], "excluded_ids": [None]}, "'excluded_ids'"),
        ({"id": "1", "query": "q", "gold_ids": ["d1"]}, "'excluded_ids' (missing)"),
    ],
)
def test_malformed_examples(tmp_path, row, needle):
    path = tmp_path / "bad.jsonl.gz"
    good = {"id": "0", "query": "fine", "gold_ids": ["d0"], "excluded_ids": ["N/A"]}
    with gzip.open(path, "wt") as fh:
        fh.write(json.dumps(good) + "\n" + json.dumps(row) + "\n")
    with pytest.raises(DataError) as err:
        read_examples(path)
    assert err.value.line == 2 and needle in str(err.value)
    assert str(err.value).startswith(f"{path}:2: ")


def test_malformed_documents_and_corrupt_gzip(tmp_path):
    path = tmp_path / "docs.jsonl"
    path.write_text('{"id": "a", "content": "x"}\n{"id": "b", "text": "wrong key"}\n')
    with pytest.raises(DataError, match=r"docs.jsonl:2: field 'content'"):
        list(iter_documents(path))
    gz = tmp_path / "docs.jsonl.gz"
    gz.write_bytes(gzip.compress(b'{"id": "a", "content": "x"}\n' * 100)[:60])  # truncated download
    with pytest.raises(DataError, match="gzip"):
        list(iter_documents(gz))


def test_failing_writes_leave_no_file(tmp_path):
    def broken_examples():
        yield BrightExample("1", "q", ["d"])
        raise RuntimeError("stop")

    def broken_docs():
        yield Candidate("d", "t")
        raise RuntimeError("stop")

    for name in ("ex.jsonl", "ex.jsonl.gz"):
        with pytest.raises(RuntimeError):
            write_examples(tmp_path / name, broken_examples())
    with pytest.raises(RuntimeError):
        write_documents(tmp_path / "docs.jsonl.gz", broken_docs())
    assert list(tmp_path.iterdir()) == []
