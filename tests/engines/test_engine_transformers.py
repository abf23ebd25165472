"""Transformers engine: left padding does not change results; generation counts tokens and reports logprobs."""

from __future__ import annotations

import math

import pytest

from rl_rerank.engines import GenerationSettings, make_engine

PROMPTS = [[{"role": "user", "content": "Short."}],
           [{"role": "user", "content": "A much longer prompt that needs padding in a batch " * 4}],
           [{"role": "user", "content": "Medium length prompt here."}]]


@pytest.fixture(scope="module")
def engines(tiny_model):
    return make_engine("transformers", str(tiny_model), batch_size=1), make_engine("transformers", str(tiny_model),
                                                                                      batch_size=3)


def test_batched_dists_equal_one_by_one(engines):
    one, batched = engines
    a = one.next_token_dists(PROMPTS, ["<answer>"] * 3)
    b = batched.next_token_dists(PROMPTS, ["<answer>"] * 3)
    for x, y in zip(a, b, strict=True):
        top = sorted(x, key=x.get, reverse=True)[:5]
        assert top == sorted(y, key=y.get, reverse=True)[:5]
        for tok in top:
            assert x[tok] == pytest.approx(y[tok], rel=1e-3)


def test_generation_greedy_batched_matches_single_and_counts_tokens(engines):
    one, batched = engines
    settings = GenerationSettings(max_new_tokens=6, logprobs=True)
    a = one.generate(PROMPTS, settings)
    before = batched.counter.completion_tokens
    b = batched.generate(PROMPTS, settings)
    assert [g.text for g in a] == [g.text for g in b]
    assert all(0 < g.completion_tokens <= 6 for g in b)
    assert batched.counter.completion_tokens - before == sum(g.completion_tokens for g in b)
    assert b[1].prompt_tokens > b[0].prompt_tokens
    for g in b:  # one logprob per generated token, each a valid log-probability
        assert len(g.token_logprobs) == g.completion_tokens
        assert all(lp <= 0 and math.isfinite(lp) for _, lp in g.token_logprobs)
        assert "".join(t for t, _ in g.token_logprobs).strip() == g.text.strip()


def test_adapter_changes_scores(tiny_model, tmp_path):
    """A LoRA adapter with non-zero B moves the label probabilities; loading it goes through peft."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(tiny_model)
    peft = get_peft_model(model, LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"]))
    with torch.no_grad():
        for name, p in peft.named_parameters():
            if "lora_B" in name:
                p.normal_(0, 0.5)
    peft.save_pretrained(tmp_path / "adapter")
    full = 1 << 20  # keep the whole next-token distribution: a random model spreads mass over the vocab
    base = make_engine("transformers", str(tiny_model), top_k=full).label_probs(PROMPTS[:1], "<answer>",
                                                                                  ["0", "5", "10"])[0]
    tuned = make_engine("transformers", str(tiny_model), str(tmp_path / "adapter"), top_k=full).label_probs(
        PROMPTS[:1], "<answer>", ["0", "5", "10"])[0]
    assert all(p > 0 for p in base.values())
    assert any(abs(base[k] - tuned[k]) > 1e-3 * base[k] for k in base)


# -- shared-prefix KV reuse ------------------------------------------------------------------------------

def test_plan_groups_rows_by_shared_prefix():
    from rl_rerank.engines.transformers_engine import plan_prefix_groups

    a = [1, 2, 3, 4, 5, 6]  # query A's prefix, then its documents
    b = [1, 2, 9, 9, 9, 9]  # query B shares only 2 tokens with A
    rows = [a + [7, 7, 7], b + [8], a + [6, 5], b + [1, 2, 3], a + [9, 9], [5, 5, 5, 5, 5, 5, 5, 5]]
    groups, singles = plan_prefix_groups(rows, keep=2, min_prefix=4)
    assert sorted((p, sorted(m)) for p, m in groups) == [(5, [1, 3]), (6, [0, 2, 4])]
    assert singles == [5]
    # B's rows: one is 7 tokens, so with keep=2 its prefix stops at 5 (the read positions stay in the suffix)
    groups, singles = plan_prefix_groups(rows, keep=2, min_prefix=7)  # no prefix that long: all in full
    assert groups == [] and sorted(singles) == list(range(6))
    groups, _ = plan_prefix_groups([a + [7], a + [8]], keep=1, min_prefix=2)
    assert groups == [(6, [0, 1])]


@pytest.fixture(scope="module")
def dl20_pointwise_prompts(dl20_dir, tiny_model):
    from rl_rerank.data import read_requests
    from rl_rerank.models import load_tokenizer
    from rl_rerank.paradigms import get_paradigm

    paradigm = get_paradigm("pointwise", max_doc_tokens=48)
    tok = load_tokenizer(str(tiny_model))
    reqs = read_requests(dl20_dir / "bm25-top100.json")[:2]
    prompts = [paradigm.messages(r.query, [c], tok) for r in reqs for c in r.candidates[:4]]
    # one more prompt of query 0 (with a document of query 1): a group's rows need not be adjacent
    return paradigm, prompts + [paradigm.messages(reqs[0].query, [reqs[1].candidates[0]], tok)]


def _full_dists(engine, rows, keep):
    """Whole next-token distributions at the last `keep` positions of each row (engine keeps every token)."""
    import numpy as np

    engine.top_k = 1 << 20
    out = []
    for values, indices in engine._last_positions(rows, keep):
        dense = np.zeros((keep, len(engine.tokenizer)))
        for pos in range(keep):
            dense[pos, indices[pos]] = values[pos]
        out.append(dense)
    return out


def _rows(engine, prompts, paradigm):
    from rl_rerank.engines.chat import render_ids

    return [render_ids(engine.tokenizer, m, paradigm.answer_prefix() + "1") for m in prompts]


def test_prefix_reuse_equals_full_recompute(tiny_model, dl20_pointwise_prompts):
    """The whole next-token distributions at the read positions are those of the full recompute, with
    suffixes of different lengths padded in one batch; label probabilities agree; reused tokens are counted."""
    import numpy as np

    paradigm, prompts = dl20_pointwise_prompts
    naive = make_engine("transformers", str(tiny_model), batch_size=3, prefix_reuse=False)
    reuse = make_engine("transformers", str(tiny_model), batch_size=3)
    rows = _rows(naive, prompts, paradigm)
    for x, y in zip(_full_dists(naive, rows, 2), _full_dists(reuse, rows, 2), strict=True):
        assert np.abs(x - y).max() <= 1e-4 * x.max() and abs(y.sum(axis=1) - 1).max() < 1e-4
    assert reuse.counter.reused_tokens > 0.3 * sum(len(r) for r in rows) and reuse.counter.reuse_fallbacks == 0
    assert naive.counter.reused_tokens == 0 and naive.counter.reuse_fallbacks == 0
    naive.top_k = reuse.top_k = 64
    a = naive.label_probs(prompts, paradigm.answer_prefix(), ["0", "5", "10"])
    b = reuse.label_probs(prompts, paradigm.answer_prefix(), ["0", "5", "10"])
    assert reuse.counter.prompt_tokens == naive.counter.prompt_tokens
    for x, y in zip(a, b, strict=True):  # a label outside the top-64 reads 0 on both paths unless it sits at the edge
        assert all(y[k] == pytest.approx(x[k], rel=1e-4) or min(x[k], y[k]) == 0 for k in x)


def test_sliding_window_model_falls_back_and_counts(tiny_model, tmp_path, dl20_pointwise_prompts):
    """A model whose cache is not plain full attention (sliding-window layers) runs every prompt in full,
    gives the same numbers, and counts the fallback."""
    import numpy as np
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(tiny_model)
    model.config.layer_types = ["sliding_attention", "full_attention"]
    model.config.use_sliding_window, model.config.sliding_window = True, 4096
    model.save_pretrained(tmp_path / "sw")
    AutoTokenizer.from_pretrained(tiny_model).save_pretrained(tmp_path / "sw")
    paradigm, prompts = dl20_pointwise_prompts
    eng = make_engine("transformers", str(tmp_path / "sw"), batch_size=4)
    ref = make_engine("transformers", str(tiny_model), batch_size=4, prefix_reuse=False)
    rows = _rows(ref, prompts, paradigm)
    got, want = _full_dists(eng, rows, 2), _full_dists(ref, rows, 2)
    assert eng.reuse_off and "DynamicSlidingWindowLayer" in eng.reuse_off
    assert eng.counter.reuse_fallbacks == len(rows) and eng.counter.reused_tokens == 0
    for x, y in zip(want, got, strict=True):  # the window covers every prompt: same model, same numbers
        assert np.abs(x - y).max() <= 1e-4 * x.max()


@pytest.mark.slow
def test_smollm2_prefix_reuse_equals_full_recompute(smollm2, dl20_dir):
    from rl_rerank.data import read_requests
    from rl_rerank.paradigms import get_paradigm

    paradigm = get_paradigm("pointwise")
    naive = make_engine("transformers", str(smollm2), batch_size=4, prefix_reuse=False)
    reuse = make_engine("transformers", str(smollm2), batch_size=4)
    reqs = read_requests(dl20_dir / "bm25-top100.json")[:2]
    prompts = [paradigm.messages(r.query, [c], naive.tokenizer) for r in reqs for c in r.candidates[:5]]
    labels = paradigm.score_labels()
    a = naive.label_probs(prompts, paradigm.answer_prefix(), labels)
    b = reuse.label_probs(prompts, paradigm.answer_prefix(), labels)
    assert max(abs(x[k] - y[k]) for x, y in zip(a, b, strict=True) for k in labels) < 1e-4
    assert max(x[k] for x in a for k in labels) > 0.05  # real probabilities, not a flat distribution
    sa, sb = ([paradigm.score_from_probs({int(k): v for k, v in p.items()}) for p in probs] for probs in (a, b))
    assert max(abs(x - y) for x, y in zip(sa, sb, strict=True)) < 1e-3  # ranking scores on the 0..10 scale
    assert reuse.counter.reused_tokens > 0.3 * reuse.counter.prompt_tokens and reuse.counter.reuse_fallbacks == 0


# -- device and dtype ------------------------------------------------------------------------------------

def test_device_default_and_dtype_rule(monkeypatch):
    import torch

    from rl_rerank.engines.transformers_engine import default_dtype, resolve_device
    from rl_rerank.errors import UserError

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)  # this CPU machine, stated explicitly
    assert resolve_device(None) == "cpu" and resolve_device("auto") == "cpu" and resolve_device("cpu") == "cpu"
    with pytest.raises(UserError, match="torch sees no GPU"):
        resolve_device("cuda")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)  # what a GPU machine reports
    assert resolve_device(None) == "cuda" and resolve_device("cuda:1") == "cuda:1"
    assert default_dtype("cuda") == "bfloat16" and default_dtype("cuda:1") == "bfloat16"
    assert default_dtype("cpu") == "float32"


def test_device_and_dtype_flags_reach_the_engine(tiny_model, monkeypatch):
    import argparse

    import torch

    from rl_rerank.commands._reranker import add_reranker_arguments, reranker_options
    from rl_rerank.rerank.options import build_engine, key_dtype

    parser = argparse.ArgumentParser()
    add_reranker_arguments(parser)
    base = ["--engine", "transformers", "--model", str(tiny_model)]

    def parse(argv):
        return reranker_options(parser.parse_args(argv))

    eng = build_engine(parse(base + ["--device", "cpu"]))
    weight = next(eng.model.parameters())
    assert (eng.device, eng.dtype, weight.device.type, weight.dtype) == ("cpu", "float32", "cpu", torch.float32)
    eng = build_engine(parse(base + ["--device", "cpu", "--dtype", "bfloat16"]))
    assert (eng.dtype, next(eng.model.parameters()).dtype) == ("bfloat16", torch.bfloat16)
    # the resume cache tells bf16 (GPU default) from fp32 scores; CPU keys stay what they were (dtype None)
    assert key_dtype(parse(base)) is None
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert key_dtype(parse(base)) == "bfloat16"
    assert key_dtype(parse(base + ["--device", "cpu"])) is None
    assert key_dtype(parse(base + ["--dtype", "float32"])) == "float32"


def test_cuda_without_gpu_is_one_line(tiny_model, dl20_dir, tmp_path, capsys):
    import torch

    from rl_rerank.cli import main

    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    assert main(["rerank", "--model", str(tiny_model), "--engine", "transformers", "--device", "cuda",
                 "--input", str(dl20_dir / "bm25-top100.json"), "--output", str(tmp_path / "r.trec"),
                 "--no-progress", "--no-cache"]) == 2
    assert "--device cuda: torch sees no GPU" in capsys.readouterr().err


def test_length_batches_bound_padding():
    from rl_rerank.engines.transformers_engine import length_batches

    lengths = [10, 10, 10, 11, 20, 20, 40]
    got = length_batches(list("abcdefg"), lengths, max_rows=3)
    assert got == [["a", "b", "c"], ["d"], ["e", "f"], ["g"]]  # 11 after 10s is fine, but the batch is full
    assert length_batches(list("abc"), [5, 5, 9], max_rows=8, max_padding=1.0) == [["a", "b", "c"]]
