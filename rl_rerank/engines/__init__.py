"""Reranking engines behind one interface (transformers, vLLM offline, OpenAI-compatible server)."""

from rl_rerank.engines.base import Engine, Generation, GenerationSettings, label_points, whole_label_prob
from rl_rerank.engines.factory import ENGINES, make_engine

__all__ = ["Engine", "Generation", "GenerationSettings", "label_points", "whole_label_prob", "ENGINES",
           "make_engine"]
