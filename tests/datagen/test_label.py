"""Teacher labelling: consensus and self-consistency logic with a fake engine, resume, and a real model."""

from __future__ import annotations

import json
import math

import pytest

from rl_rerank.data.types import Candidate, Query
from rl_rerank.datagen.examples import BuildSettings, PlannedItem, build_from_source, plan_items
from rl_rerank.datagen.label import LabelSettings, best_permutation, consensus_score, journal_path, label_items, ndcg_at
from rl_rerank.datagen.sources import DataSource, load_pools, read_labelled
from rl_rerank.engines import Generation
from rl_rerank.errors import DataError, UserError
from rl_rerank.paradigms import get_paradigm


class Interrupted(Exception):
    pass


class FakeEngine:
    """Returns fixed completions chosen by `respond(user_text, seed)`; can die on a given generate call."""

    def __init__(self, respond, fail_on_call: int | None = None):
        self.respond = respond
        self.fail_on_call = fail_on_call
        self.calls = 0
        self.prompts = 0

    def generate(self, prompts, settings=None):
        self.calls += 1
        if self.fail_on_call is not None and self.calls == self.fail_on_call:
            raise Interrupted()
        self.prompts += len(prompts)
        return [Generation(self.respond(p[-1]["content"], settings.seed), 0, 0) for p in prompts]

    def close(self):
        self.closed = True


def pair(qid: str, docid: str, grade: int, text: str | None = None) -> PlannedItem:
    return PlannedItem(Query(qid, f"query {qid}"), [Candidate(docid, text or f"passage {docid}", None, 1.0, 1)],
                       [grade])


# ------------------------------------------------------------------------------------------ pure logic


def test_consensus_keeps_the_sample_closest_to_the_mean():
    assert consensus_score([2, 9, 7]) == 2  # mean 6 -> 7
    assert consensus_score([None, 5, None]) == 1
    assert consensus_score([4, 8]) == 0  # tie at distance 2 -> earliest
    assert consensus_score([10, 0, 4, 6]) == 2  # mean 5: 4 and 6 tie -> earliest
    assert consensus_score([None, None]) is None and consensus_score([]) is None


def test_ndcg_filter_against_hand_computed_values():
    grades = [0, 2, 0, 1]
    ideal = [1, 3, 0, 2]
    bad = [0, 2, 3, 1]  # grades in this order: 0, 0, 1, 2
    idcg = 2 / math.log2(2) + 1 / math.log2(3)
    dcg_bad = 1 / math.log2(4) + 2 / math.log2(5)
    assert ndcg_at(ideal, grades) == pytest.approx(1.0)
    assert ndcg_at(bad, grades) == pytest.approx(dcg_bad / idcg)
    idx, ndcgs = best_permutation([bad, None, ideal, ideal], grades)
    assert idx == 2 and ndcgs[1] is None and ndcgs[0] == pytest.approx(dcg_bad / idcg)
    assert best_permutation([None, None], grades) == (None, [None, None])
    assert ndcg_at(ideal, [0, 0, 0, 0]) == 0.0  # no positive: never passes a threshold > 0


# ------------------------------------------------------------------------------------------ fake engine


def test_pointwise_consensus_with_fake_engine(tmp_path):
    answers = {  # per document: the completion for sample seed 0, 1, 2
        "d1": ["<think>low</think><answer>2</answer>", "<think>high</think><answer>9</answer>",
               "<think>mid</think><answer>7</answer>"],
        "d2": ["no idea at all", "<think>a</think><answer>4</answer>", "<think>b</think><answer>8</answer>"],
        "d3": ["nothing", "still nothing", "<think></think>"],
    }

    def respond(user, seed):
        doc = next(d for d in answers if f"passage {d}" in user)
        return answers[doc][seed]

    items = [pair("q1", "d1", 1), pair("q1", "d2", 0), pair("q2", "d3", 0)]
    par = get_paradigm("pointwise", reasoning=True)
    out = tmp_path / "labelled.jsonl"
    stats = label_items(items, FakeEngine(respond), par, LabelSettings(samples=3, seed=0, model_name="fake"), out,
                        progress=False)
    recs = [json.loads(line) for line in out.read_text().splitlines()]
    assert [(r["docid"], r["score"], r["reasoning"]) for r in recs] == [("d1", 7, "mid"), ("d2", 4, "a")]
    assert recs[0]["samples"] == [2, 9, 7] and recs[1]["samples"] == [4, 8]
    assert recs[0]["label"] == 1 and recs[0]["teacher"] == "fake"
    assert stats.kept == 2 and stats.dropped_no_usable_sample == 1
    assert stats.samples == 9 and stats.parse_failed == 4 and stats.parse_ok + stats.parse_repaired == 5
    saved = json.loads((tmp_path / "labelled.jsonl.stats.json").read_text())
    assert saved["parse_failed"] == 4 and saved["kept"] == 2
    # the file is a data source: SFT rows with the teacher's score and reasoning
    ds = build_from_source(DataSource(str(out)), BuildSettings(paradigm="pointwise", reasoning=True, shuffle=False),
                           par).dataset
    assert ds["target"] == [7, 4]
    assert par.parse(ds[0]["completion"][0]["content"], 1).reasoning == "mid"


def test_listwise_self_consistency_filter(tmp_path):
    ideal, bad = "[2] > [4] > [1] > [3]", "[1] > [3] > [4] > [2]"

    def respond(user, seed):
        if "query q2" in user:
            return f"<think>x</think><answer>{bad}</answer>"
        if "query q3" in user:
            return "<think>x</think><answer>[1] > [1] > [2]</answer>"  # needs repair: not accepted
        return f"<think>seed{seed}</think><answer>{[bad, ideal][seed]}</answer>"

    docs = [Candidate(f"d{i}", f"passage d{i}", None, 4.0 - i, i + 1) for i in range(4)]
    items = [PlannedItem(Query(q, f"query {q}"), docs, [0, 2, 0, 1]) for q in ("q1", "q2", "q3")]
    par = get_paradigm("listwise", reasoning=True)
    out = tmp_path / "lists.jsonl"
    stats = label_items(items, FakeEngine(respond), par, LabelSettings(paradigm="listwise", samples=2, threshold=0.6),
                        out, progress=False)
    recs = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(recs) == 1
    assert recs[0]["qid"] == "q1" and recs[0]["ranking"] == ["d1", "d3", "d0", "d2"]
    assert recs[0]["reasoning"] == "seed1" and recs[0]["ndcg"] == pytest.approx(1.0)
    assert stats.dropped_below_threshold == 1 and stats.dropped_no_usable_sample == 1
    assert stats.parse_repaired == 2 and stats.mean_kept_ndcg == pytest.approx(1.0)
    # a lower threshold keeps q2's list (NDCG 0.517...)
    out2 = tmp_path / "lists2.jsonl"
    stats = label_items(items, FakeEngine(respond), par, LabelSettings(paradigm="listwise", samples=2, threshold=0.5),
                        out2, progress=False)
    assert stats.kept == 2
    pools = read_labelled(out2)
    assert [p.query.qid for p in pools.queries] == ["q1", "q2"]
    assert pools.queries[1].teacher_lists[0].ranking == ["d0", "d2", "d3", "d1"]
    assert pools.queries[0].labels == {"d0": 0, "d1": 2, "d2": 0, "d3": 1}
    # a window whose 'labels' do not give one grade per document is one line naming the file and line
    lines = out2.read_text().splitlines()
    for bad in ([0, 2, 0], [0, 2, 0, 1, 3], "0201"):
        rec = json.loads(lines[1])
        rec["labels"] = bad
        broken = tmp_path / "broken.jsonl"
        broken.write_text(lines[0] + "\n" + json.dumps(rec) + "\n")
        with pytest.raises(DataError, match=r"broken.jsonl:2: .*'labels' must list one grade per document \(4\)"):
            read_labelled(broken)
    rec = json.loads(lines[1])
    del rec["labels"]  # an unjudged window: read, without labels
    (tmp_path / "unjudged.jsonl").write_text(json.dumps(rec) + "\n")
    assert read_labelled(tmp_path / "unjudged.jsonl").queries[0].labels == {}


def test_resume_after_interruption_does_not_recompute(tmp_path):
    def respond(user, seed):
        n = int(user.split("passage d")[1].split()[0].strip("."))
        return f"<answer>{(n * 3 + seed) % 11}</answer>"

    items = [pair(f"q{i // 3}", f"d{i}", i % 2) for i in range(10)]
    par = get_paradigm("pointwise", reasoning=False)
    settings = LabelSettings(samples=2, batch_size=2)
    ref = tmp_path / "ref.jsonl"
    label_items(items, FakeEngine(respond), par, settings, ref, progress=False)

    out = tmp_path / "out.jsonl"
    dying = FakeEngine(respond, fail_on_call=6)  # 2 samples per batch: dies in the 3rd batch, 2 batches done
    with pytest.raises(Interrupted):
        label_items(items, dying, par, settings, out, progress=False)
    assert not out.exists()  # no partial output file, only the journal
    assert len(journal_path(out).read_text().splitlines()) == 1 + 4  # header + 2 batches of 2
    with pytest.raises(UserError, match="other settings \\(samples\\)"):
        label_items(items, FakeEngine(respond), par, LabelSettings(samples=3, batch_size=2), out, progress=False)
    again = FakeEngine(respond)
    stats = label_items(items, again, par, settings, out, progress=False)
    assert again.prompts == 2 * (10 - 4)  # only the 6 unfinished items, 2 samples each
    assert stats.resumed == 4 and stats.labelled == 6 and stats.kept == 10
    assert out.read_text() == ref.read_text()
    # a third run recomputes nothing
    idle = FakeEngine(respond)
    assert label_items(items, idle, par, settings, out, progress=False).resumed == 10 and idle.calls == 0
    # a torn last journal line is redone, not trusted
    j = journal_path(out)
    j.write_text(j.read_text()[:-20])
    fixer = FakeEngine(respond)
    label_items(items, fixer, par, settings, out, progress=False)
    assert fixer.prompts == 2 and out.read_text() == ref.read_text()
    # the torn fragment was cut off, not glued to the record appended after it: every line parses
    assert all(isinstance(json.loads(line), dict) for line in j.read_text().splitlines())
    assert len(j.read_text().splitlines()) == 1 + 10


def test_label_plan_on_scifact_with_fake_teacher(scifact_dir, tmp_path):
    """Plan pairs from real data (BM25 over SciFact train), label them with a teacher that knows the qrels."""
    pools = load_pools(DataSource(str(scifact_dir), split="train", depth=20, max_queries=5))
    items, plan = plan_items(pools, BuildSettings(paradigm="pointwise", num_hard_negatives=2, num_random_negatives=1))
    assert plan.queries_used == 5 and len(items) >= 15
    grades = {(it.query.text, it.docs[0].text[:40]): it.grades[0] for it in items}

    def respond(user, seed):
        for (q, d), g in grades.items():
            if q in user and d in user:
                return f"<answer>{9 if g > 0 else 1}</answer>"
        return "?"

    par = get_paradigm("pointwise", max_doc_tokens=4096)
    stats = label_items(items, FakeEngine(respond), par, LabelSettings(samples=1), tmp_path / "l.jsonl",
                        progress=False)
    assert stats.kept == len(items) and stats.parse_failed == 0
    pools = read_labelled(tmp_path / "l.jsonl")
    for p in pools.queries:
        for d, t in p.teacher_scores.items():
            assert t.score == (9 if p.labels[d] > 0 else 1)


# ------------------------------------------------------------------------------------------ real engines


def test_label_command_with_tiny_model(scifact_dir, tiny_model, tmp_path):
    """The CLI end to end on the random tiny model: its output is unusable, and that is counted, not hidden."""
    from rl_rerank.cli import main

    out = tmp_path / "tiny.jsonl"
    rc = main(["label", "--source", str(scifact_dir), "--depth", "10", "--max-queries", "2", "--engine",
               "transformers", "--model", str(tiny_model), "--samples", "2", "--max-new-tokens", "6",
               "--no-reasoning", "--build", "num_hard_negatives=1", "--build", "num_random_negatives=0",
               "--output", str(out), "--no-progress"])
    assert rc == 0
    stats = json.loads((tmp_path / "tiny.jsonl.stats.json").read_text())
    assert stats["items"] >= 4 and stats["samples"] == 2 * stats["items"]
    assert stats["parse_ok"] + stats["parse_repaired"] + stats["parse_failed"] == stats["samples"]
    assert len(out.read_text().splitlines()) == stats["kept"]


@pytest.mark.slow
def test_label_with_smollm2_transformers_engine(scifact_dir, smollm2, tmp_path):
    """SmolLM2 as the teacher through the real transformers engine on a handful of SciFact pairs."""
    from rl_rerank.engines import make_engine
    from rl_rerank.models import load_tokenizer

    pools = load_pools(DataSource(str(scifact_dir), split="train", depth=10, max_queries=1))
    items, _ = plan_items(pools, BuildSettings(paradigm="pointwise", num_hard_negatives=2, num_random_negatives=0))
    par = get_paradigm("pointwise", reasoning=False, max_doc_tokens=96)
    engine = make_engine("transformers", str(smollm2), batch_size=8)
    out = tmp_path / "smol.jsonl"
    stats = label_items(items, engine, par, LabelSettings(samples=3, temperature=0.8, max_new_tokens=8),
                        out, load_tokenizer(str(smollm2)), progress=False)
    assert stats.items == len(items) == 3 and stats.samples == 3 * len(items)
    recs = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(recs) == stats.kept
    for r in recs:  # the kept score is the sample closest to the mean of the usable samples
        mean = sum(r["samples"]) / len(r["samples"])
        assert 0 <= r["score"] <= 10 and r["score"] in r["samples"]
        assert abs(r["score"] - mean) == min(abs(s - mean) for s in r["samples"])
    print(f"SmolLM2 teacher: {stats.summary()}")


def test_label_command_reports_nothing_kept(scifact_dir, tiny_model, tmp_path, monkeypatch, capsys):
    """--sft-output with no kept label: one clear error line (exit 2), the labelled file and stats still written."""
    import rl_rerank.engines as engines
    from rl_rerank.cli import main

    monkeypatch.setattr(engines, "make_engine", lambda *a, **k: FakeEngine(lambda u, s: "no score here"))
    out = tmp_path / "none.jsonl"
    rc = main(["label", "--source", str(scifact_dir), "--depth", "10", "--max-queries", "2", "--engine",
               "transformers", "--model", str(tiny_model), "--samples", "2", "--output", str(out),
               "--sft-output", str(tmp_path / "sft.jsonl"), "--no-progress"])
    assert rc == 2
    assert "was never kept" in capsys.readouterr().err
    assert out.read_text() == "" and not (tmp_path / "sft.jsonl").exists()
    assert json.loads((tmp_path / "none.jsonl.stats.json").read_text())["parse_failed"] > 0
