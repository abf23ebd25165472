"""GPU check: the one script a GPU machine runs (about 8 minutes on one H100 / H200).

1. Agreement: pointwise label probabilities of a tiny random Qwen3 (with and without a LoRA adapter) on CUDA
   equal the CPU ones (fp32), so device handling in the transformers engine is right.
2. Scoring: pointwise scoring of DL20 BM25 candidates with a random model of Qwen3-0.6B's shape (weights do not
   change speed), bf16 on the GPU against fp32 on the CPU in the same run; prefill tokens/s and the share of
   the GPU's bf16 peak that this is (2 x non-embedding parameters FLOPs per token).
3. Training: SFT and GRPO steps (HF generation, no vLLM) of the same model in bf16 through `rl-rerank sft|rl`
   under accelerate launch with the repository's launch/ddp.yaml, zero2.yaml and zero3.yaml (one process per
   config: the DeepSpeed code paths run, the speed is one GPU's), plus the same steps on the CPU as a baseline;
   step time, samples/s (SFT rows, GRPO completions per optimizer step) and peak memory from each run card.

    python benchmarks/gpu_check.py --tokenizer DIR --requests DL20/bm25-top100.json --data BEIR_DIR [--out DIR]
    python benchmarks/gpu_check.py --cpu-smoke ...   # the same code paths, tiny model, CPU only (tests)

Packages a GPU image may lack (trl, datasets, deepspeed, bm25s, ...) travel as wheels: benchmarks/gpu_wheels.sh.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
QWEN3_06B = dict(hidden_size=1024, intermediate_size=3072, num_hidden_layers=28, num_attention_heads=16,
                 num_key_value_heads=8, head_dim=128)
TINY = dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
            head_dim=16)
# Dense bf16 peak (TFLOP/s) by device name; --peak-tflops overrides.
BF16_PEAK_TFLOPS = {"H200": 989.0, "H100": 989.0, "A100": 312.0, "L40S": 362.0, "A10": 125.0}
LAUNCHERS = ("ddp", "zero2", "zero3")


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--tokenizer", required=True, help="folder with a tokenizer + chat template (SmolLM2's)")
    p.add_argument("--requests", required=True, help="rank_llm JSON requests (DL20 BM25 top-100)")
    p.add_argument("--data", required=True, help="BEIR folder for the training rows (SciFact)")
    p.add_argument("--queries", type=int, default=54)
    p.add_argument("--top-k", type=int, default=100)
    p.add_argument("--cpu-pairs", type=int, default=64, help="pairs for the CPU scoring baseline")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--max-doc-tokens", type=int, default=256)
    p.add_argument("--launchers", nargs="+", default=list(LAUNCHERS), choices=LAUNCHERS)
    p.add_argument("--train-steps", type=int, default=6, help="optimizer steps per training run on the GPU")
    p.add_argument("--cpu-train-steps", type=int, default=2, help="optimizer steps of the CPU baseline runs")
    p.add_argument("--completion-tokens", type=int, default=64, help="GRPO max_completion_length")
    p.add_argument("--peak-tflops", type=float, default=None, help="bf16 peak of the GPU (default: by name)")
    p.add_argument("--cpu-smoke", action="store_true", help="tiny model, CPU only, few pairs and steps")
    p.add_argument("--out", default="gpu-check-out")
    return p.parse_args(argv)


def build_model(folder: Path, tokenizer_dir: str, shape: dict, seed: int = 0) -> Path:
    import torch
    from transformers import AutoTokenizer, Qwen3Config, Qwen3ForCausalLM

    if (folder / "config.json").is_file():
        return folder
    tok = AutoTokenizer.from_pretrained(tokenizer_dir)
    cfg = Qwen3Config(vocab_size=len(tok), max_position_embeddings=4096, tie_word_embeddings=True,
                      bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id,
                      pad_token_id=tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id, **shape)
    torch.manual_seed(seed)
    model = Qwen3ForCausalLM(cfg)
    model.save_pretrained(folder)
    tok.save_pretrained(folder)
    return folder


def add_adapter(model_dir: Path, out: Path) -> Path:
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    model = get_peft_model(AutoModelForCausalLM.from_pretrained(model_dir),
                           LoraConfig(r=4, lora_alpha=8, target_modules="all-linear", task_type="CAUSAL_LM"))
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "lora_B" in name:
                p.normal_(0, 0.05)
    model.save_pretrained(out)
    return out


def label_probs(engine, paradigm, requests):
    prompts = [paradigm.messages(r.query, [c]) for r in requests for c in r.candidates]
    return engine.label_probs(prompts, paradigm.answer_prefix(), paradigm.score_labels())


def agreement(tok_dir: str, requests, work: Path, device: str) -> dict:
    """CPU vs `device` label probabilities (fp32) of a tiny model with and without an adapter."""
    from rl_rerank.engines.transformers_engine import TransformersEngine
    from rl_rerank.paradigms import get_paradigm

    tiny = build_model(work / "tiny", tok_dir, TINY)
    adapter = add_adapter(tiny, work / "tiny-adapter")
    paradigm = get_paradigm("pointwise", max_doc_tokens=64)
    sample = [type(r)(r.query, r.candidates[:8]) for r in requests[:4]]
    out = {}
    for name, ad in (("base", None), ("lora", str(adapter))):
        probs = {}
        for dev in ("cpu", device):
            engine = TransformersEngine(model=str(tiny), adapter=ad, dtype="float32", device=dev, batch_size=8)
            probs[dev] = label_probs(engine, paradigm, sample)
        diff = max(abs(a[k] - b[k]) for a, b in zip(probs["cpu"], probs[device], strict=True) for k in a)
        out[name] = {"pairs": len(probs["cpu"]), "devices": ["cpu", device], "max_abs_prob_diff": diff}
    return out


def non_embedding_params(model_dir: Path) -> int:
    """Parameters a token's forward multiplies through (embedding lookup excluded; tied head counted once)."""
    cfg = json.loads((model_dir / "config.json").read_text())
    h, i, n = cfg["hidden_size"], cfg["intermediate_size"], cfg["num_hidden_layers"]
    q = cfg["num_attention_heads"] * cfg["head_dim"]
    kv = cfg["num_key_value_heads"] * cfg["head_dim"]
    per_layer = h * q + 2 * h * kv + q * h + 3 * h * i
    return n * per_layer + h * cfg["vocab_size"]  # + the LM head


def scoring(tok_dir: str, requests, model: Path, device: str, args, peak_tflops: float | None) -> list[dict]:
    from rl_rerank.engines.transformers_engine import TransformersEngine
    from rl_rerank.paradigms import get_paradigm
    from rl_rerank.rerank import RunOptions, rerank_requests
    from rl_rerank.rerank.strategies import StrategySettings

    paradigm = get_paradigm("pointwise", max_doc_tokens=args.max_doc_tokens)
    flops_per_token = 2 * non_embedding_params(model)
    cpu_reqs = [type(r)(r.query, r.candidates[:8]) for r in requests[:max(1, args.cpu_pairs // 8)]]
    runs = [("cpu", "float32", cpu_reqs, None)]
    if device == "cuda":
        runs.append(("cuda", "bfloat16", requests, peak_tflops))
    rows = []
    for dev, dtype, reqs, peak in runs:
        engine = TransformersEngine(model=str(model), dtype=dtype, device=dev, batch_size=args.batch_size)
        rerank_requests(engine, paradigm, reqs[:1], StrategySettings(), RunOptions(top_k=8, progress=False))  # warm
        start = time.perf_counter()
        _, stats = rerank_requests(engine, paradigm, reqs, StrategySettings(),
                                   RunOptions(top_k=args.top_k, progress=False, chunk_queries=64))
        wall = time.perf_counter() - start
        tps = stats["prompt_tokens"] / wall
        rows.append({"device": dev, "dtype": dtype, "docs": stats["documents_computed"], "wall_s": round(wall, 2),
                     "docs_per_s": stats["documents_computed"] / wall, "prefill_tokens_per_s": tps,
                     "tflops": tps * flops_per_token / 1e12,
                     "share_of_bf16_peak": (tps * flops_per_token / (peak * 1e12)) if peak else None})
        del engine
    return rows


def _launch(stage: str, launcher: str, model: Path, data: str, out: Path, steps: int, on_gpu: bool, args) -> dict:
    """One `rl-rerank sft|rl` run under accelerate launch; its run card plus the wall time of the process."""
    recipe = "configs/erank-pointwise/sft-cpu.yaml" if stage == "sft" else "configs/erank-pointwise/grpo-cpu.yaml"
    sets = [f"model={model}", f"output_dir={out}", f"data.build.path={data}", "data.build.max_queries=16",
            f"trl.max_steps={steps}", "trl.save_steps=100000", "trl.logging_steps=1",
            f"dtype={'bfloat16' if on_gpu else 'float32'}", f"trl.bf16={'true' if on_gpu else 'false'}",
            "paradigm_args.max_doc_tokens=128"]
    if stage == "grpo":
        sets += ["init_from=null", "lora={r: 16, alpha: 32, dropout: 0.0}",
                 f"trl.max_completion_length={args.completion_tokens}", "trl.beta=0.0"]
    else:
        sets += ["trl.max_length=512"]
    cmd = [sys.executable, "-m", "accelerate.commands.launch", "--config_file", f"launch/{launcher}.yaml",
           "--num_processes", "1"]
    if launcher == "ddp" and not on_gpu:
        cmd += ["--mixed_precision", "no"]
    cmd += ["-m", "rl_rerank.cli", "sft" if stage == "sft" else "rl", "--config", recipe, "--fresh"]
    for s in sets:
        cmd += ["--set", s]
    env = dict(os.environ, TOKENIZERS_PARALLELISM="false")
    if not on_gpu:
        env["CUDA_VISIBLE_DEVICES"] = ""
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        return {"error": proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else f"exit {proc.returncode}",
                "stderr_tail": proc.stderr[-2000:]}
    card = json.loads((out / "run_card.json").read_text())
    per_step = card["seconds_per_step"]
    rows_per_step = card["geometry"]["rows_per_step"]
    return {"steps": card["global_step"], "s_per_step": per_step, "samples_per_s": rows_per_step / per_step,
            "rows_per_step": rows_per_step, "peak_gpu_gib": card.get("peak_gpu_gib_rank0"),
            "peak_rss_gib": round(card["peak_rss_mb_rank0"] / 1024, 2), "device": card["device"],
            "process_wall_s": round(wall, 1)}


def training(model: Path, data: str, work: Path, device: str, args) -> list[dict]:
    rows = []
    runs = [(launcher, True) for launcher in args.launchers] if device == "cuda" else []
    runs.append(("ddp", False))  # the CPU baseline (also the whole training check in --cpu-smoke)
    if args.cpu_smoke:
        runs = [(launcher, False) for launcher in args.launchers]
    for launcher, on_gpu in runs:
        for stage in ("sft", "grpo"):
            steps = args.train_steps if on_gpu else args.cpu_train_steps
            name = f"{stage}-{launcher}-{'gpu' if on_gpu else 'cpu'}"
            result = _launch(stage, launcher, model, data, work / "train" / name, steps, on_gpu, args)
            rows.append({"run": name, "stage": stage, "launcher": launcher,
                         "on": "cuda bf16" if on_gpu else "cpu fp32", **result})
    return rows


def peak_for(name: str, override: float | None) -> float | None:
    if override:
        return override
    return next((v for k, v in BF16_PEAK_TFLOPS.items() if k in name), None)


def main(argv=None) -> int:
    import torch

    from rl_rerank.data import read_requests

    args = parse_args(argv)
    if args.cpu_smoke:
        args.queries, args.cpu_pairs, args.top_k, args.max_doc_tokens = 2, 8, 4, 48
        args.completion_tokens = min(args.completion_tokens, 8)
    device = "cuda" if torch.cuda.is_available() and not args.cpu_smoke else "cpu"
    out = Path(args.out).resolve()
    work = out / "work"
    work.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    requests = read_requests(args.requests)[:args.queries]
    name = torch.cuda.get_device_name(0) if device == "cuda" else "cpu"
    peak = peak_for(name, args.peak_tflops) if device == "cuda" else None
    model = build_model(work / ("tiny-train" if args.cpu_smoke else "qwen3-0.6b-shape"), args.tokenizer,
                        TINY if args.cpu_smoke else QWEN3_06B)
    report = {"device": name, "torch": torch.__version__, "cpu_smoke": args.cpu_smoke, "bf16_peak_tflops": peak,
              "cpu_threads": torch.get_num_threads(), "model_non_embedding_params": non_embedding_params(model)}
    report["agreement"] = agreement(args.tokenizer, requests, work, device)
    report["scoring"] = scoring(args.tokenizer, requests, model, device, args, peak)
    report["training"] = training(model, str(Path(args.data).resolve()), work, device, args)
    report["wall_s"] = round(time.perf_counter() - started, 1)
    (out / "gpu_check.json").write_text(json.dumps(report, indent=2))
    print(render(report))
    failed = [r["run"] for r in report["training"] if "error" in r]
    return 1 if failed else 0


def render(report: dict) -> str:
    lines = [f"device: {report['device']}  torch {report['torch']}  CPU threads {report['cpu_threads']}  "
             f"({report['wall_s']} s in all)"]
    for name, a in report["agreement"].items():
        lines.append(f"agreement {name}: {a['pairs']} pairs, max |P_{a['devices'][0]} - P_{a['devices'][1]}| = "
                     f"{a['max_abs_prob_diff']:.2e}")
    from rl_rerank.tables import markdown_table

    scoring = []
    for r in report["scoring"]:
        share = f"{100 * r['share_of_bf16_peak']:.1f}%" if r["share_of_bf16_peak"] is not None else "-"
        scoring.append([r["device"], r["dtype"], r["docs"], r["wall_s"], f"{r['docs_per_s']:.1f}",
                        f"{r['prefill_tokens_per_s']:.0f}", f"{r['tflops']:.2f}", share])
    training = []
    for r in report["training"]:
        if "error" in r:
            training.append([r["run"], r["on"], f"failed: {r['error']}", "", "", "", ""])
            continue
        gpu = r["peak_gpu_gib"] if r["peak_gpu_gib"] is not None else "-"
        training.append([r["run"], r["on"], r["steps"], f"{r['s_per_step']:.2f}", f"{r['samples_per_s']:.1f}", gpu,
                         r["peak_rss_gib"]])
    lines += ["", markdown_table(["scoring", "dtype", "docs", "wall s", "docs/s", "prefill tokens/s", "TFLOP/s",
                                  "share of bf16 peak"], scoring).rstrip("\n"),
              "", markdown_table(["training run", "on", "steps", "s/step", "samples/s", "peak GPU GiB", "peak RSS GiB"],
                                 training).rstrip("\n")]
    lines.append("s/step includes the first step (warm-up); GRPO samples are completions (HF generation, "
                 "no vLLM); one process per launcher config.")
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
