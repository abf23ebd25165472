"""Query grouping: the sampler keeps whole queries per generation batch; the reward wrapper computes on full
groups and returns this process's slice."""

from __future__ import annotations

import random
from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rl_rerank.training.grouping import (
    QueryGroupSampler,
    gather_query_groups,
    group_completeness,
    grouped_order,
    query_groups,
)


def test_query_groups_drop_and_count_other_sizes():
    qids = ["a", "a", "b", "b", "b", "c", "c", "d"]
    groups, dropped = query_groups(qids, 2)
    assert groups == [[0, 1], [5, 6]]
    assert dropped == {"1": 1, "3": 1}


@settings(max_examples=60, deadline=None)
@given(n_queries=st.integers(1, 9), docs=st.integers(1, 5), qpb=st.integers(1, 3), g=st.integers(2, 4),
       repeat=st.integers(1, 3), procs=st.sampled_from([1, 2, 4]), seed=st.integers(0, 99))
def test_every_generation_batch_holds_whole_queries(n_queries, docs, qpb, g, repeat, procs, seed):
    qids = [f"q{q}" for q in range(n_queries) for _ in range(docs)]
    random.Random(seed).shuffle(qids)  # dataset rows need not be sorted by query
    sampler = QueryGroupSampler(qids, docs, qpb, g, repeat_count=repeat, shuffle=True, seed=seed)
    order = list(sampler)
    assert len(order) == len(sampler)
    gen_batch = qpb * docs * g
    assert len(order) == (n_queries // qpb) * gen_batch * repeat
    for start in range(0, len(order), gen_batch):
        batch = order[start:start + gen_batch]
        counts = Counter(qids[i] for i in batch)
        assert len(counts) == qpb and set(counts.values()) == {docs * g}
        # each row appears G times in a row (TRL's advantage grouping: rewards.view(-1, G))
        for k in range(0, gen_batch, g):
            assert len(set(batch[k:k + g])) == 1
        # rows of a query are all its documents
        for q in counts:
            assert {i for i in batch if qids[i] == q} == {i for i, x in enumerate(qids) if x == q}
    # repeat_count: each generation batch is reused `repeat` times back to back (num_iterations x steps)
    block = gen_batch
    for start in range(0, len(order), block * repeat):
        chunk = order[start:start + block]
        for r in range(1, repeat):
            assert order[start + r * block:start + (r + 1) * block] == chunk


def test_sampler_same_order_on_every_process_and_new_order_per_epoch():
    qids = [f"q{q}" for q in range(6) for _ in range(3)]
    a = QueryGroupSampler(qids, 3, 1, 2, seed=7)
    b = QueryGroupSampler(qids, 3, 1, 2, seed=7)
    first = list(a)
    assert first == list(b)
    assert list(a) != first  # next epoch reshuffles queries
    assert grouped_order(a.groups, 1, 2, 1, None)[:6] == [0, 0, 1, 1, 2, 2]


def test_group_completeness_flags_missing_rollouts_and_docs():
    ok = group_completeness(["a"] * 4 + ["b"] * 4, ["1", "1", "2", "2", "3", "3", "4", "4"], 2, 2)
    assert ok["incomplete"] == {} and ok["queries"] == 2
    bad = group_completeness(["a"] * 3, ["1", "1", "2"], 2, 2)
    assert bad["incomplete"] == {"a": 3}
    dup = group_completeness(["a"] * 4, ["1"] * 4, 2, 2)  # right count, one document repeated
    assert dup["incomplete"] == {"a": 1}


def test_wrapper_single_process_passes_columns_and_checks_groups():
    seen = {}

    def reward(completions, qid, docid, label, **kw):
        seen["n"] = len(completions)
        seen["kw"] = sorted(kw)
        return [float(g) for g in label]

    metrics = {}
    wrapped = gather_query_groups(reward, "erank", docs_per_query=2, num_generations=2)
    out = wrapped(prompts=["p"] * 4, completions=["c"] * 4, completion_ids=[[1]] * 4, qid=["a"] * 4,
                  docid=["x", "x", "y", "y"], label=[1, 1, 0, 0],
                  log_metric=lambda k, v: metrics.__setitem__(k, v))
    assert out == [1.0, 1.0, 0.0, 0.0]
    assert seen["n"] == 4 and "prompts" in seen["kw"] and "log_metric" in seen["kw"]
    assert metrics == {"erank/complete_query_groups": 1.0}
    assert wrapped.__name__ == "erank" and wrapped.calls[0]["incomplete"] == {}
    with pytest.raises(RuntimeError, match="needs complete query groups"):
        wrapped(prompts=["p"] * 3, completions=["c"] * 3, qid=["a"] * 3, docid=["x", "x", "y"], label=[1, 1, 0])


def test_grouped_trainer_log_probs_equal_trls_one_pass(tiny_model):
    """The shared-prefix log-probs equal TRL's fused one-pass ones (prompts of equal length: no pad offsets)."""
    import contextlib
    import types

    import torch
    from trl import GRPOTrainer
    from trl.trainer.utils import add_fused_lm_head

    from rl_rerank.models import ModelSpec, load_model
    from rl_rerank.training.grouping import grouped_trainer_class

    model, _ = load_model(ModelSpec(model=str(tiny_model)))
    model.eval()
    add_fused_lm_head(model, temperature=0.7, outputs=("log_probs", "entropy"))
    prefix = list(range(100, 130))
    ids = torch.tensor([prefix + [200 + i, 201 + i, 7, 8, 9] for i in range(4)])
    mask = torch.ones_like(ids)
    mask[1, -1] = 0  # a shorter completion, right-padded
    fake = types.SimpleNamespace(temperature=0.7, accelerator=types.SimpleNamespace(autocast=contextlib.nullcontext))
    cls = grouped_trainer_class()
    fake.completion_logps = types.MethodType(cls.completion_logps, fake)
    with torch.no_grad():  # through TRL's hook (compat.trl.CompletionLogpsHook) into our completion_logps
        ours, ours_ent, aux = cls._get_per_token_logps_and_entropies(fake, model, ids, mask, 3, compute_entropy=True)
        trl_fn = getattr(GRPOTrainer._get_per_token_logps_and_entropies, "__wrapped__",
                         GRPOTrainer._get_per_token_logps_and_entropies)  # without TRL's profiling wrapper
        trl_logps, trl_ent, _ = trl_fn(
            fake, model, ids, mask, 3, compute_entropy=True)
    real = mask[:, -3:] == 1
    assert aux is None and ours.shape == (4, 3)
    assert torch.allclose(ours[real], trl_logps[real], atol=1e-4)
    assert torch.allclose(ours_ent[real], trl_ent[real], atol=1e-3)
