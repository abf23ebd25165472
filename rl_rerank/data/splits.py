"""Deterministic query splits: which training queries are held out as a dev split.

A query's side is decided by a hash of (seed, qid) alone, so the split does not change when queries are added,
removed or reordered, and the trainer (data.build.query_split) and the evaluator (`rl-rerank eval --split-queries`)
agree without sharing a file.
"""

from __future__ import annotations

import hashlib

SPLITS = ("train", "dev")


def split_of(qid: str, dev_fraction: float, seed: int | str = 0) -> str:
    """'dev' for about `dev_fraction` of all query ids, else 'train'."""
    if not 0.0 <= float(dev_fraction) < 1.0:
        raise ValueError(f"dev_fraction must be in [0, 1), got {dev_fraction!r}")
    digest = hashlib.sha256(f"{seed}:{qid}".encode()).digest()
    u = int.from_bytes(digest[:8], "big") / 2.0 ** 64
    return "dev" if u < float(dev_fraction) else "train"


def in_split(qid: str, split: str | None, dev_fraction: float, seed: int | str = 0) -> bool:
    """True when `split` is None (no split) or the query falls on that side."""
    if split is None:
        return True
    if split not in SPLITS:
        raise ValueError(f"query split must be one of {SPLITS} or null, got {split!r}")
    return split_of(qid, dev_fraction, seed) == split
