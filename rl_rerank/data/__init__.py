"""Data model and file formats: TREC, BEIR, rank_llm requests, BRIGHT, and `datasets` loading.

Readers raise DataError(path, line, expected) on malformed input; writers are atomic (no partial files).
Format modules are also importable by name: `from rl_rerank.data import trec, beir, rank_llm, bright, hf`.
Where a path may hold one of several formats, rl_rerank.data.auto guesses which (queries, qrels, corpora),
and `fetch_docs` is the one way to get document texts.
"""

from rl_rerank.data import beir, bright, hf, rank_llm, trec
from rl_rerank.data.atomic import atomic_open, write_json, write_text
from rl_rerank.data.auto import fetch_docs, iter_docs, load_queries, read_qrels_auto, read_queries_auto
from rl_rerank.data.beir import BeirSplit, iter_corpus, load_beir
from rl_rerank.data.beir import read_qrels as read_beir_qrels
from rl_rerank.data.beir import read_queries as read_beir_queries
from rl_rerank.data.bright import (
    BrightExample,
    BrightSplit,
    iter_documents,
    load_bright,
    read_all_examples,
    read_examples,
)
from rl_rerank.data.build import build_requests, docids_in_top_k
from rl_rerank.data.rank_llm import (
    read_candidates_jsonl,
    read_hits_json,
    read_requests,
    write_candidates_jsonl,
    write_hits_json,
    write_requests,
)
from rl_rerank.data.trec import read_qrels, read_run, read_topics, write_qrels, write_run, write_topics
from rl_rerank.data.types import Candidate, Qrels, Query, Request, Run, ranked_docids, run_from_requests
from rl_rerank.errors import DataError

__all__ = [
    "beir", "bright", "hf", "rank_llm", "trec",
    "atomic_open", "write_json", "write_text",
    "fetch_docs", "iter_docs", "load_queries", "read_qrels_auto", "read_queries_auto",
    "BeirSplit", "iter_corpus", "load_beir", "read_beir_qrels", "read_beir_queries",
    "BrightExample", "BrightSplit", "iter_documents", "load_bright", "read_all_examples",
    "read_examples",
    "build_requests", "docids_in_top_k",
    "read_candidates_jsonl", "read_hits_json", "read_requests", "write_candidates_jsonl", "write_hits_json",
    "write_requests",
    "read_qrels", "read_run", "read_topics", "write_qrels", "write_run", "write_topics",
    "Candidate", "Qrels", "Query", "Request", "Run", "ranked_docids", "run_from_requests",
    "DataError",
]  # fmt: skip
