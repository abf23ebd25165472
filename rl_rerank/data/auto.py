"""Pick the right reader from what a path looks like: the one place that guesses a file's format.

Queries (BEIR folder or queries.jsonl, BRIGHT examples, topics TSV), qrels (TREC or BEIR TSV), corpora
(BEIR corpus.jsonl or BRIGHT documents) and TREC-DL style folders are each told apart here and nowhere else,
so `retrieve`, `rerank`, evaluation and training sources accept the same inputs by the same rules.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import NamedTuple

from rl_rerank.data import beir, bright, trec
from rl_rerank.data._io import first_char, iter_jsonl, iter_lines
from rl_rerank.data.types import Candidate, Qrels, Query
from rl_rerank.errors import DataError

QUERY_FORMATS = ("beir", "bright", "beir-queries", "topics")
CORPUS_FORMATS = ("beir", "bright")


class QuerySet(NamedTuple):
    queries: dict[str, Query]
    qrels: Qrels | None  # known when the source carries labels (BEIR split, BRIGHT gold ids)
    excluded: dict[str, set[str]]  # BRIGHT excluded ids per query; empty elsewhere
    kind: str  # one of QUERY_FORMATS


# ----------------------------------------------------------------------------------------------- queries


def _json_lines_name(path: Path) -> bool:
    return path.name.endswith((".jsonl", ".jsonl.gz"))


def query_format(path: str | Path, fmt: str | None = None) -> str:
    """'beir' (BEIR folder), 'bright' (examples file), 'beir-queries' (queries.jsonl) or 'topics' (TSV).

    A folder must hold queries.jsonl; a file is JSON lines when it starts with '{' or is named .jsonl[.gz]
    (so an empty or broken queries.jsonl gets the JSON reader's error, not the TSV one's); its first record
    tells BRIGHT {id, query, gold_ids} from BEIR {_id, text}. `fmt` ('beir' or 'bright') skips that sniff."""
    path = Path(path)
    if path.is_dir():
        if (path / "queries.jsonl").is_file():
            return "beir"
        raise DataError(path, None, "a BEIR folder (queries.jsonl, qrels/), a queries file or a BRIGHT examples file")
    if first_char(path) != "{" and not _json_lines_name(path):
        return "topics"
    if fmt is not None:
        return "bright" if fmt == "bright" else "beir-queries"
    for lineno, rec in iter_jsonl(path):
        if "gold_ids" in rec or ("id" in rec and "query" in rec):
            return "bright"
        if "_id" in rec:
            return "beir-queries"
        raise DataError(path, lineno, "a BEIR query {_id, text} or a BRIGHT example {id, query, gold_ids}")
    return "beir-queries"  # no records: its reader reports the empty file


def load_queries(path: str | Path, split: str | None = "test", fmt: str | None = None,
                 long_documents: bool = False) -> QuerySet:
    """Queries from a BEIR folder (queries of `split` plus its qrels; split=None: every query, no qrels), a BEIR
    queries.jsonl, a BRIGHT examples file (.jsonl or .jsonl.gz; gold ids and excluded ids come with it) or a
    topics TSV."""
    kind = query_format(path, fmt)
    if kind == "beir":
        if split is None:
            return QuerySet(beir.read_queries(path), None, {}, kind)
        queries, qrels = beir.load_beir(path, split)
        return QuerySet(queries, qrels, {}, kind)
    if kind == "bright":
        split_ = bright.load_bright(path, long_documents=long_documents)
        return QuerySet(split_.queries, split_.qrels, split_.excluded, kind)
    if kind == "topics":
        return QuerySet(trec.read_topics(path), None, {}, kind)
    return QuerySet(beir.read_queries(path), None, {}, kind)


def read_queries_auto(path: str | Path) -> dict[str, Query]:
    """Query texts from any query file load_queries reads (a BEIR folder gives all its queries)."""
    return load_queries(path, split=None).queries


# ------------------------------------------------------------------------------------------------- qrels


def read_qrels_auto(path: str | Path) -> Qrels:
    """TREC qrels (4 columns) or BEIR qrels TSV (3 tab-separated columns, header), by the first non-blank line."""
    for _, line in iter_lines(path):
        if len(line.split("\t")) == 3 or line.startswith("query-id"):
            return beir.read_qrels(path)
        return trec.read_qrels(path)
    raise DataError(path, None, "no qrels lines (TREC 'qid 0 docid grade' or BEIR "
                                "'query-id<TAB>corpus-id<TAB>score'): the file is empty or blank")


# ------------------------------------------------------------------------------------------------ folders

TREC_DL_REQUESTS = "bm25-top100.json"


def trec_dl_folder(path: str | Path) -> tuple[Path, Path | None] | None:
    """(request file, qrels file or None) when `path` is a TREC-DL style folder, the shared layout: a rank_llm
    request file bm25-top100.json beside its qrels*; None for anything else (a BEIR folder has a corpus).
    Several qrels files are a DataError: which one to score against is not guessed."""
    folder = Path(path)
    if not folder.is_dir() or not (folder / TREC_DL_REQUESTS).is_file():
        return None
    if (folder / "corpus.jsonl").exists() or (folder / "corpus.jsonl.gz").exists():
        return None
    qrels = sorted(p for p in folder.glob("qrels*") if p.is_file())
    if len(qrels) > 1:
        raise DataError(folder, None, f"one qrels file beside {TREC_DL_REQUESTS}, found "
                                      f"{', '.join(p.name for p in qrels)}")
    return folder / TREC_DL_REQUESTS, qrels[0] if qrels else None


# ------------------------------------------------------------------------------------------------ corpora


def corpus_file(path: str | Path) -> Path:
    """The corpus file behind a path: a BEIR folder means its corpus.jsonl[.gz]."""
    path = Path(path)
    if path.is_dir():
        for name in ("corpus.jsonl", "corpus.jsonl.gz"):
            if (path / name).is_file():
                return path / name
        raise DataError(path, None, "a BEIR folder with corpus.jsonl, or a corpus / documents file")
    if not path.is_file():
        raise DataError(path, None, "file not found")
    return path


def corpus_format(path: str | Path) -> str:
    """'beir' ({_id, title, text} lines) or 'bright' ({id, content} lines), from the first record."""
    path = corpus_file(path)
    if first_char(path) != "{":
        raise DataError(path, 1, "a JSON-lines corpus (BEIR {_id, title, text} or BRIGHT {id, content})")
    for lineno, rec in iter_jsonl(path):
        if "_id" in rec:
            return "beir"
        if "id" in rec and "content" in rec:
            return "bright"
        raise DataError(path, lineno, "a corpus record with '_id' (BEIR) or 'id' and 'content' (BRIGHT)")
    raise DataError(path, None, "at least one document")


def iter_docs(path: str | Path, fmt: str | None = None) -> Iterator[Candidate]:
    """Stream the documents of a BEIR corpus (folder or corpus.jsonl[.gz]) or BRIGHT documents file."""
    path = corpus_file(path)
    fmt = fmt or corpus_format(path)
    if fmt == "beir":
        return beir.iter_corpus(path)
    if fmt == "bright":
        return bright.iter_documents(path)
    raise ValueError(f"unknown corpus format {fmt!r} (one of {CORPUS_FORMATS})")


def fetch_docs(path: str | Path, docids: Iterable[str], fmt: str | None = None) -> dict[str, Candidate]:
    """The documents for `docids`, by one streaming pass that stops once all are found (corpora of millions
    of documents never sit in memory). Ids not in the corpus are simply absent from the result. A repeated id
    keeps its first document, whether or not the pass stops early."""
    wanted = set(docids)
    found: dict[str, Candidate] = {}
    if wanted:
        for doc in iter_docs(path, fmt):
            if doc.docid in wanted and doc.docid not in found:
                found[doc.docid] = doc
                if len(found) == len(wanted):
                    break
    return found
