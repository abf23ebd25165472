"""Stage 2: GRPO with TRL's GRPOTrainer against ranking rewards picked by name, starting from stage 1.

Start point (decided here, see load_policy): a stage-1 LoRA adapter is loaded *trainable* on the base model
and training continues on it; with beta > 0 TRL keeps a frozen copy of it (adapter compat.trl.REF_ADAPTER) as the KL
reference, so the KL anchors to the SFT policy and the result is one adapter on the original base (what the
rerank engines load). We do not merge-then-new-LoRA: that would anchor KL to the same policy but leave a
merged base to ship next to the adapter. A full stage-1 model is trained directly (new LoRA when `lora` set).

Everything else (loss_type grpo/dr_grpo/dapo, importance_sampling_level, num_iterations, beta, epsilon,
vLLM colocate/server rollouts, per-reward logging) is TRL's, set through the recipe's `trl:` section.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from rl_rerank.datagen.rows import prepare_rows
from rl_rerank.errors import ConfigError
from rl_rerank.training.config import GRPOStage
from rl_rerank.training.grouping import QUERY_GROUP_REWARDS, gather_query_groups, grouped_trainer_class, query_groups
from rl_rerank.training.policy import load_policy
from rl_rerank.training.resume import checkpoint_step, resume_target
from rl_rerank.training.run_card import base_card, write_outputs
from rl_rerank.training.trl_args import trl_kwargs

GRPO_DEFAULTS = {"num_generations": 8, "max_completion_length": 256, "beta": 0.001, "loss_type": "dapo",
                 "log_completions": False}


def _named(func: Callable, name: str) -> Callable:
    """TRL logs rewards under func.__name__; registry entries may be partials or lambdas."""

    def reward(*args, **kwargs):
        return func(*args, **kwargs)

    reward.__name__ = reward.__qualname__ = name
    return reward


def reward_common(cfg: GRPOStage) -> dict:
    """Options every reward of a recipe gets when its factory takes them (the verl export stores the same)."""
    common = {"reasoning": cfg.reasoning, "paradigm": cfg.paradigm}
    if "max_score" in cfg.paradigm_args:
        common["max_score"] = cfg.paradigm_args["max_score"]
    return common


def build_rewards(cfg: GRPOStage, override: dict[str, Callable] | None = None) -> tuple[list[Callable], list[float]]:
    """Reward functions and weights by name; erank-style rewards get the cross-process query-group gather."""
    names = list(cfg.rewards)
    if override is not None:
        funcs = [override[n] for n in names]
    else:
        from rl_rerank.rewards import build_reward_funcs

        funcs, _weights = build_reward_funcs({n: float(w) for n, w in cfg.rewards.items()},
                                             options=cfg.reward_args, **reward_common(cfg))
    weights = [float(cfg.rewards[n]) for n in names]
    out = []
    g = int(cfg.trl.get("num_generations", GRPO_DEFAULTS["num_generations"]))
    for name, func in zip(names, funcs, strict=True):
        func = _named(func, name)
        if name in QUERY_GROUP_REWARDS:
            func = gather_query_groups(func, name, cfg.docs_per_query, g)
        out.append(func)
    return out, weights


def check_grouping(cfg: GRPOStage, ds, where: str) -> dict:
    """Query grouping: the rows must come in whole queries (the batch geometry is checked by geometry.py)."""
    needs = [n for n in cfg.rewards if n in QUERY_GROUP_REWARDS]
    if needs and not cfg.group_by_query:
        raise ConfigError(f"{where}: reward {needs[0]!r} ranks all documents of a query together; "
                          f"set group_by_query: true and docs_per_query")
    if not cfg.group_by_query:
        return {}
    if "qid" not in ds.column_names:
        raise ConfigError(f"{where}: group_by_query needs a qid column in the training rows")
    groups, dropped = query_groups(ds["qid"], cfg.docs_per_query)
    if len(groups) < cfg.queries_per_generation:
        raise ConfigError(f"{where}: only {len(groups)} queries have exactly docs_per_query={cfg.docs_per_query} "
                          f"rows (row counts of the others: {dropped}); set docs_per_query to the rows per query")
    info = {"query_groups": len(groups), "queries_dropped_by_size": dropped}
    if "label" in ds.column_names:
        labels = ds["label"]
        info["query_groups_without_positive"] = sum(1 for rows in groups if not any(labels[i] > 0 for i in rows))
    return info


def attach_reference(cfg: GRPOStage, ds):
    """Fill the ref_score column with the stage-1 model's scores (ERank's t_i) when the recipe asks for it."""
    if cfg.reference != "stage1" or cfg.paradigm != "pointwise" or "prompt" not in ds.column_names:
        return ds, {"mode": cfg.reference, "rows": 0}
    from rl_rerank.training.policy import policy_base
    from rl_rerank.training.reference import reference_scores

    base, adapter = policy_base(cfg)
    scores = reference_scores(ds["prompt"], base, adapter or cfg.init_from, cfg.output_dir,
                              int(cfg.paradigm_args.get("max_score", 10)))
    if "ref_score" in ds.column_names:
        ds = ds.remove_columns("ref_score")
    ds = ds.add_column("ref_score", scores)
    read = [x for x in scores if x is not None]
    return ds, {"mode": "stage1", "rows": len(scores), "unread": len(scores) - len(read),
                "mean": round(sum(read) / max(1, len(read)), 4)}


def generation_units(cfg: GRPOStage, ds) -> int:
    """What one epoch holds: whole query groups (group_by_query) or prompts (rows)."""
    if cfg.group_by_query:
        return len(query_groups(ds["qid"], cfg.docs_per_query)[0])
    return len(ds)


def build_grpo_args(cfg: GRPOStage, processes: int | None = None, units: int | None = None):
    """GRPOConfig with the geometry (micro-batch, accumulation, generation batch, steps) for `processes`."""
    from trl import GRPOConfig

    from rl_rerank.training.geometry import grpo_geometry, world_size

    geo = grpo_geometry(cfg, processes or world_size(), units, where=cfg.output_dir)
    kwargs = trl_kwargs(cfg, dict(GRPO_DEFAULTS))
    kwargs.update(geo.trl_overrides())
    if geo.depends_on_processes:
        kwargs.pop("generation_batch_size", None)
    args = GRPOConfig(**kwargs)
    return args, geo


def run_grpo(cfg: GRPOStage, reward_funcs: dict[str, Callable] | None = None, callbacks: list | None = None) -> Path:
    """Train stage 2 and return the output folder. `reward_funcs` replaces registry lookups (tests, probes)."""
    import rl_rerank.compat.trl  # noqa: F401 - the TRL internals we use exist, checked before any data work

    where = cfg.output_dir
    ds, data_info = prepare_rows("grpo", cfg, where)
    data_info.update(check_grouping(cfg, ds, where))
    ds, data_info["reference"] = attach_reference(cfg, ds)
    funcs, weights = build_rewards(cfg, reward_funcs)
    args, geo = build_grpo_args(cfg, units=generation_units(cfg, ds))
    args.reward_weights = weights
    resume = resume_target(cfg)

    from trl import GRPOTrainer

    model, tokenizer, peft_config = load_policy(cfg, want_peft_config=True)
    kwargs = dict(model=model, reward_funcs=funcs, args=args, train_dataset=ds, processing_class=tokenizer,
                  peft_config=peft_config, callbacks=callbacks)
    trainer_cls = GRPOTrainer
    if cfg.group_by_query:
        trainer_cls = grouped_trainer_class()
        kwargs.update(docs_per_query=cfg.docs_per_query, queries_per_generation=cfg.queries_per_generation)
    if args.use_vllm and args.vllm_mode == "server" and not cfg.vllm_sync_weights:
        from rl_rerank.compat.trl import skip_weight_sync, without_vllm_weight_sync

        with without_vllm_weight_sync():
            trainer = trainer_cls(**kwargs)
        skip_weight_sync(trainer)
    else:
        trainer = trainer_cls(**kwargs)
    state_before = checkpoint_step(resume) or 0
    started = time.time()
    trainer.train(resume_from_checkpoint=resume)
    out = Path(cfg.output_dir)
    card = base_card("grpo", cfg, data_info, trainer, started, resume, state_before)
    card.update(reward_summary(trainer.state.log_history, list(cfg.rewards)))
    card["rewards"] = dict(cfg.rewards)
    card["geometry"] = geo.as_dict()
    card["group_checks"] = {
        f.__name__: {"calls": len(f.calls), "incomplete_calls": sum(bool(c["incomplete"]) for c in f.calls),
                     "last": f.calls[-2:]} for f in funcs if hasattr(f, "calls")}
    write_outputs(trainer, cfg, "grpo", out, card)
    return out


def reward_summary(log_history: list[dict], names: list[str]) -> dict:
    """Mean total reward per logged step plus first/last values per reward, for the run card."""
    steps = [h for h in log_history if "reward" in h]
    out = {"reward_per_step": [round(h["reward"], 4) for h in steps]}
    for name in names:
        key = f"rewards/{name}/mean"
        vals = [h[key] for h in steps if key in h]
        if vals:
            out[f"{name}_first"] = vals[0]
            out[f"{name}_last"] = vals[-1]
    return out
