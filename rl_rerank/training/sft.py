"""Stage 1: supervised fine-tuning with TRL's SFTTrainer (loss on the completion only, LoRA/QLoRA or full).

Rows are TRL's conversational prompt-completion format (`prompt`: system/user messages, `completion`: one
assistant message), so SFTTrainer masks the prompt tokens itself (completion_only_loss). Packing stays off
by default: packed pointwise examples would let one pair's prompt attend to another's answer.
"""

from __future__ import annotations

import time
from pathlib import Path

from rl_rerank.datagen.rows import prepare_rows
from rl_rerank.training.config import SFTStage
from rl_rerank.training.policy import load_policy
from rl_rerank.training.resume import checkpoint_step, resume_target
from rl_rerank.training.run_card import base_card, write_outputs
from rl_rerank.training.trl_args import trl_kwargs

SFT_DEFAULTS = {"packing": False, "completion_only_loss": True, "max_length": 2048, "num_train_epochs": 1}


def build_sft_args(cfg: SFTStage, processes: int | None = None, rows: int | None = None):
    """SFTConfig with micro-batch and accumulation derived for `processes` (examples_per_step fixed)."""
    from trl import SFTConfig

    from rl_rerank.training.geometry import sft_geometry, world_size

    extra = dict(SFT_DEFAULTS)
    if cfg.ranking is not None:
        # our collator reads the group/label columns, and batches are whole groups in our sampler's order
        extra.update(remove_unused_columns=False, shuffle_dataset=False)
    geo = sft_geometry(cfg, processes or world_size(), rows, where=cfg.output_dir)
    kwargs = trl_kwargs(cfg, extra)
    kwargs.update(geo.trl_overrides())
    return SFTConfig(**kwargs), geo


def run_sft(cfg: SFTStage, callbacks: list | None = None) -> Path:
    """Train stage 1 and return the output folder (adapter or model, tokenizer, config.yaml, run_card.json)."""
    import rl_rerank.compat.trl  # noqa: F401 - the TRL internals we use exist, checked before any data work

    where = cfg.output_dir
    ds, data_info = prepare_rows("sft", cfg, where)  # data errors before any model is loaded
    wanted = ("prompt", "completion") + (RANKING_COLUMNS if cfg.ranking is not None else ())
    ds = ds.select_columns([c for c in ds.column_names if c in wanted])
    args, geo = build_sft_args(cfg, rows=len(ds))  # before the model: DeepSpeed ZeRO-3 must see its config
    if cfg.ranking is not None:
        data_info["ranking_groups"] = check_ranking_rows(ds, args.per_device_train_batch_size, where)
    resume = resume_target(cfg)

    model, tokenizer, peft_config = load_policy(cfg, want_peft_config=True)
    trainer = make_trainer(cfg, model, tokenizer, peft_config, args, ds, callbacks)
    state_before = checkpoint_step(resume) or 0
    started = time.time()
    trainer.train(resume_from_checkpoint=resume)
    out = Path(cfg.output_dir)
    card = base_card("sft", cfg, data_info, trainer, started, resume, state_before)
    card["geometry"] = geo.as_dict()
    write_outputs(trainer, cfg, "sft", out, card)
    return out


RANKING_COLUMNS = ("group", "label", "target")


def check_ranking_rows(ds, batch_size: int, where: str) -> int:
    """Ranking SFT needs group/label columns and groups of exactly one batch each."""
    from rl_rerank.errors import ConfigError
    from rl_rerank.training.rank_sft import check_groups

    missing = [c for c in RANKING_COLUMNS if c not in ds.column_names]
    if missing:
        raise ConfigError(f"{where}: ranking SFT needs rows with {list(RANKING_COLUMNS)} (missing {missing}); "
                          f"build them with data.build.group_size (pointwise)")
    return check_groups(ds["group"], batch_size, where)


def make_trainer(cfg: SFTStage, model, tokenizer, peft_config, args, ds, callbacks):
    """TRL's SFTTrainer, or its ranking subclass when the recipe has a `ranking:` section."""
    from trl import SFTTrainer

    common = dict(model=model, args=args, train_dataset=ds, processing_class=tokenizer, peft_config=peft_config,
                  callbacks=callbacks)
    if cfg.ranking is None:
        return SFTTrainer(**common)
    from rl_rerank.training.rank_sft import LeftPadCollator, digit_values, ranking_trainer_class

    digit_ids = [tokenizer.convert_tokens_to_ids(str(d)) for d in range(10)]
    values = digit_values(ds["target"], cfg.ranking.max_score)
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    return ranking_trainer_class()(ranking=cfg.ranking, digit_ids=digit_ids, digit_values=values,
                                   data_collator=LeftPadCollator(pad, digit_ids), **common)
