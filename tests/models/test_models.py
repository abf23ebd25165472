"""Model loading: the embedded SmolLM2 default, the tiny test model, LoRA save/reload, clear errors."""

from __future__ import annotations

import pytest
import torch

from rl_rerank.errors import UserError
from rl_rerank.models import LoraSettings, ModelSpec, load_model, resolve_model, save_adapter


def _greedy(model, tokenizer, text: str, n: int = 12) -> str:
    inputs = tokenizer.apply_chat_template([{"role": "user", "content": text}], add_generation_prompt=True,
                                           return_tensors="pt", return_dict=True)
    with torch.no_grad():
        out = model.generate(**inputs, max_new_tokens=n, do_sample=False)
    return tokenizer.decode(out[0, inputs["input_ids"].shape[1]:], skip_special_tokens=True)


def test_default_model_resolves_to_embedded(smollm2):
    assert resolve_model(None) == str(smollm2)
    assert resolve_model("Qwen/Qwen3-4B") == "Qwen/Qwen3-4B"


def test_tiny_alias_resolves_to_built_model(tiny_model):
    assert resolve_model("tiny") == str(tiny_model)


def test_tiny_model_has_chat_template_and_lora_roundtrip(tiny_model, tmp_path):
    model, tokenizer = load_model(ModelSpec(model=str(tiny_model)), lora=LoraSettings(r=4, alpha=8), trainable=True)
    assert model.config.num_hidden_layers == 2
    assert "<|im_start|>assistant" in tokenizer.apply_chat_template(
        [{"role": "user", "content": "x"}], tokenize=False, add_generation_prompt=True)
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    total = sum(p.numel() for p in model.parameters())
    assert 0 < trainable < total / 10
    # Perturb the adapter so reload has something to prove, then check logits match after reload.
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "lora_B" in name:
                p.add_(0.05)
    model.eval()
    ids = tokenizer("relevance score", return_tensors="pt")
    with torch.no_grad():
        before = model(**ids).logits
    save_adapter(model, tokenizer, tmp_path / "adapter")
    reloaded, _ = load_model(ModelSpec(model=str(tiny_model), adapter=str(tmp_path / "adapter")))
    with torch.no_grad():
        after = reloaded(**ids).logits
    assert torch.allclose(before, after, atol=1e-5)


def test_missing_adapter_is_a_clear_error(tiny_model, tmp_path):
    with pytest.raises(UserError, match="not a LoRA adapter folder"):
        load_model(ModelSpec(model=str(tiny_model), adapter=str(tmp_path)))


def test_unknown_dtype_is_a_clear_error(tiny_model):
    with pytest.raises(UserError, match="unknown dtype 'float8'"):
        load_model(ModelSpec(model=str(tiny_model), dtype="float8"))


@pytest.mark.slow
def test_embedded_smollm2_generates(smollm2):
    model, tokenizer = load_model(ModelSpec())
    assert model.config.model_type == "llama" and model.dtype == torch.float32
    text = _greedy(model, tokenizer, "What is the capital of France? Answer in one word.")
    assert "Paris" in text


@pytest.mark.slow
def test_4bit_quantized_load_on_cpu(tiny_model):
    import bitsandbytes as bnb

    model, _ = load_model(ModelSpec(model=str(tiny_model), quantization="4bit"), lora=LoraSettings(r=4),
                          trainable=True)
    linear4 = [m for m in model.modules() if isinstance(m, bnb.nn.Linear4bit)]
    assert linear4 and all(m.support_avx512bf16_for_cpu is False for m in linear4)


def test_merged_adapter_gives_the_same_logits(tiny_model, tmp_path):
    model, tokenizer = load_model(ModelSpec(model=str(tiny_model)), lora=LoraSettings(r=4, alpha=8), trainable=True)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "lora_B" in name:
                p.normal_(0, 0.05)
    save_adapter(model, tokenizer, tmp_path / "adapter")
    spec = ModelSpec(model=str(tiny_model), adapter=str(tmp_path / "adapter"))
    peft_model, _ = load_model(spec)
    merged, _ = load_model(spec, merge_adapter=True)
    assert not hasattr(merged, "peft_config") and hasattr(peft_model, "peft_config")
    ids = tokenizer("merged or not", return_tensors="pt")
    with torch.no_grad():
        assert torch.allclose(peft_model(**ids).logits, merged(**ids).logits, atol=1e-5)
