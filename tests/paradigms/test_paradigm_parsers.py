"""Parsers on messy model output: repairs named in the note, status counted, never an exception."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rl_rerank.paradigms import get_paradigm

ALL = [(name, r) for name in ("pointwise", "listwise", "setwise", "groupwise") for r in (False, True)]


# ----------------------------------------------------------------------------------------------- never raise

TAGGY = st.lists(st.sampled_from(["<think>", "</think>", "<reason>", "</reason>", "<answer>", "</answer>", "[",
                                  "]", "{", "}", ":", ",", '"', "'", ">", "```", "json", "10", "-3", "1e309",
                                  "99999999999999999999", "7.5", "[1]", "[2]", " ", "\n", "é", "日本", "\x00",
                                  "NaN", "null", "true", "[[1]]", '{"[1]": {"[1]": 1}}']), max_size=40).map("".join)


@pytest.mark.parametrize("name,reasoning", ALL)
@settings(max_examples=150, deadline=None)
@given(text=st.one_of(st.text(max_size=300), TAGGY), num=st.integers(min_value=0, max_value=25))
def test_parsers_never_raise(name, reasoning, text, num):
    p = get_paradigm(name, reasoning=reasoning)
    parsed = p.parse(text, 1 if name == "pointwise" else num)
    assert parsed.status in ("ok", "repaired", "failed")
    assert (parsed.value is None) == (parsed.status == "failed")
    if parsed.status == "ok":
        assert parsed.tags_ok and parsed.note == ""
    scores = p.doc_scores(parsed, 1 if name == "pointwise" else num)
    if parsed.usable:
        assert len(scores) == (1 if name == "pointwise" else num)
        if name == "listwise":
            assert sorted(parsed.value) == list(range(num))
        if name == "groupwise":
            assert all(0 <= v <= 10 and isinstance(v, int) for v in parsed.value)
        if name == "pointwise":
            assert 0 <= parsed.value <= 10
    else:
        assert scores is None


def test_parsers_accept_non_strings_and_huge_input():
    p = get_paradigm("listwise", reasoning=True)
    assert p.parse(None, 3).status == "failed"
    huge = "<think>" + "x" * 2_000_000 + "</think><answer>" + " > ".join(f"[{i}]" for i in range(1, 21)) + "</answer>"
    assert p.parse(huge, 20).status == "ok"


# ----------------------------------------------------------------------------------------------- tags

def test_tag_structure_checks():
    p = get_paradigm("pointwise", reasoning=True)
    assert p.parse("<think>a</think><answer>3</answer>").tags_ok
    for text, note in [("<answer>3</answer>", "missing <think>"), ("<think>  </think><answer>3</answer>", "missing"),
                       ("<think><think>a</think></think><answer>3</answer>", "repeated or nested"),
                       ("prefix <think>a</think><answer>3</answer>", "outside"),
                       ("<think>a</think><answer>3</answer><answer>4</answer>", "repeated or nested")]:
        parsed = p.parse(text)
        assert not parsed.tags_ok and parsed.status == "repaired" and note in parsed.note, text
    # truncated generations
    assert p.parse("<think>a</think><answer>7").value == 7
    assert p.parse("<think>still thinking about 7").status == "failed"
    # with reasoning off an (empty) think block is tolerated, as Qwen3 emits one
    q = get_paradigm("pointwise", reasoning=False)
    assert q.parse("<think></think>\n<answer>5</answer>").status == "ok"


# ----------------------------------------------------------------------------------------------- pointwise

@pytest.mark.parametrize("text,value,status", [
    ("<answer>10</answer>", 10, "ok"), ("<answer> 0 </answer>", 0, "ok"),
    ("<answer>1000000000</answer>", 10, "repaired"), ("<answer>" + "9" * 5000 + "</answer>", 10, "repaired"),
    ("<answer>-4</answer>", 0, "repaired"), ("<answer>7.6</answer>", 8, "repaired"),
    ("<answer>Score: 6/10</answer>", 6, "repaired"), ("The score is 4", 4, "repaired"),
    ("<answer>high</answer>", None, "failed"),
])
def test_pointwise_values(text, value, status):
    parsed = get_paradigm("pointwise").parse(text)
    assert (parsed.value, parsed.status) == (value, status)


def test_pointwise_probability_scores():
    erank = get_paradigm("pointwise", score_mode="erank")
    probs = {0: 0.1, 7: 0.5, 10: 0.2, 11: 0.9, 3: float("nan")}  # 11 is off-scale: ignored
    assert erank.score_from_probs(probs) == pytest.approx(7 * 0.5)
    assert erank.score_from_probs({2: 0.3, 5: 0.3}) == pytest.approx(5 * 0.3)  # tie -> higher score
    assert erank.score_from_probs({}) == 0.0
    expected = get_paradigm("pointwise", score_mode="expected")
    assert expected.score_from_probs({0: 0.1, 7: 0.5, 10: 0.2}) == pytest.approx((7 * 0.5 + 10 * 0.2) / 0.8)
    assert erank.score_labels() == [str(k) for k in range(11)] and erank.answer_prefix() == "<answer>"
    parsed = erank.parse("<answer>8</answer>")
    assert erank.score_from_generation(parsed, 0.25) == 2.0 and erank.score_from_generation(parsed, None) == 8.0
    assert erank.score_from_generation(erank.parse("nope"), 0.9) == 0.0
    assert get_paradigm("pointwise", max_score=4).score_labels() == ["0", "1", "2", "3", "4"]


# ----------------------------------------------------------------------------------------------- listwise

@pytest.mark.parametrize("text,value,status,note", [
    ("<answer>[2] > [1] > [3]</answer>", [1, 0, 2], "ok", ""),
    ("<answer>[2] > [2] > [3]</answer>", [1, 2, 0], "repaired", "dropped 1 duplicate id(s), appended 1 missing"),
    ("<answer>[3]</answer>", [2, 0, 1], "repaired", "appended 2 missing id(s) in input order"),
    ("<answer>[9] > [1] > [0]</answer>", [0, 1, 2], "repaired", "dropped 2 unknown id(s)"),
    ("<answer>3 > 1 > 2</answer>", [2, 0, 1], "repaired", "labels without brackets"),
    ("<answer>Ranking: [3] > [1] > [2].</answer>", [2, 0, 1], "repaired", "text around the ranking"),
    ("<answer>[1] > [2] > [3] > [1] > [2] > [3]</answer>", [0, 1, 2], "repaired", "dropped 3 duplicate"),
    ("<answer>none</answer>", None, "failed", "no ranking"),
])
def test_listwise_repairs(text, value, status, note):
    parsed = get_paradigm("listwise").parse(text, 3)
    assert (parsed.value, parsed.status) == (value, status)
    assert note in parsed.note


# ----------------------------------------------------------------------------------------------- setwise

@pytest.mark.parametrize("text,value,status", [
    ("<answer>[2]</answer>", 1, "ok"), ("<answer>Document [3]</answer>", 2, "repaired"),
    ("<answer>2</answer>", 1, "repaired"), ("<answer>[2] and [3]</answer>", None, "failed"),
    ("<answer>[7]</answer>", None, "failed"), ("<answer>[2] [2]</answer>", 1, "repaired"),
])
def test_setwise_values(text, value, status):
    parsed = get_paradigm("setwise").parse(text, 3)
    assert (parsed.value, parsed.status) == (value, status)


# ----------------------------------------------------------------------------------------------- groupwise

@pytest.mark.parametrize("answer,value,note", [
    ('```json\n{"[1]": 3, "[2]": 0, "[3]": 1}\n```', [3, 0, 1], "code fence removed"),
    ('{"[1]": 3, "[2]": 0, "[3]": 1,}', [3, 0, 1], "JSON syntax repaired"),
    ("{'[1]': 3, '[2]': 0, '[3]': 1}", [3, 0, 1], "JSON syntax repaired"),
    ('{[1]: 3, [2]: 0, [3]: 1}', [3, 0, 1], "JSON syntax repaired"),
    ('{"1": 3, "2": 0, "3": 1}', [3, 0, 1], "keys without brackets"),
    ('{"[1]": 3, "[3]": 1}', [3, 0, 1], "scored 1 missing id(s) 0"),
    ('{"[1]": 7.6, "[2]": -2, "[3]": 1000000000}', [8, 0, 10], "rounded/clipped 3 value(s)"),
    ('{"[1]": "4", "[2]": true, "[3]": 1}', [4, 0, 1], "rounded/clipped 2 value(s)"),
    ('{"[1]": 3, "[2]": 0, "[3]": 1, "[9]": 5}', [3, 0, 1], "ignored 1 unknown id(s)"),
    ('Scores: "[1]": 3, "[2]": 0, "[3]": 1', [3, 0, 1], "pattern"),
])
def test_groupwise_json_repairs(answer, value, note):
    parsed = get_paradigm("groupwise").parse(f"<answer>{answer}</answer>", 3)
    assert (parsed.value, parsed.status) == (value, "repaired")
    assert note in parsed.note


def test_groupwise_failures():
    p = get_paradigm("groupwise")
    assert p.parse("<answer>[]</answer>", 3).status == "failed"
    assert p.parse('<answer>{"[7]": 2}</answer>', 3).status == "failed"
    assert p.parse("<answer>" + "[" * 100000 + "</answer>", 3).status == "failed"  # deep nesting
