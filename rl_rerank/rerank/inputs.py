"""Read what `rl-rerank rerank` reranks: rank_llm requests, or a TREC run joined with a corpus and queries."""

from __future__ import annotations

from pathlib import Path

from rl_rerank.data.types import Candidate, Request
from rl_rerank.errors import UserError

RUN_SUFFIXES = (".trec", ".run", ".txt", ".tsv")


def load_requests(input_path: str | Path, corpus: str | Path | None = None, queries: str | Path | None = None,
                  top_k: int | None = None) -> list[Request]:
    from rl_rerank.data import (
        build_requests,
        docids_in_top_k,
        fetch_docs,
        ranked_docids,
        read_queries_auto,
        read_requests,
        read_run,
    )

    path = Path(input_path)
    if not path.is_file():
        raise UserError(f"{path}: input file not found")
    if path.suffix not in RUN_SUFFIXES:
        return read_requests(path)
    if not corpus or not queries:
        raise UserError(f"{path}: a TREC run needs --corpus (BEIR folder/corpus.jsonl or BRIGHT documents) "
                        "and --queries (topics TSV, BEIR queries.jsonl or folder, or BRIGHT examples)")
    run = read_run(path)
    docs = fetch_docs(corpus, docids_in_top_k(run, top_k))
    requests = build_requests(run, docs, read_queries_auto(queries), top_k=top_k)
    # The documents below the top-k stay in the run, below the reranked ones, exactly as with a request
    # file: only their texts are skipped (never shown to the model), not the documents.
    for req in requests:
        ranked = ranked_docids(run[req.query.qid])
        for rank, docid in enumerate(ranked[len(req.candidates):], start=len(req.candidates) + 1):
            req.candidates.append(Candidate(docid=docid, text="", score=run[req.query.qid][docid], rank=rank))
    return requests
