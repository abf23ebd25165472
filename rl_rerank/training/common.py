"""Pieces both training stages share: model resolution, data loading and checks, TRL arguments, resume, run card.

Kept apart from sft.py / grpo.py so each stage module reads top to bottom as: config -> data -> model ->
trainer -> train -> save.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import resource
import time
from pathlib import Path
from typing import Any

from rl_rerank.errors import ConfigError
from rl_rerank.training.config import StageBase, dump_yaml

CPU_DEFAULTS = {"use_cpu": True, "bf16": False, "fp16": False, "gradient_checkpointing": False}
COMMON_DEFAULTS = {"report_to": "none", "logging_steps": 1, "save_strategy": "steps", "save_steps": 50,
                   "save_total_limit": 2}


def resolve_base_model(name: str | None) -> str:
    """'tiny' -> the 2-layer random Qwen3 built locally; None -> embedded SmolLM2; else unchanged."""
    from rl_rerank.models import resolve_model

    return resolve_model(name)


def has_gpu() -> bool:
    import torch

    return torch.cuda.is_available()


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


# ------------------------------------------------------------------------------------------------- data


def _read_rows(path: str):
    import datasets

    p = Path(path)
    if p.is_dir():
        return datasets.load_from_disk(str(p))
    suffix = p.suffix.lower()
    if suffix in (".jsonl", ".json"):
        rows = []
        from rl_rerank.errors import DataError

        with p.open() as fh:
            if suffix == ".json":
                data = json.load(fh)
                rows = data if isinstance(data, list) else data.get("rows", [])
            else:
                for i, line in enumerate(fh, 1):
                    if not line.strip():
                        continue
                    try:
                        rows.append(json.loads(line))
                    except json.JSONDecodeError:
                        raise DataError(p, i, "one JSON object per line") from None
        return datasets.Dataset.from_list(rows)
    if suffix == ".parquet":
        return datasets.Dataset.from_parquet(str(p))
    raise ConfigError(f"data.path {path!r}: expected .jsonl, .json, .parquet or a datasets folder")


def load_rows(stage: str, cfg: StageBase):
    """The training rows as a datasets.Dataset: a prebuilt file, or built by rl_rerank.training.data."""
    return load_rows_once(stage, cfg)[0]


def load_rows_once(stage: str, cfg: StageBase):
    """(rows, how): how is "file" (prebuilt rows), "built" (this process built them) or "cache" (another
    process or an earlier run built them: see training/datacache.py)."""
    from rl_rerank.training import data as builders

    from rl_rerank.models import load_tokenizer

    if cfg.data.path is not None:
        if builders.is_built_jsonl(cfg.data.path):
            rows = builders.read_built(cfg.data.path)  # validates every row, DataError with file:line
        else:
            rows = _read_rows(cfg.data.path)
        # rows built elsewhere: their text must not tokenize as special tokens either
        return builders.neutralize_rows(rows, load_tokenizer(resolve_base_model(cfg.model))), "file"
    from rl_rerank.paradigms import get_paradigm
    from rl_rerank.training.datacache import built_once, cache_key

    paradigm = get_paradigm(cfg.paradigm, reasoning=cfg.reasoning, **cfg.paradigm_args)
    build = {"reasoning": cfg.reasoning, "seed": cfg.seed, **(cfg.data.build or {})}
    if "max_doc_tokens" in cfg.paradigm_args:
        build.setdefault("max_doc_tokens", cfg.paradigm_args["max_doc_tokens"])
    if stage == "grpo" and getattr(cfg, "group_by_query", False) and cfg.paradigm == "pointwise":
        build.setdefault("docs_per_query", cfg.docs_per_query)
    build.setdefault("tokenizer", load_tokenizer(resolve_base_model(cfg.model)))
    fn = builders.build_sft_dataset if stage == "sft" else builders.build_grpo_dataset
    key = cache_key(stage, build, cfg.paradigm, cfg.paradigm_args, build["tokenizer"])
    return built_once(key, lambda: fn(paradigm, **build))


def check_rows(stage: str, ds, where: str) -> dict:
    """Columns the stage needs are there and at least one row is a positive. Returns counts for the run card."""
    cols = set(ds.column_names)
    need = {"sft": {"prompt", "completion"}, "grpo": {"prompt"}}[stage]
    missing = need - cols
    if missing:
        raise ConfigError(f"{where}: training rows lack column(s) {sorted(missing)} (have {sorted(cols)})")
    if len(ds) == 0:
        raise ConfigError(f"{where}: the training data has no rows; check data.path / data.build")
    info: dict[str, Any] = {"n_rows": len(ds)}
    positives = None
    if "label" in cols:
        positives = sum(1 for v in ds["label"] if v is not None and v > 0)
    elif "labels" in cols:
        positives = sum(1 for v in ds["labels"] if v and any(x > 0 for x in v))
    elif "teacher_score" in cols:
        positives = sum(1 for v in ds["teacher_score"] if v is not None and v > 0)
    if positives is not None:
        info["rows_with_positive"] = positives
        if positives == 0:
            raise ConfigError(f"{where}: the training data has no positives (every label is 0); check the qrels "
                              f"matched to the queries/docids, or lower the positive threshold of the data builder")
    if "qid" in cols:
        info["n_queries"] = len(set(ds["qid"]))
    return info


def data_hash(ds) -> str:
    """sha256 over the rows (canonical JSON), so a run card pins exactly what was trained on."""
    h = hashlib.sha256()
    for row in ds:
        h.update(json.dumps(row, sort_keys=True, default=str).encode())
        h.update(b"\n")
    return h.hexdigest()[:16]


def prepare_rows(stage: str, cfg: StageBase, where: str):
    """Load, check, shuffle and cut the rows. Runs before any model is loaded so data errors come first."""
    ds, how = load_rows_once(stage, cfg)
    info = check_rows(stage, ds, where)
    info["rows_from"] = how
    if cfg.data.shuffle:
        ds = ds.shuffle(seed=cfg.seed)
    if cfg.data.max_examples is not None:
        ds = ds.select(range(min(cfg.data.max_examples, len(ds))))
    info["n_used"] = len(ds)
    info["hash"] = data_hash(ds)
    info["source"] = cfg.data.path or "build"
    return ds, info


# ------------------------------------------------------------------------------------------------ model


def policy_base(cfg: StageBase) -> tuple[str, str | None]:
    """(base model, stage-1 adapter or None) the stage starts from: init_from's adapter on its recorded base,
    init_from as a full model, or the recipe's model."""
    init = Path(cfg.init_from) if getattr(cfg, "init_from", None) else None
    base = resolve_base_model(cfg.model)
    adapter = None
    if init is not None and (init / "adapter_config.json").is_file():
        adapter = str(init)
        if cfg.model is None:
            recorded = json.loads((init / "adapter_config.json").read_text()).get("base_model_name_or_path")
            if recorded and Path(recorded).is_dir():
                base = recorded
    elif init is not None:
        base = str(init)
    return base, adapter


def load_policy(cfg: StageBase, want_peft_config: bool):
    """(model, tokenizer, peft_config) for training.

    - init_from with an adapter: load the base and that adapter as trainable (GRPO then keeps a frozen copy
      named "ref" as the KL reference, i.e. the reference is the stage-1 policy, not the raw base).
    - init_from with a full model: train that model (new LoRA on top when lora is set).
    - quantized (QLoRA): LoRA is attached here after prepare_model_for_kbit_training.
    - otherwise the LoRA config goes to the TRL trainer (it handles ZeRO-3 adapter dtypes).
    """
    from rl_rerank.models.load import LoraSettings, ModelSpec, load_model

    base, adapter = policy_base(cfg)
    lora = None
    if cfg.lora is not None:
        lora = LoraSettings(r=cfg.lora.r, alpha=cfg.lora.alpha, dropout=cfg.lora.dropout,
                            target_modules=cfg.lora.target_modules)
    extra = {}
    if cfg.quantization and has_gpu():  # bitsandbytes places quantized weights at load time: one GPU per rank
        extra["device_map"] = {"": int(os.environ.get("LOCAL_RANK", 0))}
    # device=None: a training load never places the model; the Trainer (DDP) or DeepSpeed (ZeRO-3 partitions at
    # load time) does, and bitsandbytes places quantized weights through device_map above.
    spec = ModelSpec(model=base, adapter=adapter, dtype=cfg.dtype, quantization=cfg.quantization, extra=extra,
                     device=None)
    peft_config = None
    if adapter is None and lora is not None and cfg.quantization is None and want_peft_config:
        model, tokenizer = load_model(spec, lora=None, trainable=True)
        peft_config = lora.peft_config()
    else:
        model, tokenizer = load_model(spec, lora=lora if adapter is None else None, trainable=True)
    if cfg.quantization == "4bit":
        from rl_rerank.models.load import disable_cpu_4bit_repacking

        disable_cpu_4bit_repacking(model)  # GUIDE §4: the CPU repack silently corrupts later gradients
    if cfg.lora is None and adapter is None:
        for p in model.parameters():
            p.requires_grad_(True)
    return model, tokenizer, peft_config


# ------------------------------------------------------------------------------------------------ resume


def last_checkpoint(output_dir: str) -> str | None:
    from transformers.trainer_utils import get_last_checkpoint

    if not Path(output_dir).is_dir():
        return None
    return get_last_checkpoint(output_dir)


def resume_target(cfg: StageBase) -> str | None:
    """resume: true -> must have a checkpoint; null -> resume when one exists; false -> start over."""
    ckpt = last_checkpoint(cfg.output_dir)
    if cfg.resume is True and ckpt is None:
        raise ConfigError(f"--resume: no checkpoint-* folder in {cfg.output_dir}; drop --resume to start fresh")
    if cfg.resume is False:
        return None
    return ckpt


# -------------------------------------------------------------------------------------------- run card


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
    from rl_rerank.data.atomic import write_json, write_text

    trainer.save_model(str(out))
    if not trainer.is_world_process_zero():
        return
    ref_dir = out / "ref"  # GRPO's frozen reference copy of the stage-1 adapter: not part of the result
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
    train_metrics = next((h for h in reversed(state.log_history) if "train_runtime" in h), {})
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


def finish_distributed() -> None:
    """End a multi-process run cleanly (gloo/NCCL complain at exit otherwise)."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()
