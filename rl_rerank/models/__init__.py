"""Model loading (hub id or path, LoRA, QLoRA), the embedded default model and the tiny test model."""

from rl_rerank.models.embedded import EMBEDDED_NAME, embedded_model_dir, resolve_model
from rl_rerank.models.load import LoraSettings, ModelSpec, load_model, load_tokenizer, save_adapter
from rl_rerank.models.tiny import build_tiny_model

__all__ = ["EMBEDDED_NAME", "embedded_model_dir", "resolve_model", "LoraSettings", "ModelSpec", "load_model",
           "load_tokenizer", "save_adapter", "build_tiny_model"]
