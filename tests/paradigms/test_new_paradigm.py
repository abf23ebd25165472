"""A paradigm is one unit: a toy "pairwise" paradigm defined here (its class, template, builder and strategy),
registered by name at test time, works in SFT/GRPO data building, reranking and the CLI without any other
module knowing it."""

from __future__ import annotations

import itertools
import json
import re

import pytest
from rerank_fakes import GarbageEngine, OracleEngine, tag_ids

from rl_rerank.cli import main
from rl_rerank.data import read_qrels, read_requests, read_run
from rl_rerank.datagen.examples import BuildSettings, build_examples, build_sft_dataset
from rl_rerank.datagen.sources import DataSource, load_pools
from rl_rerank.errors import ConfigError
from rl_rerank.eval.metrics import evaluate
from rl_rerank.paradigms import PARADIGMS, get_paradigm, paradigm_names, register_paradigm
from rl_rerank.paradigms.base import Parsed
from rl_rerank.paradigms.multidoc import MultiDocParadigm
from rl_rerank.paradigms.tags import split_tags, wrap_target
from rl_rerank.rerank import RunOptions, StrategySettings, rerank_requests
from rl_rerank.rerank.strategies import engine_tokenizer, generate
from rl_rerank.rewards import get_reward

# ------------------------------------------------------------------------------------------ the whole paradigm

PAIRWISE_TEMPLATE = """\
# Toy pairwise preference (test only).
[system]
You compare two documents for a search query.
[user]
{instruction}Query: {query}

{documents}

Which of the two documents is more relevant to the query?
{output_format}
[format:reasoning]
Reason inside <think> </think>, then give [1] or [2] inside <answer> </answer>.
[format:direct]
Reply with [1] or [2] inside <answer> </answer>.
"""

_CHOICE = re.compile(r"\s*\[([12])\]\s*")


class Pairwise(MultiDocParadigm):
    """Two documents per prompt; the answer names the more relevant one. Reranks by wins over all pairs."""

    name = "pairwise"
    default_template = PAIRWISE_TEMPLATE

    def target(self, labels, reasoning=None):
        if len(labels) != 2:
            raise ValueError(f"pairwise target takes two labels, got {len(labels)}")
        answer = "[1]" if labels[0] >= labels[1] else "[2]"
        return wrap_target(answer, self.reasoning, reasoning, "think", "I compare the two documents.")

    def _parse(self, completion, num_docs):
        split = split_tags(completion, self.reasoning, "think")
        match = _CHOICE.fullmatch(split.answer or "")
        if num_docs != 2 or match is None:
            return Parsed("failed", reasoning=split.reasoning, tags_ok=split.tags_ok, note="no [1] or [2]")
        return Parsed("ok" if split.tags_ok else "repaired", int(match.group(1)) - 1, split.reasoning,
                      split.tags_ok, split.note, answer_clean=True)

    def doc_scores(self, parsed, num_docs):
        if not parsed.usable:
            return None
        return [1.0 if i == parsed.value else 0.0 for i in range(num_docs)]

    def docs_per_prompt(self, settings):
        return 2

    def example_rows(self, job):
        """One pair per positive: the positive and one negative, in a seeded random order."""
        rows = []
        for pos in job.sampler.positives:
            neg = job.sampler.negatives(1, 0, {pos.docid})
            if not neg:
                return None
            docs = [pos, neg[0]]
            if job.settings.shuffle:
                job.sampler.rng.shuffle(docs)
            rows.append(job.group_row(self, docs, [job.sampler.grade(d.docid) for d in docs]))
        return rows

    def rerank(self, engine, requests, settings, stats):
        """Every pair of a query's candidates in one engine call; a document scores its wins, input order
        breaking ties; an unreadable answer gives no win and is counted."""
        tok = engine_tokenizer(engine)
        jobs = [(ri, pair) for ri, req in enumerate(requests) for pair in itertools.combinations(req.candidates, 2)]
        prompts = [self.messages(requests[ri].query, list(pair), tok) for ri, pair in jobs]
        stats.prompts += len(prompts)
        gens = generate(engine, prompts, self, settings, 2) if prompts else []
        wins = [{c.docid: 0.0 for c in req.candidates} for req in requests]
        for (ri, pair), g in zip(jobs, gens, strict=True):
            p = stats.parse.add(self.parse(g.text, 2))
            if not p.usable:
                stats.fallbacks += 1
                continue
            wins[ri][pair[p.value].docid] += 1.0
        return [{c.docid: wins[ri][c.docid] - 1e-6 * i for i, c in enumerate(req.candidates)}
                for ri, req in enumerate(requests)]


@pytest.fixture
def pairwise():
    """Pairwise registered for one test, then forgotten (the registry is process-wide)."""
    register_paradigm(Pairwise)
    yield Pairwise
    PARADIGMS.pop("pairwise", None)


@pytest.fixture(scope="module")
def dl20_source(dl20_dir):
    return DataSource(str(dl20_dir / "bm25-top100.json"), kind="requests",
                      qrels=str(dl20_dir / "qrels.dl20-passage.txt"), max_queries=6)


# ------------------------------------------------------------------------------------------ by name


def test_unknown_until_registered(dl20_source):
    assert "pairwise" not in paradigm_names()
    with pytest.raises(ConfigError, match="unknown paradigm 'pairwise'; choose one of: pointwise, listwise"):
        BuildSettings(paradigm="pairwise")


def test_registered_by_name(pairwise):
    assert paradigm_names()[-1] == "pairwise" and paradigm_names()[:4] == ["pointwise", "listwise", "setwise",
                                                                         "groupwise"]
    par = get_paradigm("pairwise", reasoning=True, max_doc_tokens=32)
    assert isinstance(par, Pairwise) and par.template.source == "the pairwise paradigm's default template"
    with pytest.raises(ConfigError, match="paradigm 'pairwise'.*max_score"):
        get_paradigm("pairwise", max_score=10)  # options it does not take are refused, by name

    class Impostor(Pairwise):
        pass

    with pytest.raises(ValueError, match="'pairwise' is taken by .*Pairwise"):
        register_paradigm(Impostor)
    assert register_paradigm(Pairwise) is Pairwise  # the same class again: no-op
    # base defaults every strategy may call
    assert par.answer_prefix() == "<answer>" and par.score_labels() == []
    assert par.answer_tokens(2) == 24 and par.read_probs({}).status == "failed"
    assert par.score_from_probs({0: 0.25, 2: 0.75}) == pytest.approx(1.5)


# ------------------------------------------------------------------------------------------ SFT / GRPO data


def test_sft_rows_from_dl20(pairwise, dl20_source):
    pools = load_pools(dl20_source)
    result = build_examples(pools, BuildSettings(paradigm="pairwise", seed=3))
    rows, stats = list(result.dataset), result.stats
    judged = sum(1 for p in pools.queries for g in p.labels.values() if g >= 1)
    positives = {p.query.qid: sum(1 for d, g in p.labels.items() if g >= 1 and p.doc(d, pools.corpus) is not None)
                 for p in pools.queries}
    # one pair per judged positive whose text the source holds (the others are counted, not dropped silently)
    assert len(rows) == stats.examples == sum(positives.values()) == judged - stats.positives_without_text > 10
    for row in rows:
        assert len(row["docids"]) == 2 and len(set(row["docids"])) == 2
        grades = row["labels"]
        assert sorted(g >= 1 for g in grades) == [False, True]  # one positive, one negative
        best = grades.index(max(grades)) + 1
        assert row["completion"] == [{"role": "assistant", "content": f"<answer>[{best}]</answer>"}]
        assert row["targets"] == grades
        user = row["prompt"][-1]["content"]
        assert "Which of the two documents" in user and "\n[1] " in user and "\n[2] " in user
    assert {row["qid"] for row in rows} == {q for q, n in positives.items() if n}
    assert stats.positives == stats.negatives == len(rows)
    # both answers occur (positions are shuffled), and the rows are reproducible
    assert {row["completion"][0]["content"] for row in rows} == {"<answer>[1]</answer>", "<answer>[2]</answer>"}
    again = list(build_examples(load_pools(dl20_source), BuildSettings(paradigm="pairwise", seed=3)).dataset)
    assert again == rows
    # the targets are well-formed answers: the format reward of the new paradigm exists by name and gives 1.0
    completions = [row["completion"] for row in rows]
    reward = get_reward("format_pairwise", reasoning=False)
    assert reward(completions, labels=[row["labels"] for row in rows]) == [1.0] * len(rows)
    assert reward(["[1]", "<answer>[3]</answer>"], labels=[[1, 0], [1, 0]]) == [0.0, 0.0]


def test_recipe_entry_and_grpo_rows(pairwise, dl20_dir):
    ds = build_sft_dataset(paradigm="pairwise", path=str(dl20_dir / "bm25-top100.json"), kind="requests",
                           qrels=str(dl20_dir / "qrels.dl20-passage.txt"), max_queries=3, seed=1)
    assert len(ds) > 0 and all(len(r["docids"]) == 2 and "completion" in r for r in ds)
    grpo = build_examples(load_pools(DataSource(str(dl20_dir / "bm25-top100.json"), kind="requests",
                                                qrels=str(dl20_dir / "qrels.dl20-passage.txt"), max_queries=3)),
                          BuildSettings(paradigm="pairwise", mode="grpo", seed=1)).dataset
    assert len(grpo) == len(ds) and "completion" not in grpo.column_names
    assert all(sorted(g >= 1 for g in r["labels"]) == [False, True] for r in grpo)


# ------------------------------------------------------------------------------------------ reranking


def test_rerank_with_an_oracle_and_with_garbage(pairwise, dl20_dir):
    requests = tag_ids(read_requests(dl20_dir / "bm25-top100.json")[:3])
    qrels_all = read_qrels(dl20_dir / "qrels.dl20-passage.txt")
    qrels = {r.query.qid: qrels_all[r.query.qid] for r in requests}
    grades = {d: g for q in qrels.values() for d, g in q.items()}
    par = get_paradigm("pairwise")
    run, stats = rerank_requests(OracleEngine(par, grades), par, requests, StrategySettings(),
                                 RunOptions(top_k=10, progress=False))
    assert stats["prompts"] == 3 * 45 and stats["fallbacks"] == 0
    assert stats["parse"]["ok"] == 3 * 45
    for r in requests:
        top = sorted((c.docid for c in r.candidates[:10]), key=lambda d: -run[r.query.qid][d])
        got = [qrels[r.query.qid].get(d, 0) for d in top]
        assert got == sorted(got, reverse=True)  # perfect answers give the ideal order of the top-10
        assert set(run[r.query.qid]) == {c.docid for c in r.candidates}  # the tail kept below
    base = {r.query.qid: {c.docid: c.score for c in r.candidates[:10]} for r in requests}
    assert evaluate(run, qrels)["nDCG@10"] > evaluate(base, qrels)["nDCG@10"]

    run, stats = rerank_requests(GarbageEngine(), par, requests, StrategySettings(),
                                 RunOptions(top_k=10, progress=False))
    assert stats["fallbacks"] == stats["parse"]["failed"] == 3 * 45
    for r in requests:  # nothing readable: input order kept
        top = sorted((c.docid for c in r.candidates[:10]), key=lambda d: -run[r.query.qid][d])
        assert top == [c.docid for c in r.candidates[:10]]


# ------------------------------------------------------------------------------------------ command line


@pytest.fixture(scope="module")
def dl20_two(dl20_dir, tmp_path_factory):
    hits = json.loads((dl20_dir / "bm25-top100.json").read_text())[:2]
    path = tmp_path_factory.mktemp("dl20") / "requests.json"
    path.write_text(json.dumps(hits))
    return path


def _rerank_argv(model, requests, out):
    return ["rerank", "--model", str(model), "--engine", "transformers", "--paradigm", "pairwise",
            "--input", str(requests), "--output", str(out), "--no-cache", "--no-progress", "--top-k", "3",
            "--max-new-tokens", "8", "--max-doc-tokens", "32"]


def test_cli_choices_come_from_the_registry(dl20_two, tmp_path, capsys):
    with pytest.raises(SystemExit) as exc:
        main(_rerank_argv("tiny", dl20_two, tmp_path / "run.trec"))
    assert exc.value.code == 2 and "invalid choice: 'pairwise'" in capsys.readouterr().err


def test_cli_rerank_with_the_tiny_model(pairwise, tiny_model, dl20_two, tmp_path, capsys):
    out = tmp_path / "run.trec"
    assert main(_rerank_argv(tiny_model, dl20_two, out)) == 0
    run = read_run(out)
    hits = json.loads(dl20_two.read_text())
    for entry in hits:
        qid = str(entry["hits"][0]["qid"])
        assert set(run[qid]) == {str(h["docid"]) for h in entry["hits"]}
        ranked = sorted(run[qid], key=lambda d: -run[qid][d])
        assert set(ranked[:3]) == {str(h["docid"]) for h in entry["hits"][:3]}
    stats = json.loads(out.with_name("run.trec.stats.json").read_text())
    assert stats["prompts"] == 2 * 3  # 3 candidates: 3 pairs per query
    p = stats["parse"]
    assert p["ok"] + p["repaired"] + p["failed"] == 6 and stats["fallbacks"] == p["failed"]
    # a teacher cannot label pairwise (it declares no teacher_labels): `label` offers only those that can
    with pytest.raises(SystemExit):
        main(["label", "--source", str(dl20_two), "--output", str(tmp_path / "l.jsonl"), "--paradigm", "pairwise"])
    assert "invalid choice: 'pairwise' (choose from 'pointwise', 'listwise')" in capsys.readouterr().err


@pytest.mark.slow
def test_sharded_workers_register_a_paradigm_from_outside_the_package(pairwise, tiny_model, dl20_two, tmp_path):
    """Worker processes import only rl_rerank: the registered class travels to them, and the run is the same."""
    one, two = tmp_path / "one.trec", tmp_path / "two.trec"
    assert main(_rerank_argv(tiny_model, dl20_two, one)) == 0
    assert main(_rerank_argv(tiny_model, dl20_two, two) + ["--shards", "2", "--batch-queries", "1"]) == 0
    assert two.read_bytes() == one.read_bytes()
    stats = json.loads(two.with_name("two.trec.stats.json").read_text())
    assert stats["shards"] == 2 and stats["prompts"] == 2 * 3
