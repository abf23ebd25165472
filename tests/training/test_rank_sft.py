"""Ranking SFT: group batches, ListNet targets, the shared-prefix forward (exact), and a real run on the tiny model."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rl_rerank.errors import ConfigError
from rl_rerank.training.rank_sft import (
    LeftPadCollator,
    RankingSection,
    check_groups,
    digit_values,
    group_order,
    listnet_targets,
    shared_prefix_forward,
    shared_prefix_length,
)

REPO = Path(__file__).resolve().parents[2]


def test_digit_values_read_one_as_ten_only_when_no_target_is_one():
    assert digit_values([0, 3, 7, 10], 10)[1] == 10.0
    assert digit_values([0, 1, 10], 10)[1] == 1.0
    assert digit_values([0, 5], 5)[1] == 1.0  # a 0-5 scale has no two-token label
    assert digit_values([0, 10], 10)[7] == 7.0


def test_listnet_targets_follow_exponential_gains():
    t = listnet_targets([3, 1, 0, 0])
    assert t.tolist() == pytest.approx([7 / 8, 1 / 8, 0.0, 0.0])
    assert listnet_targets([0, 0, 0]) is None
    assert listnet_targets([-1, 2]).tolist() == pytest.approx([0.0, 1.0])


def test_group_order_keeps_groups_contiguous_and_changes_with_seed():
    groups = ["a", "b", "a", "c", "b", "c", "a", "b", "c"]
    order = group_order(groups, seed=1)
    assert sorted(order) == list(range(9))
    blocks = [groups[i] for i in order]
    assert [blocks[i] for i in (0, 3, 6)] == [blocks[i + 1] for i in (0, 3, 6)] == [blocks[i + 2] for i in (0, 3, 6)]
    assert {tuple(group_order(groups, seed=s)) for s in range(6)}.__len__() > 1
    assert group_order(groups, seed=1, shuffle=False) == [0, 2, 6, 1, 4, 7, 3, 5, 8]


def test_check_groups_names_a_group_of_the_wrong_size():
    assert check_groups(["a", "a", "b", "b"], 2, "cfg") == 2
    with pytest.raises(ConfigError, match="group 'b' has 1"):
        check_groups(["a", "a", "b"], 2, "cfg")


def test_ranking_section_rejects_bad_numbers():
    with pytest.raises(ConfigError):
        RankingSection(weight=-1)
    with pytest.raises(ConfigError):
        RankingSection(temperature=0)
    with pytest.raises(ConfigError):
        RankingSection(token_weight="high")


def test_collator_left_pads_and_finds_the_first_score_digit():
    col = LeftPadCollator(pad_token_id=0, digit_ids=[32, 33, 34])
    ex = [{"input_ids": [5, 6, 7, 44, 33, 32, 9], "labels": [-100, -100, -100, 44, 33, 32, 9], "label": 3,
           "group": "g"},
          {"input_ids": [5, 6, 44, 34, 9], "labels": [-100, -100, 44, 34, 9], "label": 0, "group": "g"}]
    b = col(ex)
    assert b["input_ids"].tolist()[1] == [0, 0, 5, 6, 44, 34, 9]
    assert b["attention_mask"].tolist()[1] == [0, 0, 1, 1, 1, 1, 1]
    assert b["position_ids"].tolist()[1] == [0, 0, 0, 1, 2, 3, 4]
    assert b["score_positions"].tolist() == [4, 5]  # "1" of "10" in row 0; "2" in row 1 (after 2 pads)
    assert b["grades"].tolist() == [3.0, 0.0]
    # a digit inside the prompt (label -100) is never the score
    assert col.first_score_position([33, 5, 44], [-100, -100, 44]) == -1


def test_shared_prefix_length():
    assert shared_prefix_length([[1, 2, 3], [1, 2, 4], [1, 2]]) == 2
    assert shared_prefix_length([[1], [2]]) == 0


@pytest.fixture(scope="module")
def tiny(tiny_model):
    from rl_rerank.models import ModelSpec, load_model

    model, _tok = load_model(ModelSpec(model=str(tiny_model)))
    model.eval()
    return model


def _padded(prompts, comps):
    import torch

    width = max(map(len, prompts))
    c = max(map(len, comps))
    ids = torch.zeros(len(prompts), width + c, dtype=torch.long)
    mask = torch.zeros_like(ids)
    for i, (p, q) in enumerate(zip(prompts, comps, strict=True)):
        ids[i, width - len(p):width] = torch.tensor(p)
        mask[i, width - len(p):width] = 1
        ids[i, width:width + len(q)] = torch.tensor(q)
        mask[i, width:width + len(q)] = 1
    return ids, mask, c


@pytest.mark.parametrize("layout", ["left-padded rows", "left-padded prompts + right-padded completions"])
def test_shared_prefix_forward_equals_one_pass(tiny, layout):
    import torch

    prefix = list(range(100, 140))
    prompts = [prefix + list(range(300, 300 + n)) for n in (5, 12, 9, 1)]
    comps = [[7, 8, 9], [7, 8, 9], [7], [7, 8]] if "right" in layout else [[7]] * 4
    ids, mask, c = _padded(prompts, comps)
    pos = (mask.cumsum(1) - 1).clamp(min=0)
    with torch.no_grad():
        one = tiny(input_ids=ids, attention_mask=mask, position_ids=pos, logits_to_keep=c + 1, use_cache=False).logits
        two = shared_prefix_forward(tiny, ids, mask, c + 1).logits
    real = mask[:, -c - 1:] == 1
    assert (one - two).abs()[real].max().item() < 1e-4
    # nothing shared: the one-pass fallback gives the same numbers too
    ids2 = ids.clone()
    ids2[0, mask[0].argmax()] = 5
    with torch.no_grad():
        three = shared_prefix_forward(tiny, ids2, mask, c + 1).logits
        four = tiny(input_ids=ids2, attention_mask=mask, position_ids=pos, logits_to_keep=c + 1).logits
    assert (three - four).abs()[real].max().item() < 1e-4


def test_ranking_sft_runs_on_dl21_groups_and_logs_both_losses(tiny_model, tmp_path):
    from transformers import TrainerCallback

    from rl_rerank.training.config import load_config
    from rl_rerank.training.sft import run_sft

    logs: list[dict] = []

    class Record(TrainerCallback):
        def on_log(self, args, state, control, logs_=None, **kwargs):
            logs.append(dict(kwargs.get("logs") or logs_ or {}))

    cfg = load_config("sft", REPO / "configs" / "smollm2-dl" / "sft.yaml", {
        "model": str(tiny_model), "output_dir": str(tmp_path / "sft"),
        "data": {"build": {"max_queries": 2, "max_positives": 1, "group_size": 4}},
        "paradigm_args": {"max_doc_tokens": 24}, "trl": {"max_steps": 2, "per_device_train_batch_size": 4,
                                                          "logging_steps": 1}})
    out = run_sft(cfg, callbacks=[Record()])
    card = json.loads((out / "run_card.json").read_text())
    assert card["data"]["ranking_groups"] == 2
    assert (out / "model.safetensors").is_file() and not (out / "adapter_config.json").exists()  # full FT recipe
    steps = [h for h in logs if "rank_loss" in h]
    assert len(steps) == 2
    # a group of 4 with one positive: ListNet starts near log(4) for a random model
    assert 0.5 < float(steps[0]["rank_loss"]) < 3.0
    assert float(steps[0]["token_loss"]) > 0


def test_ranking_sft_refuses_rows_without_groups(tiny_model, tmp_path):
    from rl_rerank.training.config import load_config
    from rl_rerank.training.sft import run_sft

    cfg = load_config("sft", REPO / "configs" / "smollm2-dl" / "sft.yaml", {
        "model": str(tiny_model), "output_dir": str(tmp_path / "sft"),
        "data": {"build": {"max_queries": 2, "group_size": None}}, "paradigm_args": {"max_doc_tokens": 24}})
    with pytest.raises(ConfigError, match="group"):
        run_sft(cfg)
