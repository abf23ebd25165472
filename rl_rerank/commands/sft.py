"""`rl-rerank sft`: stage 1, supervised fine-tuning from a recipe YAML."""

from __future__ import annotations

HELP = "stage 1: supervised fine-tuning (TRL SFTTrainer, LoRA/QLoRA/full) from a recipe YAML"


def add_arguments(parser) -> None:
    parser.add_argument("--config", required=True, help="recipe YAML, e.g. configs/erank-pointwise/sft.yaml")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="override a key (dotted for sections), e.g. --set trl.learning_rate=2e-4 "
                             "--set lora.r=8 --set output_dir=runs/x; repeatable")
    parser.add_argument("--resume", action="store_true", default=None,
                        help="resume from the last checkpoint in output_dir (default: automatic when one exists)")
    parser.add_argument("--fresh", action="store_true", help="ignore existing checkpoints and start over")


def run(args) -> int:
    from rl_rerank.training.common import finish_distributed
    from rl_rerank.training.config import load_config

    cfg = load_config("sft", args.config, args.overrides)
    if args.resume:
        cfg.resume = True
    if args.fresh:
        cfg.resume = False
    from rl_rerank.training.sft import run_sft

    out = run_sft(cfg)
    print(f"sft: wrote {out}")
    finish_distributed()
    return 0
