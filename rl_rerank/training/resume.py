"""Where a stage resumes: the last checkpoint in its output folder, as the recipe's `resume` setting asks."""

from __future__ import annotations

from pathlib import Path

from rl_rerank.errors import ConfigError
from rl_rerank.training.config import StageBase


def last_checkpoint(output_dir: str) -> str | None:
    if not Path(output_dir).is_dir():
        return None
    from rl_rerank.compat.transformers import last_checkpoint as trainer_last_checkpoint

    return trainer_last_checkpoint(output_dir)


def resume_target(cfg: StageBase) -> str | None:
    """resume: true -> must have a checkpoint; null -> resume when one exists; false -> start over."""
    ckpt = last_checkpoint(cfg.output_dir)
    if cfg.resume is True and ckpt is None:
        raise ConfigError(f"--resume: no checkpoint-* folder in {cfg.output_dir}; drop --resume to start fresh")
    if cfg.resume is False:
        return None
    return ckpt
