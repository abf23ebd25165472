"""Registry and the GRPOTrainer adapter: names, weights, options, errors, completion shapes, no torch."""

from __future__ import annotations

import subprocess
import sys

import pytest

from rl_rerank.errors import ConfigError
from rl_rerank.rewards import FACTORIES, REWARDS, build_reward_funcs, get_reward

NAMES = ["erank", "grouprank", "reasonrank", "rearank", "setwise", "pointwise_error", "format", "format_pointwise",
         "format_listwise", "format_setwise", "format_groupwise"]


def test_registered_names():
    assert set(NAMES) == set(REWARDS) == set(FACTORIES)
    assert all(REWARDS[n].__name__ == n for n in NAMES)  # TRL logs rewards under __name__


def test_build_reward_funcs_from_mapping_and_list():
    funcs, weights = build_reward_funcs({"reasonrank": 1.0, "format_listwise": 0.25})
    assert [f.__name__ for f in funcs] == ["reasonrank", "format_listwise"] and weights == [1.0, 0.25]
    funcs, weights = build_reward_funcs(["setwise"])
    assert weights == [1.0] and funcs[0] is REWARDS["setwise"]


def test_common_and_per_reward_options():
    funcs, _ = build_reward_funcs({"erank": 1, "format_pointwise": 1}, options={"erank": {"pos_scale": 2.0}},
                                  reasoning=False)
    erank, fmt = funcs
    cols = {"qid": ["q"], "label": [1]}
    assert erank(["<answer>5</answer>"], **cols) == [2.0]  # reasoning off and the option applied
    assert fmt(["<answer>5</answer>"]) == [1.0]
    # the training stage's form: {name: {"weight": w, **options}}; its options win over common ones
    funcs, weights = build_reward_funcs({"erank": {"weight": 0.5, "pos_scale": 3.0, "reasoning": True}},
                                        reasoning=False, max_score=10)
    assert weights == [0.5] and funcs[0](["<think>r</think><answer>5</answer>"], **cols) == [3.0]
    # a common option a factory does not take is simply not passed to it
    funcs, _ = build_reward_funcs(["setwise"], max_score=4)
    assert funcs[0] is REWARDS["setwise"]


def test_unknown_names_and_bad_options_are_config_errors():
    with pytest.raises(ConfigError, match="registered rewards: erank, pointwise_error, grouprank"):
        build_reward_funcs({"ndcg": 1.0})
    with pytest.raises(ConfigError, match="unknown reward"):
        get_reward("bleu")
    with pytest.raises(ConfigError, match="erank"):
        get_reward("erank", temperature=2)
    with pytest.raises(ConfigError, match="weight"):
        build_reward_funcs({"erank": "heavy"})
    with pytest.raises(ConfigError):
        build_reward_funcs([])
    with pytest.raises(ConfigError, match="unknown paradigm"):
        get_reward("format", paradigm="pairwise")


def test_missing_column_is_a_config_error_naming_it():
    with pytest.raises(ConfigError, match="'labels'"):
        REWARDS["reasonrank"](["<answer>[1]</answer>"], qid=["q"])
    with pytest.raises(ConfigError, match="'qid'"):
        REWARDS["erank"](["<answer>1</answer>"], label=[1])
    with pytest.raises(ConfigError, match="'paradigm'"):
        REWARDS["format"](["<answer>1</answer>"])


def test_conversational_and_plain_completions_score_the_same():
    text = "<think>r</think><answer>[2] > [1]</answer>"
    conv = [{"role": "assistant", "content": "ignored"}, {"role": "user", "content": "again"},
            {"role": "assistant", "content": text}]
    for name in ("reasonrank", "rearank", "format_listwise"):
        plain, chat = REWARDS[name]([text, conv], labels=[[0, 1], [0, 1]])
        assert plain == chat and plain > 0, name


def test_rewards_do_not_import_torch_or_trl():
    code = ("import sys, rl_rerank.rewards, rl_rerank.paradigms; "
            "print(sorted(m for m in ('torch', 'trl', 'transformers') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_labels_column_shapes():
    import numpy as np

    text = "<think>r</think><answer>[2] > [1]</answer>"
    values = REWARDS["reasonrank"]([text] * 4, labels=[[0, 1], (0, 1), np.array([0, 1]), "[0, 1]"])
    assert len(set(values)) == 1 and values[0] == pytest.approx(1.3)
    assert REWARDS["reasonrank"]([text], labels=["not json"]) == [0.0]  # no documents: nothing well-formed
