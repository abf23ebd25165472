"""castorini/rank_llm request files, in and out.

Two layouts exist in the wild and both map to list[Request]:
- a JSON list of `{"query": str, "hits": [{"content", "qid", "docid", "rank", "score"}]}` (the layout of the
  shared DL20 file and of rank_llm's retrieve cache; the qid lives in the hits);
- JSON lines of `{"query": {"text", "qid"}, "candidates": [{"docid", "score", "doc"}]}` where `doc` is a
  dict (`text` / `contents` / `segment`, optional `title`) or a plain string (rank_llm's Request dataclass).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from rl_rerank.data._io import (
    as_float,
    as_id,
    field,
    first_char,
    iter_jsonl,
    line_of,
    load_json_with_lines,
    nonempty,
    unique_requests,
    writable_id,
)
from rl_rerank.data.atomic import atomic_open
from rl_rerank.data.types import Candidate, Query, Request
from rl_rerank.errors import DataError, clip

_TEXT_KEYS = ("text", "contents", "segment", "body", "content")


def read_requests(path: str | Path) -> list[Request]:
    """Either layout, told apart by the first character ('[' means the JSON list)."""
    if first_char(path) == "[":
        return read_hits_json(path)
    return read_candidates_jsonl(path)


# ---- JSON list of {query, hits} -------------------------------------------------------------------


def _hit(rec: Any, path: Path, line: int | None, i: int) -> tuple[str | None, Candidate]:
    if not isinstance(rec, dict):
        raise DataError(path, line, f"hit {i + 1} to be a JSON object")
    line = line_of(rec) or line
    docid = as_id(field(rec, "docid", path, line, (str, int)), path, line, "docid")
    content = field(rec, "content", path, line)
    qid = as_id(rec["qid"], path, line, "qid") if rec.get("qid") is not None else None
    score = as_float(rec["score"], path, line, "score") if rec.get("score") is not None else None
    rank = rec.get("rank")
    if rank is not None and (isinstance(rank, bool) or not isinstance(rank, int)):
        raise DataError(path, line, f"field 'rank' to be an integer, got {clip(rank)}")
    return qid, Candidate(docid=docid, text=content, score=score, rank=rank if rank is not None else i + 1)


def request_from_hits_record(rec: Any, path: str | Path, line: int | None = None) -> Request:
    """One `{query, hits}` entry; the query may also be `{text, qid}` (newer rank_llm)."""
    path = Path(path)
    if not isinstance(rec, dict):
        raise DataError(path, line, "a JSON object {query, hits}")
    line = line_of(rec) or line
    hits = field(rec, "hits", path, line, (list,))
    cands, qids = [], set()
    for i, h in enumerate(hits):
        qid, cand = _hit(h, path, line, i)
        if qid is not None:
            qids.add(qid)
        cands.append(cand)
    query = rec.get("query")
    instruction = None
    if isinstance(query, dict):
        text = field(query, "text", path, line, what=" of 'query'")
        if query.get("qid") is not None:
            qids.add(as_id(query["qid"], path, line, "qid"))
        instruction = query.get("instruction") if isinstance(query.get("instruction"), str) else None
    elif isinstance(query, str):
        text = query
    else:
        raise DataError(path, line, "field 'query' to be a string or {text, qid}")
    if len(qids) != 1:
        raise DataError(
            path, line, "one qid per entry (in 'query' or the hits)" + (f", got {sorted(qids)}" if qids else "")
        )
    return Request(Query(qid=qids.pop(), text=text, instruction=instruction), cands)


def read_hits_json(path: str | Path) -> list[Request]:
    data = load_json_with_lines(path) if first_char(path) else []
    if not isinstance(data, list):
        raise DataError(path, 1, "a JSON list of {query, hits} objects")
    nonempty(data, path, "requests (queries)")
    return unique_requests((request_from_hits_record(rec, path) for rec in data), path,
                           (line_of(rec) for rec in data))


def write_hits_json(path: str | Path, requests: Iterable[Request]) -> None:
    """The JSON-list layout; `content` holds title and text together (the layout has no title field)."""
    out = []
    for req in requests:
        _check_writable(path, req)
        hits = []
        for i, c in enumerate(req.candidates):
            hits.append(
                {
                    "content": c.full_text(),
                    "qid": req.query.qid,
                    "docid": c.docid,
                    "rank": c.rank if c.rank is not None else i + 1,
                    "score": _score(c, i),
                }
            )
        query: Any = req.query.text
        if req.query.instruction or not hits:  # keep what the plain layout cannot hold
            query = {"text": req.query.text, "qid": req.query.qid}
            if req.query.instruction:
                query["instruction"] = req.query.instruction
        out.append({"query": query, "hits": hits})
    with atomic_open(path) as fh:
        json.dump(out, fh, indent=2, ensure_ascii=False)
        fh.write("\n")


# ---- JSON lines of {query:{text,qid}, candidates:[{docid, score, doc}]} ---------------------------


def _doc(doc: Any, path: Path, line: int | None, i: int) -> tuple[str, str | None]:
    if isinstance(doc, str):
        return doc, None
    if isinstance(doc, dict):
        title = doc.get("title")
        for key in _TEXT_KEYS:
            if isinstance(doc.get(key), str):
                return doc[key], title if isinstance(title, str) and title else None
        if isinstance(title, str):
            return "", title
    raise DataError(path, line, f"candidate {i + 1}: 'doc' to be a string or an object with 'text'/'contents'")


def request_from_candidates_record(rec: Any, path: str | Path, line: int | None) -> Request:
    path = Path(path)
    if not isinstance(rec, dict):
        raise DataError(path, line, "a JSON object {query, candidates}")
    q = field(rec, "query", path, line, (dict,))
    qid = as_id(field(q, "qid", path, line, (str, int), " of 'query'"), path, line, "qid")
    text = field(q, "text", path, line, what=" of 'query'")
    instruction = q.get("instruction") if isinstance(q.get("instruction"), str) else None
    cands = []
    for i, c in enumerate(field(rec, "candidates", path, line, (list,))):
        if not isinstance(c, dict):
            raise DataError(path, line, f"candidate {i + 1} to be a JSON object")
        docid = as_id(field(c, "docid", path, line, (str, int), f" of candidate {i + 1}"), path, line, "docid")
        score = as_float(c["score"], path, line, "score") if c.get("score") is not None else None
        if "doc" not in c:
            raise DataError(path, line, f"field 'doc' of candidate {i + 1} (missing)")
        body, title = _doc(c["doc"], path, line, i)
        cands.append(Candidate(docid=docid, text=body, title=title, score=score, rank=i + 1))
    return Request(Query(qid=qid, text=text, instruction=instruction), cands)


def read_candidates_jsonl(path: str | Path) -> list[Request]:
    records = list(iter_jsonl(path))
    nonempty(records, path, "requests (queries)")
    return unique_requests((request_from_candidates_record(rec, path, n) for n, rec in records), path,
                           (n for n, _ in records))


def write_candidates_jsonl(path: str | Path, requests: Iterable[Request]) -> int:
    """rank_llm's JSONL layout; `doc` is {"text", "title"?}. Returns the number of requests written."""
    n = 0
    with atomic_open(path) as fh:
        for req in requests:
            _check_writable(path, req)
            query: dict = {"text": req.query.text, "qid": req.query.qid}
            if req.query.instruction:
                query["instruction"] = req.query.instruction
            cands = []
            for i, c in enumerate(req.candidates):
                doc: dict = {"text": c.text}
                if c.title:
                    doc["title"] = c.title
                cands.append({"docid": c.docid, "score": _score(c, i), "doc": doc})
            fh.write(json.dumps({"query": query, "candidates": cands}, ensure_ascii=False) + "\n")
            n += 1
    return n


def write_requests(path: str | Path, requests: Iterable[Request]) -> None:
    """By extension: `.json` gives the JSON list of {query, hits}, anything else JSON lines."""
    if Path(path).suffix == ".json":
        write_hits_json(path, requests)
    else:
        write_candidates_jsonl(path, requests)


def _check_writable(path: str | Path, req: Request) -> None:
    writable_id(req.query.qid, path, "query id")
    for c in req.candidates:
        writable_id(c.docid, path, "docid")


def _score(c: Candidate, i: int) -> float:
    """rank_llm expects a float score; a candidate without one gets minus its rank (order preserved)."""
    if c.score is not None:
        return float(c.score)
    return -float(c.rank if c.rank is not None else i + 1)


__all__ = [
    "read_requests",
    "read_hits_json",
    "read_candidates_jsonl",
    "write_hits_json",
    "write_candidates_jsonl",
    "write_requests",
    "request_from_hits_record",
    "request_from_candidates_record",
]
