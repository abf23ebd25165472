"""TRL arguments for a stage: our defaults, CPU-safe settings without a GPU, then the recipe's `trl:` section."""

from __future__ import annotations

import os
from typing import Any

from rl_rerank.training.config import StageBase
from rl_rerank.training.runtime import has_gpu

CPU_DEFAULTS = {"use_cpu": True, "bf16": False, "fp16": False, "gradient_checkpointing": False}
COMMON_DEFAULTS = {"report_to": "none", "logging_steps": 1, "save_strategy": "steps", "save_steps": 50,
                   "save_total_limit": 2}


def trl_kwargs(cfg: StageBase, extra: dict | None = None) -> dict:
    """Our defaults, then the CPU settings (when no GPU), then the recipe's trl section, then ours on top."""
    kwargs: dict[str, Any] = dict(COMMON_DEFAULTS)
    if not has_gpu():
        kwargs.update(CPU_DEFAULTS)
    kwargs.update(extra or {})
    kwargs.update(cfg.trl)
    if not has_gpu():  # a GPU recipe run on CPU (tests, --set overrides): these would crash, not just slow down
        kwargs["use_cpu"] = True
        kwargs["bf16"] = False
        kwargs["fp16"] = False
    kwargs["output_dir"] = cfg.output_dir
    kwargs["seed"] = cfg.seed
    token = kwargs.pop("hub_token", None)
    if token:  # the Trainer pickles its arguments into training_args.bin: hand the token over by environment
        os.environ.setdefault("HF_TOKEN", str(token))
    return kwargs
