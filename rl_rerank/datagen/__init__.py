"""Training data generation: sources -> per-query pools -> per-paradigm examples, teacher labels, the row cache.

Training (rl_rerank.training) reads the rows built here; nothing here loads a policy or trains.
"""
