"""`rl-rerank rl`: stage 2, GRPO with ranking rewards from a recipe YAML."""

from __future__ import annotations

HELP = "stage 2: GRPO with ranking rewards (TRL GRPOTrainer, vLLM or HF rollouts) from a recipe YAML"


def add_arguments(parser) -> None:
    parser.add_argument("--config", required=True, help="recipe YAML, e.g. configs/erank-pointwise/grpo.yaml")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="override a key (dotted for sections), e.g. --set trl.learning_rate=2e-4 "
                             "--set lora.r=8 --set output_dir=runs/x; repeatable")
    parser.add_argument("--resume", action="store_true", default=None,
                        help="resume from the last checkpoint in output_dir (default: automatic when one exists)")
    parser.add_argument("--fresh", action="store_true", help="ignore existing checkpoints and start over")


def run(args) -> int:
    from rl_rerank.training.common import finish_distributed
    from rl_rerank.training.config import load_config

    cfg = load_config("grpo", args.config, args.overrides)
    if args.resume:
        cfg.resume = True
    if args.fresh:
        cfg.resume = False
    from rl_rerank.training.grpo import run_grpo

    out = run_grpo(cfg)
    print(f"rl: wrote {out}")
    finish_distributed()
    return 0
