"""`rl-rerank eval`: DL20 BM25 first stage reproduces 0.4796; BRIGHT on the real examples (documents generated
around them) removes excluded ids before scoring and averages per task, then over tasks."""

from __future__ import annotations

import json

import pytest

from rl_rerank.cli import main
from rl_rerank.data import bright, read_qrels, read_run, write_run
from rl_rerank.eval.metrics import evaluate

TASKS = ("leetcode", "aops")
N = 4  # queries per task


def test_dl20_first_stage_row_is_published_bm25(tiny_model, tmp_path, dl20_dir):
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
    # the paired test of the reranker against the first stage, computed from the per-query values written
    [test] = row["tests"]
    assert (test["a"], test["b"], test["n"]) == ("reranked", "first_stage", 54)
    assert test["wins"] + test["ties"] + test["losses"] == 54
    assert test["diff"] == pytest.approx(row["reranked"]["nDCG@10"] - row["first_stage"]["nDCG@10"])
    tsv = (out / "per_query/trec-dl-2020.tsv").read_text().splitlines()
    assert tsv[0] == "qid\tfirst stage nDCG@10\treranked nDCG@10" and len(tsv) == 55
    per_q = evaluate(reranked, read_qrels(dl20_dir / "qrels.dl20-passage.txt"), per_query=True)["nDCG@10"]
    assert all(float(line.split("\t")[2]) == pytest.approx(per_q[line.split("\t")[0]], abs=1e-6) for line in tsv[1:])
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
        from rl_rerank.retrieval.bm25 import bm25_run

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


def _swap_1_and_10(run):
    out = {}
    for q, docs in run.items():
        order = sorted(docs, key=lambda d: -docs[d])
        order[0], order[9] = order[9], order[0]
        out[q] = {d: float(len(order) - i) for i, d in enumerate(order)}
    return out


def test_compare_against_a_run_file_and_an_eval_folder(dl20_dir, tmp_path, capsys):
    """BM25 against a perturbed copy (ranks 1 and 10 swapped): the report's test equals significance.compare;
    then a second eval compares against the first one's output folder (identical runs: all ties, p = 1)."""
    from rl_rerank.eval.significance import compare

    first_out = tmp_path / "bm25"
    assert main(["eval", "--benchmark", "trec-dl-2020", "--no-rerank", "--out", str(first_out), "--no-progress"]) == 0
    bm25 = read_run(first_out / "runs/trec-dl-2020.first.trec")
    write_run(tmp_path / "worse.trec", _swap_1_and_10(bm25))
    out = tmp_path / "ev"
    assert main(["eval", "--benchmark", "trec-dl-2020", "--no-rerank", "--compare", str(tmp_path / "worse.trec"),
                 "--compare-name", "swapped", "--measures", "nDCG@10", "RR@10", "--out", str(out),
                 "--no-progress"]) == 0
    printed = capsys.readouterr().out
    assert "trec-dl-2020: first stage beats swapped by +0." in printed
    row = json.loads((out / "report.json").read_text())["results"][0]
    qrels = read_qrels(dl20_dir / "qrels.dl20-passage.txt")
    test = next(t for t in row["tests"] if t["measure"] == "nDCG@10")
    expected = compare(bm25, tmp_path / "worse.trec", qrels)
    assert {k: test[k] for k in expected} == pytest.approx(expected)
    assert test["p_t"] < 0.05 and test["wins"] > test["losses"]
    assert row["compare"]["nDCG@10"] == pytest.approx(expected["mean_b"])
    md = (out / "report.md").read_text()
    assert "## Paired tests" in md and "| trec-dl-2020 | first stage vs swapped | nDCG@10 | 54 | 0.4796 |" in md
    assert "first stage RR@10\tswapped RR@10" in (out / "per_query/trec-dl-2020.tsv").read_text()
    same = tmp_path / "same"
    assert main(["eval", "--benchmark", "trec-dl-2020", "--no-rerank", "--compare", str(first_out),
                 "--out", str(same), "--no-progress"]) == 0
    [test] = json.loads((same / "report.json").read_text())["results"][0]["tests"]
    assert (test["diff"], test["p_t"], test["p_rand"], test["ties"]) == (0.0, 1.0, 1.0, 54)


def test_compare_problems_are_one_line_before_any_model(tmp_path, capsys):
    missing = tmp_path / "empty"
    missing.mkdir()
    args = ["eval", "--benchmark", "trec-dl-2020", "--model", str(tmp_path / "no-model"), "--engine", "transformers",
            "--out", str(tmp_path / "o"), "--no-progress", "--compare"]
    assert main(args + [str(missing)]) == 2
    assert "no run for trec-dl-2020" in capsys.readouterr().err
    (tmp_path / "other.trec").write_text("999 Q0 d1 1 1.0 x\n")
    assert main(args + [str(tmp_path / "other.trec")]) == 2
    assert "none of its queries is a judged query" in capsys.readouterr().err
    assert main(args + [str(tmp_path / "nothing.trec")]) == 2
    assert "no such file or folder" in capsys.readouterr().err
