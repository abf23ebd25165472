"""A GRPO recipe's rows as verl's RL parquet (train.parquet, val.parquet), for verl's PPO/GRPO trainer.

The rows are the ones `rl-rerank rl` trains on (datagen.rows.prepare_rows: same builder, shuffle, cut); this
module only re-dresses them in verl's documented fields:

- `data_source`: "rl_rerank/<paradigm>" (verl groups validation metrics by it);
- `prompt`: the chat messages, as built;
- `ability`: "reranking";
- `reward_model`: {"style": "rule", "ground_truth": graded labels in prompt order};
- `extra_info`: index, split, qid, docids, labels, initial_order (prompt positions in first-stage order, the
  initial ranking REARANK improves on), paradigm, settings (JSON: recipe, paradigm settings, rewards, weights,
  reward options) and columns (JSON: the row's reward columns exactly as TRL passes them), which
  rl_rerank.rewards.verl.compute_score reads.

Validation holds out whole queries (seeded), so no query is in both files.
"""

from __future__ import annotations

import json
import math
import random
from pathlib import Path
from typing import Any

from rl_rerank.errors import ConfigError, UserError
from rl_rerank.training.config import GRPOStage

ABILITY = "reranking"


def check_out_dir(out: Path, overwrite: bool) -> None:
    """Refuse a non-empty folder unless --overwrite (checked before any data is built)."""
    if out.exists() and not out.is_dir():
        raise UserError(f"{out}: exists and is not a folder")
    if out.is_dir() and any(out.iterdir()) and not overwrite:
        raise UserError(f"{out}: folder is not empty; pass --overwrite to replace it")


def check_rewards(cfg: GRPOStage, where: str) -> None:
    from rl_rerank.rewards.verl import POOLED_REWARDS

    pooled = sorted(set(cfg.rewards) & POOLED_REWARDS)
    if pooled:
        raise ConfigError(f"{where}: reward {pooled[0]!r} pools all rollouts of a query; verl 0.9.1 scores one "
                          f"rollout at a time, so this recipe stays on the TRL backend (`rl-rerank rl`)")


def split_queries(qids: list[str], val_fraction: float, seed: int) -> set[str]:
    """The validation qids: round(fraction x queries), at least 1 and at most all but one when fraction > 0."""
    if not 0.0 <= val_fraction < 1.0:
        raise UserError(f"--val-fraction must be in [0, 1), got {val_fraction}")
    unique = sorted(set(qids))
    if val_fraction == 0.0 or len(unique) < 2:
        return set()
    n = min(len(unique) - 1, max(1, math.floor(val_fraction * len(unique) + 0.5)))
    random.Random(f"{seed}:verl-val").shuffle(unique)
    return set(unique[:n])


def settings_of(cfg: GRPOStage, recipe: str) -> dict:
    from rl_rerank.training.grpo import reward_common

    return {"recipe": recipe, "paradigm": cfg.paradigm, "reasoning": cfg.reasoning,
            "paradigm_args": dict(cfg.paradigm_args), "rewards": {k: float(v) for k, v in cfg.rewards.items()},
            "reward_args": dict(cfg.reward_args), "common": reward_common(cfg)}


def verl_record(row: dict, index: int, split: str, settings_json: str, paradigm: str) -> dict:
    """One built GRPO row in verl's layout."""
    columns = {k: v for k, v in row.items() if k != "prompt"}
    if "docids" in row:
        docids, labels = [str(d) for d in row["docids"]], [int(g) for g in row["labels"]]
    else:  # pointwise: one document per prompt
        docids, labels = [str(row.get("docid", ""))], [int(row.get("label") or 0)]
    return {
        "data_source": f"rl_rerank/{paradigm}",
        "prompt": [{"role": m["role"], "content": m["content"]} for m in row["prompt"]],
        "ability": ABILITY,
        "reward_model": {"style": "rule", "ground_truth": labels},
        "extra_info": {"index": index, "split": split, "qid": str(row.get("qid", "")), "docids": docids,
                       "labels": labels, "initial_order": list(range(len(docids))), "paradigm": paradigm,
                       "settings": settings_json, "columns": json.dumps(columns, ensure_ascii=False)},
    }


def build_records(cfg: GRPOStage, recipe: str, val_fraction: float = 0.1,
                  seed: int | None = None) -> tuple[list[dict], list[dict], dict]:
    """(train records, val records, info) from the recipe's GRPO rows."""
    from rl_rerank.datagen.rows import prepare_rows
    from rl_rerank.training.grpo import attach_reference

    where = recipe or cfg.output_dir
    check_rewards(cfg, where)
    ds, info = prepare_rows("grpo", cfg, where)
    ds, info["reference"] = attach_reference(cfg, ds)  # ref_score as the TRL path fills it (pointwise, stage1)
    rows: list[dict[str, Any]] = [dict(r) for r in ds]
    seed = cfg.seed if seed is None else seed
    val_qids = split_queries([str(r.get("qid", i)) for i, r in enumerate(rows)], val_fraction, seed)
    settings_json = json.dumps(settings_of(cfg, recipe), sort_keys=True, ensure_ascii=False)
    train: list[dict[str, Any]] = []
    val: list[dict[str, Any]] = []
    for i, row in enumerate(rows):
        is_val = str(row.get("qid", i)) in val_qids
        target = val if is_val else train
        target.append(verl_record(row, i, "val" if is_val else "train", settings_json, cfg.paradigm))
    info.update(train_rows=len(train), val_rows=len(val), val_queries=len(val_qids),
                train_queries=len({r["extra_info"]["qid"] for r in train}))
    return train, val, info


def write_parquet(path: Path, records: list[dict], schema=None):
    """Write records; `schema` (the train file's) keeps an empty validation file readable with the same columns."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.Table.from_pylist(records, schema=schema)
    pq.write_table(table, path)
    return table.schema


def export_verl(cfg: GRPOStage, out: str | Path, recipe: str = "", val_fraction: float = 0.1,
                seed: int | None = None, overwrite: bool = False) -> dict:
    """Write OUT/train.parquet, OUT/val.parquet and OUT/export.json; the folder appears whole or not at all."""
    out = Path(out)
    check_out_dir(out, overwrite)
    train, val, info = build_records(cfg, recipe, val_fraction, seed)
    if not train:
        raise UserError(f"{recipe}: every query went to validation; lower --val-fraction")
    from rl_rerank.data.atomic import publish_folder, write_json

    info.update(format="verl", recipe=recipe, val_fraction=val_fraction, seed=cfg.seed if seed is None else seed)

    def write(tmp: Path) -> None:
        schema = write_parquet(tmp / "train.parquet", train)
        write_parquet(tmp / "val.parquet", val, schema)
        write_json(tmp / "export.json", info)

    # a new OUT appears whole; with --overwrite only the files an export writes are replaced, the user's stay
    publish_folder(out, write, existing="merge")
    return info
