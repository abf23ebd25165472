"""verl recipes (configs/<recipe>/{ppo,grpo}-verl.yaml) -> the command line launch/verl.sh runs.

A verl recipe names our GRPO recipe (data + rewards come from it through `rl-rerank export-rl-data`), the
stage-1 adapter and its merged export (verl's actor starts from a full model: `rl-rerank export --merge`
writes it), the data folder, and verl's own Hydra overrides. The paths to the data, the merged model (actor,
and critic for GAE) and the reward adapter are filled in here, so a recipe cannot point them at different
places; anything in `overrides` wins over the defaults below.

    python -m rl_rerank.training.verl_launch CONFIG get merged_model
    python -m rl_rerank.training.verl_launch CONFIG command [--nnodes N] [--gpus-per-node G]
"""

from __future__ import annotations

import argparse
import shlex
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rl_rerank.argtypes import positive_int
from rl_rerank.errors import ConfigError, UserError
from rl_rerank.keyvalue import split_pair

REWARD_PATH = "pkg://rl_rerank.rewards.verl"
FIELDS = ("recipe", "stage1", "merged_model", "data_dir", "val_fraction", "overrides")


@dataclass
class VerlRecipe:
    recipe: str  # our GRPO recipe: data and rewards
    stage1: str  # stage-1 adapter folder (rl-rerank sft output)
    merged_model: str  # `rl-rerank export --adapter STAGE1 --out X --merge` writes X/merged: verl's model.path
    data_dir: str  # export-rl-data output: train.parquet, val.parquet
    val_fraction: float = 0.05
    overrides: dict[str, Any] = field(default_factory=dict)
    where: str = ""


def load_verl_recipe(path: str | Path) -> VerlRecipe:
    import yaml

    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path}: no such verl recipe")
    raw = yaml.safe_load(path.read_text()) or {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: expected a mapping with keys {', '.join(FIELDS)}")
    unknown = sorted(set(raw) - set(FIELDS))
    if unknown:
        raise ConfigError(f"{path}: unknown key(s) {unknown}; a verl recipe has {', '.join(FIELDS)}")
    missing = [k for k in ("recipe", "stage1", "merged_model", "data_dir") if not raw.get(k)]
    if missing:
        raise ConfigError(f"{path}: missing {', '.join(missing)}")
    overrides = raw.get("overrides") or {}
    if not isinstance(overrides, dict):
        raise ConfigError(f"{path}: overrides must be a mapping of verl keys (dotted) to values")
    estimator = overrides.get("algorithm.adv_estimator")
    if estimator not in ("gae", "grpo"):
        raise ConfigError(f"{path}: overrides need algorithm.adv_estimator: gae (PPO with a critic) or grpo")
    return VerlRecipe(str(raw["recipe"]), str(raw["stage1"]), str(raw["merged_model"]), str(raw["data_dir"]),
                      float(raw.get("val_fraction", 0.05)), dict(overrides), str(path))


def hydra_value(value: Any) -> str:
    """A YAML value as Hydra's override grammar writes it."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(hydra_value(v) for v in value) + "]"
    return str(value)


def overrides(r: VerlRecipe, nnodes: int | None = None, gpus_per_node: int | None = None,
              extra: list[str] | None = None) -> list[str]:
    """key=value overrides for verl.trainer.main_ppo: paths filled in, then the recipe's, then the flags, then
    `extra` (command-line key=value); each key once (Hydra refuses a key given twice)."""
    data = Path(r.data_dir)
    out: dict[str, Any] = {
        "data.train_files": str(data / "train.parquet"),
        "data.val_files": str(data / "val.parquet"),
        "actor_rollout_ref.model.path": r.merged_model,
        "reward.custom_reward_function.path": REWARD_PATH,
        "reward.custom_reward_function.name": "compute_score",
    }
    if r.overrides.get("algorithm.adv_estimator") == "gae":
        out["critic.model.path"] = r.merged_model
    out.update(r.overrides)
    if nnodes is not None:
        out["trainer.nnodes"] = nnodes
    if gpus_per_node is not None:
        out["trainer.n_gpus_per_node"] = gpus_per_node
    items = {k: hydra_value(v) for k, v in out.items()}
    for item in extra or []:
        key, value = split_pair(item, "override", "trainer.total_epochs=2 (Hydra syntax; values stay text)")
        items.pop(key, None)
        items[key] = value
    return [f"{k}={v}" for k, v in items.items()]


def command(r: VerlRecipe, python: str = "python", nnodes: int | None = None,
            gpus_per_node: int | None = None, extra: list[str] | None = None) -> list[str]:
    return [python, "-m", "verl.trainer.main_ppo", *overrides(r, nnodes, gpus_per_node, extra)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m rl_rerank.training.verl_launch")
    parser.add_argument("config")
    sub = parser.add_subparsers(dest="what", required=True)
    g = sub.add_parser("get", help="print one field of the recipe")
    g.add_argument("field", choices=("recipe", "stage1", "merged_model", "data_dir", "val_fraction"))
    c = sub.add_parser("command", help="print verl's command, one argument per line")
    c.add_argument("--python", default="python")
    c.add_argument("--nnodes", type=positive_int, default=None)
    c.add_argument("--gpus-per-node", type=positive_int, default=None)
    c.add_argument("--shell", action="store_true", help="one shell-quoted line instead")
    c.add_argument("extra", nargs="*", help="key=value overrides on top of the recipe's")
    args = parser.parse_args(argv)
    try:
        r = load_verl_recipe(args.config)
        if args.what == "get":
            print(getattr(r, args.field))
            return 0
        cmd = command(r, args.python, args.nnodes, args.gpus_per_node, args.extra)
    except UserError as exc:
        print(f"verl recipe: error: {exc}", file=sys.stderr)
        return 2
    print(shlex.join(cmd) if args.shell else "\n".join(cmd))
    return 0


if __name__ == "__main__":
    sys.exit(main())
