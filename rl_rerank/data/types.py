"""The one in-memory data model every module speaks: queries, candidates, requests, qrels, runs."""

from __future__ import annotations

from dataclasses import dataclass, field

# qid -> docid -> graded relevance (TREC qrels; negative grades allowed, e.g. BEIR never uses them).
Qrels = dict[str, dict[str, int]]
# qid -> docid -> score (higher is better), the shape ir_measures and TREC run files use.
Run = dict[str, dict[str, float]]


@dataclass
class Query:
    qid: str
    text: str
    instruction: str | None = None  # task instruction shown to the reranker (BRIGHT/ERank style)


@dataclass
class Candidate:
    docid: str
    text: str
    title: str | None = None
    score: float | None = None  # first-stage score
    rank: int | None = None  # first-stage rank, 1-based

    def full_text(self) -> str:
        """Title and body as one passage, the way BEIR rerankers usually see it."""
        return f"{self.title}\n{self.text}" if self.title else self.text


@dataclass
class Request:
    """One query with its candidate list: the unit rerankers consume (rank_llm's request)."""

    query: Query
    candidates: list[Candidate] = field(default_factory=list)


def run_from_requests(requests: list[Request]) -> Run:
    """The first-stage run implied by the candidates' scores (or ranks when scores are missing)."""
    run: Run = {}
    for req in requests:
        n = len(req.candidates)
        run[req.query.qid] = {
            c.docid: float(c.score) if c.score is not None else float(n - (c.rank or i + 1))
            for i, c in enumerate(req.candidates)
        }
    return run


def ranked_docids(scores: dict[str, float]) -> list[str]:
    """Docids by descending score; ties broken by docid so runs are reproducible."""
    return [d for d, _ in sorted(scores.items(), key=lambda kv: (-kv[1], kv[0]))]
