"""Resume cache for reranking: one append-only JSONL per configuration, one line per finished query.

The configuration key covers everything that changes a score: engine, model, adapter contents, paradigm
(class, settings, rendered prompt template), strategy settings. The per-query key adds the query and its
candidates' ids and texts in order, so editing one query's candidates recomputes only that query.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any, Iterable

from rl_rerank.data.types import Candidate, Query, Request


def _sha(obj: Any) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, ensure_ascii=False, default=str).encode()).hexdigest()


def files_fingerprint(folder: str | Path | None, contents: bool = True) -> str | None:
    """Hash of a folder's files: contents for small folders (adapters), names + sizes for big ones (models)."""
    if not folder:
        return None
    folder = Path(folder)
    if not folder.exists():
        return str(folder)  # a hub id: the name is all we know
    h = hashlib.sha256()
    files = [folder] if folder.is_file() else sorted(p for p in folder.rglob("*") if p.is_file())
    for p in files:
        if p.name.startswith(".") or p.name == "README.md":
            continue  # model cards and hidden temp files do not change scores
        h.update(str(p.relative_to(folder) if p != folder else p.name).encode())
        if contents or p.suffix in (".json", ".jinja", ".txt"):
            with open(p, "rb") as fh:
                for chunk in iter(lambda: fh.read(1 << 20), b""):
                    h.update(chunk)
        else:
            h.update(str(p.stat().st_size).encode())
    return h.hexdigest()


_PROBE_QUERY = Query(qid="probe", text="probe query", instruction="probe instruction")
_PROBE_DOCS = [Candidate(docid=f"p{i}", text=f"probe passage {i}", title=None) for i in range(3)]


def paradigm_fingerprint(paradigm: Any) -> dict:
    """Class, public settings and the prompt it renders for a fixed probe (captures template edits)."""
    settings = {k: v for k, v in vars(paradigm).items() if not k.startswith("_") and
                isinstance(v, (str, int, float, bool, type(None)))}
    docs = _PROBE_DOCS[:1] if getattr(paradigm, "single_document", False) else _PROBE_DOCS
    try:
        probe = paradigm.messages(_PROBE_QUERY, docs)
    except Exception as exc:  # a paradigm that cannot render without a tokenizer: key on its class only
        probe = repr(exc)
    return {"class": f"{type(paradigm).__module__}.{type(paradigm).__qualname__}", "name": paradigm.name,
            "settings": settings, "probe": _sha(probe)}


def config_key(engine: str, model: str | None, adapter: str | None, paradigm: Any, strategy: dict,
               extra: dict | None = None) -> str:
    return _sha({"engine": engine, "model": files_fingerprint(model, contents=False),
                 "adapter": files_fingerprint(adapter, contents=True), "paradigm": paradigm_fingerprint(paradigm),
                 "strategy": strategy, "extra": extra or {}})


def request_key(config: str, request: Request) -> str:
    q = request.query
    return _sha([config, q.qid, q.text, q.instruction,
                 [(c.docid, c.title, c.text) for c in request.candidates]])


class ResultCache:
    """Append-only JSONL of {key, qid, scores}; a torn last line (crash mid-write) is ignored on load."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.results: dict[str, dict[str, float]] = {}
        if self.path.is_file():
            with open(self.path, encoding="utf-8") as fh:
                for line in fh:
                    try:
                        rec = json.loads(line)
                        self.results[rec["key"]] = {str(d): float(s) for d, s in rec["scores"].items()}
                    except (ValueError, KeyError, TypeError, AttributeError):
                        continue

    def get(self, key: str) -> dict[str, float] | None:
        return self.results.get(key)

    def put_many(self, items: Iterable[tuple[str, str, dict[str, float]]]) -> None:
        """Write finished queries and make them durable before reporting progress."""
        lines = []
        for key, qid, scores in items:
            self.results[key] = dict(scores)
            lines.append(json.dumps({"key": key, "qid": qid, "scores": scores}, ensure_ascii=False) + "\n")
        if not lines:
            return
        with open(self.path, "a", encoding="utf-8") as fh:
            fh.write("".join(lines))
            fh.flush()
            os.fsync(fh.fileno())
