"""Training examples from sources: pointwise pairs, listwise windows, setwise sets, groupwise groups.

One job: turn per-query pools (datagen/sources.py) into the rows the trainers read, for SFT
(`prompt` + `completion` chat messages) or GRPO (`prompt` + reward columns). Each paradigm picks its builder
in `Paradigm.example_rows`, which gets a `QueryJob` (the query's sampler, the settings, shared counting); the
builders of the packaged paradigms are the `*_rows` functions below. Every random choice (negatives,
group sizes, positions, row order) comes from a generator seeded by (seed, qid), so a query's examples do not
change when other queries are added or removed.

Label rules (documented here because rewards and targets depend on them):
- A document is *positive* when its judged grade >= `min_positive_grade` (default 1). Negatives are sampled
  only among documents that are unjudged or judged <= 0, so a judged positive (any grade > 0) is never a
  negative.
- Pointwise / groupwise SFT targets are integers 0..10: a teacher score when the source has one, otherwise the
  judged grade g mapped by `grade_map` when given, else round-half-up(10 * g / G) with G the highest grade of
  the qrels (binary BEIR: 1 -> 10; TREC DL 0-3: 1 -> 3, 2 -> 7, 3 -> 10); unjudged or g <= 0 -> 0.
- Listwise targets: documents by descending grade, ties kept in prompt (first-stage) order; a teacher
  permutation replaces this when the source has one, with its reasoning.
- GRPO reward columns carry raw grades (max(g, 0)), not mapped scores: rewards compute NDCG from grades.
  Pointwise GRPO rows also carry `label_score`, the grade mapped as for SFT targets (pointwise_error's target).
  The mapping lives in rl_rerank.rewards.grades so the rewards use the very same rule.
"""

from __future__ import annotations

import json
import logging
import random
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from rl_rerank.data._io import iter_jsonl
from rl_rerank.data.atomic import atomic_open
from rl_rerank.data.types import Candidate
from rl_rerank.datagen.sources import DataSource, Pools, QueryPool, load_pools
from rl_rerank.errors import ConfigError, DataError, UserError
from rl_rerank.paradigms.base import DEFAULT_MAX_DOC_TOKENS
from rl_rerank.rewards.grades import grade_to_score

log = logging.getLogger(__name__)

MODES = ("sft", "grpo")


@dataclass
class BuildSettings:
    """How examples are built from a source (embeddable in a trainer's YAML config under `data:`)."""

    paradigm: str = field(default="pointwise", metadata={"help": "a registered paradigm (rl_rerank.paradigms)"})
    mode: str = field(default="sft", metadata={"help": "sft (prompt + completion) or grpo (prompt + reward columns)"})
    reasoning: bool = field(default=False, metadata={"help": "ask for <think> reasoning in prompts and targets"})
    max_doc_tokens: int = field(default=DEFAULT_MAX_DOC_TOKENS,
                                metadata={"help": "documents truncated to this many tokens"})
    seed: int = field(default=0, metadata={"help": "seed for every random choice"})
    shuffle: bool = field(default=True, metadata={
        "help": "shuffle row order (pointwise GRPO: query order only) and document positions in sets/groups"})
    min_positive_grade: int = field(default=1, metadata={"help": "a document is positive when its grade >= this"})
    grade_map: dict | None = field(default=None, metadata={
        "help": "explicit grade -> 0..10 target map, e.g. {0: 0, 1: 3, 2: 7, 3: 10}; default round(10 g / max grade)"})
    max_positives: int | None = field(default=None, metadata={
        "help": "positives used per query (pointwise pairs, setwise sets); None = all"})
    num_hard_negatives: int = field(default=3, metadata={
        "help": "negatives per query (pointwise) / per set or group share, from the first-stage run"})
    num_random_negatives: int = field(default=1, metadata={"help": "negatives drawn at random (see random_from)"})
    hard_depth: int = field(default=30, metadata={"help": "hard negatives are drawn from the run's top N"})
    random_from: str = field(default="corpus", metadata={
        "help": "random negatives from 'corpus' (when the source has one, else run) or 'run'"})
    docs_per_query: int | None = field(default=None, metadata={
        "help": "pointwise: exactly this many documents per query: positives first (max_positives), then "
                "num_random_negatives random and the rest hard negatives; queries that cannot reach it are skipped "
                "and counted. None = positives + num_hard_negatives + num_random_negatives"})
    group_size: int | None = field(default=None, metadata={
        "help": "pointwise SFT with a ranking loss: rows come in groups of one positive + group_size - 1 "
                "negatives (judged below min_positive_grade first, then unjudged hard ones), one group per "
                "positive; rows carry `group` and `label` so the trainer can rank within each group"})
    groups_per_positive: int = field(default=1, metadata={
        "help": "pointwise ranking groups built per positive (each with freshly drawn negatives)"})
    window_size: int = field(default=20, metadata={"help": "listwise window size"})
    window_stride: int = field(default=10, metadata={"help": "listwise: step between windows of one query"})
    windows_per_query: int = field(default=1, metadata={"help": "listwise windows taken from the top of the run"})
    fill_positive: bool = field(default=True, metadata={
        "help": "listwise: a window with no positive gets one judged positive in place of its last document"})
    shuffle_window: bool = field(default=False, metadata={
        "help": "listwise: shuffle prompt order (default keeps first-stage order, as at inference)"})
    set_size: int = field(default=5, metadata={"help": "setwise: documents per set (exactly one positive)"})
    group_min: int = field(default=5, metadata={"help": "groupwise: smallest group size"})
    group_max: int = field(default=20, metadata={"help": "groupwise: largest group size"})
    groups_per_query: int = field(default=1, metadata={"help": "groupwise: groups built per query"})

    def __post_init__(self):
        from rl_rerank.paradigms import paradigm_class

        paradigm_class(self.paradigm)  # ConfigError naming the registered paradigms
        if self.mode not in MODES:
            raise ConfigError(f"mode {self.mode!r} is not one of {MODES}")
        if self.random_from not in ("corpus", "run"):
            raise ConfigError(f"random_from {self.random_from!r} must be 'corpus' or 'run'")
        if not 1 <= self.group_min <= self.group_max:
            raise ConfigError(f"group sizes need 1 <= group_min <= group_max (got {self.group_min}, {self.group_max})")
        if self.group_size is not None and (self.group_size < 2 or self.paradigm != "pointwise"):
            raise ConfigError("group_size (ranking groups) needs paradigm pointwise and a size of at least 2")
        if self.set_size < 2 or self.window_size < 2:
            raise ConfigError("set_size and window_size must be at least 2")
        if self.grade_map is not None:
            self.grade_map = {int(k): int(v) for k, v in self.grade_map.items()}

    @classmethod
    def from_dict(cls, values: dict) -> BuildSettings:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ConfigError(f"unknown data setting(s) {unknown}; known: {sorted(known)}")
        return cls(**values)


@dataclass
class BuildStats:
    """What the builder did, returned with the dataset and logged (nothing is dropped silently)."""

    queries_total: int = 0
    queries_used: int = 0
    no_positive_qids: list[str] = field(default_factory=list)
    too_few_candidates_qids: list[str] = field(default_factory=list)
    examples: int = 0
    documents: int = 0
    positives: int = 0
    negatives: int = 0
    teacher_labelled: int = 0
    with_reasoning: int = 0
    windows_without_positive: int = 0
    positives_without_text: int = 0
    target_histogram: dict[int, int] = field(default_factory=dict)

    def as_dict(self) -> dict:
        d = asdict(self)
        d["no_positive_queries"] = len(self.no_positive_qids)
        d["target_histogram"] = {str(k): v for k, v in sorted(self.target_histogram.items())}
        return d

    def summary(self) -> str:
        return (f"{self.examples} examples from {self.queries_used}/{self.queries_total} queries "
                f"({self.positives} positive / {self.negatives} negative documents); skipped: "
                f"{len(self.no_positive_qids)} queries with no positive, "
                f"{len(self.too_few_candidates_qids)} with too few candidates")


@dataclass
class BuildResult:
    dataset: Any  # datasets.Dataset
    stats: BuildStats


# ------------------------------------------------------------------------------------------ label rules


def listwise_order(grades: Sequence[int]) -> list[int]:
    """Prompt positions by descending grade, ties in prompt order (the listwise SFT target)."""
    return sorted(range(len(grades)), key=lambda i: (-grades[i], i))


def order_to_labels(order: Sequence[int]) -> list[int]:
    """Strict labels (n-1 for the first position of `order`, ... 0 for the last) that reproduce `order`."""
    n = len(order)
    labels = [0] * n
    for rank, idx in enumerate(order):
        labels[idx] = n - 1 - rank
    return labels


# ------------------------------------------------------------------------------------------ sampling


class QuerySampler:
    """Positives and negatives of one query, with a generator seeded by (seed, qid); builders draw from it."""

    def __init__(self, pool: QueryPool, pools: Pools, settings: BuildSettings):
        self.pool, self.pools, self.s = pool, pools, settings
        self.rng = random.Random(f"{settings.seed}:{pool.query.qid}")
        self.judged_positive = {d for d, g in pool.labels.items() if g > 0}
        wanted = [d for d, g in pool.labels.items() if g >= settings.min_positive_grade]
        # positives in first-stage order first, then the rest in qrels order (deterministic)
        rank = {c.docid: i for i, c in enumerate(pool.candidates)}
        wanted.sort(key=lambda d: rank.get(d, len(rank)))
        self.positives: list[Candidate] = []
        self.missing_text = 0
        for d in wanted:
            doc = pool.doc(d, pools.corpus)
            if doc is None:
                self.missing_text += 1
            else:
                self.positives.append(doc)

    def grade(self, docid: str) -> int:
        return max(0, int(self.pool.labels.get(docid, 0)))

    def hard_pool(self) -> list[Candidate]:
        return [c for c in self.pool.candidates[: self.s.hard_depth] if c.docid not in self.judged_positive]

    def random_pool(self) -> list[Candidate] | None:
        if self.s.random_from == "corpus" and self.pools.corpus:
            return None  # sampled lazily from the corpus (too big to list per query)
        return [c for c in self.pool.candidates if c.docid not in self.judged_positive]

    def negatives(self, n_hard: int, n_random: int, exclude: set[str]) -> list[Candidate]:
        """n_hard from the run's top, n_random at random; a shortfall in one kind is filled from the other."""
        taken: list[Candidate] = []
        seen = set(exclude)
        hard = [c for c in self.hard_pool() if c.docid not in seen]
        k = min(n_hard, len(hard))
        for c in self.rng.sample(hard, k):
            taken.append(c)
            seen.add(c.docid)
        taken += self._random(n_random + (n_hard - k), seen)
        if len(taken) < n_hard + n_random:  # random side ran short: more hard ones
            rest = [c for c in self.pool.candidates if c.docid not in seen and c.docid not in self.judged_positive]
            rest = list({c.docid: c for c in rest}.values())
            need = n_hard + n_random - len(taken)
            taken += self.rng.sample(rest, min(need, len(rest)))
        return taken

    def _random(self, n: int, seen: set[str]) -> list[Candidate]:
        if n <= 0:
            return []
        pool = self.random_pool()
        out: list[Candidate] = []
        if pool is None:
            corpus = self.pools.corpus
            assert corpus is not None  # random_pool() is None only when sampling from the corpus
            ids = self.pools.corpus_ids()
            tries = 0
            while len(out) < n and tries < 50 * n:
                tries += 1
                d = ids[self.rng.randrange(len(ids))]
                if d in seen or d in self.judged_positive:
                    continue
                seen.add(d)
                out.append(corpus[d])
            return out
        pool = [c for c in pool if c.docid not in seen]
        out = self.rng.sample(pool, min(n, len(pool)))
        seen.update(c.docid for c in out)
        return out


# ------------------------------------------------------------------------------------------ builders


def _target_score(pool: QueryPool, docid: str, pools: Pools, settings: BuildSettings) -> tuple[int, str | None]:
    teacher = pool.teacher_scores.get(docid)
    if teacher is not None:
        return int(teacher.score), teacher.reasoning
    return grade_to_score(pool.labels.get(docid), pools.max_grade, settings.grade_map), None


@dataclass
class QueryJob:
    """One query's share of a build, handed to `Paradigm.example_rows`: the seeded sampler, the settings, and
    the counting every builder shares (so BuildStats mean the same for every paradigm)."""

    sampler: QuerySampler
    settings: BuildSettings
    pools: Pools
    stats: BuildStats
    tokenizer: Any = None
    ref_scores: dict[tuple[str, str], float] | None = None

    @property
    def pool(self) -> QueryPool:
        return self.sampler.pool

    @property
    def query(self):
        return self.sampler.pool.query

    def count(self, docids: Sequence[str]) -> None:
        """Count documents put in rows as positives or negatives (by min_positive_grade)."""
        for d in docids:
            if self.sampler.grade(d) >= self.settings.min_positive_grade:
                self.stats.positives += 1
            else:
                self.stats.negatives += 1
        self.stats.documents += len(docids)

    def target_score(self, docid: str) -> tuple[int, str | None]:
        """The 0..10 target of a document (teacher score, else mapped grade) and the teacher's reasoning,
        counted in the target histogram."""
        score, reasoning = _target_score(self.pool, docid, self.pools, self.settings)
        self.stats.target_histogram[score] = self.stats.target_histogram.get(score, 0) + 1
        return score, reasoning

    def group_row(self, paradigm, docs: Sequence[Candidate], targets: Sequence[int],
                  reasoning: str | None = None) -> dict:
        """A row over several documents: prompt, docids, judged grades as `labels`; SFT adds the completion for
        `targets` (the paradigm's labels, prompt order). The documents are counted."""
        grades = [self.sampler.grade(d.docid) for d in docs]
        row = {"prompt": paradigm.messages(self.query, docs, self.tokenizer), "qid": self.query.qid,
               "docids": [d.docid for d in docs], "labels": grades}
        if self.settings.mode == "sft":
            row["completion"] = [{"role": "assistant", "content": paradigm.target(list(targets), reasoning)}]
            row["targets"] = list(targets)
        self.count([d.docid for d in docs])
        return row


def _pointwise_docs(sampler: QuerySampler, settings: BuildSettings, stats: BuildStats) -> list[Candidate] | None:
    pool = sampler.pool
    if pool.teacher_scores:  # teacher-labelled pairs are the examples, as labelled
        return [c for c in pool.candidates if c.docid in pool.teacher_scores]
    pos = sampler.positives[: settings.max_positives] if settings.max_positives else list(sampler.positives)
    if settings.docs_per_query is not None:
        pos = pos[: settings.docs_per_query]
        need = settings.docs_per_query - len(pos)
        n_rand = min(settings.num_random_negatives, need)
        neg = sampler.negatives(need - n_rand, n_rand, {c.docid for c in pos})
        if len(neg) < need:
            return None
    else:
        neg = sampler.negatives(settings.num_hard_negatives, settings.num_random_negatives, {c.docid for c in pos})
    docs = pos + neg
    if settings.shuffle:
        sampler.rng.shuffle(docs)
    return docs


def _pointwise_groups(sampler: QuerySampler, settings: BuildSettings) -> list[list[Candidate]] | None:
    """One group per positive (x groups_per_positive): the positive first, then group_size - 1 negatives.

    Negatives are judged documents below min_positive_grade first (the strongest signal: a judge looked at them
    and found them less relevant), topped up with unjudged documents from the run's top hard_depth. Graded
    negatives (e.g. TREC grade 1 when positives need 2) keep their grade, so the ranking loss sees three levels.
    """
    pool = sampler.pool
    pos = sampler.positives[: settings.max_positives] if settings.max_positives else list(sampler.positives)
    pos_ids = {c.docid for c in pos}
    judged = []
    for d, g in sorted(pool.labels.items()):
        if g < settings.min_positive_grade and d not in pos_ids:
            doc = pool.doc(d, sampler.pools.corpus)
            if doc is not None:
                judged.append(doc)
    unjudged = [c for c in pool.candidates[: settings.hard_depth] if c.docid not in pool.labels]
    assert settings.group_size is not None  # only called with ranking groups on
    need = settings.group_size - 1
    if len(judged) + len(unjudged) < need:
        return None
    groups = []
    for p in pos:
        for _ in range(settings.groups_per_positive):
            neg = sampler.rng.sample(judged, min(need, len(judged)))
            if len(neg) < need:
                neg += sampler.rng.sample(unjudged, need - len(neg))
            groups.append([p] + neg)
    return groups


def _listwise_windows(sampler: QuerySampler, settings: BuildSettings,
                      stats: BuildStats) -> list[tuple[list[Candidate], list[int] | None, str | None]]:
    """(docs in prompt order, teacher order or None, reasoning) per window."""
    pool = sampler.pool
    if pool.teacher_lists:
        out: list[tuple[list[Candidate], list[int] | None, str | None]] = []
        first = {c.docid: c for c in reversed(pool.candidates)}  # reading a teacher list adds its docs here
        for tl in pool.teacher_lists:
            docs = [first[d] for d in tl.docids]
            pos = {d: i for i, d in enumerate(tl.docids)}
            out.append((docs, [pos[d] for d in tl.ranking], tl.reasoning))
        return out
    out = []
    cands = pool.candidates
    positive_ids = {c.docid for c in sampler.positives}
    for w in range(settings.windows_per_query):
        start = w * settings.window_stride
        window = list(cands[start:start + settings.window_size])
        if len(window) < 2 or (w > 0 and start >= len(cands)):
            break
        if not any(c.docid in positive_ids for c in window):
            if settings.fill_positive and sampler.positives:
                if len(window) == settings.window_size:
                    window[-1] = sampler.positives[0]  # the best-ranked positive, at the bottom of the window
                else:
                    window.append(sampler.positives[0])
            else:
                stats.windows_without_positive += 1
                continue
        if settings.shuffle_window:
            sampler.rng.shuffle(window)
        out.append((window, None, None))
    return out


def _setwise_sets(sampler: QuerySampler, settings: BuildSettings) -> list[list[Candidate]] | None:
    pos = sampler.positives[: settings.max_positives] if settings.max_positives else list(sampler.positives)
    sets = []
    n_neg = settings.set_size - 1
    n_rand = min(settings.num_random_negatives, n_neg)
    for p in pos:
        neg = sampler.negatives(n_neg - n_rand, n_rand, {p.docid})
        if len(neg) < n_neg:
            return None
        docs = [p] + neg
        if settings.shuffle:
            sampler.rng.shuffle(docs)
        sets.append(docs)
    return sets


def _groupwise_groups(sampler: QuerySampler, settings: BuildSettings) -> list[list[Candidate]] | None:
    groups = []
    for _ in range(settings.groups_per_query):
        size = sampler.rng.randint(settings.group_min, settings.group_max)
        pos = list(sampler.positives)
        sampler.rng.shuffle(pos)
        pos = pos[: max(1, size // 2)]  # at most half the group positive, at least one
        need = size - len(pos)
        n_rand = min(settings.num_random_negatives, need)
        neg = sampler.negatives(need - n_rand, n_rand, {c.docid for c in pos})
        if len(pos) + len(neg) < settings.group_min:
            return None
        docs = pos + neg
        if settings.shuffle:
            sampler.rng.shuffle(docs)
        groups.append(docs)
    return groups


def build_examples(pools: Pools, settings: BuildSettings, paradigm=None, tokenizer=None,
                   ref_scores: dict[tuple[str, str], float] | None = None) -> BuildResult:
    """Rows for the trainer from pools. `paradigm` defaults to get_paradigm(settings.paradigm, ...).

    Raises UserError when no query has a positive (nothing to train on), before any model is loaded.
    """
    if paradigm is None:
        from rl_rerank.paradigms import get_paradigm

        paradigm = get_paradigm(settings.paradigm, reasoning=settings.reasoning,
                                max_doc_tokens=settings.max_doc_tokens)
    stats = BuildStats(queries_total=len(pools.queries))
    per_query: list[list[dict]] = []
    for pool in pools.queries:
        sampler = QuerySampler(pool, pools, settings)
        stats.positives_without_text += sampler.missing_text
        teacher_only = bool(pool.teacher_scores or pool.teacher_lists)
        if not sampler.positives and not (teacher_only and paradigm.teacher_labels is not None):
            stats.no_positive_qids.append(pool.query.qid)
            continue
        rows = paradigm.example_rows(QueryJob(sampler, settings, pools, stats, tokenizer, ref_scores))
        if rows is None:
            stats.too_few_candidates_qids.append(pool.query.qid)
            continue
        if rows:
            per_query.append(rows)
            stats.queries_used += 1
    if stats.no_positive_qids:
        log.warning("%d of %d queries have no positive document and were skipped: %s", len(stats.no_positive_qids),
                    stats.queries_total, ", ".join(stats.no_positive_qids[:10]) +
                    (" ..." if len(stats.no_positive_qids) > 10 else ""))
    if not per_query:
        raise UserError(f"no training examples from {pools.origin or 'the source'}: "
                        f"{len(stats.no_positive_qids)} of {stats.queries_total} queries have no positive document, "
                        f"{len(stats.too_few_candidates_qids)} too few candidates; check the qrels and the run")
    rng = random.Random(f"{settings.seed}:order")
    if settings.shuffle:
        rng.shuffle(per_query)  # query order; documents of a query stay contiguous
    rows = [r for q in per_query for r in q]
    if settings.shuffle and not (paradigm.single_document and settings.mode == "grpo"):
        rng.shuffle(rows)  # single-document GRPO rows stay query-contiguous (query groups)
    stats.examples = len(rows)
    log.info("built %s", stats.summary())
    return BuildResult(_to_dataset(rows), stats)


def pointwise_rows(paradigm, job: QueryJob) -> list[dict] | None:
    """One row per (query, document): sampled pairs, teacher-labelled pairs, or (SFT with group_size) ranking
    groups of one positive and its negatives."""
    s, sampler, q = job.settings, job.sampler, job.query
    rows: list[dict] = []
    if s.group_size is not None and s.mode == "sft":
        groups = _pointwise_groups(sampler, s)
        if not groups:
            return None
        for k, group in enumerate(groups):
            job.count([d.docid for d in group])
            for d in group:
                score, reasoning = job.target_score(d.docid)
                rows.append({"prompt": paradigm.messages(q, [d], job.tokenizer), "qid": q.qid, "docid": d.docid,
                             "label": sampler.grade(d.docid), "group": f"{q.qid}#{k}", "target": score,
                             "completion": [{"role": "assistant", "content": paradigm.target([score], reasoning)}]})
        return rows
    docs = _pointwise_docs(sampler, s, job.stats)
    if not docs:
        return None
    job.count([d.docid for d in docs])
    for d in docs:
        score, reasoning = job.target_score(d.docid)
        teacher = job.pool.teacher_scores.get(d.docid)
        job.stats.teacher_labelled += teacher is not None
        job.stats.with_reasoning += bool(reasoning)
        row = {"prompt": paradigm.messages(q, [d], job.tokenizer), "qid": q.qid, "docid": d.docid,
               "label": sampler.grade(d.docid)}
        if s.mode == "sft":
            row["completion"] = [{"role": "assistant", "content": paradigm.target([score], reasoning)}]
            row["target"] = score
        else:
            row["teacher_score"] = float(teacher.score) if teacher is not None else None
            row["ref_score"] = job.ref_scores.get((q.qid, d.docid)) if job.ref_scores else None
            # the grade on the SFT targets' 0..10 scale, for rewards that compare a score with it
            row["label_score"] = grade_to_score(job.pool.labels.get(d.docid), job.pools.max_grade, s.grade_map)
            row["docs_per_query"] = len(docs)
        rows.append(row)
    return rows


def listwise_rows(paradigm, job: QueryJob) -> list[dict]:
    """One row per window: the teacher's permutation when labelled, else documents by descending grade."""
    rows = []
    for docs, teacher_order, reasoning in _listwise_windows(job.sampler, job.settings, job.stats):
        grades = [job.sampler.grade(d.docid) for d in docs]
        order = teacher_order if teacher_order is not None else listwise_order(grades)
        job.stats.teacher_labelled += teacher_order is not None
        job.stats.with_reasoning += bool(reasoning)
        rows.append(job.group_row(paradigm, docs, order_to_labels(order), reasoning))
    return rows


def setwise_rows(paradigm, job: QueryJob) -> list[dict] | None:
    """One row per set of one positive and set_size - 1 negatives; the target is the judged grades."""
    sets = _setwise_sets(job.sampler, job.settings)
    if sets is None:
        return None
    return [job.group_row(paradigm, docs, [job.sampler.grade(d.docid) for d in docs]) for docs in sets]


def groupwise_rows(paradigm, job: QueryJob) -> list[dict] | None:
    """One row per group; every document's target is its 0..10 score (teacher, else mapped grade)."""
    groups = _groupwise_groups(job.sampler, job.settings)
    if groups is None:
        return None
    return [job.group_row(paradigm, docs, [job.target_score(d.docid)[0] for d in docs]) for docs in groups]


def neutralize_rows(ds, tokenizer=None):
    """Prebuilt rows with every message's text neutralised (paradigms.specials.neutralize_specials): rows
    written by another tool, or by hand, cannot smuggle special tokens into TRL's tokenization either.
    Rows built here are already neutral (idempotent)."""
    from rl_rerank.paradigms.specials import neutralize_specials, special_strings

    specials = special_strings(tokenizer)
    columns = [c for c in ("prompt", "completion") if c in ds.column_names]

    def fix(row: dict) -> dict:
        return {c: [{**m, "content": neutralize_specials(m["content"], specials)}
                    if isinstance(m, dict) and isinstance(m.get("content"), str) else m for m in row[c]]
                for c in columns if isinstance(row[c], list)}

    return ds.map(fix) if columns else ds


def _to_dataset(rows: list[dict]):
    from datasets import Dataset

    return Dataset.from_list(rows)


# ------------------------------------------------------------------------------------------ label plan


@dataclass
class PlannedItem:
    """One unit for a teacher to label: a (query, document) pair or a listwise window, with judged grades."""

    query: Any  # Query
    docs: list[Candidate]
    grades: list[int]


def plan_items(pools: Pools, settings: BuildSettings) -> tuple[list[PlannedItem], BuildStats]:
    """The pairs (paradigms whose teacher labels are scores) or windows (lists) a teacher should label, chosen by
    the same seeded sampling as the builders, in a fixed order (queries in source order, a query's documents
    contiguous)."""
    kind = teacher_labels_of(settings.paradigm)
    stats = BuildStats(queries_total=len(pools.queries))
    items: list[PlannedItem] = []
    for pool in pools.queries:
        sampler = QuerySampler(pool, pools, settings)
        if not sampler.positives:
            stats.no_positive_qids.append(pool.query.qid)
            continue
        if kind == "scores":
            docs = _pointwise_docs(sampler, settings, stats)
            if not docs:
                stats.too_few_candidates_qids.append(pool.query.qid)
                continue
            items += [PlannedItem(pool.query, [d], [sampler.grade(d.docid)]) for d in docs]
        else:
            windows = [w for w, order, _ in _listwise_windows(sampler, settings, stats) if order is None]
            items += [PlannedItem(pool.query, w, [sampler.grade(d.docid) for d in w]) for w in windows]
        stats.queries_used += 1
    if stats.no_positive_qids:
        log.warning("%d of %d queries have no positive document and are not labelled", len(stats.no_positive_qids),
                    stats.queries_total)
    stats.examples = len(items)
    return items, stats


def teacher_labels_of(paradigm: str) -> str:
    """What a teacher labels for this paradigm ("scores" or "lists"); ConfigError when it cannot be labelled."""
    from rl_rerank.paradigms import PARADIGMS, paradigm_class, paradigm_names

    kind = paradigm_class(paradigm).teacher_labels
    if kind is None:
        able = [n for n in paradigm_names() if PARADIGMS[n].teacher_labels is not None]
        raise ConfigError(f"teacher labelling supports {', '.join(able)}, not {paradigm!r}")
    return kind


# ------------------------------------------------------------------------------------------ one call


def build_from_source(source: DataSource, settings: BuildSettings, paradigm=None, tokenizer=None,
                      ref_scores=None) -> BuildResult:
    """Read the source and build rows: what the trainers call with their YAML's `data:` section."""
    return build_examples(load_pools(source), settings, paradigm, tokenizer, ref_scores)


# ------------------------------------------------------------------------------------------ JSONL I/O


def write_built(path: str | Path, rows: Iterable[dict] | Any) -> int:
    """Write built rows (a Dataset or dicts) as JSONL, atomically. Returns the number of rows."""
    n = 0
    with atomic_open(path) as fh:
        for row in rows:
            fh.write(json.dumps(dict(row), ensure_ascii=False) + "\n")
            n += 1
    return n


def is_built_jsonl(path: str | Path) -> bool:
    """Does this .jsonl hold built rows (its first record has a chat `prompt`)? Never raises: a file that
    is not one is read by whoever asked next, with that reader's errors."""
    path = Path(path)
    if not path.is_file() or path.suffix != ".jsonl":
        return False
    for _, obj in iter_jsonl(path, skipped=[]):
        return "prompt" in obj
    return False


def read_built(path: str | Path):
    """Built JSONL -> datasets.Dataset; DataError naming the line when a row lacks a chat `prompt`."""
    rows = []
    for n, obj in iter_jsonl(path):
        prompt = obj.get("prompt")
        ok = isinstance(prompt, list) and prompt and all(isinstance(m, dict) and "role" in m and "content" in m
                                                         for m in prompt)
        comp = obj.get("completion")
        if comp is not None and not (isinstance(comp, list) and all(isinstance(m, dict) for m in comp)):
            ok = False
        if not ok:
            raise DataError(path, n, "a row with `prompt` (list of {role, content} messages) and optional "
                                     "`completion` (list of messages)")
        rows.append(obj)
    if not rows:
        raise DataError(path, None, "at least one row")
    return _to_dataset(rows)


# ------------------------------------------------------------------------------------------ trainer entry


def _split_build_kwargs(kwargs: dict) -> tuple[DataSource, dict]:
    """Flat `data.build` keys of a recipe -> (DataSource, BuildSettings keys); unknown keys fail loudly."""
    source_keys = {f.name for f in fields(DataSource)}
    build_keys = {f.name for f in fields(BuildSettings)}
    nested = kwargs.pop("source", None)
    unknown = sorted(set(kwargs) - source_keys - build_keys - {"tokenizer"})
    if unknown:
        raise ConfigError(f"data.build: unknown key(s) {unknown}; source keys: {sorted(source_keys)}; "
                          f"build keys: {sorted(build_keys)}")
    src = dict(nested or {})
    src.update({k: v for k, v in kwargs.items() if k in source_keys})
    if "path" not in src:
        raise ConfigError("data.build: give `path` (BEIR folder, TREC run, request file or labelled JSONL)")
    return DataSource(**src), {k: v for k, v in kwargs.items() if k in build_keys}


def _build_for(mode: str, paradigm, kwargs: dict):
    tokenizer = kwargs.pop("tokenizer", None)
    source, build = _split_build_kwargs(dict(kwargs))
    build["mode"] = mode
    obj = None
    if isinstance(paradigm, str):
        build["paradigm"] = paradigm
    elif paradigm is not None:
        build["paradigm"], obj = paradigm.name, paradigm
    return build_from_source(source, BuildSettings(**build), obj, tokenizer).dataset


def build_sft_dataset(paradigm="pointwise", **kwargs):
    """SFT rows (prompt, completion, metadata) from flat recipe keys: DataSource fields + BuildSettings fields."""
    return _build_for("sft", paradigm, kwargs)


def build_grpo_dataset(paradigm="pointwise", **kwargs):
    """GRPO rows (prompt + reward columns) from flat recipe keys: DataSource fields + BuildSettings fields."""
    return _build_for("grpo", paradigm, kwargs)
