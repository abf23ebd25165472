"""Training rows are built once: with two real processes (accelerate, gloo on CPU) the local main process builds
and caches, the other loads the cache, and both train on identical rows; a changed source file is a new key."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

SCRIPT = r"""
import json, os, sys
from rl_rerank.datagen.rows import data_hash, load_rows_once
from rl_rerank.training.config import load_config

cfg = load_config("grpo", sys.argv[1], {"model": sys.argv[2], "output_dir": sys.argv[3],
                                        "data": {"build": {"path": sys.argv[4], "max_queries": 4}}},
                  require_init=False)
ds, how = load_rows_once("grpo", cfg)
rank = os.environ.get("RANK", "0")
with open(os.path.join(sys.argv[3], f"rank{rank}.json"), "w") as fh:
    json.dump({"how": how, "rows": len(ds), "hash": data_hash(ds), "world": os.environ.get("WORLD_SIZE")}, fh)
from accelerate import PartialState
PartialState().wait_for_everyone()
"""


@pytest.mark.slow
def test_two_processes_build_once_and_get_identical_rows(tiny_model, scifact_dir, tmp_path):
    script = tmp_path / "build.py"
    script.write_text(SCRIPT)
    out = tmp_path / "out"
    out.mkdir()
    env = dict(os.environ, RL_RERANK_CACHE=str(tmp_path / "cache"), TOKENIZERS_PARALLELISM="false")
    cmd = [sys.executable, "-m", "accelerate.commands.launch", "--config_file", "launch/ddp.yaml",
           "--num_processes", "2", "--mixed_precision", "no", str(script),
           str(REPO / "configs/erank-pointwise/grpo-cpu.yaml"), str(tiny_model), str(out), str(scifact_dir)]
    proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-4000:]
    ranks = [json.loads((out / f"rank{r}.json").read_text()) for r in (0, 1)]
    assert sorted(r["how"] for r in ranks) == ["built", "cache"]  # one build, one load
    assert ranks[0]["hash"] == ranks[1]["hash"] and ranks[0]["rows"] == ranks[1]["rows"] == 16
    assert {r["world"] for r in ranks} == {"2"}
    entries = list((tmp_path / "cache" / "training-rows").iterdir())
    assert len(entries) == 1 and json.loads((entries[0] / "built_by.json").read_text())["rank"] == "0"


def test_cache_key_follows_sources_settings_and_tokenizer(tiny_model, tmp_path):
    from rl_rerank.datagen.cache import cache_key
    from rl_rerank.models import load_tokenizer

    src = tmp_path / "src"
    src.mkdir()
    (src / "corpus.jsonl").write_text('{"_id": "d1", "text": "a"}\n')
    tok = load_tokenizer(str(tiny_model))
    build = {"path": str(src), "max_queries": 4}
    key = cache_key("grpo", build, "pointwise", {"max_doc_tokens": 96}, tok)
    assert key == cache_key("grpo", dict(build), "pointwise", {"max_doc_tokens": 96}, tok)
    assert key != cache_key("sft", build, "pointwise", {"max_doc_tokens": 96}, tok)
    assert key != cache_key("grpo", {**build, "max_queries": 5}, "pointwise", {"max_doc_tokens": 96}, tok)
    assert key != cache_key("grpo", build, "pointwise", {"max_doc_tokens": 64}, tok)
    assert key != cache_key("grpo", build, "pointwise", {"max_doc_tokens": 96}, None)
    (src / "corpus.jsonl").write_text('{"_id": "d1", "text": "ab"}\n')  # same path, new size
    assert key != cache_key("grpo", build, "pointwise", {"max_doc_tokens": 96}, tok)


def test_one_process_reuses_its_build(tiny_model, scifact_dir, tmp_path, monkeypatch):
    import rl_rerank.datagen.cache as datacache
    from rl_rerank.datagen.rows import data_hash, load_rows_once
    from rl_rerank.training.config import load_config

    monkeypatch.setattr(datacache, "cache_dir", lambda *parts: tmp_path.joinpath("cache", *parts))
    cfg = load_config("grpo", REPO / "configs/rank-r1-setwise/grpo-cpu.yaml",
                      {"model": str(tiny_model), "output_dir": str(tmp_path / "o"),
                       "data": {"build": {"path": str(scifact_dir), "max_queries": 3}}})
    first, how1 = load_rows_once("grpo", cfg)
    again, how2 = load_rows_once("grpo", cfg)
    assert (how1, how2) == ("built", "cache") and data_hash(first) == data_hash(again) and len(first) > 0
