"""Pick the right reader from what a path looks like, for commands that accept several formats."""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

from rl_rerank.data import beir, bright, trec
from rl_rerank.data._io import first_char, iter_jsonl, iter_lines
from rl_rerank.data.types import Qrels, Query
from rl_rerank.errors import DataError


class QuerySet(NamedTuple):
    queries: dict[str, Query]
    qrels: Qrels | None  # known when the source carries labels (BEIR split, BRIGHT gold ids)
    excluded: dict[str, set[str]]  # BRIGHT excluded ids per query; empty elsewhere
    kind: str  # "beir", "bright", "beir-queries" or "topics"


def load_queries(
    path: str | Path, split: str = "test", fmt: str | None = None, long_documents: bool = False
) -> QuerySet:
    """Queries from a BEIR folder (queries of `split` plus its qrels), a BEIR queries.jsonl, a BRIGHT
    examples file (.jsonl or .jsonl.gz; gold ids and excluded ids come with it) or a topics TSV."""
    path = Path(path)
    if path.is_dir():
        if (path / "queries.jsonl").is_file():
            queries, qrels = beir.load_beir(path, split)
            return QuerySet(queries, qrels, {}, "beir")
        raise DataError(path, None, "a BEIR folder (queries.jsonl, qrels/), a queries file or a BRIGHT examples file")
    if first_char(path) != "{":
        return QuerySet(trec.read_topics(path), None, {}, "topics")
    if fmt is None:
        for lineno, rec in iter_jsonl(path):
            if "gold_ids" in rec or ("id" in rec and "query" in rec):
                fmt = "bright"
            elif "_id" in rec:
                fmt = "beir"
            else:
                raise DataError(path, lineno, "a BEIR query {_id, text} or a BRIGHT example {id, query, gold_ids}")
            break
    if fmt == "bright":
        split_ = bright.load_bright(path, long_documents=long_documents)
        return QuerySet(split_.queries, split_.qrels, split_.excluded, "bright")
    return QuerySet(beir.read_queries(path), None, {}, "beir-queries")


def read_qrels_auto(path: str | Path) -> Qrels:
    """TREC qrels (4 columns) or BEIR qrels TSV (3 tab-separated columns, header), by the first line."""
    for _, line in iter_lines(path):
        if len(line.split("\t")) == 3 or line.startswith("query-id"):
            return beir.read_qrels(path)
        return trec.read_qrels(path)
    raise DataError(path, None, "no qrels lines (TREC 'qid 0 docid grade' or BEIR "
                                "'query-id<TAB>corpus-id<TAB>score'): the file is empty or blank")
