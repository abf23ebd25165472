"""Rerank over several engines: local worker processes (one engine each, e.g. one per GPU) or Ray actors.

The driver plans the work exactly as one process does (runner.plan: cache hits first, then chunks of
`--batch-queries` queries), hands whole chunks to workers, appends each finished chunk to the resume cache as
it arrives (the driver is the only writer) and assembles the run with the same code. Because every query is
scored inside the same chunk as in a single process, the run file is the same byte for byte.

A worker that dies (killed, out of memory, node lost) loses only its chunk in flight: the driver starts a
replacement and hands the chunk out again, at most `max_retries` times per chunk. An exception raised inside a
worker (bad model path, bad adapter) is not retried: it would fail again; it stops the run with its message.
"""

from __future__ import annotations

import collections
import os
import signal
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from rl_rerank.data.types import Request, Run
from rl_rerank.errors import UserError
from rl_rerank.rerank.cache import ResultCache
from rl_rerank.rerank.options import RerankerOptions
from rl_rerank.rerank.runner import Job, RunOptions, _progress, assemble, cache_repairs, plan, run_stats
from rl_rerank.rerank.strategies import StrategyStats

if TYPE_CHECKING:
    from rl_rerank.engines.base import Engine

#: Callback for tests and monitoring: (event, worker id, chunk index, backend); events "dispatch" and "result".
Hook = Callable[[str, int, int, Any], None]


@dataclass
class ChunkResult:
    scores: list[dict[str, float]]
    stats: StrategyStats
    tokens: tuple[int, ...]  # TokenUsage.snapshot() differences: prompt, completion, calls, reused, fallbacks


def registered_outside(name: str) -> type | None:
    """The class of a paradigm registered at run time outside the package (a user's module, a test), else None.

    Worker processes import only the package, whose modules register its own paradigms; such a class travels
    to them (pickled by reference: its module must be importable there) and registers on arrival."""
    from rl_rerank.paradigms import PARADIGMS

    cls = PARADIGMS.get(name)
    return cls if cls is not None and not cls.__module__.startswith("rl_rerank.") else None


class ShardWorker:
    """One engine, paradigm and strategy settings, built from the reranker's options on first use."""

    def __init__(self, options: RerankerOptions, paradigm_cls: type | None = None):
        self.options = options
        self.paradigm_cls = paradigm_cls
        self.engine: Engine | None = None

    def rerank(self, heads: Sequence[Request]) -> ChunkResult:
        from rl_rerank.rerank.options import build_engine, build_paradigm, strategy_settings
        from rl_rerank.rerank.strategies import rerank_batch

        if self.engine is None:
            if self.paradigm_cls is not None:
                from rl_rerank.paradigms import PARADIGMS, register_paradigm

                if getattr(self.paradigm_cls, "name", None) not in PARADIGMS:
                    register_paradigm(self.paradigm_cls)
            self.paradigm = build_paradigm(self.options)
            self.settings = strategy_settings(self.options)
            self.engine = build_engine(self.options)
        before = self.engine.counter.snapshot()
        stats = StrategyStats()
        scores = rerank_batch(self.engine, self.paradigm, list(heads), self.settings, stats)
        return ChunkResult(scores, stats,
                           tuple(a - b for a, b in zip(self.engine.counter.snapshot(), before, strict=True)))

    def pid(self) -> int:
        return os.getpid()

    def close(self) -> None:
        if self.engine is not None:
            self.engine.close()
            self.engine = None


# --------------------------------------------------------------------------------------------- backends


def _local_main(conn, options: RerankerOptions, devices: str | None, paradigm_cls: type | None = None) -> None:
    """A local worker process: receive (chunk index, heads), answer ("done"|"error", chunk index, payload)."""
    if devices is not None:
        os.environ["CUDA_VISIBLE_DEVICES"] = devices
    worker = ShardWorker(options, paradigm_cls)
    try:
        while True:
            msg = conn.recv()
            if msg is None:
                break
            cid, heads = msg
            try:
                conn.send(("done", cid, worker.rerank(heads)))
            except Exception as exc:  # reported to the driver, which stops the run with this message
                conn.send(("error", cid, f"{type(exc).__name__}: {exc}\n{traceback.format_exc(limit=8)}"))
    except (EOFError, KeyboardInterrupt):
        pass
    finally:
        worker.close()


class LocalBackend:
    """Worker processes started with `spawn` (safe with CUDA); each may own devices via CUDA_VISIBLE_DEVICES."""

    def __init__(self, options: RerankerOptions, n: int, devices: Sequence[str | None]):
        import multiprocessing as mp

        self.ctx = mp.get_context("spawn")
        self.options = options
        self.paradigm_cls = registered_outside(options.paradigm)
        self.devices = list(devices) or [None]
        self.procs: dict[int, Any] = {}
        self.conns: dict[int, Any] = {}
        self.slots: dict[int, int] = {}  # worker id -> device slot (a replacement keeps the dead worker's)
        self.next_id = 0
        self.started = 0
        self.workers = [self._start(i) for i in range(n)]

    def _start(self, slot: int) -> int:
        wid = self.next_id
        self.next_id += 1
        parent, child = self.ctx.Pipe()
        dev = self.devices[slot % len(self.devices)]
        p = self.ctx.Process(target=_local_main, args=(child, self.options, dev, self.paradigm_cls), daemon=True,
                             name=f"rl-rerank-shard-{wid}")
        p.start()
        child.close()
        self.procs[wid], self.conns[wid], self.slots[wid] = p, parent, slot
        self.started += 1
        return wid

    def submit(self, wid: int, cid: int, heads: list[Request]) -> None:
        try:
            self.conns[wid].send((cid, heads))
        except (BrokenPipeError, OSError):
            pass  # dead already: wait() reports it

    def wait(self, busy: Sequence[int]) -> list[tuple[int, str, Any]]:
        from multiprocessing.connection import wait

        objs = {}
        for wid in busy:
            objs[self.conns[wid]] = wid
            objs[self.procs[wid].sentinel] = wid
        ready = wait(list(objs))
        events, seen = [], set()
        for obj in ready:
            wid = objs[obj]
            if wid in seen:
                continue
            seen.add(wid)
            conn = self.conns[wid]
            try:
                if conn.poll():
                    kind, _cid, payload = conn.recv()
                    events.append((wid, kind, payload))
                    continue
            except (EOFError, OSError):
                pass
            if not self.procs[wid].is_alive():
                events.append((wid, "died", f"exit code {self.procs[wid].exitcode}"))
        return events

    def replace(self, wid: int) -> int:
        p = self.procs.pop(wid)
        self.conns.pop(wid).close()
        p.join(timeout=5)
        return self._start(self.slots.pop(wid))

    def kill(self, wid: int) -> None:
        os.kill(self.procs[wid].pid, signal.SIGKILL)

    def close(self) -> None:
        for conn in list(self.conns.values()):
            try:
                conn.send(None)
            except (BrokenPipeError, OSError):
                pass
        for p in self.procs.values():
            p.join(timeout=30)
            if p.is_alive():
                p.kill()
                p.join(timeout=5)


class RayBackend:
    """One Ray actor per worker; `address` None starts a local Ray (one CPU per actor), else joins a cluster."""

    def __init__(self, options: RerankerOptions, n: int | None, address: str | None = None,
                 gpus_per_actor: float | None = None, ray_init: dict | None = None, max_workers: int | None = None):
        try:
            import ray
        except ImportError:
            raise UserError("--ray needs Ray: pip install 'rl-rerank[ray]'") from None
        self.ray = ray
        self.owns_ray = not ray.is_initialized()
        if self.owns_ray:
            kwargs: dict[str, Any] = {"include_dashboard": False, "logging_level": "ERROR", "log_to_driver": False}
            kwargs.update(ray_init or {})
            if address and address != "local":
                kwargs["address"] = address
            ray.init(**kwargs)
        gpus = int(ray.cluster_resources().get("GPU", 0))
        if gpus_per_actor is None:
            gpus_per_actor = 1.0 if gpus >= 1 else 0.0
        if n is None:  # one actor per GPU of the cluster, 2 on a cluster without GPUs
            n = max(1, int(gpus // gpus_per_actor)) if gpus_per_actor > 0 else 2
        n = min(n, max_workers or n)
        self.actor_cls = ray.remote(num_cpus=1, num_gpus=gpus_per_actor, max_restarts=0)(ShardWorker)
        self.options = options
        self.paradigm_cls = registered_outside(options.paradigm)
        self.actors: dict[int, Any] = {}
        self.refs: dict[Any, int] = {}
        self.next_id = 0
        self.started = 0
        self.workers = [self._start() for _ in range(n)]

    def _start(self) -> int:
        wid = self.next_id
        self.next_id += 1
        self.actors[wid] = self.actor_cls.remote(self.options, self.paradigm_cls)
        self.started += 1
        return wid

    def submit(self, wid: int, cid: int, heads: list[Request]) -> None:
        self.refs[self.actors[wid].rerank.remote(heads)] = wid

    def wait(self, busy: Sequence[int]) -> list[tuple[int, str, Any]]:
        ray = self.ray
        ready, _ = ray.wait(list(self.refs), num_returns=1)
        events = []
        for ref in ready:
            wid = self.refs.pop(ref)
            try:
                events.append((wid, "done", ray.get(ref)))
            except ray.exceptions.RayActorError as exc:  # the actor died (killed, OOM, node lost): retry
                events.append((wid, "died", str(exc).splitlines()[0]))
            except ray.exceptions.RayTaskError as exc:  # the engine raised: the same input would fail again
                events.append((wid, "error", str(exc.cause) if exc.cause is not None else str(exc)))
        return events

    def replace(self, wid: int) -> int:
        actor = self.actors.pop(wid)
        try:
            self.ray.kill(actor, no_restart=True)
        except Exception:  # already gone
            pass
        return self._start()

    def kill(self, wid: int) -> None:
        self.ray.kill(self.actors[wid], no_restart=True)

    def close(self) -> None:
        ray = self.ray
        for actor in self.actors.values():
            try:
                ray.get(actor.close.remote(), timeout=60)
            except Exception:  # dead or stuck: it goes with the kill below
                pass
            try:
                ray.kill(actor, no_restart=True)
            except Exception:
                pass
        if self.owns_ray:
            ray.shutdown()


# ------------------------------------------------------------------------------------------------ driver


@dataclass
class DriveStats:
    stats: StrategyStats = field(default_factory=StrategyStats)
    tokens: list[int] = field(default_factory=lambda: [0] * 5)
    docs_done: int = 0
    chunks_retried: int = 0
    deaths: list[str] = field(default_factory=list)


def drive(backend, chunks: list[list[Job]], on_done: Callable[[int, ChunkResult], None],
          max_retries: int = 2, hook: Hook | None = None) -> DriveStats:
    """Hand chunks to idle workers until all are done; a dead worker's chunk goes back to the queue."""
    out = DriveStats()
    pending = collections.deque(range(len(chunks)))
    idle = list(backend.workers)
    busy: dict[int, int] = {}  # worker id -> chunk index
    attempts: collections.Counter = collections.Counter()
    while pending or busy:
        while pending and idle:
            wid, cid = idle.pop(0), pending.popleft()
            busy[wid] = cid
            backend.submit(wid, cid, [job.head for job in chunks[cid]])
            if hook is not None:
                hook("dispatch", wid, cid, backend)
        for wid, kind, payload in backend.wait(list(busy)):
            cid = busy.pop(wid)
            if kind == "done":
                on_done(cid, payload)
                out.stats.merge(payload.stats)
                out.tokens = [a + b for a, b in zip(out.tokens, payload.tokens, strict=True)]
                out.docs_done += sum(len(job.head.candidates) for job in chunks[cid])
                idle.append(wid)
                if hook is not None:
                    hook("result", wid, cid, backend)
            elif kind == "died":
                attempts[cid] += 1
                out.deaths.append(f"worker {wid} died on chunk {cid} ({payload})")
                if attempts[cid] > max_retries:
                    raise RuntimeError(f"chunk {cid} lost its worker {attempts[cid]} times; giving up "
                                       f"({'; '.join(out.deaths[-3:])}); finished chunks are in the cache")
                out.chunks_retried += 1
                pending.appendleft(cid)
                idle.append(backend.replace(wid))
            else:
                raise UserError(f"a rerank worker failed on chunk {cid}: {payload}")
    return out


def default_devices(n: int) -> list[str | None]:
    """One GPU per local worker, round robin over the visible GPUs; none on a CPU machine."""
    try:
        import torch

        count = torch.cuda.device_count()
    except ImportError:
        count = 0
    if count == 0:
        return [None]
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    ids = [d.strip() for d in visible.split(",") if d.strip()] if visible else [str(i) for i in range(count)]
    return [ids[i % len(ids)] for i in range(n)]


def parse_devices(text: str | None, n: int) -> list[str | None]:
    """'0,1,2,3' -> one GPU per worker; '0+1,2+3' -> two per worker (tensor parallel); None -> default_devices."""
    if not text:
        return default_devices(n)
    entries = [e.strip() for e in text.split(",") if e.strip()]
    if not entries or any(not all(p.strip().isdigit() for p in e.split("+")) for e in entries):
        raise UserError(f"--shard-devices {text!r}: expected GPU ids like 0,1,2,3 or 0+1,2+3")
    return [",".join(p.strip() for p in e.split("+")) for e in entries]


def rerank_sharded(options: RerankerOptions, requests: Sequence[Request], opts: RunOptions, config: str = "",
                   cache: ResultCache | None = None, shards: int | None = 2, ray_address: str | None = None,
                   use_ray: bool = False, devices: Sequence[str | None] | None = None,
                   gpus_per_actor: float | None = None, max_retries: int = 2, hook: Hook | None = None,
                   ray_init: dict | None = None) -> tuple[Run, dict]:
    """rerank_requests over `shards` workers (local processes, or Ray actors with use_ray; None: one actor per
    cluster GPU). Returns (run, stats) like rerank_requests, plus the sharding counts."""
    start = time.perf_counter()
    results, chunks = plan(requests, opts, config, cache)
    cached = len(results)
    n = None if shards is None else max(1, min(shards, len(chunks)))
    bar = _progress(len(requests), cached, opts.progress)

    def on_done(cid: int, res: ChunkResult) -> None:
        chunk = chunks[cid]
        for job, sc in zip(chunk, res.scores, strict=True):
            results[job.index] = sc
        if cache is not None:
            cache.put_many((job.key, job.head.query.qid, sc) for job, sc in zip(chunk, res.scores, strict=True))
        if bar is not None:
            bar.update(len(chunk))

    backend: RayBackend | LocalBackend | None = None
    try:
        if chunks:
            if use_ray:
                backend = RayBackend(options, n, ray_address, gpus_per_actor, ray_init, max_workers=len(chunks))
            else:
                n = n or 2
                backend = LocalBackend(options, n, devices if devices is not None else default_devices(n))
            n = len(backend.workers)
            driven = drive(backend, chunks, on_done, max_retries, hook)
        else:
            driven = DriveStats()
    finally:
        if backend is not None:
            backend.close()
        if bar is not None:
            bar.close()
    run = assemble(requests, results, opts)
    computed = sum(len(c) for c in chunks)
    out = run_stats(requests, opts, computed, cached, driven.docs_done, tuple(driven.tokens),
                    time.perf_counter() - start, driven.stats)
    out.update(shards=n or 0, backend="ray" if use_ray else "processes", chunks=len(chunks),
               chunks_retried=driven.chunks_retried, worker_deaths=driven.deaths,
               workers_started=backend.started if backend is not None else 0, **cache_repairs(cache))
    return run, out
