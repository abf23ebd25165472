"""rl_rerank: train LLM rerankers that reason (SFT, then GRPO with ranking rewards)."""

__version__ = "0.1.0"
