"""benchmarks/gpu_check.py --cpu-smoke: the GPU script's code paths (agreement, scoring, SFT and GRPO steps
through accelerate launch with the repository's DDP and ZeRO-3 configs) run tiny on the CPU."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_gpu_check_cpu_smoke(tiny_model, dl20_dir, scifact_dir, tmp_path):
    out = tmp_path / "out"
    cmd = [sys.executable, "benchmarks/gpu_check.py", "--cpu-smoke", "--tokenizer", str(tiny_model),
           "--requests", str(dl20_dir / "bm25-top100.json"), "--data", str(scifact_dir),
           "--launchers", "ddp", "zero3", "--out", str(out)]
    proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=1800,
                          env=dict(os.environ, TOKENIZERS_PARALLELISM="false"))
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    report = json.loads((out / "gpu_check.json").read_text())
    assert report["cpu_smoke"] and report["device"] == "cpu"
    assert all(a["max_abs_prob_diff"] == 0.0 for a in report["agreement"].values())
    (score,) = report["scoring"]
    assert score["docs"] > 0 and score["prefill_tokens_per_s"] > 0 and score["share_of_bf16_peak"] is None
    runs = {r["run"]: r for r in report["training"]}
    assert set(runs) == {"sft-ddp-cpu", "grpo-ddp-cpu", "sft-zero3-cpu", "grpo-zero3-cpu"}
    for r in runs.values():
        assert "error" not in r, r
        assert r["steps"] == 2 and r["s_per_step"] > 0 and r["samples_per_s"] > 0
    assert runs["grpo-ddp-cpu"]["rows_per_step"] == 16  # 1 query x 4 docs x 4 rollouts, on-policy
    assert "| training run |" in proc.stdout
