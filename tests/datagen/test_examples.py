"""Training data builders on the shared SciFact (binary qrels) and TREC DL20 (graded qrels) data."""

from __future__ import annotations

import json
import random

import pytest

from rl_rerank.data.beir import iter_corpus
from rl_rerank.data.beir import read_qrels as read_beir_qrels
from rl_rerank.data.trec import read_qrels as read_trec_qrels
from rl_rerank.data.trec import write_run
from rl_rerank.data.types import Candidate, Query
from rl_rerank.datagen.examples import (
    BuildSettings,
    build_examples,
    build_from_source,
    build_grpo_dataset,
    build_sft_dataset,
    grade_to_score,
    is_built_jsonl,
    listwise_order,
    plan_items,
    read_built,
    write_built,
)
from rl_rerank.datagen.sources import (
    DataSource,
    TeacherList,
    TeacherScore,
    labelled_record_listwise,
    labelled_record_pointwise,
    load_pools,
)
from rl_rerank.errors import ConfigError, DataError, UserError
from rl_rerank.paradigms import get_paradigm

N_SCIFACT = 60  # training queries used from SciFact train (keeps every build well under a second)


@pytest.fixture(scope="module")
def scifact_run(scifact_dir, tmp_path_factory):
    """A generated first-stage run over SciFact train: 100 random documents per query, with the judged
    positives placed in the top 20 for two queries out of three (the third has none in its run)."""
    qrels = read_beir_qrels(scifact_dir / "qrels" / "train.tsv")
    ids = [d.docid for d in iter_corpus(scifact_dir)]
    rng = random.Random(1234)
    run = {}
    for i, (qid, labels) in enumerate(list(qrels.items())[:N_SCIFACT]):
        docs = [d for d in rng.sample(ids, 110) if d not in labels][:100]
        if i % 3:
            for d in labels:
                docs.insert(rng.randrange(20), d)
        run[qid] = {d: 200.0 - r for r, d in enumerate(docs[:100])}
    path = tmp_path_factory.mktemp("run") / "scifact-train.trec"
    write_run(path, run)
    return path


@pytest.fixture(scope="module")
def scifact_pools(scifact_dir, scifact_run):
    return load_pools(DataSource(str(scifact_dir), split="train", run=str(scifact_run), max_queries=N_SCIFACT))


@pytest.fixture(scope="module")
def scifact_qrels(scifact_dir):
    return read_beir_qrels(scifact_dir / "qrels" / "train.tsv")


@pytest.fixture(scope="module")
def dl20_source(dl20_dir):
    return DataSource(str(dl20_dir / "bm25-top100.json"), kind="requests",
                      qrels=str(dl20_dir / "qrels.dl20-passage.txt"))


@pytest.fixture(scope="module")
def dl20_pools(dl20_source):
    return load_pools(dl20_source)


@pytest.fixture(scope="module")
def dl20_qrels(dl20_dir):
    return read_trec_qrels(dl20_dir / "qrels.dl20-passage.txt")


def paradigm(name, reasoning=False):
    return get_paradigm(name, reasoning=reasoning, max_doc_tokens=64)


# ------------------------------------------------------------------------------------------ sources


def test_sources_read_real_data(scifact_pools, dl20_pools, scifact_run):
    assert len(scifact_pools.queries) == N_SCIFACT
    assert scifact_pools.max_grade == 1
    assert all(len(p.candidates) == 100 for p in scifact_pools.queries)
    assert len(dl20_pools.queries) == 54  # every judged DL20 query has a request
    assert dl20_pools.max_grade == 3
    assert all(len(p.candidates) == 100 for p in dl20_pools.queries)
    # candidates keep first-stage order
    p = dl20_pools.queries[0]
    assert [c.rank for c in p.candidates] == list(range(1, 101))


# ------------------------------------------------------------------------------------------ grades


def test_default_grade_rule_on_dl20_graded_qrels(dl20_pools, dl20_qrels):
    expected = {0: 0, 1: 3, 2: 7, 3: 10}  # round-half-up(10 g / 3), written out by hand
    assert {g: grade_to_score(g, 3) for g in range(4)} == expected
    assert grade_to_score(1, 1) == 10 and grade_to_score(None, 3) == 0 and grade_to_score(-1, 3) == 0
    s = BuildSettings(paradigm="pointwise", num_hard_negatives=4, num_random_negatives=0, seed=3)
    result = build_examples(dl20_pools, s, paradigm("pointwise"))
    ds = result.dataset
    assert result.stats.examples == len(ds) > 54
    seen = set()
    for row in ds:
        grade = max(0, dl20_qrels[row["qid"]].get(row["docid"], 0))
        assert row["label"] == grade
        assert row["target"] == expected[grade]
        seen.add(grade)
    assert seen == {0, 1, 2, 3}  # every grade reached the targets


def test_explicit_grade_map(dl20_pools, dl20_qrels):
    gm = {"0": 0, "1": 1, "2": 6, "3": 9}  # YAML gives string keys
    s = BuildSettings(paradigm="pointwise", grade_map=gm, num_random_negatives=0)
    ds = build_examples(dl20_pools, s, paradigm("pointwise")).dataset
    for row in ds:
        assert row["target"] == {0: 0, 1: 1, 2: 6, 3: 9}[row["label"]]
    with pytest.raises(ConfigError, match="grade 3"):
        build_examples(dl20_pools, BuildSettings(grade_map={0: 0, 1: 5, 2: 10}), paradigm("pointwise"))


def test_binary_beir_targets(scifact_pools, scifact_qrels):
    ds = build_examples(scifact_pools, BuildSettings(paradigm="pointwise"), paradigm("pointwise")).dataset
    for row in ds:
        positive = scifact_qrels[row["qid"]].get(row["docid"], 0) > 0
        assert row["target"] == (10 if positive else 0)
        assert row["completion"][0]["content"] == f"<answer>{row['target']}</answer>"


# ------------------------------------------------------------------------------------------ sampling


@pytest.mark.parametrize("name", ["pointwise", "listwise", "setwise", "groupwise"])
def test_seeded_determinism(scifact_pools, name):
    a = build_examples(scifact_pools, BuildSettings(paradigm=name, seed=7), paradigm(name)).dataset.to_list()
    b = build_examples(scifact_pools, BuildSettings(paradigm=name, seed=7), paradigm(name)).dataset.to_list()
    c = build_examples(scifact_pools, BuildSettings(paradigm=name, seed=8), paradigm(name)).dataset.to_list()
    assert a == b
    assert a != c  # row order at least
    if name != "listwise":  # listwise windows are the run's top: the seed only changes row order
        key = "docid" if name == "pointwise" else "docids"
        assert sorted(json.dumps(r[key]) for r in a) != sorted(json.dumps(r[key]) for r in c)


def test_query_examples_do_not_depend_on_other_queries(scifact_pools):
    """A query's sampled negatives come from a generator seeded by (seed, qid)."""
    from rl_rerank.datagen.sources import Pools

    s = BuildSettings(paradigm="pointwise", shuffle=False)
    full = build_examples(scifact_pools, s, paradigm("pointwise")).dataset
    some = Pools(scifact_pools.queries[10:20], scifact_pools.corpus, scifact_pools.max_grade)
    part = build_examples(some, s, paradigm("pointwise")).dataset
    qids = set(part["qid"])
    assert [r["docid"] for r in full if r["qid"] in qids] == part["docid"]


@pytest.mark.parametrize("name", ["pointwise", "setwise", "groupwise"])
def test_negatives_never_judged_positive(dl20_pools, dl20_qrels, name):
    """With min_positive_grade=2, grade-1 documents are neither positives nor allowed as negatives."""
    s = BuildSettings(paradigm=name, min_positive_grade=2, num_hard_negatives=6, num_random_negatives=2,
                      hard_depth=100, random_from="run", seed=5)
    result = build_examples(dl20_pools, s, paradigm(name))
    ds = result.dataset
    n_neg = 0
    for row in ds:
        judged = dl20_qrels[row["qid"]]
        docids = [row["docid"]] if name == "pointwise" else row["docids"]
        for d in docids:
            assert judged.get(d, 0) != 1, f"grade-1 document {d} used in {name}"
            n_neg += judged.get(d, 0) <= 0
        if name == "setwise":
            assert sum(judged.get(d, 0) >= 2 for d in docids) == 1  # exactly one positive
            assert len(docids) == s.set_size
    # negatives were really sampled, as many as asked
    expected = {"pointwise": 8 * result.stats.queries_used, "setwise": (s.set_size - 1) * len(ds)}
    assert n_neg == expected.get(name, n_neg) and n_neg > 0
    if name == "groupwise":
        assert n_neg > len(ds)


def test_hard_negatives_come_from_the_run_top(scifact_pools, scifact_qrels):
    s = BuildSettings(paradigm="pointwise", num_hard_negatives=3, num_random_negatives=0, hard_depth=10)
    ds = build_examples(scifact_pools, s, paradigm("pointwise")).dataset
    top = {p.query.qid: {c.docid for c in p.candidates[:10]} for p in scifact_pools.queries}
    negs = [r for r in ds if scifact_qrels[r["qid"]].get(r["docid"], 0) <= 0]
    assert negs and all(r["docid"] in top[r["qid"]] for r in negs)
    per_query = {}
    for r in negs:
        per_query[r["qid"]] = per_query.get(r["qid"], 0) + 1
    assert set(per_query.values()) == {3}


def test_random_negatives_from_corpus(scifact_pools, scifact_qrels):
    s = BuildSettings(paradigm="pointwise", num_hard_negatives=0, num_random_negatives=4, random_from="corpus")
    ds = build_examples(scifact_pools, s, paradigm("pointwise")).dataset
    in_run = {p.query.qid: {c.docid for c in p.candidates} for p in scifact_pools.queries}
    negs = [r for r in ds if scifact_qrels[r["qid"]].get(r["docid"], 0) <= 0]
    assert len(negs) == 4 * N_SCIFACT
    assert all(r["docid"] in scifact_pools.corpus for r in negs)
    assert sum(r["docid"] not in in_run[r["qid"]] for r in negs) > len(negs) // 2  # not the run's documents


def test_no_positive_queries_are_reported(dl20_pools, dl20_dir, caplog):
    raw = json.loads((dl20_dir / "bm25-top100.json").read_text())
    qrels = read_trec_qrels(dl20_dir / "qrels.dl20-passage.txt")
    expected = set()
    for req in raw:
        qid = str(req["hits"][0]["qid"])
        hits = {str(h["docid"]) for h in req["hits"]}
        if not any(g >= 3 and d in hits for d, g in qrels[qid].items()):
            expected.add(qid)
    assert 0 < len(expected) < 54
    with caplog.at_level("WARNING"):
        result = build_examples(dl20_pools, BuildSettings(paradigm="pointwise", min_positive_grade=3),
                                paradigm("pointwise"))
    assert set(result.stats.no_positive_qids) == expected
    assert not expected & set(result.dataset["qid"])
    assert result.stats.queries_used == 54 - len(expected)
    assert f"{len(expected)} of 54 queries have no positive" in caplog.text
    assert result.stats.as_dict()["no_positive_queries"] == len(expected)


def test_no_positive_anywhere_fails_clearly(dl20_pools):
    with pytest.raises(UserError, match="54 of 54 queries have no positive"):
        build_examples(dl20_pools, BuildSettings(paradigm="setwise", min_positive_grade=9), paradigm("setwise"))


# ------------------------------------------------------------------------------------------ paradigms


@pytest.mark.parametrize("reasoning", [False, True])
@pytest.mark.parametrize("name", ["pointwise", "listwise", "setwise", "groupwise"])
def test_targets_parse_back_to_labels(dl20_pools, name, reasoning):
    par = paradigm(name, reasoning)
    s = BuildSettings(paradigm=name, reasoning=reasoning, window_size=10, group_min=5, group_max=8)
    ds = build_examples(dl20_pools, s, par).dataset
    assert len(ds) > 0
    for row in ds:
        n = 1 if name == "pointwise" else len(row["docids"])
        parsed = par.parse(row["completion"][0]["content"], n)
        assert parsed.status == "ok" and parsed.tags_ok
        if name == "pointwise":
            assert parsed.value == row["target"]
        elif name == "listwise":
            assert parsed.value == listwise_order(row["labels"])
        elif name == "setwise":
            assert row["labels"][parsed.value] > 0 and sum(x > 0 for x in row["labels"]) == 1
        else:
            assert parsed.value == row["targets"]
            assert row["targets"] == [grade_to_score(g, 3) for g in row["labels"]]
        assert row["prompt"][-1]["role"] == "user"


def test_listwise_windows_keep_first_stage_order_and_break_ties_by_it(dl20_pools, dl20_qrels):
    ds = build_examples(dl20_pools, BuildSettings(paradigm="listwise", shuffle=False), paradigm("listwise")).dataset
    assert len(ds) == 54
    for row, pool in zip(ds, dl20_pools.queries, strict=True):
        assert row["qid"] == pool.query.qid
        top = [c.docid for c in pool.candidates[:20]]
        assert len(row["docids"]) == 20
        # the window is the run's top 20, except a positive put last when the top 20 had none
        assert row["docids"][:19] == top[:19]
        assert row["labels"] == [max(0, dl20_qrels[row["qid"]].get(d, 0)) for d in row["docids"]]
        order = listwise_order(row["labels"])
        for a, b in zip(order, order[1:], strict=False):
            assert row["labels"][a] > row["labels"][b] or (row["labels"][a] == row["labels"][b] and a < b)


def test_groupwise_sizes_within_bounds(scifact_pools):
    s = BuildSettings(paradigm="groupwise", group_min=5, group_max=20, groups_per_query=2)
    ds = build_examples(scifact_pools, s, paradigm("groupwise")).dataset
    sizes = [len(r["docids"]) for r in ds]
    assert all(5 <= n <= 20 for n in sizes)
    assert len(set(sizes)) > 5  # sizes really vary
    assert all(sum(x > 0 for x in r["labels"]) >= 1 for r in ds)


# ------------------------------------------------------------------------------------------ GRPO rows


def test_pointwise_grpo_rows_keep_queries_contiguous(scifact_pools, scifact_qrels):
    s = BuildSettings(paradigm="pointwise", mode="grpo", docs_per_query=8, seed=2)
    result = build_examples(scifact_pools, s, paradigm("pointwise"), ref_scores={("0", "31715818"): 4.0})
    ds = result.dataset
    assert "completion" not in ds.column_names
    assert {"qid", "docid", "label", "ref_score", "teacher_score", "docs_per_query"} <= set(ds.column_names)
    qids = ds["qid"]
    blocks = [qids[i:i + 8] for i in range(0, len(qids), 8)]
    assert all(len(set(b)) == 1 for b in blocks) and len({b[0] for b in blocks}) == len(blocks)
    assert set(ds["docs_per_query"]) == {8}
    assert len(ds) == 8 * result.stats.queries_used
    for row in ds:
        assert row["label"] == scifact_qrels[row["qid"]].get(row["docid"], 0)
        assert row["ref_score"] == (4.0 if (row["qid"], row["docid"]) == ("0", "31715818") else None)
    assert 4.0 in ds["ref_score"]
    assert qids != sorted(qids, key=lambda q: [p.query.qid for p in scifact_pools.queries].index(q))  # shuffled


def test_pointwise_grpo_rows_carry_the_sft_scale_target(dl20_pools, dl20_qrels):
    """pointwise_error compares answers with `label_score`: the same 0-10 mapping as the SFT target."""
    from rl_rerank.rewards import get_reward

    expected = {0: 0, 1: 3, 2: 7, 3: 10}
    sft = build_examples(dl20_pools, BuildSettings(paradigm="pointwise", num_random_negatives=0, seed=4),
                         paradigm("pointwise")).dataset
    grpo = build_examples(dl20_pools, BuildSettings(paradigm="pointwise", mode="grpo", num_random_negatives=0,
                                                    seed=4), paradigm("pointwise")).dataset
    assert {(r["qid"], r["docid"]): r["target"] for r in sft} == {(r["qid"], r["docid"]): r["label_score"]
                                                                  for r in grpo}
    assert {r["label_score"] for r in grpo} == {0, 3, 7, 10}
    assert all(r["label_score"] == expected[r["label"]] for r in grpo)
    # the SFT target answered exactly earns the full reward
    reward = get_reward("pointwise_error", reasoning=False)
    rows = grpo.select(range(10)).to_dict()
    rows.pop("prompt")
    answers = [f"<answer>{t}</answer>" for t in rows["label_score"]]
    assert reward(answers, **{k: v for k, v in rows.items() if k != "ref_score"}) == [1.0] * 10


@pytest.mark.parametrize("name", ["listwise", "setwise", "groupwise"])
def test_multi_document_grpo_rows(dl20_pools, dl20_qrels, name):
    ds = build_examples(dl20_pools, BuildSettings(paradigm=name, mode="grpo"), paradigm(name)).dataset
    assert set(ds.column_names) == {"prompt", "qid", "docids", "labels"}
    for row in ds:
        assert row["labels"] == [max(0, dl20_qrels[row["qid"]].get(d, 0)) for d in row["docids"]]


# ------------------------------------------------------------------------------------------ BM25, I/O, sources


def test_beir_source_without_run_uses_bm25(scifact_dir, scifact_qrels):
    source = DataSource(str(scifact_dir), split="train", depth=30, max_queries=20)
    result = build_from_source(source, BuildSettings(paradigm="listwise", window_size=10, fill_positive=False))
    # BM25 on SciFact finds a judged positive in the top 10 for most claims
    assert result.stats.windows_without_positive < 20 * 0.5
    assert result.stats.queries_used == 20 - result.stats.windows_without_positive
    for row in result.dataset:
        assert any(scifact_qrels[row["qid"]].get(d, 0) > 0 for d in row["docids"])


def test_built_jsonl_round_trip_and_errors(dl20_pools, tmp_path):
    ds = build_examples(dl20_pools, BuildSettings(paradigm="setwise"), paradigm("setwise")).dataset
    path = tmp_path / "sft.jsonl"
    assert write_built(path, ds) == len(ds)
    assert is_built_jsonl(path)
    back = read_built(path)
    assert back.to_list() == ds.to_list()
    bad = tmp_path / "bad.jsonl"
    lines = path.read_text().splitlines()
    bad.write_text("\n".join(lines[:2] + ['{"prompt": "not messages"}'] + lines[2:]) + "\n")
    with pytest.raises(DataError, match=r"bad.jsonl:3: a row with `prompt`"):
        read_built(bad)
    assert not list(tmp_path.glob(".*.tmp"))  # atomic writer left nothing behind


def test_teacher_labelled_source(tmp_path):
    q = Query("q1", "what causes tides")
    docs = [Candidate(f"d{i}", f"text {i}", None, 10.0 - i, i + 1) for i in range(4)]
    recs = [labelled_record_pointwise(q, docs[0], 1, TeacherScore(8, "moon pulls water", [7, 8, 9]), "T"),
            labelled_record_pointwise(q, docs[1], 0, TeacherScore(2, "unrelated", [2, 2, 5]), "T"),
            labelled_record_listwise(q, docs, [1, 0, 0, 0], TeacherList([d.docid for d in docs],
                                                                        ["d0", "d3", "d1", "d2"], "why", 1.0), "T")]
    path = tmp_path / "labelled.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in recs))
    par = paradigm("pointwise", reasoning=True)
    ds = build_from_source(DataSource(str(path)), BuildSettings(paradigm="pointwise", reasoning=True,
                                                                 shuffle=False), par).dataset
    assert ds["target"] == [8, 2]
    assert [par.parse(r["completion"][0]["content"], 1).reasoning for r in ds] == ["moon pulls water", "unrelated"]
    lw = paradigm("listwise", reasoning=True)
    ds = build_from_source(DataSource(str(path), kind="labelled"),
                           BuildSettings(paradigm="listwise", reasoning=True), lw).dataset
    assert len(ds) == 1
    parsed = lw.parse(ds[0]["completion"][0]["content"], 4)
    assert [ds[0]["docids"][i] for i in parsed.value] == ["d0", "d3", "d1", "d2"]
    assert parsed.reasoning == "why"
    path.write_text(path.read_text() + '{"format": "rl_rerank.labelled/1", "kind": "pointwise"}\n')
    with pytest.raises(DataError, match="labelled.jsonl:4"):
        load_pools(DataSource(str(path)))


def test_trainer_entry_points(scifact_dir, scifact_run):
    ds = build_sft_dataset(paradigm="setwise", seed=1, path=str(scifact_dir), run=str(scifact_run),
                           max_queries=12, set_size=4)
    assert set(ds.column_names) >= {"prompt", "completion", "qid", "docids", "labels"}
    assert all(len(r["docids"]) == 4 for r in ds)
    ds = build_grpo_dataset(paradigm="pointwise", reasoning=False, seed=1, source={"path": str(scifact_dir),
                            "run": str(scifact_run), "max_queries": 12}, docs_per_query=5)
    assert set(ds["docs_per_query"]) == {5}
    with pytest.raises(ConfigError, match="num_hard_negativs"):
        build_sft_dataset(paradigm="pointwise", path=str(scifact_dir), num_hard_negativs=2)


def test_plan_items_for_labelling(scifact_pools):
    items, stats = plan_items(scifact_pools, BuildSettings(paradigm="pointwise", shuffle=False))
    assert stats.examples == len(items) and stats.queries_used == N_SCIFACT
    # a query's pairs are contiguous and in source order
    order = [it.query.qid for it in items]
    assert order == sorted(order, key=[p.query.qid for p in scifact_pools.queries].index)
    with pytest.raises(ConfigError):
        plan_items(scifact_pools, BuildSettings(paradigm="setwise"))


def test_trec_run_source_matches_beir_source(scifact_dir, scifact_run, scifact_pools):
    """The same run read as a TREC source (run + qrels + corpus + topics) gives the same pools."""
    trec = load_pools(DataSource(str(scifact_run), kind="trec", qrels=str(scifact_dir / "qrels" / "train.tsv"),
                                 corpus=str(scifact_dir / "corpus.jsonl"), topics=str(scifact_dir / "queries.jsonl"),
                                 max_queries=N_SCIFACT))
    assert [p.query.qid for p in trec.queries] == [p.query.qid for p in scifact_pools.queries]
    assert [[c.docid for c in p.candidates] for p in trec.queries] == \
        [[c.docid for c in p.candidates] for p in scifact_pools.queries]
    with pytest.raises(ConfigError, match="needs qrels, corpus"):
        load_pools(DataSource(str(scifact_run), kind="trec"))


def test_listwise_sliding_windows(dl20_pools, dl20_qrels):
    s = BuildSettings(paradigm="listwise", window_size=20, window_stride=10, windows_per_query=3, fill_positive=False,
                      shuffle=False)
    result = build_examples(dl20_pools, s, paradigm("listwise"))
    by_q = {}
    for row in result.dataset:
        by_q.setdefault(row["qid"], []).append(row["docids"])
    pool = dl20_pools.queries[0]
    top = [c.docid for c in pool.candidates]
    expected = [top[i:i + 20] for i in (0, 10, 20)
                if any(dl20_qrels[pool.query.qid].get(d, 0) > 0 for d in top[i:i + 20])]
    assert by_q[pool.query.qid] == expected
    assert len(result.dataset) + result.stats.windows_without_positive == 3 * 54


def test_max_positives_caps_pointwise_positives(dl20_pools, dl20_qrels):
    s = BuildSettings(paradigm="pointwise", max_positives=2, num_hard_negatives=3, num_random_negatives=0)
    ds = build_examples(dl20_pools, s, paradigm("pointwise")).dataset
    per_q = {}
    for row in ds:
        per_q.setdefault(row["qid"], []).append(dl20_qrels[row["qid"]].get(row["docid"], 0) > 0)
    assert all(sum(v) <= 2 and len(v) - sum(v) == 3 for v in per_q.values())
    assert sum(sum(v) == 2 for v in per_q.values()) > 40  # most DL20 queries have >= 2 positives in the top 100
