"""BEIR folders: corpus.jsonl (streamed), queries.jsonl and qrels/<split>.tsv.

Corpora are only ever streamed: BEIR and BRIGHT have corpora with millions / 400k+ documents, so nothing
here requires holding the whole corpus in memory; `rl_rerank.data.auto.fetch_docs` pulls just the texts a run
needs (from a BEIR corpus or BRIGHT documents alike).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import NamedTuple

from rl_rerank.data._io import as_id, check_id, field, iter_jsonl, iter_lines, nonempty, writable_id
from rl_rerank.data.atomic import atomic_open
from rl_rerank.data.types import Candidate, Qrels, Query
from rl_rerank.errors import DataError, clip

QRELS_HEADER = "query-id\tcorpus-id\tscore"


def _file(path: str | Path, name: str) -> Path:
    """Accept either the BEIR folder or the file itself."""
    path = Path(path)
    return path / name if path.is_dir() else path


def doc_from_record(rec: Mapping, path: str | Path, line: int | None) -> Candidate:
    """One BEIR corpus row {_id, title, text} as a Candidate without score or rank."""
    if "_id" not in rec:
        raise DataError(path, line, "field '_id' (missing)")
    docid = as_id(rec["_id"], path, line, "_id")
    text = field(rec, "text", path, line)
    title = rec.get("title")
    if title is not None and not isinstance(title, str):
        raise DataError(path, line, f"field 'title' to be a string, got {type(title).__name__}")
    return Candidate(docid=docid, text=text, title=title or None)


def iter_corpus(path: str | Path) -> Iterator[Candidate]:
    """Stream a BEIR corpus (folder or corpus.jsonl[.gz]) one document at a time."""
    path = _file(path, "corpus.jsonl")
    n = 0
    for lineno, rec in iter_jsonl(path):
        n += 1
        yield doc_from_record(rec, path, lineno)
    if n == 0:
        nonempty([], path, "documents {_id, title, text}")


def query_from_record(rec: Mapping, path: str | Path, line: int | None) -> Query:
    if "_id" not in rec:
        raise DataError(path, line, "field '_id' (missing)")
    qid = as_id(rec["_id"], path, line, "_id")
    text = field(rec, "text", path, line)
    instruction = rec.get("instruction")
    return Query(qid=qid, text=text, instruction=instruction if isinstance(instruction, str) else None)


def read_queries(path: str | Path) -> dict[str, Query]:
    """BEIR queries.jsonl (folder or file) as qid -> Query, in file order."""
    path = _file(path, "queries.jsonl")
    queries: dict[str, Query] = {}
    for lineno, rec in iter_jsonl(path):
        q = query_from_record(rec, path, lineno)
        if q.qid in queries:
            raise DataError(path, lineno, f"each query id once, {clip(q.qid)} repeats")
        queries[q.qid] = q
    return nonempty(queries, path, "queries {_id, text}")


def read_qrels(path: str | Path) -> Qrels:
    """BEIR qrels TSV: a header line, then `query-id<TAB>corpus-id<TAB>score` with integer scores."""
    qrels: Qrels = {}
    first = True
    for lineno, line in iter_lines(path):
        cols = line.split("\t")
        if len(cols) != 3:
            raise DataError(path, lineno, f"3 tab-separated columns 'query-id corpus-id score', got {len(cols)}")
        qid, docid, score = (c.strip() for c in cols)
        if first and qid == "query-id":
            first = False
            continue  # header: the first non-blank line (blank lines before it are skipped like anywhere)
        first = False
        check_id(qid, path, lineno, "query-id")
        check_id(docid, path, lineno, "corpus-id")
        try:
            grade = int(score)
        except ValueError:
            raise DataError(path, lineno, f"an integer score in column 3, got {clip(score)}") from None
        docs = qrels.setdefault(qid, {})
        if docid in docs:
            raise DataError(path, lineno, f"each (query-id, corpus-id) pair once, {clip(qid)} {clip(docid)} repeats")
        docs[docid] = grade
    return nonempty(qrels, path, "qrels lines 'query-id<TAB>corpus-id<TAB>score'")


class BeirSplit(NamedTuple):
    queries: dict[str, Query]
    qrels: Qrels


def load_beir(folder: str | Path, split: str = "test") -> BeirSplit:
    """Queries of one split (those with qrels in qrels/<split>.tsv) and those qrels."""
    folder = Path(folder)
    if not folder.is_dir():
        raise DataError(folder, None, "a BEIR folder with corpus.jsonl, queries.jsonl and qrels/")
    qrels_path = folder / "qrels" / f"{split}.tsv"
    if not qrels_path.is_file():
        have = sorted(p.stem for p in (folder / "qrels").glob("*.tsv"))
        raise DataError(qrels_path, None, f"qrels for split {split!r} (splits here: {', '.join(have) or 'none'})")
    qrels = read_qrels(qrels_path)
    all_queries = read_queries(folder)
    missing = [qid for qid in qrels if qid not in all_queries]
    if missing:
        raise DataError(qrels_path, None,
                        f"qrels only for known queries; {len(missing)} unknown, e.g. {clip(missing[0])}")
    queries = {qid: q for qid, q in all_queries.items() if qid in qrels}
    return BeirSplit(queries, qrels)


def write_corpus(path: str | Path, docs: Iterable[Candidate]) -> int:
    """Write a BEIR corpus.jsonl atomically from any iterable of documents; returns the count."""
    n = 0
    with atomic_open(path) as fh:
        for doc in docs:
            writable_id(doc.docid, path, "docid")
            fh.write(json.dumps({"_id": doc.docid, "title": doc.title or "", "text": doc.text}, ensure_ascii=False))
            fh.write("\n")
            n += 1
    return n


def write_queries(path: str | Path, queries: Mapping[str, Query] | Iterable[Query]) -> None:
    items = queries.values() if isinstance(queries, Mapping) else queries
    with atomic_open(path) as fh:
        for q in items:
            writable_id(q.qid, path, "query id")
            rec: dict = {"_id": q.qid, "text": q.text}
            if q.instruction:
                rec["instruction"] = q.instruction
            fh.write(json.dumps(rec, ensure_ascii=False) + "\n")


def write_qrels(path: str | Path, qrels: Qrels) -> None:
    for qid, docs in qrels.items():
        writable_id(qid, path, "query id")
        for docid in docs:
            writable_id(docid, path, "docid")
    with atomic_open(path) as fh:
        fh.write(QRELS_HEADER + "\n")
        for qid, docs in qrels.items():
            for docid, grade in docs.items():
                fh.write(f"{qid}\t{docid}\t{int(grade)}\n")
