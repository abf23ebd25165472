"""Where rl_rerank keeps caches (converted models, BM25 indexes, rerank caches). Users set RL_RERANK_CACHE."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Callable


def cache_dir(*parts: str) -> Path:
    """The cache root (env RL_RERANK_CACHE, else ~/.cache/rl_rerank), created on demand, plus sub-parts."""
    root = Path(os.environ.get("RL_RERANK_CACHE") or Path.home() / ".cache" / "rl_rerank")
    path = root.joinpath(*parts)
    path.mkdir(parents=True, exist_ok=True)
    return path


def shared_data_dir() -> Path:
    """The shared real data (env RL_RERANK_DATA, else ../shared/data next to the repo checkout)."""
    env = os.environ.get("RL_RERANK_DATA")
    if env:
        return Path(env)
    here = Path(__file__).resolve()
    for parent in here.parents:
        candidate = parent / "shared" / "data"
        if candidate.is_dir():
            return candidate
        candidate = parent.parent / "shared" / "data"
        if candidate.is_dir():
            return candidate
    return Path.cwd().parent / "shared" / "data"


def publish_folder(out: Path, write: Callable[[Path], object]) -> Path:
    """Fill a private temp folder with `write(tmp)`, then rename it to `out` in one step, so a half-written
    folder never looks finished; if another process published `out` first, keep theirs."""
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        write(tmp)
        try:
            tmp.rename(out)
        except OSError:
            if not out.is_dir():
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out
