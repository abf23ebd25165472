"""What `rl-rerank sft` and `rl-rerank rl` share: recipe + overrides + resume flags, then one training stage."""

from __future__ import annotations

from rl_rerank.argtypes import positive_int


def add_stage_arguments(parser, example: str) -> None:
    parser.add_argument("--config", required=True, help=f"recipe YAML, e.g. {example}")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="override a key (dotted for sections), e.g. --set trl.learning_rate=2e-4 "
                             "--set lora.r=8 --set output_dir=runs/x; repeatable")
    parser.add_argument("--resume", action="store_true", default=None,
                        help="resume from the last checkpoint in output_dir (default: automatic when one exists)")
    parser.add_argument("--fresh", action="store_true", help="ignore existing checkpoints and start over")
    parser.add_argument("--dry-run", action="store_true",
                        help="validate the recipe, print the batch geometry and build a data sample; no model loads")
    parser.add_argument("--num-processes", type=positive_int, nargs="+", default=None, metavar="N",
                        help="--dry-run: process counts to show the geometry for (default: this run's, else 1)")
    parser.add_argument("--sample-queries", type=positive_int, default=16,
                        help="--dry-run: queries in the data sample (default 16)")


def run_stage(stage: str, args) -> int:
    """Validate the config (before any model loads), train, and end a multi-process run cleanly."""
    from rl_rerank.training.config import SFTStage, load_config
    from rl_rerank.training.runtime import finish_distributed

    if args.dry_run:
        from rl_rerank.training.dryrun import dry_run
        from rl_rerank.training.geometry import world_size

        dry_run(stage, args.config, args.overrides, args.num_processes or [world_size()], args.sample_queries)
        return 0

    from rl_rerank.data.outputs import check_outputs

    cfg = load_config(stage, args.config, args.overrides)
    check_outputs(folders=[cfg.output_dir], inputs=[args.config, cfg.data.path, cfg.init_from, cfg.model])
    if args.resume:
        cfg.resume = True
    if args.fresh:
        cfg.resume = False
    if isinstance(cfg, SFTStage):
        from rl_rerank.training.sft import run_sft

        out = run_sft(cfg)
    else:
        from rl_rerank.training.grpo import run_grpo

        out = run_grpo(cfg)
    print(f"{args.command}: wrote {out}")
    finish_distributed()
    return 0
