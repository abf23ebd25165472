"""`rl-rerank export`: clean adapter folder, merged model, model card; the merged model and the adapter rank
alike (transformers, fast) and vLLM loads the merged model with the same rankings (slow)."""

from __future__ import annotations

import json

import pytest
from lora_helpers import make_training_folder

from rl_rerank.cli import main
from rl_rerank.data import Request
from rl_rerank.paradigms import get_paradigm
from rl_rerank.rerank import RunOptions, StrategySettings, rerank_requests


def sample(dl20_dir):
    from rl_rerank.data import read_requests

    return [Request(r.query, r.candidates[:5]) for r in read_requests(dl20_dir / "bm25-top100.json")[:2]]


def pointwise_run(engine, requests):
    paradigm = get_paradigm("pointwise", max_doc_tokens=48, score_mode="expected")
    run, _ = rerank_requests(engine, paradigm, requests, StrategySettings(), RunOptions(top_k=5, progress=False))
    return run


def ranking(run):
    return {q: sorted(s, key=lambda d: -s[d]) for q, s in run.items()}


def test_export_clean_folder_card_and_merged_model(tiny_model, dl20_dir, tmp_path):
    from rl_rerank.engines import make_engine

    train = make_training_folder(tiny_model, tmp_path / "train", std=0.5)
    report = tmp_path / "report.json"
    report.write_text(json.dumps({"measures": ["nDCG@10"], "paradigm": "pointwise", "results": [
        {"name": "trec-dl-2020", "queries": 54, "first_stage": {"nDCG@10": 0.4796}, "reranked": {"nDCG@10": 0.5123}}]}))
    out = tmp_path / "export"
    assert main(["export", "--adapter", str(train), "--out", str(out), "--merge", "--report", str(report)]) == 0
    files = {p.name for p in out.iterdir()}
    assert {"adapter_config.json", "adapter_model.safetensors", "README.md", "recipe.yaml", "merged"} <= files
    assert not files & {"checkpoint-1", "training_args.bin", "run_card.json", "config.yaml"}
    assert (out / "merged" / "config.json").is_file() and list((out / "merged").glob("*.safetensors"))
    # rerank/eval on the exported adapter or the merged model score the way the recipe trained it
    from rl_rerank.rerank.options import RerankerOptions, build_paradigm

    for opts in (RerankerOptions(model=str(tiny_model), adapter=str(out)), RerankerOptions(model=str(out / "merged"))):
        paradigm = build_paradigm(opts)
        assert (paradigm.score_mode, paradigm.max_doc_tokens) == ("expected", 48), opts
    card = (out / "README.md").read_text()
    assert f"base_model: {tiny_model}" in card and "learning_rate: 0.0001" in card
    assert "beir-scifact" in card and "| trec-dl-2020 | 54 | 0.4796 | 0.5123 |" in card
    requests = sample(dl20_dir)
    with_adapter = pointwise_run(make_engine("transformers", str(tiny_model), str(out), top_k=1 << 20), requests)
    merged = pointwise_run(make_engine("transformers", str(out / "merged"), top_k=1 << 20), requests)
    base = pointwise_run(make_engine("transformers", str(tiny_model), top_k=1 << 20), requests)
    for q in with_adapter:
        for d in with_adapter[q]:
            assert merged[q][d] == pytest.approx(with_adapter[q][d], rel=1e-4)
    assert any(abs(base[q][d] - with_adapter[q][d]) > 1e-4 for q in base for d in base[q])  # the adapter matters


def test_export_never_deletes_what_it_did_not_write(tiny_model, tmp_path, capsys):
    """A non-empty --out is refused (before the model loads); with --overwrite only export's own files are
    replaced; siblings, the user's files and a re-export without --merge keep what is not export's."""
    train = make_training_folder(tiny_model, tmp_path / "train", std=0.5)
    parent = tmp_path / "models"
    (parent / "other-run").mkdir(parents=True)
    (parent / "other-run" / "keep.txt").write_text("sibling")
    out = parent / "export"
    out.mkdir()
    (out / "notes.md").write_text("mine")
    argv = ["export", "--adapter", str(train), "--out", str(out)]
    assert main(argv + ["--merge"]) == 2
    assert "not empty; pass --overwrite" in capsys.readouterr().err
    assert sorted(p.name for p in out.iterdir()) == ["notes.md"]

    assert main(argv + ["--merge", "--overwrite"]) == 0
    (out / "merged" / "my-eval.json").write_text("{}")  # the user's file inside export's subfolder
    assert (out / "adapter_model.safetensors").is_file() and (out / "merged" / "config.json").is_file()
    assert main(argv + ["--overwrite"]) == 0  # no --merge now: the stale merged model goes, the user's file stays
    assert sorted(p.name for p in (out / "merged").iterdir()) == ["my-eval.json"]
    assert (out / "notes.md").read_text() == "mine" and (parent / "other-run" / "keep.txt").read_text() == "sibling"
    assert not [p for p in out.iterdir() if ".export-" in p.name]  # no staging folder left behind
    manifest = json.loads((out / ".rl_rerank_export.json").read_text())["files"]
    assert "adapter_model.safetensors" in manifest and "notes.md" not in manifest

    fresh = parent / "new"  # a new folder appears whole, beside the untouched siblings
    assert main(["export", "--adapter", str(train), "--out", str(fresh)]) == 0
    assert (fresh / "adapter_config.json").is_file() and sorted(p.name for p in parent.iterdir()) == [
        "export", "new", "other-run"]


def test_export_refuses_a_non_adapter(tmp_path):
    (tmp_path / "x").mkdir()
    assert main(["export", "--adapter", str(tmp_path / "x"), "--out", str(tmp_path / "o")]) == 2


@pytest.mark.slow
def test_vllm_loads_merged_model_with_the_adapters_rankings(smollm2, dl20_dir, tmp_path):
    """The merged export through vLLM ranks like the adapter (the exported adapter through vLLM's
    LoRARequest is checked in tests/engines/test_engine_vllm.py, which shares one engine start)."""
    pytest.importorskip("vllm")
    from rl_rerank.engines import make_engine

    train = make_training_folder(smollm2, tmp_path / "train", std=0.02)
    out = tmp_path / "export"
    assert main(["export", "--adapter", str(train), "--out", str(out), "--merge"]) == 0
    requests = sample(dl20_dir)
    reference = pointwise_run(make_engine("transformers", str(smollm2), str(out)), requests)
    engine = make_engine("vllm", str(out / "merged"), max_model_len=1024)
    try:
        got = pointwise_run(engine, requests)
    finally:
        engine.close()
    assert ranking(got) == ranking(reference)
    for q in got:
        for d in got[q]:
            assert got[q][d] == pytest.approx(reference[q][d], abs=1e-2)
