"""Stage 1: supervised fine-tuning with TRL's SFTTrainer (loss on the completion only, LoRA/QLoRA or full).

Rows are TRL's conversational prompt-completion format (`prompt`: system/user messages, `completion`: one
assistant message), so SFTTrainer masks the prompt tokens itself (completion_only_loss). Packing stays off
by default: packed pointwise examples would let one pair's prompt attend to another's answer.
"""

from __future__ import annotations

import time
from pathlib import Path

from rl_rerank.training.common import (base_card, load_policy, prepare_rows, resume_target, trl_kwargs,
                                       write_outputs)
from rl_rerank.training.config import SFTStage

SFT_DEFAULTS = {"packing": False, "completion_only_loss": True, "max_length": 2048, "num_train_epochs": 1}


def build_sft_args(cfg: SFTStage):
    from trl import SFTConfig

    return SFTConfig(**trl_kwargs(cfg, SFT_DEFAULTS))


def run_sft(cfg: SFTStage, callbacks: list | None = None) -> Path:
    """Train stage 1 and return the output folder (adapter or model, tokenizer, config.yaml, run_card.json)."""
    where = cfg.output_dir
    ds, data_info = prepare_rows("sft", cfg, where)  # data errors before any model is loaded
    keep = [c for c in ds.column_names if c in ("prompt", "completion")]
    ds = ds.select_columns(keep)
    args = build_sft_args(cfg)  # before the model: DeepSpeed ZeRO-3 must see its config at load time
    resume = resume_target(cfg)

    from trl import SFTTrainer

    model, tokenizer, peft_config = load_policy(cfg, want_peft_config=True)
    trainer = SFTTrainer(model=model, args=args, train_dataset=ds, processing_class=tokenizer,
                         peft_config=peft_config, callbacks=callbacks)
    state_before = _step_of(resume)
    started = time.time()
    trainer.train(resume_from_checkpoint=resume)
    out = Path(cfg.output_dir)
    card = base_card("sft", cfg, data_info, trainer, started, resume, state_before)
    write_outputs(trainer, cfg, "sft", out, card)
    return out


def _step_of(checkpoint: str | None) -> int:
    if not checkpoint:
        return 0
    try:
        return int(Path(checkpoint).name.rsplit("-", 1)[1])
    except (IndexError, ValueError):
        return 0
