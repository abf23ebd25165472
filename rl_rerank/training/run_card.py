"""A stage's run card (what ran, on what, how fast, from which rows) and its final outputs."""

from __future__ import annotations

import os
import platform
import resource
import time
from pathlib import Path

from rl_rerank.training.config import StageBase, dump_yaml


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def peak_gpu_gib() -> float | None:
    """Peak memory torch allocated on this process's GPU (None without CUDA)."""
    import torch

    if not torch.cuda.is_available():
        return None
    return round(torch.cuda.max_memory_allocated() / 2**30, 2)


def versions() -> dict:
    import importlib.metadata as md

    out = {"python": platform.python_version()}
    for pkg in ("torch", "transformers", "trl", "peft", "accelerate", "datasets", "deepspeed", "vllm"):
        try:
            out[pkg] = md.version(pkg)
        except md.PackageNotFoundError:
            pass
    return out


def write_outputs(trainer, cfg: StageBase, stage: str, out: Path, card: dict) -> None:
    """Final adapter/model + tokenizer (all ranks take part: ZeRO-3 gathers), then config and card (rank 0)."""
    from rl_rerank.compat.trl import REF_ADAPTER
    from rl_rerank.data.atomic import write_json, write_text

    trainer.save_model(str(out))
    if not trainer.is_world_process_zero():
        return
    ref_dir = out / REF_ADAPTER  # GRPO's frozen reference copy of the stage-1 adapter: not part of the result
    if ref_dir.is_dir() and (ref_dir / "adapter_config.json").is_file():
        import shutil

        shutil.rmtree(ref_dir)
    trainer.processing_class.save_pretrained(str(out))
    write_text(out / "config.yaml", dump_yaml(cfg))
    write_json(out / "run_card.json", card)


def base_card(stage: str, cfg: StageBase, data_info: dict, trainer, started: float, resumed_from: str | None,
              state_before: int) -> dict:
    state = trainer.state
    losses = [h["loss"] for h in state.log_history if "loss" in h]
    steps_run = max(state.global_step - state_before, 1)
    elapsed = time.time() - started
    train_metrics: dict = next((h for h in reversed(state.log_history) if "train_runtime" in h), {})
    return {
        "stage": stage,
        "model": cfg.model,
        "init_from": getattr(cfg, "init_from", None),
        "paradigm": cfg.paradigm,
        "reasoning": cfg.reasoning,
        "lora": None if cfg.lora is None else {"r": cfg.lora.r, "alpha": cfg.lora.alpha},
        "quantization": cfg.quantization,
        "data": data_info,
        "global_step": state.global_step,
        "steps_this_run": steps_run,
        "resumed_from": resumed_from,
        "train_loss": train_metrics.get("train_loss", losses[-1] if losses else None),
        "first_loss": losses[0] if losses else None,
        "last_loss": losses[-1] if losses else None,
        "train_runtime_s": train_metrics.get("train_runtime", elapsed),
        "seconds_per_step": round(train_metrics.get("train_runtime", elapsed) / steps_run, 3),
        "peak_rss_mb_rank0": round(peak_rss_mb(), 1),
        "peak_gpu_gib_rank0": peak_gpu_gib(),
        "world_size": trainer.args.world_size,
        "device": str(trainer.args.device),
        "versions": versions(),
        "pid": os.getpid(),
    }
