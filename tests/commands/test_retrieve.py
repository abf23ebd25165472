"""`rl-rerank retrieve` in-process: SciFact end to end, BRIGHT exclusions, and exit code 2 on bad input."""

from __future__ import annotations

import json

import pytest

from rl_rerank.cli import main
from rl_rerank.data.bright import read_examples, write_documents
from rl_rerank.data.rank_llm import read_requests
from rl_rerank.data.trec import read_run
from rl_rerank.data.types import Candidate


def test_scifact_run_requests_and_figures(tmp_path, capsys, scifact_dir):
    run_out, req_out = tmp_path / "run.trec", tmp_path / "requests.jsonl"
    code = main(["retrieve", "--corpus", str(scifact_dir), "--queries", str(scifact_dir), "--split", "test",
                 "--top-k", "20", "--run-out", str(run_out), "--requests-out", str(req_out),
                 "--no-progress"])  # fmt: skip
    out = capsys.readouterr().out
    assert code == 0
    run = read_run(run_out)
    assert len(run) == 300 and max(map(len, run.values())) == 20
    requests = read_requests(req_out)
    assert [r.query.qid for r in requests] == list(run)
    first = requests[0]
    assert [c.docid for c in first.candidates] == list(run[first.query.qid])
    assert all(c.text for r in requests for c in r.candidates)
    assert first.candidates[0].title  # SciFact titles are carried
    ndcg = float(out.split("nDCG@10 ")[1].split()[0])
    assert ndcg >= 0.66 and "(300 judged queries)" in out


def test_bright_examples_apply_exclusions(tmp_path, capsys, bright_dir):
    examples = read_examples(bright_dir / "theoremqa_questions.jsonl.gz")[:10]
    docs = {}
    for ex in examples:
        docs.setdefault(ex.excluded_ids[0], Candidate(ex.excluded_ids[0], ex.query))
        docs.setdefault(ex.gold_ids[0], Candidate(ex.gold_ids[0], ex.query[: len(ex.query) // 2]))
    write_documents(tmp_path / "docs.jsonl", docs.values())
    queries = tmp_path / "examples.jsonl"
    queries.write_text("".join(json.dumps({"id": e.id, "query": e.query, "gold_ids": e.gold_ids,
                                           "excluded_ids": e.excluded_ids}) + "\n" for e in examples))  # fmt: skip
    code = main(["retrieve", "--corpus", str(tmp_path / "docs.jsonl"), "--queries", str(queries), "--top-k", "3",
                 "--run-out", str(tmp_path / "run.trec"), "--requests-out", str(tmp_path / "r.json"),
                 "--no-progress"])  # fmt: skip
    assert code == 0
    run = read_run(tmp_path / "run.trec")
    assert all(not set(run[e.id]) & set(e.excluded_ids) for e in examples)
    assert "nDCG@10" in capsys.readouterr().out
    assert len(read_requests(tmp_path / "r.json")) == len(run)


@pytest.mark.parametrize("which", ["corpus", "queries"])
def test_bad_file_exits_2_with_one_line(tmp_path, capsys, scifact_dir, which):
    bad = tmp_path / ("corpus.jsonl" if which == "corpus" else "queries.jsonl")
    bad.write_text('{"_id": "1", "title": "t", "text": "ok"}\n{"_id": "2", "title": "t", text: oops}\n')
    args = {"corpus": str(scifact_dir), "queries": str(scifact_dir / "queries.jsonl")}
    args[which] = str(bad)
    run_out = tmp_path / "run.trec"
    code = main(["retrieve", "--corpus", args["corpus"], "--queries", args["queries"], "--run-out", str(run_out),
                 "--no-progress"])  # fmt: skip
    err = capsys.readouterr().err
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith(f"rl-rerank retrieve: error: {bad}:2: ")
    assert "JSON object per line" in lines[0]
    assert not run_out.exists()


def test_missing_qrels_file_exits_2(tmp_path, capsys, scifact_dir):
    code = main(["retrieve", "--corpus", str(scifact_dir), "--queries", str(scifact_dir / "queries.jsonl"),
                 "--qrels", str(tmp_path / "nope.tsv"), "--run-out", str(tmp_path / "run.trec")])  # fmt: skip
    assert code == 2 and "nope.tsv: file not found" in capsys.readouterr().err
    assert not (tmp_path / "run.trec").exists()
