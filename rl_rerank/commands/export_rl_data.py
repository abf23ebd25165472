"""`rl-rerank export-rl-data`: a GRPO recipe's training rows for another RL trainer (verl's parquet)."""

from __future__ import annotations

from pathlib import Path

from rl_rerank.argtypes import any_int, unit_float

HELP = "export a GRPO recipe's rows for verl (train.parquet + val.parquet, rewards via rl_rerank.rewards.verl)"


def add_arguments(parser) -> None:
    parser.add_argument("--config", required=True, help="GRPO recipe YAML, e.g. configs/reasonrank-listwise/grpo.yaml")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="override a recipe key, as for `rl-rerank rl`; repeatable")
    parser.add_argument("--format", choices=("verl",), default="verl", help="output layout (verl's RL parquet)")
    parser.add_argument("--out", required=True, help="folder to write: train.parquet, val.parquet, export.json")
    parser.add_argument("--val-fraction", type=unit_float, default=0.1, help="share of queries held out for validation")
    parser.add_argument("--seed", type=any_int, default=None, help="validation split seed (default: the recipe's)")
    parser.add_argument("--overwrite", action="store_true", help="replace a non-empty OUT")


def run(args) -> int:
    from rl_rerank.data.outputs import check_outputs
    from rl_rerank.training.config import load_config
    from rl_rerank.training.verl_data import check_out_dir, check_rewards, export_verl, split_queries

    out = Path(args.out)
    check_outputs(folders=[out], inputs=[args.config])
    check_out_dir(out, args.overwrite)  # before the recipe's data is built
    split_queries([], args.val_fraction, 0)  # validates the fraction
    cfg = load_config("grpo", args.config, args.overrides)
    check_rewards(cfg, args.config)
    info = export_verl(cfg, out, recipe=str(args.config), val_fraction=args.val_fraction, seed=args.seed,
                       overwrite=args.overwrite)
    print(f"export-rl-data: {info['train_rows']} train rows ({info['train_queries']} queries), "
          f"{info['val_rows']} val rows ({info['val_queries']} queries) -> {out}")
    return 0
