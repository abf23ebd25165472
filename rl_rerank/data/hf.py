"""The same formats through Hugging Face `datasets`: a hub id when online, local files offline.

Kept thin on purpose: `datasets` does the loading (and caching, and streaming of big corpora); the rows go
through the very record parsers the file readers use, so validation and errors are identical. A bad row
raises DataError naming the source and the 1-based row number.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from rl_rerank.data import beir, bright, rank_llm
from rl_rerank.data._io import check_id, nonempty, unique_requests
from rl_rerank.data.types import Candidate, Qrels, Query, Request
from rl_rerank.errors import DataError, clip
from rl_rerank.paths import cache_dir

BRIGHT_HUB = "xlang-ai/BRIGHT"

_BUILDERS = {".json": "json", ".jsonl": "json", ".csv": "csv", ".tsv": "csv", ".parquet": "parquet"}


def _builder(path: Path) -> tuple[str, dict]:
    suffixes = [s for s in path.suffixes if s not in (".gz", ".bz2", ".zst", ".xz")]
    builder = _BUILDERS.get(suffixes[-1] if suffixes else "")
    if builder is None:
        raise DataError(path, None, "a .json, .jsonl(.gz), .tsv, .csv or .parquet file for `datasets`")
    return builder, ({"delimiter": "\t"} if suffixes[-1] == ".tsv" else {})


def load_rows(
    source: str | Path,
    config: str | None = None,
    split: str | None = None,
    streaming: bool = False,
) -> Any:
    """A `datasets` Dataset (or IterableDataset when streaming) from a local file or a hub id.

    A path that exists is loaded with the matching packaged builder (json/csv/parquet), split "train",
    caching under rl_rerank's cache; anything else is treated as a hub id (`config`, `split` passed on).
    """
    import datasets

    path = Path(source)
    if path.exists():
        files = sorted(str(p) for p in path.iterdir() if p.is_file()) if path.is_dir() else [str(path)]
        if not files:
            raise DataError(path, None, "data files in the folder")
        builder, kwargs = _builder(Path(files[0]))
        return datasets.load_dataset(
            builder,
            data_files=files,
            split="train",
            streaming=streaming,
            cache_dir=str(cache_dir("datasets")),
            **kwargs,
        )
    return datasets.load_dataset(str(source), config, split=split, streaming=streaming)


def _rows(source: str | Path, config: str | None, split: str | None, streaming: bool) -> Iterator[tuple[int, dict]]:
    yield from enumerate(load_rows(source, config, split, streaming), start=1)


def bright_examples(source: str | Path = BRIGHT_HUB, task: str | None = None) -> list[bright.BrightExample]:
    """BRIGHT `examples` of one task: a local file, or the hub (config "examples", split = task)."""
    return [bright.example_from_record(r, source, i) for i, r in _rows(source, "examples", task, False)]


def bright_documents(
    source: str | Path = BRIGHT_HUB, task: str | None = None, long_documents: bool = False
) -> Iterator[Candidate]:
    """BRIGHT documents, streamed (config "documents" or "long_documents", split = task)."""
    config = "long_documents" if long_documents else "documents"
    for i, r in _rows(source, config, task, True):
        yield bright.doc_from_record(r, source, i)


def beir_corpus(source: str | Path) -> Iterator[Candidate]:
    """A BEIR corpus streamed: a local corpus.jsonl or a hub id like "BeIR/scifact" (config "corpus")."""
    for i, r in _rows(source, "corpus", "corpus", True):
        yield beir.doc_from_record(r, source, i)


def beir_queries(source: str | Path) -> dict[str, Query]:
    """BEIR queries: a local queries.jsonl or a hub id like "BeIR/scifact" (config "queries")."""
    out: dict[str, Query] = {}
    for i, r in _rows(source, "queries", "queries", False):
        q = beir.query_from_record(r, source, i)
        if q.qid in out:
            raise DataError(source, i, f"each query id once, {clip(q.qid)} repeats")
        out[q.qid] = q
    return nonempty(out, source, "queries {_id, text}")


def beir_qrels(source: str | Path, split: str = "test") -> Qrels:
    """BEIR qrels: a local qrels TSV or a hub id like "BeIR/scifact-qrels" (split = test/train/dev)."""
    qrels: Qrels = {}
    for i, r in _rows(source, None, split, False):
        try:
            qid, docid, grade = str(r["query-id"]), str(r["corpus-id"]), int(r["score"])
        except (KeyError, TypeError, ValueError):
            raise DataError(source, i, "columns 'query-id', 'corpus-id' and an integer 'score'") from None
        docs = qrels.setdefault(check_id(qid, source, i, "query-id"), {})
        if check_id(docid, source, i, "corpus-id") in docs:
            raise DataError(source, i, f"each (query-id, corpus-id) pair once, {clip(qid)} {clip(docid)} repeats")
        docs[docid] = grade
    return nonempty(qrels, source, "qrels")


def requests(source: str | Path, config: str | None = None, split: str | None = "train") -> list[Request]:
    """rank_llm requests in either layout ({query, hits} or {query, candidates}), one row per request."""
    out, lines = [], []
    for i, r in _rows(source, config, split, False):
        if "hits" in r:
            out.append(rank_llm.request_from_hits_record(r, source, i))
        else:
            out.append(rank_llm.request_from_candidates_record(r, source, i))
        lines.append(i)
    return unique_requests(nonempty(out, source, "requests (queries)"), source, lines)
