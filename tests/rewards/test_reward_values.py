"""Hand-computed reward values, written from the formulas (docs/formulas-and-protocols.md, Rewards, and the
docstrings), not from the code."""

from __future__ import annotations

import math

import pytest

from rl_rerank.errors import ConfigError
from rl_rerank.rewards import REWARDS, get_reward, make_erank

L2 = math.log2


def think(answer: str, tag: str = "think") -> str:
    return f"<{tag}>reasons</{tag}>\n<answer>{answer}</answer>"


# ----------------------------------------------------------------------------------------------- erank

def test_erank_pools_rollouts_of_a_query_with_ties_at_min_rank():
    # q1: positive docs p (label 2) and n (label 0); G = 3 rollouts each; q2 is a separate pool.
    completions = [think("9"), think("7"), think("9"),  # p: 9, 7, 9
                   think("7"), think("3"), "no tags 5",  # n: 7 (tied with a positive), 3, unformatted
                   think("4"), think("6")]  # q2: n2 with no positive in its pool, p2
    qids = ["q1"] * 6 + ["q2", "q2"]
    labels = [2, 2, 2, 0, 0, 0, 0, 1]
    refs = [None, None, None, None, 1.0, None, 2.0, None]
    got = REWARDS["erank"](completions, qid=qids, docid=list("pppnnnab"), label=labels, ref_score=refs)
    # q1 pool (formatted): 9, 7, 9, 7, 3 -> ranks: 9 -> 1, 7 -> 3, 3 -> 5. Lowest positive score = 7.
    # positives: 1/1, 1/3, 1/1; negative 7 >= 7: above none of the 3 positive rollouts, tied with one
    # -> -0.5 * (0 + 0.5 * 1) / 3; negative 3 < 7 -> 0.5 * (1 - ((3 - 1) / 10)^2)
    # q2 pool: 4 (neg), 6 (pos) -> pos rank 1 -> 1.0; neg 4 < 6 -> 0.5 * (1 - ((4 - 2) / 10)^2)
    expected = [1.0, 1 / 3, 1.0, -0.5 / 6, 0.5 * (1 - 0.04), -1.0, 0.5 * (1 - 0.04), 1.0]
    assert got == pytest.approx(expected)
    flat = make_erank(graded_penalty=False)(completions, qid=qids, docid=list("pppnnnab"), label=labels,
                                            ref_score=refs)
    assert flat[3] == pytest.approx(-0.5)  # the flat reading: any negative at or above a positive


def test_erank_graded_penalty_separates_negatives_when_positives_score_low():
    """DL 2021 case that made every GRPO group zero-variance: all positive rollouts answer 0, so with a flat
    penalty every negative got -0.5 whatever it answered. Graded, a tie (0) beats being above (3)."""
    completions = ["<answer>0</answer>"] * 4 + ["<answer>0</answer>", "<answer>3</answer>", "<answer>0</answer>",
                                                  "<answer>3</answer>"]
    labels = [2] * 4 + [0] * 4
    got = make_erank(reasoning=False, positive_label=2)(completions, qid=["q"] * 8, label=labels)
    assert got[4:] == pytest.approx([-0.25, -0.5, -0.25, -0.5])
    flat = make_erank(reasoning=False, positive_label=2, graded_penalty=False)(completions, qid=["q"] * 8,
                                                                               label=labels)
    assert flat[4:] == [-0.5] * 4
    # positive_label: a grade-1 document is a negative for TREC-DL rewards
    got = make_erank(reasoning=False, positive_label=2)(["<answer>9</answer>", "<answer>3</answer>"],
                                                        qid=["q", "q"], label=[1, 2])
    assert got == pytest.approx([-0.5, 1 / 2])
    with pytest.raises(ValueError):
        make_erank(positive_label=0)


def test_erank_constants_are_configurable_and_ref_defaults_to_zero():
    reward = make_erank(pos_scale=2.0, neg_above_penalty=-0.25, neg_below_max=1.0, format_penalty=-3.0,
                        reasoning=False)
    got = reward(["<answer>8</answer>", "<answer>8</answer>", "<answer>2</answer>", "<think>x</think>"],
                 qid=["q"] * 4, label=[1, 0, 0, 1])
    # the negative 8 ties the only formatted positive (8): -0.25 * 0.5
    assert got == pytest.approx([2.0, -0.125, 1.0 * (1 - (2 / 10) ** 2), -3.0])


def test_erank_with_no_positive_in_pool_uses_smooth_term_for_all():
    got = get_reward("erank", reasoning=False)(["<answer>0</answer>", "<answer>10</answer>"], qid=["q", "q"],
                                                 label=[0, 0])
    assert got == pytest.approx([0.5, 0.0])


# ----------------------------------------------------------------------------------------------- pointwise_error

def test_pointwise_error_against_teacher_then_ref_then_label():
    reward = get_reward("pointwise_error", reasoning=False)
    # label 3 of grades 0-3 is 10 on the SFT targets' scale (data.py), so the target is 10, not 3
    got = reward(["<answer>7</answer>", "<answer>7</answer>", "<answer>7</answer>", "7"],
                 teacher_score=[9.0, None, None, 9.0], ref_score=[None, 4.0, None, None], label=[0, 0, 3, 0],
                 max_grade=[3, 3, 3, 3])
    assert got == pytest.approx([1 - 2 / 10, 1 - 3 / 10, 1 - 3 / 10, -1.0])


def test_pointwise_error_compares_on_the_sft_scale():
    reward = get_reward("pointwise_error", reasoning=False)
    # binary BEIR: a relevant document answered 10 is exact (the bug compared 10 with the raw grade 1)
    assert reward(["<answer>10</answer>"], label=[1], max_grade=[1]) == pytest.approx([1.0])
    # TREC DL 0-3: grade 2 -> 7 (round-half-up of 20/3), as the SFT target
    assert reward(["<answer>7</answer>", "<answer>3</answer>"], label=[2, 1], max_grade=[3, 3]) == pytest.approx(
        [1.0, 1.0])
    # label_score (what the GRPO builder writes) wins over a raw label
    assert reward(["<answer>7</answer>"], label=[1], label_score=[7], max_grade=[1]) == pytest.approx([1.0])
    # a raw label of unknown scale is a configuration error, not a silent comparison with 0-10 answers
    with pytest.raises(ConfigError, match="label_score.*max_grade"):
        reward(["<answer>10</answer>"], label=[1])
    # ... but only when a row needs it
    assert reward(["<answer>8</answer>"], label=[1], teacher_score=[8.0]) == pytest.approx([1.0])


# ----------------------------------------------------------------------------------------------- grouprank

def test_grouprank_by_hand():
    labels = [2, 0, 1]
    completion = think('{"[1]": 1, "[2]": 3, "[3]": 0}', "reason")
    # ranking by score: [2] (g0), [1] (g2), [3] (g1)
    dcg = 0 / L2(2) + 2 / L2(3) + 1 / L2(4)
    idcg = 2 / L2(2) + 1 / L2(3)
    ndcg = dcg / idcg
    recall = 1.0  # both relevant docs within top 10
    p = [0.25, 0.75, 0.0]  # scores / sum
    q = [2 / 3, 0.0, 1 / 3]  # labels / sum
    m = [(a + b) / 2 for a, b in zip(p, q, strict=True)]
    js = (0.5 * sum(a * L2(a / c) for a, c in zip(p, m, strict=True) if a > 0)
          + 0.5 * sum(b * L2(b / c) for b, c in zip(q, m, strict=True) if b > 0))
    expected = ndcg + 0.2 * recall + 0.1 * (1 - js)
    assert REWARDS["grouprank"]([completion], labels=[labels]) == pytest.approx([expected])


def test_grouprank_format_cases():
    labels = [[1, 0]] * 4
    got = REWARDS["grouprank"]([
        think('{"[1]": 5, "[2]": 0}', "reason"),  # perfect: 1 + 0.2 + 0.1 * (1 - 0)
        think("not json at all", "reason"),  # tags parse, JSON does not
        think('{"[1]": 5, "[2]": 0,}', "reason"),  # JSON needs repair: counted as not parsing by default
        '{"[1]": 5, "[2]": 0}',  # no tags
    ], labels=labels)
    assert got == pytest.approx([1.3, -0.1, -0.1, -0.5])
    lenient = get_reward("grouprank", accept_repaired=True)
    assert lenient([think('{"[1]": 5, "[2]": 0,}', "reason")], labels=[[1, 0]]) == pytest.approx([1.3])


# ----------------------------------------------------------------------------------------------- reasonrank

def test_reasonrank_by_hand():
    labels = [0, 3, 1, 0]
    pred = "[1] > [2] > [3] > [4]"  # docs 0, 1, 2, 3
    dcg = 3 / L2(3) + 1 / L2(4)
    idcg = 3 / L2(2) + 1 / L2(3)
    # RBO against the gold list [1, 2] (relevant docs by grade), depth 4, p = 0.9, weights 1, .9, .81, .729
    w = [1, 0.9, 0.81, 0.729]
    overlaps = [0 / 1, 1 / 2, 2 / 3, 2 / 4]
    best = [1 / 1, 2 / 2, 2 / 3, 2 / 4]
    rbo = sum(a * b for a, b in zip(w, overlaps, strict=True)) / sum(a * b for a, b in zip(w, best, strict=True))
    expected = dcg / idcg + 0.2 * 1.0 + 0.1 * rbo
    assert REWARDS["reasonrank"]([think(pred)], labels=[labels]) == pytest.approx([expected])


def test_reasonrank_format_cases():
    labels = [[1, 0, 0]] * 4
    got = REWARDS["reasonrank"]([
        think("[1] > [2] > [3]"),  # ideal: 1 + 0.2 + 0.1
        think("[1] > [2]"),  # tags fine, list incomplete -> malformed -> 0
        think("my ranking is up to you"),  # tags fine, no list -> 0
        "<answer>[1] > [2] > [3]</answer>",  # reasoning missing -> tags wrong -> -1
    ], labels=labels)
    assert got == pytest.approx([1.3, 0.0, 0.0, -1.0])


# ----------------------------------------------------------------------------------------------- rearank

def test_rearank_by_hand():
    labels = [0, 1, 2]  # initial order [1] [2] [3]
    init = (1 / L2(3) + 2 / L2(4)) / (2 / L2(2) + 1 / L2(3))
    pred = (1 / L2(2) + 2 / L2(3)) / (2 / L2(2) + 1 / L2(3))  # [2] > [3] > [1]
    r_rank = (pred - init) / (1 - init)
    got = REWARDS["rearank"]([think("[2] > [3] > [1]"), think("[3] > [2] > [1]"), think("[1] > [2] > [3]"),
                               "<answer>[3] > [2]</answer>", "garbage"], labels=[labels] * 5)
    assert got == pytest.approx([0.8 * r_rank + 0.2, 1.0, 0.2, 0.8 * 1.0 + 0.0 + 0.0, -0.8])
    # initial order already ideal: r_rank = 1 if kept ideal, else -1 (clipped limit)
    got = REWARDS["rearank"]([think("[1] > [2]"), think("[2] > [1]")], labels=[[1, 0], [1, 0]])
    assert got == pytest.approx([1.0, -0.8 + 0.2])


def test_rearank_clips_exploding_ratio():
    # init nDCG nearly ideal: 9 relevant in the top 10, the 10th relevant at rank 11
    labels = [1] * 9 + [0, 1]
    idcg = sum(1 / L2(i + 2) for i in range(10))
    init = sum(1 / L2(i + 2) for i in range(9)) / idcg
    pred_order = [10] + list(range(1, 10)) + [11]  # the non-relevant doc first
    pred = sum(1 / L2(i + 2) for i in range(1, 10)) / idcg
    assert (pred - init) / (1 - init) < -1  # the raw ratio leaves [-1, 1]
    completion = think(" > ".join(f"[{i}]" for i in pred_order))
    assert REWARDS["rearank"]([completion], labels=[labels]) == pytest.approx([0.8 * -1.0 + 0.1 + 0.1])


# ----------------------------------------------------------------------------------------------- setwise, format

def test_setwise_exact_match():
    labels = [[0, 2, 2], [0, 2, 2], [0, 2, 2], [0, 0, 0], [0, 1]]
    got = REWARDS["setwise"]([think("[3]"), think("[1]"), "<answer>[2]</answer>", think("[1]"), think("[2] [1]")],
                             labels=labels)
    assert got == [1.0, 0.0, 0.0, 0.0, 0.0]


def test_format_rewards():
    assert REWARDS["format_listwise"]([think("[2] > [1]"), think("[2] > [2]"), "[2] > [1]"],
                                      labels=[[0, 1]] * 3) == [1.0, 0.5, 0.0]
    assert get_reward("format_pointwise", reasoning=False)(["<answer>3</answer>", "<answer>11</answer>", "3"]) \
        == [1.0, 0.5, 0.0]
    mixed = REWARDS["format"]([think("7"), think('{"[1]": 2}', "reason")], paradigm=["pointwise", "groupwise"],
                              num_docs=[1, 1])
    assert mixed == [1.0, 1.0]
    assert get_reward("format", paradigm="setwise")([think("[1]")], labels=[[1, 0]]) == [1.0]


def test_rearank_scores_tag_format_and_list_format_separately():
    # REARANK: 0.8 r_rank + 0.1 tags + 0.1 list. Tags wrong (no <think>) must not zero the list term.
    assert REWARDS["rearank"](["<answer>[2] > [1] > [3]</answer>"], labels=[[0, 1, 0]]) == pytest.approx([0.9])
    # and the other way round: tags right, list repaired (missing [3] appended) -> list term 0
    assert REWARDS["rearank"]([think("[2] > [1]")], labels=[[0, 1, 0]]) == pytest.approx([0.8 + 0.1])
    # neither: a bare list with prose around it
    assert REWARDS["rearank"](["ranking: [2] > [1] > [3]"], labels=[[0, 1, 0]]) == pytest.approx([0.8])
