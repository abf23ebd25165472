"""TREC run files, TREC qrels and topics TSV: the formats trec_eval, ir_measures and Pyserini speak."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Mapping

from rl_rerank.data._io import iter_lines
from rl_rerank.data.atomic import atomic_open
from rl_rerank.data.types import Qrels, Query, Run, ranked_docids
from rl_rerank.errors import DataError

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
            raise DataError(path, lineno, f"an integer rank in column 4, got {rank!r}") from None
        try:
            value = float(score)
        except ValueError:
            raise DataError(path, lineno, f"a numeric score in column 5, got {score!r}") from None
        if math.isnan(value):
            raise DataError(path, lineno, "a numeric score in column 5, got NaN")
        docs = run.setdefault(qid, {})
        if docid in docs:
            raise DataError(path, lineno, f"each docid once per query, {docid!r} repeats for query {qid!r}")
        docs[docid] = value
    return run


def write_run(path: str | Path, run: Run, tag: str = "rl_rerank", top_k: int | None = None) -> None:
    """Write a run atomically: per query sorted by score (desc, ties by docid), ranks from 1.

    Scores are written with repr() so reading the file back gives the same floats and the same order.
    """
    if not tag or any(ch.isspace() for ch in tag):
        raise ValueError(f"run tag must be one word, got {tag!r}")
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
            raise DataError(path, lineno, f"an integer relevance grade in column 4, got {grade!r}") from None
        docs = qrels.setdefault(qid, {})
        if docid in docs:
            raise DataError(path, lineno, f"each (qid, docid) pair once, {qid} {docid} repeats")
        docs[docid] = value
    return qrels


def write_qrels(path: str | Path, qrels: Qrels) -> None:
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
        qid = parts[0].strip()
        if qid in topics:
            raise DataError(path, lineno, f"each qid once, {qid!r} repeats")
        topics[qid] = Query(qid=qid, text=parts[1].strip())
    return topics


def write_topics(path: str | Path, queries: Mapping[str, Query] | list[Query]) -> None:
    """Tabs and newlines inside a query become spaces: the format has no escaping."""
    items = queries.values() if isinstance(queries, Mapping) else queries
    with atomic_open(path) as fh:
        for q in items:
            text = " ".join(q.text.split())
            fh.write(f"{q.qid}\t{text}\n")
