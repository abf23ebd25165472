"""vLLM options of `rerank` / `eval` and the context they derive, checked as the keyword arguments vllm.LLM
would get (no engine is started): sizing flags, --engine-arg, LoRA ranks vLLM accepts, and max_model_len =
prompt budget + completion budget, with the budgets of the recipe that trained the adapter."""

from __future__ import annotations

import argparse
import json

import pytest
import yaml

from rl_rerank.commands._reranker import add_reranker_arguments, reranker_options
from rl_rerank.engines.vllm_engine import LORA_RANKS, accepted_lora_ranks, llm_kwargs_for, vllm_lora_rank
from rl_rerank.errors import UserError
from rl_rerank.rerank.options import (
    RerankerOptions,
    context_length,
    strategy_settings,
    vllm_kwargs,
    with_recipe_budgets,
)


def parse(*argv: str) -> RerankerOptions:
    """The options `rerank` / `eval` hand to the library for this command line."""
    p = argparse.ArgumentParser()
    add_reranker_arguments(p)
    return reranker_options(p.parse_args(list(argv)))


def test_command_line_defaults_are_the_library_defaults():
    assert parse() == RerankerOptions()
    opts = parse("--no-cache", "--no-progress", "--engine-arg", "kv_cache_dtype=fp8", "--engine", "vllm")
    assert (opts.use_cache, opts.progress, opts.engine_kwargs) == (False, False, {"kv_cache_dtype": "fp8"})


def adapter_dir(tmp_path, r: int, recipe: dict | None = None):
    folder = tmp_path / f"adapter-r{r}"
    folder.mkdir()
    (folder / "adapter_config.json").write_text(json.dumps({"r": r, "lora_alpha": 2 * r}))
    if recipe is not None:
        (folder / "config.yaml").write_text(yaml.safe_dump(recipe))
    return folder


def test_accepted_ranks_come_from_vllm():
    pytest.importorskip("vllm")
    assert accepted_lora_ranks() == LORA_RANKS  # the vLLM installed here accepts exactly the list we fall back to


@pytest.mark.parametrize("r,expected", [(1, 1), (4, 8), (8, 8), (12, 16), (16, 16), (24, 32), (48, 64), (64, 64),
                                        (300, 320), (512, 512)])
def test_lora_rank_rounds_up_to_an_accepted_size(r, expected):
    assert vllm_lora_rank(r) == expected
    assert vllm_lora_rank(r) in accepted_lora_ranks()


def test_lora_rank_above_the_largest_is_one_clear_error():
    with pytest.raises(UserError, match="above the largest max_lora_rank"):
        vllm_lora_rank(1024)


@pytest.mark.parametrize("r,expected", [(12, 16), (24, 32), (48, 64), (4, 8)])
def test_adapter_rank_reaches_llm_kwargs(tmp_path, r, expected):
    kwargs = llm_kwargs_for("/m", str(adapter_dir(tmp_path, r)))
    assert kwargs["enable_lora"] is True and kwargs["max_lora_rank"] == expected and kwargs["max_loras"] == 1


def test_sizing_flags_and_engine_args_reach_vllm():
    args = parse("--engine", "vllm", "--tensor-parallel-size", "4", "--gpu-memory-utilization", "0.85",
                 "--max-num-seqs", "128", "--engine-arg", "enable_chunked_prefill=true",
                 "--engine-arg", "max_num_batched_tokens=8192", "--engine-arg", "kv_cache_dtype=fp8",
                 "--max-model-len", "9000")
    kwargs = llm_kwargs_for("/m", **vllm_kwargs(args))
    assert kwargs["tensor_parallel_size"] == 4 and kwargs["gpu_memory_utilization"] == 0.85
    assert kwargs["max_num_seqs"] == 128 and kwargs["max_model_len"] == 9000
    assert kwargs["enable_chunked_prefill"] is True and kwargs["max_num_batched_tokens"] == 8192
    assert kwargs["kv_cache_dtype"] == "fp8"


def test_engine_arg_wins_over_the_flags():
    args = parse("--engine", "vllm", "--gpu-memory-utilization", "0.5", "--engine-arg", "gpu_memory_utilization=0.7")
    assert vllm_kwargs(args)["gpu_memory_utilization"] == 0.7


def test_unset_flags_leave_vllm_defaults():
    kwargs = llm_kwargs_for("/m", **vllm_kwargs(parse("--engine", "vllm")), cpu=False)
    for key in ("tensor_parallel_size", "gpu_memory_utilization", "max_num_seqs", "enable_lora"):
        assert key not in kwargs


@pytest.mark.parametrize("argv,flag", [(["--tensor-parallel-size", "2"], "--tensor-parallel-size"),
                                       (["--max-model-len", "8192"], "--max-model-len"),
                                       (["--gpu-memory-utilization", "0.5"], "--gpu-memory-utilization")])
def test_vllm_flags_refused_for_other_engines(argv, flag):
    with pytest.raises(UserError, match=f"{flag} is a vLLM option"):
        parse("--engine", "transformers", *argv)
    with pytest.raises(UserError, match=f"{flag} is a vLLM option"):  # the library checks too
        RerankerOptions(engine="transformers", **{flag[2:].replace("-", "_"): 2}).check()


def test_bad_engine_arg_is_one_line():
    with pytest.raises(UserError, match="--engine-arg .no_equals_sign.: expected key=value"):
        parse("--engine", "vllm", "--engine-arg", "no_equals_sign")


# ----------------------------------------------------------------------------------------------- context


@pytest.mark.parametrize("argv,completion", [
    ([], 24),  # pointwise answer, no reasoning
    (["--reasoning"], 24 + 1024),
    (["--paradigm", "listwise", "--window", "20"], 8 + 5 * 20),
    (["--paradigm", "listwise", "--window", "20", "--reasoning"], 8 + 5 * 20 + 1024),
    (["--paradigm", "groupwise", "--group-size", "10", "--reasoning", "--reasoning-tokens", "3072"], 10 + 80 + 3072),
    (["--max-new-tokens", "300"], 300),
])
def test_context_is_prompt_plus_completion_budget(argv, completion):
    args = parse("--engine", "vllm", *argv)
    ctx = context_length(args)
    assert ctx == 4096 + completion + 16
    assert ctx > with_recipe_budgets(args).max_prompt_tokens  # a full prompt leaves room to answer
    assert vllm_kwargs(args)["max_model_len"] == ctx


def test_budgets_come_from_the_recipe_that_trained_the_adapter(tmp_path):
    recipe = {"paradigm": "listwise", "reasoning": True, "paradigm_args": {"max_doc_tokens": 200,
                                                                          "max_prompt_tokens": 6144},
              "trl": {"max_completion_length": 3072}}
    adapter = adapter_dir(tmp_path, 32, recipe)
    args = parse("--engine", "vllm", "--adapter", str(adapter), "--paradigm", "listwise", "--reasoning")
    settings = strategy_settings(args)
    filled = with_recipe_budgets(args)
    assert (filled.max_doc_tokens, filled.max_prompt_tokens, settings.reasoning_tokens) == (200, 6144, 3072)
    assert vllm_kwargs(args)["max_model_len"] == 6144 + 8 + 5 * 20 + 3072 + 16
    # the command line still wins, and the reasoning budget never drops below the default
    args = parse("--engine", "vllm", "--adapter", str(adapter), "--paradigm", "listwise", "--reasoning",
                 "--max-prompt-tokens", "5000")
    filled = with_recipe_budgets(args)
    assert filled.max_prompt_tokens == 5000 and filled.max_doc_tokens == 200
    assert with_recipe_budgets(filled) is filled  # idempotent
    small = adapter_dir(tmp_path, 8, {"reasoning": True, "trl": {"max_completion_length": 256}})
    args = parse("--engine", "vllm", "--adapter", str(small), "--reasoning")
    assert strategy_settings(args).reasoning_tokens == 1024


def test_shipped_gpu_recipes_get_a_context_that_holds_their_rollouts(tmp_path):
    """An adapter trained by each GPU GRPO recipe (its config.yaml = the recipe): the derived rerank context holds
    a full prompt plus a completion as long as training's."""
    from pathlib import Path

    from rl_rerank.training.config import read_yaml

    repo = Path(__file__).resolve().parents[2]
    recipes = [p for p in sorted(repo.glob("configs/*/grpo.yaml")) if read_yaml(p.read_text())["trl"].get("use_vllm")]
    assert len(recipes) == 4
    for i, path in enumerate(recipes):
        recipe = read_yaml(path.read_text())
        adapter = adapter_dir(tmp_path / str(i), 32, recipe) if (tmp_path / str(i)).mkdir() is None else None
        args = parse("--engine", "vllm", "--paradigm", recipe["paradigm"], "--reasoning", "--adapter", str(adapter))
        need = recipe["paradigm_args"]["max_prompt_tokens"] + recipe["trl"]["max_completion_length"]
        assert context_length(args) >= need, path
