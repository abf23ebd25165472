"""bitsandbytes internals rl_rerank relies on, checked when imported (bitsandbytes is imported only when a
recipe or test quantizes)."""

from __future__ import annotations

import bitsandbytes as bnb

from rl_rerank.compat import Checker

#: Linear4bit's switch for the CPU AVX512-bf16 path, which repacks the 4-bit weights after the first eval
#: forward and silently corrupts later gradients (seen with 0.50.2).
CPU_REPACK_FLAG = "support_avx512bf16_for_cpu"


def check() -> None:
    """Linear4bit exists and its constructor and forward still use the repack flag (CompatError if not)."""
    need = Checker("bitsandbytes", ("bitsandbytes",))
    linear = need.attr(bnb, "nn.Linear4bit", "bitsandbytes.nn.Linear4bit")
    if linear is not None:
        need.source(linear.__init__, "Linear4bit.__init__", [f"self.{CPU_REPACK_FLAG}"])
        need.source(linear.forward, "Linear4bit.forward", [f"self.{CPU_REPACK_FLAG}"])
    need.raise_first()


check()


def disable_cpu_4bit_repacking(model) -> int:
    """Switch the CPU repack path off on every Linear4bit of `model`; returns how many modules it touched."""
    n = 0
    for module in model.modules():
        if isinstance(module, bnb.nn.Linear4bit):
            setattr(module, CPU_REPACK_FLAG, False)
            n += 1
    return n
