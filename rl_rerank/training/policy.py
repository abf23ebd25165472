"""The model a training stage trains: base + optional stage-1 adapter, LoRA/QLoRA, placement left to the Trainer."""

from __future__ import annotations

import json
import os
from pathlib import Path

from rl_rerank.training.config import GRPOStage, SFTStage
from rl_rerank.training.runtime import has_gpu


def resolve_base_model(name: str | None) -> str:
    """'tiny' -> the 2-layer random Qwen3 built locally; None -> embedded SmolLM2; else unchanged."""
    from rl_rerank.models import resolve_model

    return resolve_model(name)



def policy_base(cfg: SFTStage | GRPOStage) -> tuple[str, str | None]:
    """(base model, stage-1 adapter or None) the stage starts from: init_from's adapter on its recorded base,
    init_from as a full model, or the recipe's model."""
    init = Path(cfg.init_from) if cfg.init_from else None
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


def load_policy(cfg: SFTStage | GRPOStage, want_peft_config: bool):
    """(model, tokenizer, peft_config) for training.

    - init_from with an adapter: load the base and that adapter as trainable (GRPO then keeps a frozen copy
      named "ref" as the KL reference, i.e. the reference is the stage-1 policy, not the raw base).
    - init_from with a full model: train that model (new LoRA on top when lora is set).
    - quantized (QLoRA): LoRA is attached here after prepare_model_for_kbit_training.
    - otherwise the LoRA config goes to the TRL trainer (it handles ZeRO-3 adapter dtypes).
    """
    from rl_rerank.models.load import ModelSpec, load_model

    base, adapter = policy_base(cfg)
    lora = cfg.lora  # models.load.LoraSettings: the recipe section is the loader's settings object
    extra = {}
    if cfg.quantization and has_gpu():  # bitsandbytes places quantized weights at load time: one GPU per rank
        # What TRL's get_kbit_device_map did ({"": local process index} on an accelerator, else none); TRL 1.16
        # no longer has it (trl.trainer.utils, trl/__init__), and LOCAL_RANK is what accelerate's index reads.
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

        # the CPU repack silently corrupts later gradients (docs/formulas-and-protocols.md, CPU pitfalls)
        disable_cpu_4bit_repacking(model)
    if cfg.lora is None and adapter is None:
        for p in model.parameters():
            p.requires_grad_(True)
    return model, tokenizer, peft_config
