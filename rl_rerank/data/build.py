"""Turn a first-stage run into rerank requests: the join of run, document texts and query texts."""

from __future__ import annotations

from collections.abc import Mapping

from rl_rerank.data.types import Candidate, Query, Request, Run, ranked_docids
from rl_rerank.errors import UserError, clip


def build_requests(
    run: Run,
    docs: Mapping[str, Candidate | str],
    queries: Mapping[str, Query | str],
    top_k: int | None = 100,
) -> list[Request]:
    """One Request per query of the run (in `queries` order), holding its top-k candidates with text,
    first-stage score and rank.

    `docs` maps docid to a Candidate (title and text are taken from it) or to a plain text; a docid in the
    top-k without text, or a run query without query text, is a data mismatch and raises UserError naming
    how many are missing and one example, rather than silently dropping candidates.
    """
    unknown = [qid for qid in run if qid not in queries]
    if unknown:
        raise UserError(f"{len(unknown)} run queries have no query text, e.g. {clip(unknown[0])}")
    requests: list[Request] = []
    missing: list[str] = []
    for qid, q in queries.items():
        if qid not in run:
            continue
        query = q if isinstance(q, Query) else Query(qid=qid, text=q)
        cands = []
        for rank, docid in enumerate(ranked_docids(run[qid])[:top_k], start=1):
            doc = docs.get(docid)
            if doc is None:
                missing.append(docid)
                continue
            text, title = (doc, None) if isinstance(doc, str) else (doc.text, doc.title)
            cands.append(Candidate(docid=docid, text=text, title=title, score=float(run[qid][docid]), rank=rank))
        requests.append(Request(query, cands))
    if missing:
        raise UserError(f"{len(set(missing))} ranked documents have no text in the corpus, e.g. {clip(missing[0])}")
    return requests


def docids_in_top_k(run: Run, top_k: int | None = 100) -> set[str]:
    """Every docid that some query ranks in its top-k: what to fetch from a streamed corpus."""
    return {d for scores in run.values() for d in ranked_docids(scores)[:top_k]}
