"""The rows a training stage reads: a prebuilt file, or built from sources (once per machine), then checked.

Checks run before any model is loaded, so data errors come first; the run card records the rows' hash.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from rl_rerank.data._io import iter_jsonl, load_json
from rl_rerank.errors import ConfigError, DataError
from rl_rerank.training.config import GRPOStage, StageBase


def _read_rows(path: str):
    import datasets

    p = Path(path)
    if p.is_dir():
        return datasets.load_from_disk(str(p))
    suffix = p.suffix.lower()
    if suffix == ".jsonl":
        return datasets.Dataset.from_list([rec for _, rec in iter_jsonl(p)])
    if suffix == ".json":
        data = load_json(p)
        rows = data.get("rows") if isinstance(data, dict) else data
        if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
            raise DataError(p, None, 'a JSON list of row objects, or {"rows": [...]}')
        return datasets.Dataset.from_list(rows)
    if suffix == ".parquet":
        return datasets.Dataset.from_parquet(str(p))
    raise ConfigError(f"data.path {path!r}: expected .jsonl, .json, .parquet or a datasets folder")


def load_rows(stage: str, cfg: StageBase):
    """The training rows as a datasets.Dataset: a prebuilt file, or built by rl_rerank.datagen.examples."""
    return load_rows_once(stage, cfg)[0]


def load_rows_once(stage: str, cfg: StageBase):
    """(rows, how): how is "file" (prebuilt rows), "built" (this process built them) or "cache" (another
    process or an earlier run built them: see datagen/cache.py)."""
    from rl_rerank.datagen import examples as builders
    from rl_rerank.models import load_tokenizer, resolve_model

    if cfg.data.path is not None:
        if builders.is_built_jsonl(cfg.data.path):
            rows = builders.read_built(cfg.data.path)  # validates every row, DataError with file:line
        else:
            rows = _read_rows(cfg.data.path)
        # rows built elsewhere: their text must not tokenize as special tokens either
        return builders.neutralize_rows(rows, load_tokenizer(resolve_model(cfg.model))), "file"
    from rl_rerank.datagen.cache import built_once, cache_key
    from rl_rerank.paradigms import get_paradigm

    paradigm = get_paradigm(cfg.paradigm, reasoning=cfg.reasoning, **cfg.paradigm_args)
    build = {"reasoning": cfg.reasoning, "seed": cfg.seed, **(cfg.data.build or {})}
    if "max_doc_tokens" in cfg.paradigm_args:
        build.setdefault("max_doc_tokens", cfg.paradigm_args["max_doc_tokens"])
    if isinstance(cfg, GRPOStage) and cfg.group_by_query and paradigm.single_document:
        build.setdefault("docs_per_query", cfg.docs_per_query)
    build.setdefault("tokenizer", load_tokenizer(resolve_model(cfg.model)))
    fn = builders.build_sft_dataset if stage == "sft" else builders.build_grpo_dataset
    key = cache_key(stage, build, cfg.paradigm, cfg.paradigm_args, build["tokenizer"])
    return built_once(key, lambda: fn(paradigm, **build))


def check_rows(stage: str, ds, where: str) -> dict:
    """Columns the stage needs are there and at least one row is a positive. Returns counts for the run card."""
    cols = set(ds.column_names)
    need = {"sft": {"prompt", "completion"}, "grpo": {"prompt"}}[stage]
    missing = need - cols
    if missing:
        raise ConfigError(f"{where}: training rows lack column(s) {sorted(missing)} (have {sorted(cols)})")
    if len(ds) == 0:
        raise ConfigError(f"{where}: the training data has no rows; check data.path / data.build")
    info: dict[str, Any] = {"n_rows": len(ds)}
    positives = None
    if "label" in cols:
        positives = sum(1 for v in ds["label"] if v is not None and v > 0)
    elif "labels" in cols:
        positives = sum(1 for v in ds["labels"] if v and any(x > 0 for x in v))
    elif "teacher_score" in cols:
        positives = sum(1 for v in ds["teacher_score"] if v is not None and v > 0)
    if positives is not None:
        info["rows_with_positive"] = positives
        if positives == 0:
            raise ConfigError(f"{where}: the training data has no positives (every label is 0); check the qrels "
                              f"matched to the queries/docids, or lower the positive threshold of the data builder")
    if "qid" in cols:
        info["n_queries"] = len(set(ds["qid"]))
    return info


def data_hash(ds) -> str:
    """sha256 over the rows (canonical JSON), so a run card pins exactly what was trained on."""
    h = hashlib.sha256()
    for row in ds:
        h.update(json.dumps(row, sort_keys=True, default=str).encode())
        h.update(b"\n")
    return h.hexdigest()[:16]


def prepare_rows(stage: str, cfg: StageBase, where: str):
    """Load, check, shuffle and cut the rows. Runs before any model is loaded so data errors come first."""
    ds, how = load_rows_once(stage, cfg)
    info = check_rows(stage, ds, where)
    info["rows_from"] = how
    if cfg.data.shuffle:
        ds = ds.shuffle(seed=cfg.seed)
    if cfg.data.max_examples is not None:
        ds = ds.select(range(min(cfg.data.max_examples, len(ds))))
    info["n_used"] = len(ds)
    info["hash"] = data_hash(ds)
    info["source"] = cfg.data.path or "build"
    return ds, info
