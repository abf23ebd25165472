"""`rl-rerank rerank` end to end with the tiny model: every paradigm on DL20 requests and on a SciFact TREC
run + corpus; an interrupted run resumes without recomputing finished queries and writes the same file."""

from __future__ import annotations

import json

import pytest

from rl_rerank.cli import main
from rl_rerank.data import read_run, write_run
from rl_rerank.data.beir import read_queries

PARADIGMS = [("pointwise", False), ("pointwise", True), ("listwise", False), ("listwise", True),
             ("setwise", False), ("setwise", True), ("groupwise", False), ("groupwise", True)]
SMALL = ["--top-k", "6", "--window", "4", "--stride", "2", "--set-size", "3", "--select-k", "2",
         "--group-size", "3", "--repeats", "2", "--max-new-tokens", "12", "--max-doc-tokens", "48", "--no-progress"]


@pytest.fixture(scope="module")
def dl20_small(dl20_dir, tmp_path_factory):
    """The first 3 DL20 queries of the shared rank_llm file (same format, smaller)."""
    hits = json.loads((dl20_dir / "bm25-top100.json").read_text())[:3]
    path = tmp_path_factory.mktemp("dl20") / "requests.json"
    path.write_text(json.dumps(hits))
    return path


@pytest.fixture(scope="module")
def scifact_run(scifact_dir, tmp_path_factory):
    """BM25 top-10 for 3 SciFact test queries, as a TREC run (what users pass with --corpus/--queries)."""
    from rl_rerank.data import load_beir
    from rl_rerank.retrieval.bm25 import bm25_run

    split = load_beir(scifact_dir, "test")
    queries = dict(list(split.queries.items())[:3])
    path = tmp_path_factory.mktemp("scifact") / "bm25.trec"
    write_run(path, bm25_run(scifact_dir, queries, k=10, progress=False))
    qpath = path.with_name("queries.jsonl")
    qpath.write_text("".join(json.dumps({"_id": q.qid, "text": q.text}) + "\n" for q in queries.values()))
    return path, qpath


@pytest.mark.parametrize("paradigm,reasoning", PARADIGMS)
def test_rerank_dl20_every_paradigm(paradigm, reasoning, tiny_model, dl20_small, tmp_path):
    out = tmp_path / "run.trec"
    argv = ["rerank", "--model", str(tiny_model), "--engine", "transformers", "--paradigm", paradigm,
            "--input", str(dl20_small), "--output", str(out), "--no-cache", *SMALL]
    assert main(argv + (["--reasoning"] if reasoning else [])) == 0
    run = read_run(out)
    hits = json.loads(dl20_small.read_text())
    assert len(run) == 3
    for entry in hits:  # every candidate ranked, the 94 beyond the top-6 below the reranked ones
        qid = str(entry["hits"][0]["qid"])
        assert set(run[qid]) == {str(h["docid"]) for h in entry["hits"]}
        top6 = {str(h["docid"]) for h in entry["hits"][:6]}
        ranked = sorted(run[qid], key=lambda d: -run[qid][d])
        assert set(ranked[:6]) == top6
    stats = json.loads(out.with_name("run.trec.stats.json").read_text())
    assert stats["queries"] == 3 and stats["documents"] == 18 and stats["prompt_tokens"] > 0
    p = stats["parse"]
    if paradigm == "pointwise" and not reasoning:  # read from label probabilities: nothing generated
        # a random tiny model may put no probability on any score label: a counted failed read + fallback
        assert p["ok"] + p["failed"] == 18 and p["repaired"] == 0 and stats["fallbacks"] == p["failed"]
        assert stats["prompts"] == 18 and stats["completion_tokens"] == 0
        # one query's prompts share system + instruction + query: that prefix is read from the KV cache
        assert stats["prompt_tokens_reused"] > 0.3 * stats["prompt_tokens"] and stats["prefix_reuse_fallbacks"] == 0
    else:  # every generated answer is parsed once; each failure is a counted fallback
        assert p["ok"] + p["repaired"] + p["failed"] == stats["prompts"] > 0
        assert stats["fallbacks"] >= p["failed"] and stats["completion_tokens"] > 0
        assert stats["prompt_tokens_reused"] == 0  # generation recomputes its prompts (no shared-prefix path)


@pytest.mark.parametrize("paradigm", ["pointwise", "listwise", "setwise", "groupwise"])
def test_rerank_scifact_trec_run_with_corpus(paradigm, tiny_model, scifact_run, scifact_dir, tmp_path):
    run_path, queries = scifact_run
    out = tmp_path / "run.trec"
    assert main(["rerank", "--model", str(tiny_model), "--engine", "transformers", "--paradigm", paradigm,
                 "--input", str(run_path), "--corpus", str(scifact_dir), "--queries", str(queries),
                 "--output", str(out), "--no-cache", *SMALL]) == 0
    first, got = read_run(run_path), read_run(out)
    assert set(got) == set(first)
    for qid in first:  # --top-k 6 of a top-10 run: the 6 best are reranked, the other 4 stay below in order
        by_first = sorted(first[qid], key=lambda d: -first[qid][d])
        by_got = sorted(got[qid], key=lambda d: -got[qid][d])
        assert set(got[qid]) == set(first[qid]) and len(got[qid]) == 10
        assert set(by_got[:6]) == set(by_first[:6]) and by_got[6:] == by_first[6:]
    assert set(got) <= set(read_queries(queries))


def test_trec_run_input_and_request_input_give_the_same_run(tiny_model, scifact_run, scifact_dir, tmp_path):
    """Issue 11: with --top-k, a TREC run + corpus keeps its tail below the reranked head exactly like a request
    file holding the same candidates does (it used to drop the tail)."""
    from rl_rerank.data import build_requests, write_requests
    from rl_rerank.data.auto import fetch_docs

    run_path, queries = scifact_run
    first = read_run(run_path)
    requests = build_requests(first, fetch_docs(scifact_dir, {d for s in first.values() for d in s}),
                              read_queries(queries), top_k=None)
    req_path = tmp_path / "requests.jsonl"
    write_requests(req_path, requests)
    common = ["rerank", "--model", str(tiny_model), "--engine", "transformers", "--paradigm", "pointwise",
              "--no-cache", *SMALL]
    assert main(common + ["--input", str(req_path), "--output", str(tmp_path / "from_requests.trec")]) == 0
    assert main(common + ["--input", str(run_path), "--corpus", str(scifact_dir), "--queries", str(queries),
                          "--output", str(tmp_path / "from_run.trec")]) == 0
    got = (tmp_path / "from_run.trec").read_text()
    assert got == (tmp_path / "from_requests.trec").read_text()
    assert len(got.splitlines()) == sum(len(d) for d in first.values()) == 30  # 3 queries x 10, tail kept


class Interrupted(RuntimeError):
    pass


def test_interrupted_rerank_resumes_to_the_same_file(tiny_model, dl20_small, tmp_path, monkeypatch):
    from rl_rerank.rerank import options as setup

    real = setup.make_engine
    calls = {"n": 0, "fail_after": None}

    def counting_engine(*a, **kw):
        engine = real(*a, **kw)
        inner = engine.dists_at_points

        def wrapped(prompts, prefixes, points):
            if calls["fail_after"] is not None and calls["n"] >= calls["fail_after"]:
                raise Interrupted("simulated crash")
            calls["n"] += 1
            return inner(prompts, prefixes, points)

        engine.dists_at_points = wrapped
        return engine

    monkeypatch.setattr(setup, "make_engine", counting_engine)
    base = ["rerank", "--model", str(tiny_model), "--engine", "transformers", "--paradigm", "pointwise",
            "--input", str(dl20_small), "--batch-queries", "1", *SMALL]

    # uninterrupted reference, own cache
    assert main(base + ["--output", str(tmp_path / "ref.trec"), "--cache-dir", str(tmp_path / "c1")]) == 0
    assert calls["n"] == 3  # one label-probability call per query (batch of 1 query)

    # crash after 2 queries, then resume
    calls.update(n=0, fail_after=2)
    with pytest.raises(Interrupted):
        main(base + ["--output", str(tmp_path / "run.trec"), "--cache-dir", str(tmp_path / "c2")])
    assert not (tmp_path / "run.trec").exists()  # no partial output
    calls.update(n=0, fail_after=None)
    assert main(base + ["--output", str(tmp_path / "run.trec"), "--cache-dir", str(tmp_path / "c2")]) == 0
    assert calls["n"] == 1  # only the unfinished query was computed
    stats = json.loads((tmp_path / "run.trec.stats.json").read_text())
    assert stats["queries_from_cache"] == 2 and stats["queries_computed"] == 1
    assert (tmp_path / "run.trec").read_text() == (tmp_path / "ref.trec").read_text()

    # a changed setting is a different cache entry: everything is recomputed
    calls.update(n=0)
    assert main(base + ["--output", str(tmp_path / "r3.trec"), "--cache-dir", str(tmp_path / "c2"),
                        "--max-doc-tokens", "32"]) == 0
    assert calls["n"] == 3
