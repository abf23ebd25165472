"""`rl-rerank rl`: stage 2, GRPO with ranking rewards from a recipe YAML."""

from __future__ import annotations

from rl_rerank.commands._stage import add_stage_arguments, run_stage

HELP = "stage 2: GRPO with ranking rewards (TRL GRPOTrainer, vLLM or HF rollouts) from a recipe YAML"


def add_arguments(parser) -> None:
    add_stage_arguments(parser, "configs/erank-pointwise/grpo.yaml")


def run(args) -> int:
    return run_stage("grpo", args)
