"""Run one function in a fresh child process and get its result back.

Why: a process that trained a model on a GPU keeps that memory (caching allocator, DeepSpeed buffers, CUDA
context) until it exits; starting vLLM in the same process at 0.9 memory utilisation then fails. Running the
training (or the evaluation) in a child gives all of it back when the child ends.
"""

from __future__ import annotations

import multiprocessing as mp
import traceback
from collections.abc import Callable
from typing import Any


def _child(conn, fn: Callable, args: tuple, kwargs: dict) -> None:
    try:
        conn.send(("ok", fn(*args, **kwargs)))
    except BaseException as exc:  # the parent re-raises it
        try:
            conn.send(("error", exc))
        except Exception:  # unpicklable exception: its text
            conn.send(("error", RuntimeError(f"{type(exc).__name__}: {exc}\n{traceback.format_exc()}")))
    finally:
        conn.close()


def run_in_subprocess(fn: Callable, *args: Any, **kwargs: Any) -> Any:
    """fn(*args, **kwargs) in a spawned child (fresh CUDA state); returns its result or re-raises its exception.
    `fn`, the arguments and the result must pickle (a module-level function; paths, dicts, numbers)."""
    ctx = mp.get_context("spawn")  # fork would inherit an initialised CUDA context, which CUDA forbids
    parent, child = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_child, args=(child, fn, args, kwargs))
    proc.start()
    child.close()
    try:
        status, value = parent.recv()
    except EOFError:
        proc.join()
        raise RuntimeError(
            f"{getattr(fn, '__name__', fn)} died in its child process (exit code {proc.exitcode})") from None
    proc.join()
    if status == "error":
        raise value
    return value
