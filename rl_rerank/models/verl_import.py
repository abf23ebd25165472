"""verl's trained actor back to what `rl-rerank rerank / eval / export` take.

verl saves sharded FSDP checkpoints (`<default_local_dir>/global_step_N/actor/model_world_size_*_rank_*.pt` +
`huggingface/` + `lora_train_meta.json`). verl's own merger turns one into Hugging Face files:

    python -m verl.model_merger merge --backend fsdp --local_dir .../global_step_N/actor --target_dir MERGED

MERGED holds the full model (for a LoRA run: the *base* weights, i.e. `actor_rollout_ref.model.path`, not
merged with the LoRA) and, for a LoRA run, `MERGED/lora_adapter/` (adapter_config.json without a base model
and with lora_alpha 0 when verl found no `lora_train_meta.json`; adapter_model.safetensors in PEFT's key
layout). This module turns that into one of our adapter folders: config completed (base model, task type,
alpha), weights copied, tokenizer beside them, a README saying where it came from. A run without LoRA gives a
full model folder: our commands take it directly as `--model MERGED`, nothing to convert.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from rl_rerank.data.atomic import publish_folder, write_json, write_text
from rl_rerank.errors import UserError
from rl_rerank.models.export import TOKENIZER_FILES, check_export_target

WEIGHTS = "adapter_model.safetensors"


def _adapter_dir(ckpt: Path) -> Path | None:
    if (ckpt / "lora_adapter" / "adapter_config.json").is_file():
        return ckpt / "lora_adapter"
    if (ckpt / "adapter_config.json").is_file():
        return ckpt
    return None


def check_lora_weights(path: Path) -> int:
    """Number of LoRA tensors; UserError when the file holds none or keys outside PEFT's layout."""
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as fh:
        keys = list(fh.keys())
    lora = [k for k in keys if ".lora_A." in k or ".lora_B." in k]
    if not lora:
        raise UserError(f"{path}: no LoRA tensors (keys like ...q_proj.lora_A.weight); is this verl's lora_adapter?")
    odd = [k for k in lora if not k.startswith("base_model.model.") or ".default." in k]
    if odd:
        raise UserError(f"{path}: key {odd[0]!r} is not in PEFT's saved layout "
                        f"(base_model.model.<module>.lora_A.weight)")
    return len(lora)


def import_verl(checkpoint: str | Path, out: str | Path, base: str | None = None,
                lora_alpha: float | None = None) -> dict:
    """Write OUT/ as an adapter folder from verl's merged output; returns what was written and from where."""
    ckpt, out = Path(checkpoint), Path(out)
    if not ckpt.is_dir():
        raise UserError(f"{ckpt}: not a folder")
    if list(ckpt.glob("model_world_size_*_rank_*.pt")):
        raise UserError(f"{ckpt}: a sharded verl checkpoint; merge it first: python -m verl.model_merger merge "
                        f"--backend fsdp --local_dir {ckpt} --target_dir MERGED, then import MERGED")
    src = _adapter_dir(ckpt)
    if src is None:
        if (ckpt / "config.json").is_file():
            raise UserError(f"{ckpt}: a full model (verl trained without LoRA); nothing to convert: pass it to "
                            f"rerank/eval as --model {ckpt}")
        raise UserError(f"{ckpt}: neither lora_adapter/ nor adapter_config.json nor config.json found")
    if out.resolve() in (ckpt.resolve(), src.resolve()):
        raise UserError(f"{out}: write the adapter to a new folder")
    if not (src / WEIGHTS).is_file():
        raise UserError(f"{src}: {WEIGHTS} missing")
    config = json.loads((src / "adapter_config.json").read_text())
    if config.get("peft_type") not in (None, "LORA"):
        raise UserError(f"{src}: peft_type {config.get('peft_type')!r}; expected LORA")
    if lora_alpha is not None:
        config["lora_alpha"] = lora_alpha
    if not config.get("lora_alpha"):
        raise UserError(f"{src}: lora_alpha is {config.get('lora_alpha')!r} (verl found no lora_train_meta.json); "
                        f"pass --lora-alpha with actor_rollout_ref.model.lora_alpha of the run")
    if not config.get("r"):
        raise UserError(f"{src}: adapter_config.json has no rank r")
    n = check_lora_weights(src / WEIGHTS)
    base = base or config.get("base_model_name_or_path")
    if not base:
        if src == ckpt / "lora_adapter" and (ckpt / "config.json").is_file():
            base = str(ckpt.resolve())  # the merger writes the base weights (model.path) beside lora_adapter/
        else:
            raise UserError(f"{src}: adapter_config.json names no base model; pass --base (verl's model.path)")
    config["base_model_name_or_path"] = base
    config["task_type"] = config.get("task_type") or "CAUSAL_LM"
    config["peft_type"] = "LORA"
    tok_src = next((d for d in (src, ckpt, Path(base)) if (d / "tokenizer_config.json").is_file()), None)

    check_export_target(out, overwrite=False)  # never over a folder holding something else

    def write(tmp: Path) -> None:
        write_json(tmp / "adapter_config.json", config)
        shutil.copyfile(src / WEIGHTS, tmp / WEIGHTS)
        if tok_src is not None:
            for name in TOKENIZER_FILES:
                if (tok_src / name).is_file():
                    shutil.copyfile(tok_src / name, tmp / name)
        write_text(tmp / "README.md", f"# LoRA adapter trained with verl\n\nConverted by `rl-rerank import-verl` "
                                      f"from `{ckpt}`.\n\n- base model: `{base}`\n- rank {config['r']}, alpha "
                                      f"{config['lora_alpha']}, {n} LoRA tensors\n")

    publish_folder(out, write, existing="merge")
    return {"adapter": str(out), "base": base, "lora_tensors": n, "tokenizer": str(tok_src) if tok_src else None}
