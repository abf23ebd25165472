"""transformers internals rl_rerank relies on (model loading, caches, checkpoints), checked when imported.

The Trainer hooks (train sampler, loss scaling) are checked in `compat.trl`: only TRL's trainers reach them,
and importing transformers.Trainer here would cost every inference start seconds.
"""

from __future__ import annotations

from typing import Any

import transformers
import transformers.cache_utils as cache_utils
import transformers.integrations.deepspeed as deepspeed_integration
import transformers.trainer_utils as trainer_utils

from rl_rerank.compat import Checker


def check() -> None:
    """Every transformers name below exists in the installed version (CompatError if not)."""
    need = Checker("transformers", ("transformers",))
    cache = need.attr(transformers, "DynamicCache", "transformers.DynamicCache")
    need.attr(cache_utils, "DynamicLayer", "transformers.cache_utils.DynamicLayer")
    if cache is not None:
        need.attr(cache, "batch_repeat_interleave", "DynamicCache.batch_repeat_interleave")
        need.params(cache.__init__, "DynamicCache", ["ddp_cache_data"])
    need.source(need.attr(cache_utils, "Cache.__init__", "Cache.__init__"), "Cache.__init__", ["self.layers"])
    need.source(need.attr(cache_utils, "DynamicLayer.lazy_initialization", "DynamicLayer.lazy_initialization"),
                "DynamicLayer.lazy_initialization", ["self.keys", "self.values"])
    need.source(need.attr(transformers, "PreTrainedModel.save_pretrained", "PreTrainedModel.save_pretrained"),
                "PreTrainedModel.save_pretrained", ["hf_quantizer"])
    need.attr(deepspeed_integration, "is_deepspeed_zero3_enabled",
              "transformers.integrations.deepspeed.is_deepspeed_zero3_enabled")
    need.attr(trainer_utils, "get_last_checkpoint", "transformers.trainer_utils.get_last_checkpoint")
    need.raise_first()


check()


def new_cache():
    """An empty per-layer key/value cache (what a forward with use_cache fills)."""
    return transformers.DynamicCache()


def plain_kv(cache: Any) -> tuple[list[tuple[Any, Any]] | None, str]:
    """(per-layer (keys, values), "") when `cache` is a plain full-attention cache we can slice by rows, else
    (None, why not): sliding-window, quantized or other layer kinds keep state we would lose."""
    layers = getattr(cache, "layers", None)
    if not layers or any(type(layer) is not cache_utils.DynamicLayer for layer in layers):
        kinds = sorted({type(layer).__name__ for layer in layers or []}) or [type(cache).__name__]
        return None, f"cache layers {', '.join(kinds)} (only full-attention DynamicLayer is reused)"
    return [(layer.keys, layer.values) for layer in layers], ""


def cache_from_kv(kv: list[tuple[Any, Any]]):
    """A DynamicCache holding these per-layer (keys, values) tensors."""
    return transformers.DynamicCache(ddp_cache_data=kv)


def drop_quantizer(model) -> None:
    """Forget how the weights were quantized on load (they are dequantized already), so save_pretrained writes
    plain floats and no quantization_config."""
    model.hf_quantizer = None
    model.is_quantized = False
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config


def zero3_enabled() -> bool:
    """True inside a DeepSpeed ZeRO-3 run (from_pretrained has already partitioned the weights)."""
    return bool(deepspeed_integration.is_deepspeed_zero3_enabled())


def last_checkpoint(folder: str) -> str | None:
    """The newest checkpoint-N folder the Trainer wrote in `folder`, or None."""
    return trainer_utils.get_last_checkpoint(folder)
