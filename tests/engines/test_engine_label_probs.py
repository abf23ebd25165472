"""Whole-label probabilities: "1" and "10" share the token "1" and must not be confused."""

from __future__ import annotations

import pytest

from rl_rerank.engines.base import extends, label_points, whole_label_prob

LABELS = [str(k) for k in range(11)]


def test_points_for_0_to_10():
    assert label_points(LABELS) == ["", "1"]


def test_extends_numbers_and_longer_labels():
    assert extends("1", "0", LABELS) and extends("1", "5", LABELS)
    assert not extends("1", "<", LABELS) and not extends("10", "<", LABELS)
    assert extends("ye", "s", ["ye", "yes"]) and not extends("yes", "!", ["ye", "yes"])


def test_split_digits_one_vs_ten():
    dists = {"": {"1": 0.5, "2": 0.3, "<": 0.2}, "1": {"0": 0.8, "<": 0.15, "5": 0.05}}
    probs = {label: whole_label_prob(dists, label, LABELS) for label in LABELS}
    assert probs["10"] == pytest.approx(0.4)
    assert probs["1"] == pytest.approx(0.5 * 0.15)  # "1" then a non-digit (not "0", not "5")
    assert probs["2"] == pytest.approx(0.3)
    assert probs["7"] == 0.0


def test_single_token_ten_and_split_path_both_count():
    dists = {"": {"10": 0.6, "1": 0.2, "3": 0.1}, "1": {"0": 0.5, "</": 0.5}}
    assert whole_label_prob(dists, "10", LABELS) == pytest.approx(0.6 + 0.2 * 0.5)
    assert whole_label_prob(dists, "1", LABELS) == pytest.approx(0.2 * 0.5)
    assert whole_label_prob(dists, "3", LABELS) == pytest.approx(0.1)


def test_transformers_label_probs_match_brute_force(tiny_model):
    """The engine's P("10") and P("1") equal the chain rule computed by hand over the full vocabulary."""
    import torch

    from rl_rerank.engines.chat import render_ids
    from rl_rerank.engines.transformers_engine import TransformersEngine

    eng = TransformersEngine(str(tiny_model), batch_size=2)
    eng.top_k = len(eng.tokenizer)  # exact: keep the whole distribution
    prompts = [[{"role": "user", "content": "Rate it."}], [{"role": "user", "content": "Rate this longer one."}]]
    probs = eng.label_probs(prompts, "<answer>", LABELS)
    tok = eng.tokenizer
    digit_ids = [i for i in range(len(tok)) if tok.decode([i])[:1].isdigit()]
    one, zero = tok.convert_tokens_to_ids("1"), tok.convert_tokens_to_ids("0")
    for prompt, got in zip(prompts, probs, strict=True):
        with torch.no_grad():
            ids = render_ids(tok, prompt, "<answer>")
            p0 = torch.softmax(eng.model(torch.tensor([ids])).logits[0, -1], -1)
            p1 = torch.softmax(eng.model(torch.tensor([ids + [one]])).logits[0, -1], -1)
        assert got["10"] == pytest.approx(float(p0[one] * p1[zero]), rel=1e-4)
        assert got["1"] == pytest.approx(float(p0[one] * (1 - p1[digit_ids].sum())), rel=1e-4)
        assert got["7"] == pytest.approx(float(p0[tok.convert_tokens_to_ids("7")]), rel=1e-4)


@pytest.mark.slow
def test_smollm2_reads_ten_as_ten_and_one_as_one(smollm2):
    from rl_rerank.engines.transformers_engine import TransformersEngine

    eng = TransformersEngine(str(smollm2), batch_size=2)

    def ask(n):
        return [{"role": "user", "content": f"Copy this number exactly: {n}\nAnswer inside <answer></answer>."}]

    ten, one = eng.label_probs([ask(10), ask(1)], "<answer>", LABELS)
    assert ten["10"] > ten["1"]
    assert one["1"] > one["10"]
