"""A fake training output (random LoRA + tokenizer + recipe + run card + junk) for export and vLLM tests."""

from __future__ import annotations

import json


def make_training_folder(base, out, std=0.02):
    """What a training run leaves: adapter + tokenizer + recipe + run card, plus junk users do not need."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(base)
    peft = get_peft_model(model, LoraConfig(r=8, lora_alpha=16, target_modules=["q_proj", "v_proj", "o_proj"]))
    torch.manual_seed(0)
    with torch.no_grad():
        for name, p in peft.named_parameters():
            if "lora_B" in name:
                p.normal_(0, std)
    peft.save_pretrained(out)
    AutoTokenizer.from_pretrained(base).save_pretrained(out)
    (out / "config.yaml").write_text("stage: sft\nparadigm: pointwise\nlearning_rate: 0.0001\n"
                                     "paradigm_args: {max_doc_tokens: 48, score_mode: expected}\n")
    (out / "run_card.json").write_text(json.dumps({"stage": "sft", "data": {"source": "beir-scifact", "rows": 42}}))
    (out / "checkpoint-1").mkdir()
    (out / "checkpoint-1" / "optimizer.pt").write_bytes(b"junk")
    (out / "training_args.bin").write_bytes(b"junk")
    return out
