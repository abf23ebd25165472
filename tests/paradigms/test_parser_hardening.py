"""Parsers on hostile output: linear time, ASCII digits only, leading zeros and duplicate ids counted as repairs.

No timing assertions: the adversarial inputs below are large enough (200 KB and more) that any quadratic path
would take minutes (issue 11 measured "<think>" * 4000 at ~1 s and 20k-space runs at ~4 s before the rewrite),
so finishing the test at all is the guard. The strict tag check is also compared with the regex it replaced.
"""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rl_rerank.paradigms import get_paradigm
from rl_rerank.paradigms.tags import split_tags

ALL = [(name, r) for name in ("pointwise", "listwise", "setwise", "groupwise") for r in (False, True)]

ADVERSARIAL = {
    "unclosed think": "<think>" * 30_000,
    "unclosed answer": "<answer>" * 100_000,
    "alternating": "<answer><think>" * 20_000,
    "closes then opens": "</think><answer>" * 20_000,
    "nested": "<think>" * 10_000 + "<answer>" * 10_000 + "</think>" * 10_000,
    "answer then 200k spaces": "<answer>{1" + " " * 200_000 + "x</answer>",
    "bracket then spaces": "<answer>[" + " " * 200_000 + "</answer>",
    "fences": "```" * 70_000,
    "brackets": "[" * 200_000,
    "digits": "9" * 1_000_000,
    "1 MB mixed garbage": ('x<y>[1 ] {"[2]": 3 ` , \' : <think> </answer> ' * 25_000)[:1_000_000],
    "many think blocks": "<think>a</think> " * 20_000 + "<answer>1</answer>",
}


@pytest.mark.parametrize("case", list(ADVERSARIAL))
def test_adversarial_inputs_finish_and_are_not_ok(case):
    text = ADVERSARIAL[case]
    for name, reasoning in ALL:
        parsed = get_paradigm(name, reasoning=reasoning).parse(text, 1 if name == "pointwise" else 20)
        assert parsed.status != "ok", (case, name)


# ----------------------------------------------------------------------------------------------- tag split

_OLD_STRICT = r"\s*(?:<think>(?P<r>.*?)</think>\s*)?<answer>(?P<a>.*?)</answer>\s*"
PIECES = st.lists(st.sampled_from(["<think>", "</think>", "<answer>", "</answer>", "a", "7", " ", "\n", "<", ">"]),
                  max_size=14).map("".join)


@settings(max_examples=400, deadline=None)
@given(text=PIECES)
def test_strict_split_reads_as_the_regex_did(text):
    """On small inputs (where the old regex is fast) the linear scan finds the same reasoning and answer."""
    old = re.fullmatch(_OLD_STRICT, text, flags=re.DOTALL)
    new = split_tags(text, reasoning_required=False)
    if old is None:
        assert not new.tags_ok
    else:
        assert (new.reasoning, new.answer, new.answer_tagged) == (old.group("r"), old.group("a"), True)


def test_lenient_split_takes_the_innermost_last_block():
    assert split_tags("x <answer>a<answer>b</answer>", False).answer == "b"
    assert split_tags("x <answer>1</answer> y </answer>", False).answer == "1"
    assert split_tags("<think>r</think> x <answer>2</answer><answer>3</answer> y", False).answer == "3"


# ----------------------------------------------------------------------------------------------- digits

@pytest.mark.parametrize("text,value,note", [
    ("<answer>0000000000005</answer>", 5, "leading zeros"),  # was read as a huge number clipped to 10
    ("<answer>05</answer>", 5, "leading zeros"),  # was a silent "ok"
    ("<answer>score 007</answer>", 7, "leading zeros"),
])
def test_pointwise_leading_zeros_are_a_counted_repair(text, value, note):
    parsed = get_paradigm("pointwise").parse(text)
    assert (parsed.status, parsed.value) == ("repaired", value) and note in parsed.note
    assert get_paradigm("pointwise").parse("<answer>0</answer>").status == "ok"


def test_multi_document_leading_zeros_are_a_counted_repair():
    lw = get_paradigm("listwise").parse("<answer>[02] > [1] > [3]</answer>", 3)
    assert (lw.status, lw.value) == ("repaired", [1, 0, 2]) and "leading zeros" in lw.note
    sw = get_paradigm("setwise").parse("<answer>[02]</answer>", 3)
    assert (sw.status, sw.value) == ("repaired", 1) and "leading zeros" in sw.note
    gw = get_paradigm("groupwise").parse('<answer>{"[01]": 3, "[2]": 0}</answer>', 2)
    assert (gw.status, gw.value) == ("repaired", [3, 0]) and "[n]" in gw.note
    gw = get_paradigm("groupwise").parse("<answer>[1]: 05, [2]: 1</answer>", 2)
    assert (gw.status, gw.value) == ("repaired", [5, 1])


NON_ASCII_DIGITS = ["\u0667", "\uff17", "\u0967", "\u06f7", "\U0001d7d5"]  # Arabic-Indic, fullwidth, Devanagari...


@pytest.mark.parametrize("digit", NON_ASCII_DIGITS)
def test_non_ascii_digits_are_never_a_score(digit):
    assert get_paradigm("pointwise").parse(f"<answer>{digit}</answer>").status == "failed"
    assert get_paradigm("listwise").parse(f"<answer>[{digit}] > [1]</answer>", 2).status != "ok"
    assert get_paradigm("setwise").parse(f"<answer>[{digit}]</answer>", 9).status == "failed"
    assert get_paradigm("groupwise").parse(f'<answer>{{"[{digit}]": 3}}</answer>', 9).status == "failed"
    assert get_paradigm("groupwise").parse(f'<answer>{{"[1]": "{digit}"}}</answer>', 1).status == "failed"


@pytest.mark.parametrize("name,reasoning", ALL)
@settings(max_examples=60, deadline=None)
@given(digits=st.text(st.characters(whitelist_categories=("Nd",), blacklist_characters="0123456789"),
                      min_size=1, max_size=3))
def test_no_answer_made_of_non_ascii_digits_is_ok(name, reasoning, digits):
    p = get_paradigm(name, reasoning=reasoning)
    answers = {"pointwise": digits, "listwise": f"[{digits}] > [1]", "setwise": f"[{digits}]",
               "groupwise": f'{{"[1]": {digits}}}'}
    think = "<think>x</think>" if name != "groupwise" else "<reason>x</reason>"
    parsed = p.parse(f"{think if reasoning else ''}<answer>{answers[name]}</answer>", 1 if name == "pointwise" else 2)
    assert parsed.status != "ok"


# ----------------------------------------------------------------------------------------------- duplicates

@pytest.mark.parametrize("answer", ['{"[1]": 3, "[2]": 1, "[1]": 9}', '{"[1]": 3, "[2]": 1, "1": 9}',
                                    "[1]: 3, [2]: 1, [1]: 9"])
def test_groupwise_duplicate_ids_keep_the_first_value_and_are_counted(answer):
    parsed = get_paradigm("groupwise").parse(f"<answer>{answer}</answer>", 2)
    assert (parsed.status, parsed.value) == ("repaired", [3, 1])
    assert "kept the first of 1 duplicate id(s)" in parsed.note


# ----------------------------------------------------------------------------------------------- probabilities

def test_all_zero_label_probabilities_are_a_failed_read():
    p = get_paradigm("pointwise", score_mode="erank")
    assert p.read_probs({}).status == "failed"
    assert p.read_probs({k: 0.0 for k in range(11)}).status == "failed"
    assert p.read_probs({3: float("nan"), 11: 0.9, -1: 0.5}).status == "failed"
    read = p.read_probs({7: 0.5, 2: 0.25})
    assert (read.status, read.value) == ("ok", 3.5)
