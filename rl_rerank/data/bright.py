"""BRIGHT (xlang-ai/BRIGHT): the `examples` schema (queries, gold ids, excluded ids) and `documents`.

`examples` rows: id, query, reasoning, gold_ids, gold_ids_long, excluded_ids, gold_answer. A list equal to
["N/A"] means "none" (excluded_ids of most tasks; gold_ids_long of the tasks without a long-document
setting: leetcode, aops, theoremqa_*). Before scoring, each query's excluded ids must be removed from its
ranking (rl_rerank.eval.metrics.remove_excluded). `documents` rows are {id, content}, always streamed.
"""

from __future__ import annotations

import contextlib
import gzip
import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from dataclasses import field as dc_field
from pathlib import Path
from typing import IO, Any, NamedTuple

from rl_rerank.data._io import as_id, field, iter_jsonl, nonempty, writable_id
from rl_rerank.data.atomic import atomic_open
from rl_rerank.data.types import Candidate, Qrels, Query
from rl_rerank.errors import DataError, clip

TASKS = (
    "biology", "earth_science", "economics", "psychology", "robotics", "stackoverflow",
    "sustainable_living", "leetcode", "pony", "aops", "theoremqa_questions", "theoremqa_theorems",
)  # fmt: skip
NONE = ["N/A"]


@dataclass
class BrightExample:
    id: str
    query: str
    gold_ids: list[str]
    gold_ids_long: list[str] = dc_field(default_factory=list)
    excluded_ids: list[str] = dc_field(default_factory=list)
    reasoning: str | None = None
    gold_answer: str | None = None


def _id_list(rec: Mapping, key: str, path: str | Path, line: int | None, required: bool = True) -> list[str]:
    if key not in rec:
        if required:
            raise DataError(path, line, f"field {key!r} (missing)")
        return []
    value = rec[key]
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, (str, int)) and not isinstance(v, bool) for v in value):
        raise DataError(path, line, f"field {key!r} to be a list of ids")
    ids = [str(v) for v in value]
    return [] if ids == NONE else [as_id(v, path, line, key) for v in ids]


def example_from_record(rec: Mapping, path: str | Path, line: int | None) -> BrightExample:
    if "id" not in rec:
        raise DataError(path, line, "field 'id' (missing)")
    optional = {}
    for key in ("reasoning", "gold_answer"):
        v = rec.get(key)
        optional[key] = v if isinstance(v, str) and v != "N/A" else None
    return BrightExample(
        id=as_id(rec["id"], path, line, "id"),
        query=field(rec, "query", path, line),
        gold_ids=_id_list(rec, "gold_ids", path, line),
        gold_ids_long=_id_list(rec, "gold_ids_long", path, line, required=False),
        # Required: a row without it would silently score excluded (leaked) documents; ["N/A"] means none.
        excluded_ids=_id_list(rec, "excluded_ids", path, line),
        **optional,
    )


def read_examples(path: str | Path) -> list[BrightExample]:
    """One task's examples from a JSON-lines file, gzipped (`.jsonl.gz`) or not."""
    out: list[BrightExample] = []
    seen: set[str] = set()
    for lineno, rec in iter_jsonl(path):
        ex = example_from_record(rec, path, lineno)
        if ex.id in seen:
            raise DataError(path, lineno, f"each example id once, {clip(ex.id)} repeats")
        seen.add(ex.id)
        out.append(ex)
    return nonempty(out, path, "BRIGHT examples")


def task_files(folder: str | Path) -> dict[str, Path]:
    """task name -> examples file for every `<task>.jsonl[.gz]` in a folder, in BRIGHT's task order."""
    folder = Path(folder)
    found = {}
    for p in sorted(folder.glob("*.jsonl*")):
        if p.name.endswith((".jsonl", ".jsonl.gz")):
            found[p.name.split(".jsonl")[0]] = p
    order = {t: i for i, t in enumerate(TASKS)}
    return dict(sorted(found.items(), key=lambda kv: (order.get(kv[0], len(order)), kv[0])))


def read_all_examples(folder: str | Path) -> dict[str, list[BrightExample]]:
    files = task_files(folder)
    if not files:
        raise DataError(folder, None, "a folder of BRIGHT examples files <task>.jsonl[.gz]")
    return {task: read_examples(p) for task, p in files.items()}


class BrightSplit(NamedTuple):
    queries: dict[str, Query]
    qrels: Qrels
    excluded: dict[str, set[str]]


def queries_of(examples: Iterable[BrightExample]) -> dict[str, Query]:
    return {ex.id: Query(qid=ex.id, text=ex.query) for ex in examples}


def qrels_of(examples: Iterable[BrightExample], long_documents: bool = False) -> Qrels:
    """Binary qrels from gold_ids (or gold_ids_long for the long-document setting); queries without gold
    ids in that setting are left out, as BRIGHT's own evaluation does."""
    qrels: Qrels = {}
    for ex in examples:
        gold = ex.gold_ids_long if long_documents else ex.gold_ids
        if gold:
            qrels[ex.id] = {d: 1 for d in gold}
    return qrels


def excluded_of(examples: Iterable[BrightExample]) -> dict[str, set[str]]:
    return {ex.id: set(ex.excluded_ids) for ex in examples if ex.excluded_ids}


def load_bright(path: str | Path, long_documents: bool = False) -> BrightSplit:
    """Queries, qrels and excluded ids of one task file."""
    examples = read_examples(path)
    return BrightSplit(queries_of(examples), qrels_of(examples, long_documents), excluded_of(examples))


def doc_from_record(rec: Any, path: str | Path, line: int | None) -> Candidate:
    if not isinstance(rec, Mapping):
        raise DataError(path, line, "a JSON object {id, content}")
    if "id" not in rec:
        raise DataError(path, line, "field 'id' (missing)")
    return Candidate(docid=as_id(rec["id"], path, line, "id"), text=field(rec, "content", path, line))


def iter_documents(path: str | Path) -> Iterator[Candidate]:
    """Stream a BRIGHT `documents` (or `long_documents`) file of {id, content} lines."""
    n = 0
    for lineno, rec in iter_jsonl(path):
        n += 1
        yield doc_from_record(rec, path, lineno)
    if n == 0:
        nonempty([], path, "documents {id, content}")


@contextlib.contextmanager
def _open_out(path: str | Path) -> Iterator[IO[str]]:
    """Writers honour a `.gz` suffix like the readers do (still atomic: gzip over the temp file)."""
    if str(path).endswith(".gz"):
        with atomic_open(path, "wb") as raw, gzip.open(raw, "wt", encoding="utf-8") as fh:
            yield fh
    else:
        with atomic_open(path) as fh:
            yield fh


def write_examples(path: str | Path, examples: Iterable[BrightExample]) -> None:
    """The examples schema, with ["N/A"] for empty id lists and missing texts, as BRIGHT itself does."""
    with _open_out(path) as fh:
        for ex in examples:
            for docid in [ex.id, *ex.gold_ids, *ex.gold_ids_long, *ex.excluded_ids]:
                writable_id(docid, path)
            rec = {
                "query": ex.query,
                "reasoning": ex.reasoning if ex.reasoning is not None else "N/A",
                "id": ex.id,
                "excluded_ids": ex.excluded_ids or NONE,
                "gold_ids_long": ex.gold_ids_long or NONE,
                "gold_ids": ex.gold_ids,
                "gold_answer": ex.gold_answer if ex.gold_answer is not None else "N/A",
            }
            fh.write(json.dumps(rec, ensure_ascii=False) + "\n")


def write_documents(path: str | Path, docs: Iterable[Candidate]) -> int:
    n = 0
    with _open_out(path) as fh:
        for d in docs:
            writable_id(d.docid, path, "docid")
            fh.write(json.dumps({"id": d.docid, "content": d.full_text()}, ensure_ascii=False) + "\n")
            n += 1
    return n
