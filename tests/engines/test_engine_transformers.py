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
    for x, y in zip(a, b):
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
