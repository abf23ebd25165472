"""Every reward returns finite floats within its documented range, whatever the completions (hypothesis)."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rl_rerank.rewards import FACTORIES, RANGES, REWARDS, get_reward

PIECES = ["<think>", "</think>", "<reason>", "</reason>", "<answer>", "</answer>", "[1]", "[2]", "[3]", "[20]",
          " > ", "{", "}", '"[1]": ', '"[2]": ', ",", "10", "1000000000", "-5", "7.5", "1e309", "NaN", "```",
          "é", "🙂", "\u202e", "\n", "x" * 50]


def adversarial(n: int) -> list[str]:
    ids = [f"[{i}]" for i in range(1, n + 1)]
    return [
        "", " ", "<answer></answer>", "<think></think><answer></answer>",
        "<think>r</think><answer>" + " > ".join(ids + ids) + "</answer>",  # every id listed twice
        "<think>r</think><answer>" + " > ".join(reversed(ids)) + "</answer>",
        "<think>r</think><answer>1000000000</answer>", "<answer>" + "9" * 10000 + "</answer>",  # 10^9, huge
        "<reason>r</reason><answer>{" + ", ".join(f'"[{i}]": 1000000000' for i in range(1, n + 1)) + "}</answer>",
        "<think><think>r</think></think><answer><answer>[1]</answer></answer>",  # nested tags
        "<think>r</think><answer>[1] > [2",  # truncated
        "<reason>r</reason><answer>{\"[1]\": 3, \"[2]\": ",  # truncated JSON
        "<think>" + "é日本🙂" * 1000 + "</think><answer>[1]</answer>",  # unicode, long
        "<reason>r</reason><answer>" + "[" * 5000 + "</answer>",
    ]


COMPLETION = st.one_of(st.text(max_size=200), st.lists(st.sampled_from(PIECES), max_size=30).map("".join))
CONVERSATIONAL = COMPLETION.map(lambda t: [{"role": "assistant", "content": t}])


def _columns(name: str, n: int, data) -> dict:
    labels = data.draw(st.lists(st.integers(-1, 3), min_size=0, max_size=22))
    return {
        "qid": data.draw(st.lists(st.sampled_from(["q1", "q2", "q3"]), min_size=n, max_size=n)),
        "docid": [f"d{i}" for i in range(n)],
        "label": data.draw(st.lists(st.integers(-1, 3), min_size=n, max_size=n)),
        "max_grade": [3] * n,
        "ref_score": data.draw(st.lists(st.one_of(st.none(), st.floats(allow_nan=True, allow_infinity=True)),
                                        min_size=n, max_size=n)),
        "teacher_score": data.draw(st.lists(st.one_of(st.none(), st.floats(-1e12, 1e12)), min_size=n, max_size=n)),
        "labels": [labels] * n,
        "paradigm": data.draw(st.lists(st.sampled_from(["pointwise", "listwise", "setwise", "groupwise"]),
                                       min_size=n, max_size=n)),
        # what TRL adds
        "prompts": ["p"] * n, "completion_ids": [[1, 2]] * n, "trainer_state": None,
    }


def _check(name: str, values: list[float], n: int) -> None:
    lo, hi = RANGES[name]
    assert len(values) == n
    for v in values:
        assert isinstance(v, float) and math.isfinite(v) and lo <= v <= hi, (name, v)


@pytest.mark.parametrize("name", sorted(REWARDS))
@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_rewards_finite_and_in_range_on_arbitrary_text(name, data):
    completions = data.draw(st.lists(st.one_of(COMPLETION, CONVERSATIONAL), min_size=0, max_size=8))
    columns = _columns(name, len(completions), data)
    _check(name, REWARDS[name](completions, **columns), len(completions))
    _check(name, get_reward(name, reasoning=False)(completions, **columns), len(completions))


@pytest.mark.parametrize("name", sorted(REWARDS))
def test_rewards_finite_and_in_range_on_adversarial_text(name):
    for n in (0, 1, 3, 20):
        completions = adversarial(max(n, 2))
        columns = {"qid": ["q"] * len(completions), "docid": [str(i) for i in range(len(completions))],
                   "label": [i % 2 for i in range(len(completions))], "ref_score": [1e308] * len(completions),
                   "teacher_score": [float("inf")] * len(completions), "labels": [[1, 0, 2][:n] + [0] * (n - 3)]
                   * len(completions), "paradigm": ["listwise"] * len(completions), "num_docs": [n] * len(completions)}
        _check(name, REWARDS[name](completions, **columns), len(completions))


def test_ranges_cover_every_registered_reward():
    assert set(RANGES) == set(FACTORIES) == set(REWARDS)


def test_empty_batch_gives_empty_list():
    for name, fn in REWARDS.items():
        assert fn([], qid=[], label=[], labels=[], paradigm=[], num_docs=[]) == [], name
