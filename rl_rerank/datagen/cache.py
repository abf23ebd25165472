"""Training rows built once per machine: the local main process builds (BM25 over the corpus, sampling, prompt
rendering, tokenizer passes) and saves the rows to the cache; the other processes wait, then load them.

The cache key covers what changes the rows: every source file (path, mtime, size), the build settings, the
paradigm settings, the stage, and the tokenizer (name, vocabulary hash, chat template), so a stale cache is never
read. In a plain single process the same cache still saves the next run its build.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from rl_rerank.data.atomic import publish_folder
from rl_rerank.paths import cache_dir

log = logging.getLogger(__name__)

FORMAT_VERSION = 1
SOURCE_KEYS = ("path", "qrels", "run", "corpus", "topics")


def _file_stamp(path: Path) -> list:
    st = path.stat()
    return [str(path.resolve()), st.st_mtime_ns, st.st_size]


def source_stamps(build: dict) -> list:
    """(path, mtime, size) of every file a data.build section reads; folders (BEIR) by their files."""
    out = []
    for key in SOURCE_KEYS:
        value = build.get(key)
        if not value:
            continue
        p = Path(value)
        if p.is_dir():
            out += [_file_stamp(f) for f in sorted(p.rglob("*")) if f.is_file() and not f.name.startswith(".")]
        elif p.exists():
            out.append(_file_stamp(p))
        else:
            out.append([str(p), None, None])
    return out


def tokenizer_stamp(tokenizer: Any) -> list:
    if tokenizer is None:
        return [None]
    vocab = sorted(tokenizer.get_vocab().items())
    digest = hashlib.sha256(json.dumps(vocab).encode()).hexdigest()[:16]
    template = getattr(tokenizer, "chat_template", None) or ""
    return [getattr(tokenizer, "name_or_path", ""), digest, hashlib.sha256(str(template).encode()).hexdigest()[:16]]


def cache_key(stage: str, build: dict, paradigm: str, paradigm_args: dict, tokenizer: Any) -> str:
    settings = {k: v for k, v in build.items() if k != "tokenizer"}
    blob = json.dumps([FORMAT_VERSION, stage, paradigm, paradigm_args, settings, source_stamps(build),
                       tokenizer_stamp(tokenizer)], sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:24]


@contextlib.contextmanager
def local_main_first() -> Iterator[None]:
    """The local main process (LOCAL_RANK 0) runs the block first; the other processes enter after it is done.

    Uses torch.distributed's barrier directly: accelerate's PartialState reports one process (DistributedType.NO)
    when a GPU launch config runs on CPU, which made its `local_main_process_first` a no-op and every rank built
    the rows. A plain single process needs no barrier.
    """
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        yield
        return
    import torch.distributed as dist

    if not dist.is_initialized():
        from accelerate import PartialState

        PartialState()  # sets up the process group from the launcher's environment
    main = int(os.environ.get("LOCAL_RANK", "0")) == 0
    if not main:
        dist.barrier()
    try:
        yield
    finally:
        if main:
            dist.barrier()


def built_once(key: str, build: Callable[[], Any]) -> tuple[Any, str]:
    """(rows, "built" | "cache"): the local main process builds and publishes; the others then load."""
    import datasets

    folder = cache_dir("training-rows") / key
    with local_main_first():
        if (folder / "dataset_info.json").is_file():
            return datasets.load_from_disk(str(folder)), "cache"
        ds = build()

        def write(tmp: Path) -> None:
            ds.save_to_disk(str(tmp))
            (tmp / "built_by.json").write_text(json.dumps({"pid": os.getpid(),
                                                          "rank": os.environ.get("RANK", "0")}))

        publish_folder(folder, write)
        log.info("training rows built and cached in %s", folder)
        return datasets.load_from_disk(str(folder)), "built"
