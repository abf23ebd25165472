"""One prompt per (query, documents) whichever path builds it: the teacher labelling (`rl-rerank label`), the SFT
data builder of a recipe (from the labelled file, or from BEIR for setwise/groupwise) and the rerank strategy
all give byte-identical chat messages when they share the paradigm settings, for every paradigm."""

from __future__ import annotations

import argparse
import dataclasses
import json
import random

import pytest

from rl_rerank.data.types import Request
from rl_rerank.engines.base import Generation
from rl_rerank.engines.transformers_engine import TransformersEngine

BUDGET = {"max_doc_tokens": 40, "max_prompt_tokens": 300}  # small enough that documents get cut


class Teacher:
    """Scripted teacher for `label` (a random tiny model cannot answer in format): a valid answer per prompt;
    records the prompts it was asked."""

    def __init__(self, paradigm):
        self.paradigm, self.prompts = paradigm, []

    def generate(self, prompts, settings=None):
        self.prompts += [json.dumps(p) for p in prompts]
        n = 1 if self.paradigm.name == "pointwise" else prompts[0][-1]["content"].count("\n[")
        labels = [5] if self.paradigm.name == "pointwise" else list(range(n))
        return [Generation(text=self.paradigm.target(labels, "because"), prompt_tokens=1, completion_tokens=1)
                for _ in prompts]

    def close(self):
        pass


class Spy(TransformersEngine):
    """The real transformers engine, recording every prompt the strategies send it."""

    prompts: list

    def generate(self, prompts, settings=None):
        self.prompts += [json.dumps(p) for p in prompts]
        return super().generate(prompts, settings)

    def next_token_dists(self, prompts, assistant_texts):
        self.prompts += [json.dumps(p) for p in prompts]
        return super().next_token_dists(prompts, assistant_texts)

    def dists_at_points(self, prompts, prefixes, points):
        self.prompts += [json.dumps(p) for p in prompts]
        return super().dists_at_points(prompts, prefixes, points)


def rerank_prompts(tiny_model, paradigm_name: str, requests: list[Request], reasoning: bool, **strategy) -> set:
    from rl_rerank.commands._reranker import add_reranker_arguments, reranker_options
    from rl_rerank.rerank.options import build_paradigm, strategy_settings
    from rl_rerank.rerank.runner import RunOptions, rerank_requests

    p = argparse.ArgumentParser()
    add_reranker_arguments(p)
    argv = ["--model", str(tiny_model), "--engine", "transformers", "--paradigm", paradigm_name,
            "--max-doc-tokens", str(BUDGET["max_doc_tokens"]), "--max-prompt-tokens", str(BUDGET["max_prompt_tokens"]),
            "--max-new-tokens", "4", "--repeats", "1"] + (["--reasoning"] if reasoning else [])
    for key, value in strategy.items():
        argv += [f"--{key.replace('_', '-')}", str(value)]
    args = reranker_options(p.parse_args(argv))
    engine = Spy(model=str(tiny_model))
    engine.prompts = []
    n = max(len(r.candidates) for r in requests)
    rerank_requests(engine, build_paradigm(args), requests, strategy_settings(args),
                    RunOptions(top_k=n, progress=False))
    return set(engine.prompts)


def sft_rows(tiny_model, paradigm: str, reasoning: bool, build: dict, tmp_path) -> list[dict]:
    from rl_rerank.datagen.rows import load_rows
    from rl_rerank.training.config import load_config

    cfg = load_config("sft", None, {"model": str(tiny_model), "paradigm": paradigm, "reasoning": reasoning,
                                    "paradigm_args": dict(BUDGET), "data": {"build": build},
                                    "output_dir": str(tmp_path / "sft")})
    return list(load_rows("sft", cfg))


@pytest.mark.parametrize("paradigm,reasoning", [("pointwise", False), ("pointwise", True), ("listwise", True)])
def test_label_sft_and_rerank_prompts_are_identical(paradigm, reasoning, tiny_model, scifact_dir, tmp_path,
                                                    monkeypatch):
    import rl_rerank.engines as engines
    from rl_rerank.cli import main
    from rl_rerank.datagen.sources import read_labelled

    teachers = []

    def make_teacher(name, model, adapter=None, **kwargs):
        from rl_rerank.paradigms import get_paradigm

        teachers.append(Teacher(get_paradigm(paradigm, reasoning=reasoning)))
        return teachers[-1]

    monkeypatch.setattr(engines, "make_engine", make_teacher)
    labelled = tmp_path / "labelled.jsonl"
    argv = ["label", "--source", str(scifact_dir), "--max-queries", "2", "--paradigm", paradigm, "--engine",
            "transformers", "--model", str(tiny_model), "--samples", "1", "--threshold", "0", "--no-progress",
            "--max-doc-tokens", str(BUDGET["max_doc_tokens"]), "--max-prompt-tokens", str(BUDGET["max_prompt_tokens"]),
            "--build", "window_size=5", "--output", str(labelled)]
    assert main(argv + ([] if reasoning else ["--no-reasoning"])) == 0
    label_prompts = set(teachers[0].prompts)
    assert label_prompts

    rows = sft_rows(tiny_model, paradigm, reasoning, {"path": str(labelled)}, tmp_path)
    sft_prompts = {json.dumps(r["prompt"]) for r in rows}
    assert sft_prompts == label_prompts

    pools = read_labelled(labelled).queries
    if paradigm == "pointwise":
        requests = [Request(p.query, [p.doc(d) for d in p.teacher_scores]) for p in pools]
        got = rerank_prompts(tiny_model, paradigm, requests, reasoning)
    else:
        requests = [Request(p.query, [p.doc(d) for d in tl.docids]) for p in pools for tl in p.teacher_lists]
        got = rerank_prompts(tiny_model, paradigm, requests, reasoning, window=5, stride=5)
    assert label_prompts <= got  # pointwise reasoning also asks follow-up prompts; the first ones are these
    truncated = [json.loads(p)[-1]["content"] for p in label_prompts]
    assert any(len(t) < 1200 for t in truncated)


@pytest.mark.parametrize("paradigm", ["setwise", "groupwise"])
def test_sft_and_rerank_prompts_are_identical(paradigm, tiny_model, scifact_dir, tmp_path):
    """No teacher labelling for these paradigms: the SFT builder (BEIR source) against the rerank strategy."""
    from rl_rerank.datagen.sources import DataSource, load_pools

    build = {"path": str(scifact_dir), "max_queries": 2, "depth": 20, "set_size": 4, "group_min": 4,
             "group_max": 4, "num_random_negatives": 0}
    rows = sft_rows(tiny_model, paradigm, True, build, tmp_path)
    docs_by_id = {c.docid: c for p in load_pools(DataSource(str(scifact_dir), max_queries=2, depth=20)).queries
                  for c in list(p.candidates) + list(p.docs.values())}
    queries = {p.query.qid: p.query for p in load_pools(DataSource(str(scifact_dir), max_queries=2, depth=20)).queries}
    for row in rows[:3]:
        # first-stage ranks in the row's order: the runner orders candidates by rank before the strategy
        target = [dataclasses.replace(docs_by_id[d], rank=i + 1, score=float(100 - i))
                  for i, d in enumerate(row["docids"])]
        if paradigm == "groupwise":  # hand the strategy the order its seeded shuffle turns into the row's order
            perm = list(range(len(target)))
            random.Random(f"0:{row['qid']}:0").shuffle(perm)
            given = [None] * len(target)
            for i, j in enumerate(perm):
                given[j] = target[i]
            given = [dataclasses.replace(c, rank=i + 1, score=float(100 - i)) for i, c in enumerate(given)]
            got = rerank_prompts(tiny_model, paradigm, [Request(queries[row["qid"]], given)], True,
                                 group_size=len(target))
        else:
            got = rerank_prompts(tiny_model, paradigm, [Request(queries[row["qid"]], target)], True,
                                 set_size=len(target), select_k=1)
        assert json.dumps(row["prompt"]) in got
