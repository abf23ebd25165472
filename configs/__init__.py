"""The recipes (one folder per recipe: sft.yaml, grpo.yaml, ...), installed as package data `rl_rerank.recipes`.

This folder is the user-facing copy in a checkout; the installed package finds the same files through
importlib.resources (rl_rerank.paths.recipes_dir), never through a path into the repository.
"""
