"""ZeRO-3: a training load never moves the model. Under a real HfDeepSpeedConfig (stage 3, one gloo process)
from_pretrained partitions the weights inside deepspeed.zero.Init; a `.to()` afterwards would send the
single-parameter placeholders to one device and the first forward fails with a device mismatch."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

SCRIPT = r"""
import json, os, sys
import torch
import torch.distributed as dist
from transformers.integrations import HfDeepSpeedConfig

dist.init_process_group("gloo", rank=0, world_size=1)
keep = HfDeepSpeedConfig({"train_micro_batch_size_per_gpu": 1, "zero_optimization": {"stage": 3}})  # noqa: F841

calls = []
original = torch.nn.Module.to
def spy(self, *args, **kwargs):
    calls.append(type(self).__name__)
    return original(self, *args, **kwargs)
torch.nn.Module.to = spy

from rl_rerank.models.load import zero3_enabled
from rl_rerank.training.policy import load_policy
from rl_rerank.training.config import load_config

cfg = load_config("sft", sys.argv[1], {"model": sys.argv[2], "output_dir": sys.argv[3]})
model, tokenizer, peft_config = load_policy(cfg, want_peft_config=True)
params = list(model.parameters())
out = {"zero3": zero3_enabled(), "to_calls": calls, "partitioned": sum(hasattr(p, "ds_id") for p in params),
       "params": len(params), "numel_now": sum(p.numel() for p in params),
       "full_numel": sum(p.ds_numel for p in params if hasattr(p, "ds_numel"))}
print("RESULT " + json.dumps(out))
dist.destroy_process_group()
"""


def test_training_load_under_zero3_never_calls_to(tiny_model, tmp_path):
    env = dict(os.environ, MASTER_ADDR="127.0.0.1", MASTER_PORT="29517", RANK="0", LOCAL_RANK="0", WORLD_SIZE="1",
               TOKENIZERS_PARALLELISM="false", ACCELERATE_USE_CPU="1")
    recipe = REPO / "configs/erank-pointwise/sft-cpu.yaml"
    proc = subprocess.run([sys.executable, "-c", SCRIPT, str(recipe), str(tiny_model), str(tmp_path / "out")],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    line = next(x for x in proc.stdout.splitlines() if x.startswith("RESULT "))
    out = json.loads(line[len("RESULT "):])
    assert out["zero3"] is True
    assert out["to_calls"] == []  # nothing placed the model
    assert out["partitioned"] == out["params"] > 0  # every weight is a ZeRO-3 partition ...
    assert out["numel_now"] == 0 < out["full_numel"]  # ... held by DeepSpeed, not materialised here


def test_inference_load_still_places_on_the_asked_device(tiny_model, monkeypatch):
    import torch

    from rl_rerank.models import ModelSpec, load_model

    calls = []
    original = torch.nn.Module.to

    def spy(self, *args, **kwargs):
        calls.append(args)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(torch.nn.Module, "to", spy)
    load_model(ModelSpec(model=str(tiny_model), device="cpu"))
    assert ("cpu",) in calls
    calls.clear()
    load_model(ModelSpec(model=str(tiny_model), device=None))
    assert calls == []
