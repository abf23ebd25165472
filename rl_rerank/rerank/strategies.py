"""How a paradigm's prompts are spread over a candidate list, batched across queries.

pointwise: one prompt per document, all documents of all queries in one engine call.
listwise:  sliding window (back to front); pass i sends every query's i-th window in one call.
setwise:   top-k selection by tournaments of small sets; every query's sets of one round in one call.
groupwise: shuffled groups, R repeats with reshuffling, scores averaged; all groups in one call.

Model output is untrusted: a window/group/set whose output does not parse keeps its input order, and every
such fallback is counted. Each strategy returns, per request, {docid: score} (higher is better).
A paradigm names its strategy in its `rerank` method; a paradigm defined elsewhere may bring its own.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, TypeGuard

from rl_rerank.data.types import Candidate, Request
from rl_rerank.engines.base import Engine, GenerationSettings
from rl_rerank.paradigms.base import Paradigm, Parsed, ParseStats

# Default reasoning budget at inference: at least the smallest GRPO training budget of the shipped recipes
# (max_completion_length 1024); `rerank --adapter` raises it to the budget the adapter was trained with.
REASONING_TOKENS = 1024


@dataclass
class StrategySettings:
    """Everything (besides model and paradigm) that changes a reranked score: part of the cache key."""

    window: int = 20  # listwise window size
    stride: int = 10  # listwise step between windows
    set_size: int = 4  # setwise documents per comparison
    select_k: int = 10  # setwise: how many top documents to select
    group_size: int = 10  # groupwise documents per group
    repeats: int = 2  # groupwise reshuffled repeats
    seed: int = 0
    max_new_tokens: int | None = None  # None -> by paradigm and reasoning (see new_tokens)
    reasoning_tokens: int = REASONING_TOKENS  # room for <think> before the answer (>= the training budget)
    temperature: float = 0.0

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass
class StrategyStats:
    parse: ParseStats = field(default_factory=ParseStats)
    fallbacks: int = 0  # windows / groups / sets / documents that kept their input order
    prompts: int = 0

    def merge(self, other: StrategyStats) -> None:
        for name in ("ok", "repaired", "failed"):
            setattr(self.parse, name, getattr(self.parse, name) + getattr(other.parse, name))
        for note, n in other.parse.notes.items():
            self.parse.notes[note] = self.parse.notes.get(note, 0) + n
        self.fallbacks += other.fallbacks
        self.prompts += other.prompts

    def as_dict(self) -> dict:
        return {"parse": self.parse.as_dict(), "fallbacks": self.fallbacks, "prompts": self.prompts}


def new_tokens(paradigm: Paradigm, settings: StrategySettings, num_docs: int) -> int:
    """Enough tokens for the answer (the paradigm's answer_tokens, e.g. ~5 per document of a permutation);
    reasoning needs room on top."""
    if settings.max_new_tokens:
        return settings.max_new_tokens
    return paradigm.answer_tokens(num_docs) + (settings.reasoning_tokens if paradigm.reasoning else 0)


def docs_per_prompt(paradigm: Paradigm, settings: StrategySettings) -> int:
    """The most documents one prompt of this paradigm holds under these settings."""
    return paradigm.docs_per_prompt(settings)


def generate(engine: Engine, prompts, paradigm: Paradigm, settings: StrategySettings, num_docs: int):
    """One engine call for `prompts` with the completion budget of `num_docs` documents (for strategies)."""
    gs = GenerationSettings(max_new_tokens=new_tokens(paradigm, settings, num_docs),
                            temperature=settings.temperature, seed=settings.seed)
    return engine.generate(prompts, gs)


def engine_tokenizer(engine: Engine) -> Any:
    """The engine's tokenizer (exact prompt budgets) or None (estimated from characters)."""
    return getattr(engine, "tokenizer", None)


def rank_scores(order: Sequence[Candidate]) -> dict[str, float]:
    """Scores that reproduce a ranking: n for the first document down to 1 for the last."""
    n = len(order)
    return {c.docid: float(n - i) for i, c in enumerate(order)}


def neutral_fill(scores: dict[str, float | None], docs: Sequence[Candidate]) -> dict[str, float]:
    """Give documents without a usable score the query's mean score, in input order (tiny decreasing offsets),
    so a parse failure neither promotes nor buries a document."""
    known = [s for s in scores.values() if s is not None]
    mean = sum(known) / len(known) if known else 0.0
    out = {}
    for i, c in enumerate(docs):
        s = scores.get(c.docid)
        out[c.docid] = float(s) if s is not None else mean - 1e-6 * (i + 1)
    return out


# -- pointwise -------------------------------------------------------------------------------------
def pointwise(engine: Engine, paradigm: Paradigm, requests: Sequence[Request], settings: StrategySettings,
              stats: StrategyStats) -> list[dict[str, float]]:
    """Score every (query, document) pair in one engine call.

    Without reasoning the score comes straight from the label probabilities after the answer prefix.
    With reasoning the model writes its thoughts first; the score is the parsed answer combined (by the
    paradigm) with the probability of that answer given the generated reasoning (ERank: s x P(s)).
    """
    tok = engine_tokenizer(engine)
    pairs = [(ri, c) for ri, req in enumerate(requests) for c in req.candidates]
    prompts = [paradigm.messages(requests[ri].query, [c], tok) for ri, c in pairs]
    stats.prompts += len(prompts)
    labels = list(paradigm.score_labels())
    raw: list[dict[str, float | None]] = [{} for _ in requests]
    if not paradigm.reasoning:
        probs = engine.label_probs(prompts, paradigm.answer_prefix(), labels)
        for (ri, c), dist in zip(pairs, probs, strict=True):
            read = stats.parse.add(paradigm.read_probs({int(k): v for k, v in dist.items()}))
            if not read.usable:  # no mass on any score label: neutral score, counted
                stats.fallbacks += 1
                raw[ri][c.docid] = None
                continue
            raw[ri][c.docid] = float(read.value)
    else:
        gens = generate(engine, prompts, paradigm, settings, 1)
        parsed = [stats.parse.add(paradigm.parse(g.text, 1)) for g in gens]
        marker = paradigm.answer_prefix()
        follow_prompts, follow_prefixes, follow_at = [], [], []
        for k, (g, p) in enumerate(zip(gens, parsed, strict=True)):
            cut = g.text.rfind(marker) if p.usable and marker else -1
            if cut >= 0:  # re-read P(answer | reasoning) as a whole label (handles "10" = "1","0")
                follow_prompts.append(prompts[k])
                end = cut + len(marker)
                rest = g.text[end:]
                end += len(rest) - len(rest.lstrip())  # "<answer> 7": the label starts after the spaces
                follow_prefixes.append(g.text[:end])
                follow_at.append(k)
        probs = engine.label_probs(follow_prompts, follow_prefixes, labels) if follow_prompts else []
        answer_prob = {k: p for k, p in zip(follow_at, probs, strict=True)}
        for k, ((ri, c), p) in enumerate(zip(pairs, parsed, strict=True)):
            if not p.usable:
                stats.fallbacks += 1
                raw[ri][c.docid] = None
                continue
            prob = answer_prob[k].get(str(p.value)) if k in answer_prob else None  # None: score alone
            raw[ri][c.docid] = float(paradigm.score_from_generation(p, prob))
    return [neutral_fill(raw[ri], req.candidates) for ri, req in enumerate(requests)]


# -- listwise --------------------------------------------------------------------------------------
def windows(n: int, window: int, stride: int) -> list[tuple[int, int]]:
    """(start, end) of each sliding window from the back of the list to the front (RankGPT order)."""
    if n <= 0:
        return []
    out = []
    end = n
    while True:
        start = max(0, end - window)
        out.append((start, end))
        if start == 0:
            return out
        end -= stride


def listwise(engine: Engine, paradigm: Paradigm, requests: Sequence[Request], settings: StrategySettings,
             stats: StrategyStats) -> list[dict[str, float]]:
    tok = engine_tokenizer(engine)
    orders = [list(req.candidates) for req in requests]
    plans = [windows(len(o), settings.window, max(1, settings.stride)) for o in orders]
    for step in range(max((len(p) for p in plans), default=0)):
        active = [ri for ri, p in enumerate(plans) if step < len(p)]
        spans = {ri: plans[ri][step] for ri in active}
        prompts = [paradigm.messages(requests[ri].query, orders[ri][spans[ri][0]:spans[ri][1]], tok) for ri in active]
        stats.prompts += len(prompts)
        gens = generate(engine, prompts, paradigm, settings, settings.window)
        for ri, g in zip(active, gens, strict=True):
            start, end = spans[ri]
            docs = orders[ri][start:end]
            p = stats.parse.add(paradigm.parse(g.text, len(docs)))
            perm = p.value if p.usable else None
            if not _is_permutation(perm, len(docs)):
                stats.fallbacks += 1
                continue
            orders[ri][start:end] = [docs[j] for j in perm]
    return [rank_scores(o) for o in orders]


def _is_permutation(perm: Any, n: int) -> TypeGuard[Sequence[int]]:
    return isinstance(perm, (list, tuple)) and sorted(perm) == list(range(n))


# -- setwise ---------------------------------------------------------------------------------------
def setwise(engine: Engine, paradigm: Paradigm, requests: Sequence[Request], settings: StrategySettings,
            stats: StrategyStats) -> list[dict[str, float]]:
    """Select the top `select_k` documents one at a time; each selection is a knockout tournament over
    sets of `set_size` documents (the winner of a set goes to the next round). Unselected documents keep
    their input order below the selected ones."""
    tok = engine_tokenizer(engine)
    remaining = [list(req.candidates) for req in requests]
    chosen: list[list[Candidate]] = [[] for _ in requests]
    size = max(2, settings.set_size)
    for _ in range(settings.select_k):
        pools = {ri: list(r) for ri, r in enumerate(remaining) if r and len(chosen[ri]) < settings.select_k}
        if not pools:
            break
        while any(len(p) > 1 for p in pools.values()):
            jobs = []  # (query index, the set)
            for ri, pool in pools.items():
                if len(pool) > 1:
                    jobs += [(ri, pool[i:i + size]) for i in range(0, len(pool), size)]
            asked = [(ri, docs) for ri, docs in jobs if len(docs) > 1]  # a lone document wins without a prompt
            prompts = [paradigm.messages(requests[ri].query, docs, tok) for ri, docs in asked]
            stats.prompts += len(prompts)
            gens = iter(generate(engine, prompts, paradigm, settings, size))
            winners: dict[int, list[Candidate]] = {ri: [] for ri, p in pools.items() if len(p) > 1}
            for ri, docs in jobs:
                if len(docs) == 1:
                    winners[ri].append(docs[0])
                    continue
                g = next(gens)
                p = stats.parse.add(paradigm.parse(g.text, len(docs)))
                idx = p.value if p.usable and isinstance(p.value, int) and 0 <= p.value < len(docs) else None
                if idx is None:
                    stats.fallbacks += 1
                    idx = 0  # input order: the set's first document wins
                winners[ri].append(docs[idx])
            pools.update(winners)
        for ri, pool in pools.items():
            chosen[ri].append(pool[0])
            remaining[ri] = [c for c in remaining[ri] if c.docid != pool[0].docid]
    return [rank_scores(chosen[ri] + remaining[ri]) for ri in range(len(requests))]


# -- groupwise -------------------------------------------------------------------------------------
def shuffled_groups(docs: Sequence[Candidate], group_size: int, rng: random.Random) -> list[list[Candidate]]:
    order = list(docs)
    rng.shuffle(order)
    size = max(1, group_size)
    return [order[i:i + size] for i in range(0, len(order), size)]


def groupwise(engine: Engine, paradigm: Paradigm, requests: Sequence[Request], settings: StrategySettings,
              stats: StrategyStats) -> list[dict[str, float]]:
    """Shuffle each query's candidates into groups, score every group, repeat with a new shuffle and average
    each document's scores. A group whose output does not parse gives its documents no score; documents
    with no score at all get the query's mean (input order among themselves)."""
    tok = engine_tokenizer(engine)
    jobs = []  # (query index, group)
    for ri, req in enumerate(requests):
        for r in range(max(1, settings.repeats)):
            rng = random.Random(f"{settings.seed}:{req.query.qid}:{r}")  # str seeds are stable across runs
            jobs += [(ri, g) for g in shuffled_groups(req.candidates, settings.group_size, rng)]
    prompts = [paradigm.messages(requests[ri].query, g, tok) for ri, g in jobs]
    stats.prompts += len(prompts)
    gens = generate(engine, prompts, paradigm, settings, settings.group_size)
    sums: list[dict[str, list[float]]] = [{} for _ in requests]
    for (ri, group), g in zip(jobs, gens, strict=True):
        p = stats.parse.add(paradigm.parse(g.text, len(group)))
        scores = paradigm.doc_scores(p, len(group)) if p.usable else None
        if scores is None or len(scores) != len(group):
            stats.fallbacks += 1
            continue
        for c, s in zip(group, scores, strict=True):
            sums[ri].setdefault(c.docid, []).append(float(s))
    out = []
    for ri, req in enumerate(requests):
        means = {c.docid: (sum(v) / len(v) if (v := sums[ri].get(c.docid)) else None) for c in req.candidates}
        out.append(neutral_fill(means, req.candidates))
    return out


def rerank_batch(engine: Engine, paradigm: Paradigm, requests: Sequence[Request], settings: StrategySettings,
                 stats: StrategyStats) -> list[dict[str, float]]:
    """Rerank a batch of requests with the paradigm's own strategy (Paradigm.rerank)."""
    return paradigm.rerank(engine, requests, settings, stats)


__all__ = ["StrategySettings", "StrategyStats", "rerank_batch", "windows", "rank_scores", "neutral_fill",
           "shuffled_groups", "generate", "engine_tokenizer", "Parsed"]
