"""Keep every document x rollout of a query inside one generation batch, across processes.

ERank's reward ranks all N documents x G rollouts of a query together, so a reward call must see complete
query groups. TRL's RepeatSampler draws prompts independently; `QueryGroupSampler` draws whole queries
instead, in the same layout TRL expects (each prompt repeated G times in a row, each chunk of the global
sequence is one generation batch, reused num_iterations x steps_per_generation times). Accelerate hands
process p the p-th contiguous slice of every generation batch, so the query groups end up split across
processes; `gather_query_groups` wraps a reward to gather completions and columns from all processes,
compute on the full groups, and return this process's slice.
"""

from __future__ import annotations

import random
from collections import Counter, OrderedDict
from collections.abc import Callable, Sequence
from typing import Any

# Rewards that need all rollouts of all documents of a query at once.
QUERY_GROUP_REWARDS = {"erank"}


def query_groups(qids: Sequence[str], docs_per_query: int) -> tuple[list[list[int]], dict[str, int]]:
    """Row indices grouped by qid (dataset order); queries with another row count are dropped and counted."""
    by_q: OrderedDict[str, list[int]] = OrderedDict()
    for i, q in enumerate(qids):
        by_q.setdefault(str(q), []).append(i)
    kept = [rows for rows in by_q.values() if len(rows) == docs_per_query]
    sizes = Counter(len(rows) for rows in by_q.values() if len(rows) != docs_per_query)
    return kept, {str(k): v for k, v in sorted(sizes.items())}


def grouped_order(groups: list[list[int]], queries_per_batch: int, num_generations: int, repeat_count: int,
                  rng: random.Random | None) -> list[int]:
    """One epoch of indices: whole queries per generation batch, each row repeated num_generations times."""
    order = list(range(len(groups)))
    if rng is not None:
        rng.shuffle(order)
    chunks = [order[i:i + queries_per_batch] for i in range(0, len(order), queries_per_batch)]
    chunks = [c for c in chunks if len(c) == queries_per_batch]  # a partial chunk would break the batch size
    out: list[int] = []
    for chunk in chunks:
        block = [row for g in chunk for row in groups[g] for _ in range(num_generations)]
        for _ in range(repeat_count):
            out.extend(block)
    return out


class QueryGroupSampler:
    """torch Sampler drop-in (iter + len) yielding whole query groups per generation batch.

    Same seed on every process, so all processes walk the same global order (as RepeatSampler does).
    """

    def __init__(self, qids: Sequence[str], docs_per_query: int, queries_per_batch: int, num_generations: int,
                 repeat_count: int = 1, shuffle: bool = True, seed: int | None = None):
        self.groups, self.dropped = query_groups(qids, docs_per_query)
        self.queries_per_batch = queries_per_batch
        self.num_generations = num_generations
        self.repeat_count = repeat_count
        self.rng = random.Random(seed) if shuffle else None

    def __iter__(self):
        yield from grouped_order(self.groups, self.queries_per_batch, self.num_generations, self.repeat_count,
                                 self.rng)

    def __len__(self) -> int:
        n_chunks = len(self.groups) // self.queries_per_batch
        per_query = len(self.groups[0]) if self.groups else 0
        return n_chunks * self.queries_per_batch * per_query * self.num_generations * self.repeat_count


def group_completeness(qids: Sequence[str], docids: Sequence[str] | None, docs_per_query: int,
                       num_generations: int) -> dict[str, Any]:
    """Does a batch hold only complete query groups (N distinct docs x G rollouts each)?"""
    counts = Counter(str(q) for q in qids)
    incomplete = {q: c for q, c in counts.items() if c != docs_per_query * num_generations}
    if docids is not None:
        docs: dict[str, set] = {}
        # not strict: qids is [] when the batch has no qid column (the dataset's; gather_query_groups reports it)
        for q, d in zip(qids, docids, strict=False):
            docs.setdefault(str(q), set()).add(str(d))
        incomplete.update({q: len(ds) for q, ds in docs.items() if len(ds) != docs_per_query})
    return {"n": len(qids), "queries": len(counts), "incomplete": incomplete}


def _gather(values: list, num_processes: int) -> list:
    if num_processes == 1:
        return list(values)
    from accelerate.utils import gather_object

    return gather_object(list(values))


def gather_query_groups(func: Callable, name: str, docs_per_query: int, num_generations: int,
                        strict: bool = True) -> Callable:
    """Wrap reward `func(completions, **columns)` so it runs on the full generation batch of all processes.

    Every process gathers (same order: process rank), computes the same full result and keeps its slice.
    With strict, an incomplete query group raises: a silently wrong ERank reward is worse than a crash.
    `wrapped.calls` records what each call saw (tests read it).
    """
    calls: list[dict] = []

    from rl_rerank.compat.trl import split_reward_hooks

    def wrapped(prompts=None, completions=None, completion_ids=None, **kwargs):
        from accelerate import PartialState

        state = PartialState()
        n_local = len(completions)
        hooks = split_reward_hooks(kwargs)
        columns = {k: v for k, v in kwargs.items() if isinstance(v, list) and len(v) == n_local}
        fixed = {k: v for k, v in kwargs.items() if k not in columns}
        all_completions = _gather(completions, state.num_processes)
        all_prompts = _gather(prompts, state.num_processes) if prompts is not None else None
        all_ids = _gather(completion_ids, state.num_processes) if completion_ids is not None else None
        all_columns = {k: _gather(v, state.num_processes) for k, v in columns.items()}
        seen = group_completeness(all_columns.get("qid", []), all_columns.get("docid"), docs_per_query,
                                  num_generations)
        local = group_completeness(columns.get("qid", []), columns.get("docid"), docs_per_query, num_generations)
        seen.update(process=state.process_index, num_processes=state.num_processes, local=n_local,
                    local_queries=local["queries"], local_complete=not local["incomplete"])
        calls.append(seen)
        if "log_metric" in hooks:
            hooks["log_metric"](f"{name}/complete_query_groups", float(not seen["incomplete"]))
        if strict and (seen["incomplete"] or "qid" not in all_columns):
            raise RuntimeError(f"reward {name!r} needs complete query groups ({docs_per_query} docs x "
                               f"{num_generations} rollouts); got {seen['incomplete'] or 'no qid column'}. "
                               f"Set group_by_query: true and docs_per_query to the rows per query.")
        rewards = func(prompts=all_prompts, completions=all_completions, completion_ids=all_ids,
                       **all_columns, **fixed, **{k: v for k, v in hooks.items() if k != "environments"})
        start = state.process_index * n_local
        return list(rewards)[start:start + n_local]

    wrapped.calls = calls  # type: ignore[attr-defined]  # a function attribute: grpo's run card and tests read it
    wrapped.__name__ = name
    wrapped.__qualname__ = name
    return wrapped


def grouped_trainer_class():
    """GRPOTrainer whose train sampler keeps query groups together (import-time free of trl)."""
    from trl import GRPOTrainer

    from rl_rerank.compat.trl import CompletionLogpsHook, TrainSamplerHook

    class QueryGroupedGRPOTrainer(TrainSamplerHook, CompletionLogpsHook, GRPOTrainer):
        """The train sampler and the completion log-prob pass change; generation, rewards, advantages and loss
        are TRL's."""

        def __init__(self, *args, docs_per_query: int, queries_per_generation: int, **kwargs):
            self.docs_per_query = docs_per_query
            self.queries_per_generation = queries_per_generation
            super().__init__(*args, **kwargs)

        def completion_logps(self, model, input_ids, attention_mask, logits_to_keep, batch_size, compute_entropy):
            """Completion log-probs with the query's shared prompt prefix computed once per chunk.

            All rollouts of all documents of a query share system prompt, instruction and query, so the
            shared-prefix forward (rank_sft.shared_prefix_forward) replaces TRL's one-pass forward for text
            models; positions come from the attention mask. Anything else (images, MoE aux loss) goes to TRL
            (compat.trl.CompletionLogpsHook).
            """
            import torch

            from rl_rerank.training.rank_sft import shared_prefix_forward

            all_logps, all_entropies = [], []
            for start in range(0, input_ids.size(0), batch_size):
                ids = input_ids[start:start + batch_size]
                mask = attention_mask[start:start + batch_size]
                with self.accelerator.autocast():
                    out = shared_prefix_forward(model, ids, mask, logits_to_keep + 1)
                logits = out.logits[:, :-1].float() / self.temperature  # position t predicts token t + 1
                logprobs = torch.log_softmax(logits, dim=-1)
                targets = ids[:, -logits_to_keep:]
                all_logps.append(logprobs.gather(-1, targets.unsqueeze(-1)).squeeze(-1))
                if compute_entropy:
                    all_entropies.append(-(logprobs.exp() * logprobs).sum(-1))
            entropies = torch.cat(all_entropies, dim=0) if compute_entropy else None
            return torch.cat(all_logps, dim=0), entropies

        def train_sampler(self, dataset):
            return QueryGroupSampler(
                dataset["qid"], self.docs_per_query, self.queries_per_generation, self.num_generations,
                repeat_count=self.num_iterations * self.args.steps_per_generation,
                shuffle=self.shuffle_dataset, seed=self.args.seed)

    return QueryGroupedGRPOTrainer
