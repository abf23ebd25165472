"""Reward-hacking guards: shortcuts never earn more than a well-formed honest answer (reasoning on)."""

from __future__ import annotations

import pytest

from rl_rerank.data.types import Candidate, Query
from rl_rerank.paradigms import get_paradigm
from rl_rerank.rewards import REWARDS, get_reward

QUERY = Query("q1", "what causes tides?")
LABELS = [0, 2, 0, 1, 0]
DOCS = [Candidate(f"d{i}", f"passage {i} about the moon and the sea") for i in range(len(LABELS))]
WINDOW_REWARDS = {"listwise": ["reasonrank", "rearank", "format_listwise"], "setwise": ["setwise", "format_setwise"],
                  "groupwise": ["grouprank", "format_groupwise"]}


def prompt_copy(paradigm: str, docs=DOCS) -> str:
    """The whole prompt (system and user text) pasted back as the answer."""
    return "\n".join(m["content"] for m in get_paradigm(paradigm, reasoning=True).messages(QUERY, docs))


def honest(paradigm: str, labels=LABELS) -> str:
    return get_paradigm(paradigm, reasoning=True).target(labels, reasoning="I compared each passage with the query.")


def strip_reasoning(text: str) -> str:
    return text.split("</think>")[-1].split("</reason>")[-1].strip()


# ----------------------------------------------------------------------------------------------- window rewards

@pytest.mark.parametrize("paradigm,reward", [(p, r) for p, rs in WINDOW_REWARDS.items() for r in rs])
def test_prompt_copy_earns_no_more_than_honest(paradigm, reward):
    fn = REWARDS[reward]
    good, copied = fn([honest(paradigm), prompt_copy(paradigm)], labels=[LABELS, LABELS])
    assert copied < good


@pytest.mark.parametrize("paradigm,reward", [(p, r) for p, rs in WINDOW_REWARDS.items() for r in rs])
def test_answer_without_required_reasoning_earns_less(paradigm, reward):
    fn = REWARDS[reward]
    full = honest(paradigm)
    bare = strip_reasoning(full)
    assert bare.startswith("<answer>")
    good, lazy, empty = fn([full, bare, "<think> </think><reason> </reason>" + bare], labels=[LABELS] * 3)
    assert lazy < good and empty < good


def test_listing_every_id_twice_earns_no_more_than_honest():
    ids = honest("listwise").split("<answer>")[1].split("</answer>")[0]
    doubled = f"<think>r</think><answer>{ids} > {ids}</answer>"
    for name in ("reasonrank", "rearank"):
        good, twice = REWARDS[name]([honest("listwise"), doubled], labels=[LABELS, LABELS])
        assert twice < good, name


@pytest.mark.parametrize("score", [0, 5, 10])
def test_groupwise_same_score_for_every_document(score):
    same = "<reason>r</reason><answer>{" + ", ".join(f'"[{i}]": {score}' for i in range(1, 6)) + "}</answer>"
    good, flat = REWARDS["grouprank"]([honest("groupwise"), same], labels=[LABELS, LABELS])
    assert flat < good


def test_setwise_listing_every_label_earns_nothing():
    all_labels = "<think>r</think><answer>" + " ".join(f"[{i}]" for i in range(1, 6)) + "</answer>"
    assert REWARDS["setwise"]([all_labels], labels=[LABELS]) == [0.0]


# ----------------------------------------------------------------------------------------------- pointwise

def _pool(completions_per_doc: list[str], rollouts: int = 3):
    """One query's pool: every document answered `rollouts` times with the given completion."""
    completions, labels, docids = [], [], []
    for i, text in enumerate(completions_per_doc):
        completions += [text] * rollouts
        labels += [LABELS[i]] * rollouts
        docids += [f"d{i}"] * rollouts
    return completions, {"qid": ["q1"] * len(completions), "docid": docids, "label": labels,
                         "ref_score": [1.0] * len(completions), "teacher_score": [8.0 * g for g in labels]}


def _honest_pointwise() -> list[str]:
    p = get_paradigm("pointwise", reasoning=True)
    return [p.target([10 if g > 0 else 0], reasoning="compared") for g in LABELS]


@pytest.mark.parametrize("name", ["erank", "pointwise_error", "format_pointwise"])
def test_pointwise_prompt_copy(name):
    honest_c, cols = _pool(_honest_pointwise())
    copies = [prompt_copy("pointwise", [d]) for d in DOCS]
    copy_c, _ = _pool(copies)
    good = REWARDS[name](honest_c, **cols)
    bad = REWARDS[name](copy_c, **cols)
    assert all(b < g for b, g in zip(bad, good, strict=True))


@pytest.mark.parametrize("score", [0, 5, 10])
def test_erank_same_score_for_every_document(score):
    honest_c, cols = _pool(_honest_pointwise())
    flat_c, _ = _pool([f"<think>compared</think>\n<answer>{score}</answer>"] * len(LABELS))
    good = REWARDS["erank"](honest_c, **cols)
    flat = REWARDS["erank"](flat_c, **cols)
    assert all(f <= g for f, g in zip(flat, good, strict=True))
    assert sum(flat) < sum(good)
    # also within one document's rollouts: one honest rollout among flat ones is not worse off
    mixed_c, _ = _pool(["<think>c</think><answer>10</answer>"] * len(LABELS))
    mixed_c[0] = "<think>c</think><answer>0</answer>"  # d0 (negative) answered honestly once
    mixed = REWARDS["erank"](mixed_c, **cols)
    assert mixed[0] > mixed[1]


@pytest.mark.parametrize("name", ["erank", "pointwise_error", "format_pointwise"])
def test_pointwise_without_required_reasoning(name):
    honest_c, cols = _pool(_honest_pointwise())
    lazy_c = [strip_reasoning(c) for c in honest_c]
    good = REWARDS[name](honest_c, **cols)
    lazy = REWARDS[name](lazy_c, **cols)
    assert all(lz < g for lz, g in zip(lazy, good, strict=True))
    # with reasoning off the bare answer is the honest one
    assert get_reward(name, reasoning=False)(lazy_c, **cols) == good


def test_pointwise_huge_score_is_not_rewarded_as_ten():
    cols = {"qid": ["q"] * 2, "label": [1, 1], "teacher_score": [10.0, 10.0]}
    good, huge = REWARDS["pointwise_error"](["<think>r</think><answer>10</answer>",
                                             "<think>r</think><answer>1000000000</answer>"], **cols)
    assert huge < good
