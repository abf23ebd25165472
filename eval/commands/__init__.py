"""CLI commands that score rankings (`retrieve`, `eval`, `demo`); registered by module path in rl_rerank.cli."""
