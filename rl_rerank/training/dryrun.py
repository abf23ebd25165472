"""`rl-rerank sft|rl --config X --dry-run [--num-processes N ...]`: check a recipe without loading a model.

Validates the recipe, prints the batch geometry for each process count (training/geometry.py), then builds a
sample of the data (the first `sample_queries` queries; the tokenizer is loaded, the model is not) and reports
rows, prompt lengths against the token budgets, and, when the sample is the whole data, the steps epochs come to.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path

from rl_rerank.errors import UserError
from rl_rerank.training.config import GRPOStage, StageBase, load_config
from rl_rerank.training.geometry import stage_geometry


def _sample_config(cfg: StageBase, sample_queries: int) -> tuple[StageBase, bool]:
    """The recipe with data.build.max_queries capped; True when the cap cut the data (the sample is partial)."""
    cfg = copy.deepcopy(cfg)
    if cfg.data.build is None:
        return cfg, False  # prebuilt rows: read in full
    build = dict(cfg.data.build)
    current = build.get("max_queries")
    capped = current is None or int(current) > sample_queries
    if capped:
        build["max_queries"] = sample_queries
    cfg.data.build = build
    return cfg, capped


def _prompt_lengths(ds, tokenizer, limit: int = 64) -> list[int]:
    out = []
    for row in ds.select(range(min(limit, len(ds)))):
        ids = tokenizer.apply_chat_template(row["prompt"], tokenize=True, add_generation_prompt=True)
        if hasattr(ids, "keys"):
            ids = ids["input_ids"]
        out.append(len(ids))
    return out


def dry_run(stage: str, config: str, overrides: list[str] | None, processes: list[int], sample_queries: int = 16,
            emit: Callable[[str], None] = print) -> dict:
    """Print the geometry per process count and a data-sample report; returns both (tests read them)."""
    cfg = load_config(stage, config, overrides, require_init=False)
    where = str(config)
    name = "rl" if stage == "grpo" else stage
    report: dict = {"geometry": {}, "notes": []}
    if cfg.init_from:
        if not Path(cfg.init_from).is_dir():
            report["notes"].append(f"init_from {cfg.init_from} does not exist yet: run stage 1 first")
    emit(f"{name} --dry-run: {config} (no model loaded)")
    for n in processes:
        geo = stage_geometry(stage, cfg, n, where=where)
        report["geometry"][n] = geo
        emit(f"geometry for {n} process(es):")
        emit(geo.table())

    from rl_rerank.datagen.rows import prepare_rows
    from rl_rerank.models import load_tokenizer
    from rl_rerank.training.policy import resolve_base_model

    sample_cfg, partial = _sample_config(cfg, sample_queries)
    source = (cfg.data.build or {}).get("path")
    if source is not None and not Path(source).exists():
        raise UserError(f"{where}: data.build.path {source!r} does not exist (the geometry above needs no data; "
                        f"give the data, or --set data.build.path=... to sample another source)")
    try:
        tokenizer = load_tokenizer(resolve_base_model(cfg.model))
    except OSError as exc:
        raise UserError(f"{where}: cannot load the tokenizer of {cfg.model!r} ({str(exc).splitlines()[0]}); "
                        f"on a machine without the hub, --set model=PATH") from None
    sample_cfg.data.build = {**sample_cfg.data.build, "tokenizer": tokenizer} if sample_cfg.data.build else None
    ds, info = prepare_rows(stage, sample_cfg, where)
    units = len(ds)
    if isinstance(cfg, GRPOStage):
        from rl_rerank.training.grpo import check_grouping, generation_units

        info.update(check_grouping(cfg, ds, where))
        units = generation_units(cfg, ds)
    report["data"] = info
    report["partial"] = partial
    lengths = _prompt_lengths(ds, tokenizer)
    budget = cfg.paradigm_args.get("max_prompt_tokens")
    report["prompt_tokens_max"] = max(lengths)
    emit(f"data sample: {info['n_rows']} rows from {info.get('n_queries', '?')} queries"
         f"{' (first ' + str(sample_queries) + ' queries of the source)' if partial else ' (all the data)'}; "
         f"prompt tokens max {max(lengths)} / mean {sum(lengths) / len(lengths):.0f}"
         f"{' (budget ' + str(budget) + ')' if budget else ''}")
    trl = cfg.trl
    if stage == "grpo" and trl.get("use_vllm"):
        ctx = trl.get("vllm_max_model_length")
        need = (budget or max(lengths)) + int(trl.get("max_completion_length", 256))
        report["vllm_context_needed"] = need
        if ctx is not None and int(ctx) < need:
            report["notes"].append(f"trl.vllm_max_model_length {ctx} < prompt budget + max_completion_length = {need}")
    if not partial:
        for n in processes:
            geo = stage_geometry(stage, cfg, n, units, where=where)
            report["geometry"][n] = geo
            steps = geo.max_steps if geo.max_steps is not None else geo.expected_steps
            emit(f"  {n} process(es): {steps} optimizer steps ({geo.length_from})")
    for note in report["notes"]:
        emit(f"note: {note}")
    return report
