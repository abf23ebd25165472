"""Load a causal LM + tokenizer by hub id or path: dtype, device, optional LoRA and 4-/8-bit quantization.

LoraSettings and QUANTIZATIONS are the one definition of those settings: training recipes (`lora:`,
`quantization:`) and the engines use them. The PEFT and bitsandbytes configs themselves are TRL's
(`get_peft_config`, `get_quantization_config` on a `trl.ModelConfig`, see rl_rerank.compat.trl.model_config).
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rl_rerank.errors import UserError
from rl_rerank.models.embedded import resolve_model

DTYPES = {"float32": "float32", "fp32": "float32", "bfloat16": "bfloat16", "bf16": "bfloat16",
          "float16": "float16", "fp16": "float16", "auto": "auto"}


#: quantization: values besides null. "4bit" = QLoRA (NF4, double quantization, compute in the model dtype).
QUANTIZATIONS = ("4bit", "8bit")


@dataclass
class LoraSettings:
    """A recipe's `lora:` section. target_modules defaults to "all-linear" (PEFT: every linear layer but the
    output head), not TRL ModelConfig's None (PEFT's per-architecture attention-only list)."""

    r: int = field(default=16, metadata={"help": "LoRA rank"})
    alpha: int = field(default=32, metadata={"help": "LoRA alpha (scaling = alpha / r)"})
    dropout: float = field(default=0.05, metadata={"help": "LoRA dropout"})
    target_modules: Any = field(default="all-linear", metadata={"help": "module names or 'all-linear'"})

    def peft_config(self):
        """TRL's LoraConfig for these settings (task CAUSAL_LM, no bias)."""
        from rl_rerank.compat.trl import peft_config

        return peft_config(self)


@dataclass
class ModelSpec:
    """Everything that decides which weights are loaded and how."""

    model: str | None = None  # hub id or path; None -> embedded SmolLM2
    adapter: str | None = None  # LoRA adapter folder to apply on top
    dtype: str = "float32"
    device: str | None = "cpu"  # None: leave placement to the caller (training: the Trainer / DeepSpeed place it)
    quantization: str | None = None  # None, "4bit" (QLoRA / NF4) or "8bit"
    extra: dict = field(default_factory=dict)


def torch_dtype(name: str):
    import torch

    key = DTYPES.get(name)
    if key is None:
        raise UserError(f"unknown dtype {name!r}; expected one of {sorted(DTYPES)}")
    return "auto" if key == "auto" else getattr(torch, key)


def quantization_config(kind: str | None, dtype: str = "float32"):
    """TRL's BitsAndBytesConfig for `kind` (None, "4bit", "8bit"); `dtype` (a DTYPES name) is the 4-bit
    compute dtype. 8-bit on CPU is bitsandbytes' to refuse at load time, not ours."""
    if kind is None:
        return None
    if kind not in QUANTIZATIONS:
        raise UserError(f"unknown quantization {kind!r}; expected one of {', '.join(QUANTIZATIONS)}")
    if dtype not in DTYPES:
        raise UserError(f"unknown dtype {dtype!r}; expected one of {sorted(DTYPES)}")
    from rl_rerank.compat.trl import quantization_config as trl_quantization_config

    return trl_quantization_config(kind, DTYPES[dtype])


def disable_cpu_4bit_repacking(model) -> int:
    """bitsandbytes' CPU path repacks 4-bit weights after the first eval forward, silently corrupting later
    gradients (seen with 0.50.2); switching the AVX512-bf16 path off on each Linear4bit prevents it.
    Returns the modules switched (0 without bitsandbytes)."""
    if importlib.util.find_spec("bitsandbytes") is None:
        return 0
    from rl_rerank.compat.bitsandbytes import disable_cpu_4bit_repacking as disable

    return disable(model)


def zero3_enabled() -> bool:
    """True inside a DeepSpeed ZeRO-3 run: from_pretrained has already partitioned the weights
    (deepspeed.zero.Init), and moving the placeholders would send single-parameter modules elsewhere."""
    from rl_rerank.compat.transformers import zero3_enabled as enabled

    return enabled()


def load_tokenizer(model: str | None):
    from transformers import AutoTokenizer

    path = resolve_model(model)
    tokenizer = AutoTokenizer.from_pretrained(path)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def load_model(spec: ModelSpec, lora: LoraSettings | None = None, trainable: bool = False,
               merge_adapter: bool = False):
    """(model, tokenizer). `lora` adds a fresh trainable adapter; `spec.adapter` loads an existing one
    (kept as a PeftModel, or folded into the weights with `merge_adapter` for fast inference)."""
    from transformers import AutoModelForCausalLM

    path = resolve_model(spec.model)
    if spec.adapter and not Path(spec.adapter, "adapter_config.json").is_file():
        raise UserError(f"{spec.adapter}: not a LoRA adapter folder (no adapter_config.json)")
    dtype = torch_dtype(spec.dtype)
    qconfig = quantization_config(spec.quantization, spec.dtype)
    kwargs: dict[str, Any] = {"dtype": dtype, **spec.extra}
    if qconfig is not None:
        kwargs["quantization_config"] = qconfig
    model = AutoModelForCausalLM.from_pretrained(path, **kwargs)
    if qconfig is not None:
        disable_cpu_4bit_repacking(model)
    elif spec.device is not None and not zero3_enabled():
        model.to(spec.device)
    tokenizer = load_tokenizer(spec.model)
    if spec.adapter:
        from peft import PeftModel

        model = PeftModel.from_pretrained(model, spec.adapter, is_trainable=trainable)
        if merge_adapter and not trainable and qconfig is None:
            # inference only: fold LoRA into the weights, so each forward skips the extra adapter matmuls
            model = model.merge_and_unload()
    elif lora is not None:
        from peft import get_peft_model, prepare_model_for_kbit_training

        if qconfig is not None:
            model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=False)
        model = get_peft_model(model, lora.peft_config())
    if not trainable:
        model.eval()
    return model, tokenizer


def save_adapter(model, tokenizer, out: str | Path) -> Path:
    """Save a PEFT adapter (or full model) plus tokenizer into `out`."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out
