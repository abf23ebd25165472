"""`rl-rerank sft`: stage 1, supervised fine-tuning from a recipe YAML."""

from __future__ import annotations

from rl_rerank.commands._stage import add_stage_arguments, run_stage

HELP = "stage 1: supervised fine-tuning (TRL SFTTrainer, LoRA/QLoRA/full) from a recipe YAML"


def add_arguments(parser) -> None:
    add_stage_arguments(parser, "configs/erank-pointwise/sft.yaml")


def run(args) -> int:
    return run_stage("sft", args)
