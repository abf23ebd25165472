"""Training sources -> per-query pools (query, first-stage candidates, judged labels, teacher labels).

Builders (datagen/examples.py) never read files: they sample from pools. This module is the one place where a
DataSource (BEIR folder, TREC run + qrels + texts, rank_llm requests + qrels, teacher-labelled JSONL) becomes
pools, using the readers of rl_rerank.data (formats guessed by rl_rerank.data.auto) and rl_rerank.retrieval's BM25.
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass, field
from pathlib import Path

from rl_rerank.data._io import first_char, iter_jsonl
from rl_rerank.data.auto import iter_docs, read_qrels_auto, read_queries_auto, trec_dl_folder
from rl_rerank.data.types import Candidate, Qrels, Query, Request
from rl_rerank.errors import ConfigError, DataError

log = logging.getLogger(__name__)

SOURCE_KINDS = ("auto", "beir", "trec", "requests", "labelled")
LABELLED_FORMAT = "rl_rerank.labelled/1"  # value of the "format" key on every teacher-labelled JSONL line


@dataclass
class DataSource:
    """Where training queries, candidates and labels come from (embeddable in a YAML config).

    kind=beir: `path` is a BEIR folder (corpus.jsonl, queries.jsonl, qrels/<split>.tsv); candidates from `run`
    (TREC run) or, when no run is given, BM25 top-`depth` over the corpus. kind=trec: `path` (or `run`) is a
    TREC run, with `qrels`, `corpus` (BEIR folder or corpus.jsonl) and `topics` (TSV or queries.jsonl).
    kind=requests: `path` is a rank_llm request file (JSON list or JSONL), labels from `qrels`.
    kind=labelled: `path` is a teacher-labelled JSONL written by `rl-rerank label`.
    """

    path: str = field(metadata={"help": "BEIR folder, TREC run, rank_llm request file or labelled JSONL"})
    kind: str = field(default="auto", metadata={"help": f"one of {SOURCE_KINDS}; auto guesses from the path"})
    split: str = field(default="train", metadata={"help": "BEIR qrels split (qrels/<split>.tsv)"})
    qrels: str | None = field(default=None, metadata={"help": "TREC or BEIR qrels file (labels)"})
    run: str | None = field(default=None, metadata={"help": "first-stage TREC run (BEIR: BM25 when omitted)"})
    corpus: str | None = field(default=None, metadata={
        "help": "document texts: BEIR folder or corpus.jsonl (TREC runs; random negatives)"})
    topics: str | None = field(default=None, metadata={"help": "query texts: topics TSV or BEIR queries.jsonl"})
    depth: int = field(default=100, metadata={"help": "first-stage candidates kept per query"})
    max_queries: int | None = field(default=None, metadata={"help": "use only the first N labelled queries"})
    instruction: str | None = field(default=None, metadata={"help": "task instruction shown with every query"})
    random_pool_size: int = field(default=5000, metadata={
        "help": "random negatives come from a seeded sample of this many corpus documents (one streaming pass)"})
    query_split: str | None = field(default=None, metadata={
        "help": "train | dev | null: keep only one side of a hashed query split (rl_rerank.data.splits), so "
                "settings can be chosen on held-out training queries"})
    dev_fraction: float = field(default=0.2, metadata={"help": "share of queries on the dev side of query_split"})
    split_seed: int = field(default=0, metadata={"help": "seed of the hashed query split"})

    def __post_init__(self):
        if self.kind not in SOURCE_KINDS:
            raise ConfigError(f"data source kind {self.kind!r} is not one of {SOURCE_KINDS}")
        if self.query_split not in (None, "train", "dev"):
            raise ConfigError(f"data source query_split {self.query_split!r} must be train, dev or null")
        if not 0.0 <= float(self.dev_fraction) < 1.0:
            raise ConfigError(f"data source dev_fraction must be in [0, 1), got {self.dev_fraction!r}")

    def keeps(self, qid: str) -> bool:
        """Is this query on the side of the split the source asks for?"""
        from rl_rerank.data.splits import in_split

        return in_split(qid, self.query_split, self.dev_fraction, self.split_seed)


@dataclass
class TeacherScore:
    """A teacher's pointwise score for one pair (consensus of `samples`), with the kept sample's reasoning."""

    score: int
    reasoning: str | None = None
    samples: list[int] = field(default_factory=list)


@dataclass
class TeacherList:
    """A teacher's ranking of one window: docids in prompt order and the kept permutation (best first)."""

    docids: list[str]
    ranking: list[str]
    reasoning: str | None = None
    ndcg: float | None = None


@dataclass
class QueryPool:
    """Everything known about one training query."""

    query: Query
    candidates: list[Candidate]  # first-stage order, best first
    labels: dict[str, int] = field(default_factory=dict)  # judged grades (qrels)
    teacher_scores: dict[str, TeacherScore] = field(default_factory=dict)
    teacher_lists: list[TeacherList] = field(default_factory=list)
    docs: dict[str, Candidate] = field(default_factory=dict)  # texts of judged docs outside the run

    def doc(self, docid: str, corpus: dict[str, Candidate] | None = None) -> Candidate | None:
        for c in self.candidates:
            if c.docid == docid:
                return c
        if docid in self.docs:
            return self.docs[docid]
        return corpus.get(docid) if corpus else None


@dataclass
class Pools:
    queries: list[QueryPool]
    corpus: dict[str, Candidate] | None = None  # corpus sample for random negatives (None: sample from runs)
    max_grade: int = 1  # highest grade in the labels, for the grade -> 0..10 mapping
    origin: str = ""
    _corpus_ids: list[str] | None = field(default=None, repr=False, compare=False)

    def corpus_ids(self) -> list[str]:
        """Sorted ids of the corpus sample (sorted so seeded draws do not depend on dict order)."""
        if self._corpus_ids is None:
            self._corpus_ids = sorted(self.corpus or {})
        return self._corpus_ids


# ----------------------------------------------------------------------------------------------- readers


def _read_texts(corpus: str | Path, wanted: set[str], sample_size: int,
                seed: str) -> tuple[dict[str, Candidate], dict[str, Candidate]]:
    """One streaming pass over a corpus (BEIR or BRIGHT documents): the `wanted` documents, and a seeded
    reservoir sample of `sample_size` documents to draw random negatives from (so corpora of any size stay
    out of memory)."""
    import random

    rng = random.Random(seed)
    found: dict[str, Candidate] = {}
    sample: list[Candidate] = []
    for n, doc in enumerate(iter_docs(corpus)):
        if doc.docid in wanted:
            found[doc.docid] = doc
        if len(sample) < sample_size:
            sample.append(doc)
        else:
            j = rng.randrange(n + 1)
            if j < sample_size:
                sample[j] = doc
    return found, {d.docid: d for d in sample}


def _read_run(path: str | Path):
    from rl_rerank.data.trec import read_run

    return read_run(path)


def _read_requests(path: str | Path) -> list[Request]:
    from rl_rerank.data.rank_llm import read_requests

    return read_requests(path)


def _bm25_run(corpus_dir: Path, queries: dict[str, Query], depth: int):
    from rl_rerank.retrieval.bm25 import bm25_run

    # big batches: each retrieve call spreads its queries over all cores (n_threads=-1 in search)
    return bm25_run(corpus_dir, list(queries.values()), k=depth, batch_size=1024, progress=False)


# ----------------------------------------------------------------------------------------------- loading


def guess_kind(path: str | Path) -> str:
    """beir (a folder), labelled (JSON lines whose first record carries LABELLED_FORMAT), requests (other
    .json/.jsonl[.gz]) or trec (anything else: a run file)."""
    path = Path(path)
    if path.is_dir():
        return "beir"
    if not path.exists():
        raise DataError(path, None, "file or folder not found")
    if path.name.endswith((".json", ".jsonl", ".jsonl.gz")):
        if first_char(path) == "{":
            for _, rec in iter_jsonl(path):
                return "labelled" if rec.get("format") == LABELLED_FORMAT else "requests"
        return "requests"
    return "trec"


def load_pools(source: DataSource) -> Pools:
    """Read a DataSource into pools. Raises DataError on unreadable input, never returns half-read data."""
    dl = trec_dl_folder(source.path) if source.kind in ("auto", "requests") else None
    if dl is not None:  # a TREC-DL folder: its BM25 request file with texts, labels from its qrels
        qrels = source.qrels or (str(dl[1]) if dl[1] else None)
        source = dataclasses.replace(source, path=str(dl[0]), qrels=qrels, kind="requests")
    kind = guess_kind(source.path) if source.kind == "auto" else source.kind
    if kind == "beir":
        pools = _load_beir(source)
    elif kind == "trec":
        pools = _load_trec(source)
    elif kind == "requests":
        pools = _load_requests(source)
    else:
        pools = read_labelled(source.path)
    pools.queries = [p for p in pools.queries if source.keeps(p.query.qid)]
    if source.instruction:
        for p in pools.queries:
            p.query.instruction = p.query.instruction or source.instruction
    if source.max_queries is not None:
        pools.queries = pools.queries[: source.max_queries]
    if not pools.queries:
        raise DataError(source.path, None, "at least one query with labels (qrels) or teacher labels")
    return pools


def _max_grade(qrels: Qrels) -> int:
    grades = [g for docs in qrels.values() for g in docs.values()]
    return max([1] + grades)


def _pools_from_run(queries: dict[str, Query], qrels: Qrels, run, corpus_path: str | Path, source: DataSource,
                    origin: str) -> Pools:
    from rl_rerank.data.types import ranked_docids

    qids = [q for q in qrels if q in queries and source.keeps(q)]  # qrels order: labelled queries train
    if source.max_queries is not None:
        qids = qids[: source.max_queries]
    ranked = {q: ranked_docids(run.get(q, {}))[: source.depth] for q in qids}
    wanted = {d for q in qids for d in ranked[q]} | {d for q in qids for d in qrels[q]}
    texts, sample = _read_texts(corpus_path, wanted, source.random_pool_size, f"{origin}:reservoir")
    out = []
    for qid in qids:
        cands = []
        for rank, docid in enumerate(ranked[qid], start=1):
            doc = texts.get(docid)
            if doc is not None:
                cands.append(Candidate(docid, doc.text, doc.title, run[qid][docid], rank))
        extra = {d: texts[d] for d in qrels[qid] if d in texts}
        out.append(QueryPool(queries[qid], cands, dict(qrels[qid]), docs=extra))
    return Pools(out, sample or None, _max_grade(qrels), origin)


def _load_beir(source: DataSource) -> Pools:
    folder = Path(source.path)
    if not (folder / "corpus.jsonl").is_file():
        raise DataError(folder, None, "a BEIR folder with corpus.jsonl, queries.jsonl and qrels/<split>.tsv")
    queries = read_queries_auto(source.topics or folder)
    qrels_path = Path(source.qrels) if source.qrels else folder / "qrels" / f"{source.split}.tsv"
    if not qrels_path.is_file():
        raise DataError(qrels_path, None, f"qrels for split {source.split!r}")
    qrels = read_qrels_auto(qrels_path)
    if source.run:
        run = _read_run(source.run)
    else:
        qids = [q for q in qrels if q in queries and source.keeps(q)][: source.max_queries]
        run = _bm25_run(folder, {q: queries[q] for q in qids}, source.depth)
    return _pools_from_run(queries, qrels, run, folder, source, f"beir:{folder}")


def _load_trec(source: DataSource) -> Pools:
    run_path = source.run or source.path
    if not (source.qrels and source.corpus and source.topics):
        raise ConfigError("a TREC run source needs qrels, corpus (texts) and topics (query texts)")
    queries = read_queries_auto(source.topics)
    qrels = read_qrels_auto(source.qrels)
    run = _read_run(run_path)
    return _pools_from_run(queries, qrels, run, source.corpus, source, f"trec:{run_path}")


def _load_requests(source: DataSource) -> Pools:
    if not source.qrels:
        raise ConfigError("a rank_llm request source needs qrels (labels)")
    requests = _read_requests(source.path)
    qrels = read_qrels_auto(source.qrels)
    # unjudged queries: nothing to learn from
    requests = [r for r in requests if r.query.qid in qrels and source.keeps(r.query.qid)]
    if source.max_queries is not None:
        requests = requests[: source.max_queries]
    texts: dict[str, Candidate] = {}
    sample: dict[str, Candidate] = {}
    if source.corpus:
        wanted = {d for r in requests for d in qrels[r.query.qid]}
        texts, sample = _read_texts(source.corpus, wanted, source.random_pool_size, f"{source.path}:reservoir")
    out = []
    for req in requests:
        labels = qrels[req.query.qid]
        cands = [Candidate(c.docid, c.text, c.title, c.score, c.rank or i)
                 for i, c in enumerate(req.candidates[: source.depth], start=1)]
        extra = {d: texts[d] for d in labels if d in texts}
        out.append(QueryPool(req.query, cands, dict(labels), docs=extra))
    return Pools(out, sample or None, _max_grade(qrels), f"requests:{source.path}")


# ------------------------------------------------------------------------------ teacher-labelled JSONL


def labelled_record_pointwise(query: Query, doc: Candidate, label: int | None, teacher: TeacherScore,
                              model: str = "") -> dict:
    """One line of the teacher-labelled JSONL for a (query, document) pair."""
    return {"format": LABELLED_FORMAT, "kind": "pointwise", "qid": query.qid, "query": query.text,
            "instruction": query.instruction, "docid": doc.docid, "title": doc.title, "text": doc.text,
            "rank": doc.rank, "first_stage_score": doc.score, "label": label, "score": teacher.score,
            "samples": list(teacher.samples), "reasoning": teacher.reasoning, "teacher": model}


def labelled_record_listwise(query: Query, docs: list[Candidate], labels: list[int], teacher: TeacherList,
                             model: str = "") -> dict:
    """One line of the teacher-labelled JSONL for a listwise window."""
    return {"format": LABELLED_FORMAT, "kind": "listwise", "qid": query.qid, "query": query.text,
            "instruction": query.instruction,
            "docs": [{"docid": d.docid, "title": d.title, "text": d.text, "rank": d.rank,
                      "first_stage_score": d.score} for d in docs],
            "labels": list(labels), "ranking": list(teacher.ranking), "reasoning": teacher.reasoning,
            "ndcg": teacher.ndcg, "teacher": model}


def read_labelled(path: str | Path) -> Pools:
    """Teacher-labelled JSONL (from `rl-rerank label`) -> pools; every pair/window carries its teacher label."""
    by_qid: dict[str, QueryPool] = {}
    max_grade = 1
    for n, rec in iter_jsonl(path):
        kind = rec.get("kind")
        try:
            if rec.get("format") != LABELLED_FORMAT or kind not in ("pointwise", "listwise"):
                raise KeyError("format")
            qid = str(rec["qid"])
            pool = by_qid.get(qid)
            if pool is None:
                pool = by_qid[qid] = QueryPool(Query(qid, str(rec["query"]), rec.get("instruction")), [])
            if kind == "pointwise":
                doc = Candidate(str(rec["docid"]), str(rec["text"]), rec.get("title"), rec.get("first_stage_score"),
                                rec.get("rank"))
                pool.candidates.append(doc)
                if rec.get("label") is not None:
                    pool.labels[doc.docid] = int(rec["label"])
                pool.teacher_scores[doc.docid] = TeacherScore(int(rec["score"]), rec.get("reasoning"),
                                                              [int(s) for s in rec.get("samples") or []])
            else:
                docs = [Candidate(str(d["docid"]), str(d["text"]), d.get("title"), d.get("first_stage_score"),
                                  d.get("rank")) for d in rec["docs"]]
                known = {c.docid for c in pool.candidates}
                pool.candidates.extend(d for d in docs if d.docid not in known)
                labels = rec.get("labels")
                if labels is not None:  # absent: an unjudged window; present: one grade per document
                    if not isinstance(labels, list) or len(labels) != len(docs):
                        raise ValueError(f"'labels' must list one grade per document ({len(docs)})")
                    for d, g in zip(docs, labels, strict=True):
                        pool.labels[d.docid] = int(g)
                ranking = [str(d) for d in rec["ranking"]]
                if sorted(ranking) != sorted(d.docid for d in docs):
                    raise ValueError("ranking")
                pool.teacher_lists.append(TeacherList([d.docid for d in docs], ranking, rec.get("reasoning"),
                                                      rec.get("ndcg")))
        except (KeyError, TypeError, ValueError) as exc:
            raise DataError(path, n, f"a teacher-labelled record ({LABELLED_FORMAT}, kind pointwise|listwise) "
                                     f"with valid fields (problem: {exc})") from None
        max_grade = max([max_grade] + list(pool.labels.values()))
    pools = Pools(list(by_qid.values()), None, max_grade, f"labelled:{path}")
    for pool in pools.queries:
        pool.candidates.sort(key=lambda c: (c.rank is None, c.rank or 0))
    return pools
