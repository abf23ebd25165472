"""TREC run files, TREC qrels and topics TSV: the formats trec_eval, ir_measures and Pyserini speak."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from rl_rerank.data._io import check_id, finite_score, iter_lines, nonempty, writable_id
from rl_rerank.data.atomic import atomic_open
from rl_rerank.data.types import Qrels, Query, Run, ranked_docids
from rl_rerank.errors import DataError, clip

RUN_LINE = "6 whitespace-separated columns 'qid Q0 docid rank score tag'"
QRELS_LINE = "4 whitespace-separated columns 'qid iteration docid grade'"


def read_run(path: str | Path) -> Run:
    """A TREC run as qid -> docid -> score. Ranks in the file are ignored: scores define the order."""
    run: Run = {}
    for lineno, line in iter_lines(path):
        cols = line.split()
        if len(cols) != 6:
            raise DataError(path, lineno, f"{RUN_LINE}, got {len(cols)} columns")
        qid, _, docid, rank, score, _ = cols
        try:
            int(rank)
        except ValueError:
            raise DataError(path, lineno, f"an integer rank in column 4, got {clip(rank)}") from None
        value = finite_score(score, path, lineno, "column 5")
        docs = run.setdefault(qid, {})
        if docid in docs:
            raise DataError(path, lineno, f"each docid once per query, {clip(docid)} repeats for query {clip(qid)}")
        docs[docid] = value
    return nonempty(run, path, "run lines 'qid Q0 docid rank score tag' (no queries)")


def write_run(path: str | Path, run: Run, tag: str = "rl_rerank", top_k: int | None = None) -> None:
    """Write a run atomically: per query sorted by score (desc, ties by docid), ranks from 1.

    Scores are written with repr() so reading the file back gives the same floats and the same order.
    """
    if not tag or any(ch.isspace() for ch in tag):
        raise ValueError(f"run tag must be one word, got {tag!r}")
    for qid, scores in run.items():
        writable_id(qid, path, "query id")
        for docid in scores:
            writable_id(docid, path, "docid")
    with atomic_open(path) as fh:
        for qid, scores in run.items():
            for rank, docid in enumerate(ranked_docids(scores)[:top_k], start=1):
                fh.write(f"{qid} Q0 {docid} {rank} {float(scores[docid])!r} {tag}\n")


def read_qrels(path: str | Path) -> Qrels:
    """TREC qrels (qid iter docid grade) with integer grades; repeated pairs are an error."""
    qrels: Qrels = {}
    for lineno, line in iter_lines(path):
        cols = line.split()
        if len(cols) != 4:
            raise DataError(path, lineno, f"{QRELS_LINE}, got {len(cols)} columns")
        qid, _, docid, grade = cols
        try:
            value = int(grade)
        except ValueError:
            raise DataError(path, lineno, f"an integer relevance grade in column 4, got {clip(grade)}") from None
        docs = qrels.setdefault(qid, {})
        if docid in docs:
            raise DataError(path, lineno, f"each (qid, docid) pair once, {clip(qid)} {clip(docid)} repeats")
        docs[docid] = value
    return nonempty(qrels, path, "qrels lines 'qid iteration docid grade'")


def write_qrels(path: str | Path, qrels: Qrels) -> None:
    for qid, docs in qrels.items():
        writable_id(qid, path, "query id")
        for docid in docs:
            writable_id(docid, path, "docid")
    with atomic_open(path) as fh:
        for qid, docs in qrels.items():
            for docid, grade in docs.items():
                fh.write(f"{qid} 0 {docid} {int(grade)}\n")


def read_topics(path: str | Path) -> dict[str, Query]:
    """Topics TSV, one `qid<TAB>text` per line (the MS MARCO / Pyserini topics layout)."""
    topics: dict[str, Query] = {}
    for lineno, line in iter_lines(path):
        parts = line.split("\t", 1)
        if len(parts) != 2 or not parts[0].strip() or not parts[1].strip():
            raise DataError(path, lineno, "'qid<TAB>query text'")
        qid = check_id(parts[0].strip(), path, lineno, "qid")
        if qid in topics:
            raise DataError(path, lineno, f"each qid once, {clip(qid)} repeats")
        topics[qid] = Query(qid=qid, text=parts[1].strip())
    return nonempty(topics, path, "topics 'qid<TAB>query text'")


def write_topics(path: str | Path, queries: Mapping[str, Query] | list[Query]) -> None:
    """Tabs and newlines inside a query become spaces: the format has no escaping."""
    items = list(queries.values() if isinstance(queries, Mapping) else queries)
    for q in items:
        writable_id(q.qid, path, "query id")
    with atomic_open(path) as fh:
        for q in items:
            text = " ".join(q.text.split())
            fh.write(f"{q.qid}\t{text}\n")
