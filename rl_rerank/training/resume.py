"""Where a stage resumes: the last checkpoint in its output folder, as the recipe's `resume` setting asks.

Trainer checkpoints are folders named checkpoint-<global step> (transformers' PREFIX_CHECKPOINT_DIR); the
step is read from that name here and nowhere else in our code (run cards, the demo's dev curve); finding the
last one to resume from is the Trainer's own get_last_checkpoint (through rl_rerank.compat.transformers).
"""

from __future__ import annotations

import re
from pathlib import Path

from rl_rerank.errors import ConfigError
from rl_rerank.training.config import StageBase

_CHECKPOINT = re.compile(r"^checkpoint-(\d+)$")  # the pattern transformers.trainer_utils matches too


def checkpoint_step(path: str | Path | None) -> int | None:
    """The global step in a checkpoint folder's name (.../checkpoint-500 -> 500); None for any other name."""
    if not path:
        return None
    m = _CHECKPOINT.match(Path(path).name)
    return int(m.group(1)) if m else None


def checkpoints(output_dir: str | Path) -> list[tuple[int, Path]]:
    """(step, folder) of every checkpoint-<step> folder in output_dir, by step; [] when there is none."""
    folder = Path(output_dir)
    if not folder.is_dir():
        return []
    found = [(checkpoint_step(p), p) for p in folder.iterdir() if p.is_dir()]
    return sorted((step, p) for step, p in found if step is not None)


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
