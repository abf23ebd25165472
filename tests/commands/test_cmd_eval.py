"""`rl-rerank eval`: DL20 BM25 first stage reproduces 0.4796; BRIGHT on the real examples (documents generated
around them) removes excluded ids before scoring and averages per task, then over tasks."""

from __future__ import annotations

import json

import pytest

from rl_rerank.cli import main
from rl_rerank.data import bright, read_run, write_run
from rl_rerank.eval.metrics import evaluate

TASKS = ("leetcode", "aops")
N = 4  # queries per task


def test_dl20_first_stage_row_is_published_bm25(tiny_model, tmp_path):
    out = tmp_path / "ev"
    assert main(["eval", "--benchmark", "trec-dl-2020", "--model", str(tiny_model), "--engine", "transformers",
                 "--top-k", "2", "--max-doc-tokens", "32", "--out", str(out), "--no-progress"]) == 0
    report = json.loads((out / "report.json").read_text())
    row = report["results"][0]
    assert row["name"] == "trec-dl-2020" and row["queries"] == 54
    assert round(row["first_stage"]["nDCG@10"], 4) == 0.4796
    # only the top-2 were reranked: ranks 3.. are untouched, so the score moves by a bounded amount
    first, reranked = read_run(out / "runs/trec-dl-2020.first.trec"), read_run(out / "runs/trec-dl-2020.rerank.trec")
    for qid in first:
        a = sorted(first[qid], key=lambda d: -first[qid][d])
        b = sorted(reranked[qid], key=lambda d: -reranked[qid][d])
        assert set(a[:2]) == set(b[:2]) and a[2:] == b[2:]
    assert row["stats"]["documents"] == 108
    table = (out / "report.md").read_text()
    assert "| trec-dl-2020 | 54 | 0.4796 |" in table
    assert (out / "report.png").read_bytes()[:4] == b"\x89PNG"


@pytest.fixture(scope="module")
def bright_docs(bright_dir, tmp_path_factory):
    """Documents for the first N real examples of each task: gold documents answer the question, excluded
    documents repeat the query verbatim (so BM25 ranks them first), and a few distractors."""
    folder = tmp_path_factory.mktemp("bright-docs")
    examples = {}
    for task in TASKS:
        exs = bright.read_examples(bright_dir / f"{task}.jsonl.gz")[:N]
        examples[task] = exs
        docs = {}
        for e in exs:  # in aops a query's gold ids can be other queries' excluded ids: gold text wins
            for x in e.excluded_ids[:3]:
                docs.setdefault(x, (e.query + " ") * 2)
        for i, e in enumerate(exs):
            for g in e.gold_ids:
                docs[g] = f"Worked solution. {e.reasoning or ''} {e.gold_answer or ''} " + e.query[:200]
            for j in range(5):
                docs.setdefault(f"{task}-noise-{i}-{j}", f"unrelated text about topic {i} {j} weather gardens")
        with open(folder / f"{task}.jsonl", "w") as fh:
            for docid, text in docs.items():
                fh.write(json.dumps({"id": docid, "content": text}) + "\n")
    return folder, examples


def test_bright_excluded_ids_never_scored(bright_docs, tmp_path):
    folder, examples = bright_docs
    out = tmp_path / "ev"
    assert main(["eval", "--benchmark", "bright:" + ",".join(TASKS), "--bright-docs", str(folder),
                 "--max-queries", str(N), "--no-rerank", "--top-k", "20", "--out", str(out), "--no-progress"]) == 0
    report = json.loads((out / "report.json").read_text())
    rows = {r["name"]: r for r in report["results"]}
    for task in TASKS:
        run = read_run(out / f"runs/bright_{task}.first.trec")
        for e in examples[task]:
            assert not set(run.get(e.id, {})) & set(e.excluded_ids)
        # the generated excluded documents repeat the query: with them the ranking would be much worse
        from rl_rerank.eval.bm25 import bm25_run

        raw = bm25_run(folder / f"{task}.jsonl", bright.queries_of(examples[task]), k=20, progress=False)
        qrels = bright.qrels_of(examples[task])
        assert rows[f"bright/{task}"]["first_stage"]["nDCG@10"] > evaluate(raw, qrels)["nDCG@10"]
    mean = rows[f"bright (mean of {len(TASKS)})"]["first_stage"]["nDCG@10"]
    assert mean == pytest.approx(sum(rows[f"bright/{t}"]["first_stage"]["nDCG@10"] for t in TASKS) / len(TASKS))


def test_bright_run_ranking_an_excluded_id_first_loses_nothing(bright_docs, tmp_path):
    folder, examples = bright_docs
    task = "leetcode"
    runs = tmp_path / "runs"
    run = {}
    for e in examples[task]:  # excluded id at rank 1, then every gold document, then noise
        ranked = [e.excluded_ids[0]] + list(e.gold_ids) + [f"{task}-noise-0-{j}" for j in range(3)]
        run[e.id] = {d: float(len(ranked) - i) for i, d in enumerate(ranked)}
    write_run(runs / f"bright_{task}.trec", run)
    out = tmp_path / "ev"
    assert main(["eval", "--benchmark", f"bright:{task}", "--bright-docs", str(folder), "--first-stage", str(runs),
                 "--max-queries", str(N), "--no-rerank", "--out", str(out), "--no-progress"]) == 0
    row = json.loads((out / "report.json").read_text())["results"][0]
    assert row["first_stage"]["nDCG@10"] == pytest.approx(1.0)
    with_excluded = evaluate(run, bright.qrels_of(examples[task]))["nDCG@10"]
    assert with_excluded < 1.0  # scoring the run as given would have cost points


def test_bright_reranker_sees_original_query(bright_docs, tiny_model, tmp_path, monkeypatch):
    """Retrieval with the reasoning-expanded query, reranking with the original one."""
    from rl_rerank.rerank import options as setup

    folder, examples = bright_docs
    seen = []
    real = setup.make_engine

    def spying(*a, **kw):
        engine = real(*a, **kw)
        inner = engine.dists_at_points

        def wrapped(prompts, prefixes, points):
            seen.extend(m[-1]["content"] for m in prompts)
            return inner(prompts, prefixes, points)

        engine.dists_at_points = wrapped
        return engine

    monkeypatch.setattr(setup, "make_engine", spying)
    out = tmp_path / "ev"
    assert main(["eval", "--benchmark", "bright:aops", "--bright-docs", str(folder), "--max-queries", "2",
                 "--bright-retrieval-query", "reasoning", "--model", str(tiny_model), "--engine", "transformers",
                 "--top-k", "3", "--max-doc-tokens", "24", "--out", str(out), "--no-progress", "--no-cache"]) == 0
    exs = examples["aops"][:2]  # real reasoning texts ("Newtons Sums"), unlike leetcode's "empty"
    assert seen
    for e in exs:
        assert any(e.query[:60] in s for s in seen)
        assert not any(f"Query: {e.reasoning}" in s for s in seen)
    reranked = read_run(out / "runs/bright_aops.rerank.trec")
    for e in exs:
        assert not set(reranked[e.id]) & set(e.excluded_ids)
