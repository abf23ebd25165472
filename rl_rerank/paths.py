"""Where rl_rerank keeps caches (converted models, BM25 indexes, rerank caches). Users set RL_RERANK_CACHE."""

from __future__ import annotations

import os
from pathlib import Path

from rl_rerank.errors import UserError


def cache_dir(*parts: str) -> Path:
    """The cache root (env RL_RERANK_CACHE, else ~/.cache/rl_rerank), created on demand, plus sub-parts."""
    root = Path(os.environ.get("RL_RERANK_CACHE") or Path.home() / ".cache" / "rl_rerank")
    path = root.joinpath(*parts)
    path.mkdir(parents=True, exist_ok=True)
    return path


def shared_data_dir() -> Path:
    """The shared real data: env RL_RERANK_DATA, else the first shared/data found in the current directory or
    one of its parents (a checkout next to ../shared finds it from its root). Looked up from where the user
    runs, never from where the package is installed."""
    env = os.environ.get("RL_RERANK_DATA")
    if env:
        return Path(env)
    here = Path.cwd().resolve()
    for folder in (here, *here.parents):
        candidate = folder / "shared" / "data"
        if candidate.is_dir():
            return candidate
    return here.parent / "shared" / "data"


def recipes_dir() -> Path:
    """The packaged recipes (configs/ in a checkout, installed as rl_rerank.recipes), one folder per recipe."""
    from importlib.resources import files

    try:
        root = files("rl_rerank.recipes")
    except ModuleNotFoundError:  # an editable install from before configs/ was package data
        raise UserError("the packaged recipes (rl_rerank.recipes) are not installed; reinstall: pip install -e .") \
            from None
    return Path(str(root))
