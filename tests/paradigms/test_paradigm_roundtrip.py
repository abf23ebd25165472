"""Round trips (target from labels parses back to the labels), prompts, templates and the registry."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rl_rerank.data.types import Candidate, Query
from rl_rerank.errors import ConfigError
from rl_rerank.paradigms import PARADIGMS, ParseStats, get_paradigm, paradigm_names

LABELS = [1, 0, 3, 0, 2, 3]  # two 3s: ties must keep input order


@pytest.mark.parametrize("reasoning", [False, True])
def test_pointwise_round_trip(reasoning):
    p = get_paradigm("pointwise", reasoning=reasoning)
    for score in range(11):
        parsed = p.parse(p.target([score]), 1)
        assert (parsed.status, parsed.value, parsed.tags_ok) == ("ok", score, True)
    assert p.parse(p.target([7], reasoning="short why"), 1).reasoning == ("short why" if reasoning else None)


@pytest.mark.parametrize("reasoning", [False, True])
def test_listwise_round_trip(reasoning):
    p = get_paradigm("listwise", reasoning=reasoning)
    parsed = p.parse(p.target(LABELS), len(LABELS))
    assert parsed.status == "ok"
    assert parsed.value == [2, 5, 4, 0, 1, 3]  # by label desc, ties in input order
    assert [LABELS[i] for i in parsed.value] == sorted(LABELS, reverse=True)


@pytest.mark.parametrize("reasoning", [False, True])
def test_setwise_round_trip(reasoning):
    p = get_paradigm("setwise", reasoning=reasoning)
    parsed = p.parse(p.target(LABELS), len(LABELS))
    assert (parsed.status, parsed.value) == ("ok", 2)  # first of the two 3s
    assert p.target([0, 0, 1]).endswith("<answer>[3]</answer>")


@pytest.mark.parametrize("reasoning", [False, True])
def test_groupwise_round_trip(reasoning):
    p = get_paradigm("groupwise", reasoning=reasoning)
    text = p.target(LABELS, reasoning="because")
    parsed = p.parse(text, len(LABELS))
    assert (parsed.status, parsed.value) == ("ok", LABELS)
    if reasoning:
        assert text.startswith("<reason>because</reason>") and parsed.reasoning == "because"


def test_doc_scores_order_documents_like_the_answer():
    lw = get_paradigm("listwise")
    assert lw.doc_scores(lw.parse("<answer>[2] > [3] > [1]</answer>", 3), 3) == [1.0, 3.0, 2.0]
    sw = get_paradigm("setwise")
    assert sw.doc_scores(sw.parse("<answer>[2]</answer>", 3), 3) == [0.0, 1.0, 0.0]
    gw = get_paradigm("groupwise")
    assert gw.doc_scores(gw.parse('<answer>{"[1]": 4, "[2]": 9}</answer>', 2), 2) == [4.0, 9.0]
    pw = get_paradigm("pointwise")
    assert pw.doc_scores(pw.parse("<answer>6</answer>"), 1) == [6.0]
    assert pw.doc_scores(pw.parse("nothing here"), 1) is None


def test_registry_names_and_errors():
    # the shipped four lead the choices in the papers' order, whatever order the imports ran in
    assert paradigm_names()[:4] == ["pointwise", "listwise", "setwise", "groupwise"]
    assert set(paradigm_names()) == set(PARADIGMS)
    with pytest.raises(ConfigError, match="unknown paradigm 'no-such'; choose one of: pointwise, listwise, setwise, "
                                          "groupwise"):
        get_paradigm("no-such")
    with pytest.raises(ConfigError, match="max_score"):
        get_paradigm("pointwise", max_score=0)
    with pytest.raises(ConfigError, match="score_mode"):
        get_paradigm("pointwise", score_mode="mean")
    with pytest.raises(ConfigError):
        get_paradigm("listwise", max_score=10)  # not a listwise option


def test_prompt_labels_documents_and_carries_instruction():
    q = Query("q", "what causes rain?", instruction="Find passages that explain weather.")
    docs = [Candidate(f"d{i}", f"text {i}\nsecond line") for i in range(3)]
    msgs = get_paradigm("listwise", reasoning=True).messages(q, docs)
    assert [m["role"] for m in msgs] == ["system", "user"]
    user = msgs[1]["content"]
    assert "[1] text 0 second line" in user and "[3] text 2 second line" in user
    assert "Find passages that explain weather." in user and "what causes rain?" in user
    assert "<think>" in user and "{" not in user.replace('{"[1]"', "")  # no unfilled placeholder
    direct = get_paradigm("listwise", reasoning=False).messages(q, docs)[1]["content"]
    assert "<think>" not in direct


def test_user_template_file(tmp_path):
    path = tmp_path / "mine.txt"
    path.write_text("# comment\n[user]\nQ={query} D={document} S={max_score} {output_format}\n"
                    "[format:direct]\nJUST <answer>\n", encoding="utf-8")
    p = get_paradigm("pointwise", template=str(path), max_score=4)
    msgs = p.messages(Query("q", "rain"), [Candidate("d", "clouds {query}")])
    assert msgs == [{"role": "user", "content": "Q=rain D=clouds {query} S=4 JUST <answer>"}]
    bad = tmp_path / "bad.txt"
    bad.write_text("[user]\nno placeholders\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="bad.txt.*document"):
        get_paradigm("pointwise", template=str(bad))
    with pytest.raises(ConfigError, match="missing.txt"):
        get_paradigm("setwise", template=str(tmp_path / "missing.txt"))


def test_char_budget_without_tokenizer():
    p = get_paradigm("listwise", max_doc_tokens=5, max_prompt_tokens=10_000)
    msgs = p.messages(Query("q", "x"), [Candidate("d", "abcdefghij" * 10)])
    assert "[1] " + "abcdefghij" * 2 + "\n" in msgs[1]["content"] + "\n"  # 5 tokens ~ 20 characters


def test_prompt_fits_budget_with_real_tokenizer(tiny_model):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny_model)
    long_text = "The mitochondria is the powerhouse of the cell. " * 200
    docs = [Candidate(f"d{i}", long_text) for i in range(5)]
    for name, ds in [("pointwise", docs[:1]), ("listwise", docs), ("groupwise", docs)]:
        p = get_paradigm(name, max_doc_tokens=64, max_prompt_tokens=300)
        msgs = p.messages(Query("q", "what is the powerhouse of the cell?"), ds, tokenizer=tok)
        ids = tok.apply_chat_template(msgs, tokenize=True, add_generation_prompt=True)
        ids = ids["input_ids"] if hasattr(ids, "keys") else ids
        assert len(ids) <= 300, name
        assert "powerhouse of the cell?" in msgs[-1]["content"]
    # within the per-document budget when the prompt budget is generous
    p = get_paradigm("pointwise", max_doc_tokens=16, max_prompt_tokens=4096)
    user = p.messages(Query("q", "x"), docs[:1], tokenizer=tok)[-1]["content"]
    doc = user.split("Document: ", 1)[1].split("\n\nRate", 1)[0]
    assert len(tok.encode(doc, add_special_tokens=False)) <= 16 < len(tok.encode(long_text))
    # a query longer than the whole budget is cut too
    p = get_paradigm("pointwise", max_doc_tokens=64, max_prompt_tokens=300)
    msgs = p.messages(Query("q", long_text), docs[:1], tokenizer=tok)
    ids = tok.apply_chat_template(msgs, tokenize=True, add_generation_prompt=True)
    assert len(ids["input_ids"] if hasattr(ids, "keys") else ids) <= 300


def test_parse_stats_counts_outcomes():
    p = get_paradigm("listwise")
    stats = ParseStats()
    for text in ["<answer>[1] > [2]</answer>", "<answer>[2] > [2]</answer>", "garbage"]:
        stats.add(p.parse(text, 2))
    assert (stats.ok, stats.repaired, stats.failed) == (1, 1, 1)


@settings(max_examples=100, deadline=None)
@given(labels=st.lists(st.integers(0, 10), min_size=1, max_size=25), reasoning=st.booleans(),
       why=st.one_of(st.none(), st.text(max_size=40), st.just("a </think> <answer>3</answer> </reason>")))
def test_round_trip_property(labels, reasoning, why):
    n = len(labels)
    lw = get_paradigm("listwise", reasoning=reasoning).parse(
        get_paradigm("listwise", reasoning=reasoning).target(labels, why), n)
    assert lw.status == "ok" and [labels[i] for i in lw.value] == sorted(labels, reverse=True)
    sw = get_paradigm("setwise", reasoning=reasoning)
    parsed = sw.parse(sw.target(labels, why), n)
    assert parsed.status == "ok" and labels[parsed.value] == max(labels)
    gw = get_paradigm("groupwise", reasoning=reasoning)
    assert gw.parse(gw.target(labels, why), n).value == labels
    pw = get_paradigm("pointwise", reasoning=reasoning)
    assert pw.parse(pw.target(labels[:1], why)).value == labels[0]
