"""Shared fixtures: real data from ../shared/data, the tiny random model, the embedded SmolLM2 model.

Caches (converted models, BM25 indexes) go to RL_RERANK_CACHE, default .cache/ in the repo, never to
../shared (read-only in CI).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
os.environ.setdefault("RL_RERANK_CACHE", str(REPO / ".cache"))
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", "1")

from rl_rerank.paths import shared_data_dir  # noqa: E402


@pytest.fixture(scope="session")
def data_dir() -> Path:
    path = shared_data_dir()
    if not path.is_dir():
        pytest.fail(f"shared data not found at {path}; set RL_RERANK_DATA")
    return path


@pytest.fixture(scope="session")
def scifact_dir(data_dir) -> Path:
    return data_dir / "beir-scifact"


@pytest.fixture(scope="session")
def dl20_dir(data_dir) -> Path:
    return data_dir / "trec-dl-2020"


@pytest.fixture(scope="session")
def bright_dir(data_dir) -> Path:
    return data_dir / "bright" / "examples"


@pytest.fixture(scope="session")
def tiny_model() -> Path:
    """2-layer random Qwen3 with SmolLM2's tokenizer and chat template (built once, cached)."""
    from rl_rerank.models import build_tiny_model

    return build_tiny_model()


@pytest.fixture(scope="session")
def smollm2() -> Path:
    """The embedded SmolLM2-135M-Instruct, converted from its GGUF once."""
    from rl_rerank.models import embedded_model_dir

    return embedded_model_dir()
