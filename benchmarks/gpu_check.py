"""GPU check for the transformers engine (the machine lent for checks has torch/transformers/peft, no vLLM/TRL).

1. Agreement: pointwise label probabilities of a tiny random Qwen3 (with and without a LoRA adapter) on CUDA
   equal the CPU ones (fp32), so device handling in the engine is right.
2. Throughput: pointwise scoring of DL20 BM25 candidates with a randomly initialised model of Qwen3-0.6B's
   shape (weights do not change speed) in bf16 on the GPU, against the same engine on the CPU in the same run
   (a small subset), printed as a table with the ratio.

    python benchmarks/gpu_check.py --tokenizer DIR --requests bm25-top100.json [--queries 54] [--out DIR]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--tokenizer", required=True, help="folder with a tokenizer + chat template (SmolLM2's)")
    p.add_argument("--requests", required=True, help="rank_llm JSON requests (DL20 BM25 top-100)")
    p.add_argument("--queries", type=int, default=54)
    p.add_argument("--top-k", type=int, default=100)
    p.add_argument("--cpu-pairs", type=int, default=64, help="pairs for the CPU baseline")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--max-doc-tokens", type=int, default=256)
    p.add_argument("--out", default=".")
    return p.parse_args(argv)


def build_model(folder: Path, tokenizer_dir: str, shape: dict, seed: int = 0) -> Path:
    import torch
    from transformers import AutoTokenizer, Qwen3Config, Qwen3ForCausalLM

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


def agreement(tok_dir: str, requests, work: Path) -> dict:
    from rl_rerank.engines.transformers_engine import TransformersEngine
    from rl_rerank.paradigms import get_paradigm

    tiny = build_model(work / "tiny", tok_dir, dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                                                   num_attention_heads=4, num_key_value_heads=2, head_dim=16))
    adapter = add_adapter(tiny, work / "tiny-adapter")
    paradigm = get_paradigm("pointwise", max_doc_tokens=64)
    sample = [type(r)(r.query, r.candidates[:8]) for r in requests[:4]]
    out = {}
    for name, ad in (("base", None), ("lora", str(adapter))):
        probs = {}
        for device in ("cpu", "cuda"):
            engine = TransformersEngine(model=str(tiny), adapter=ad, dtype="float32", device=device, batch_size=8)
            probs[device] = label_probs(engine, paradigm, sample)
        diff = max(abs(a[k] - b[k]) for a, b in zip(probs["cpu"], probs["cuda"]) for k in a)
        out[name] = {"pairs": len(probs["cpu"]), "max_abs_prob_diff": diff}
    return out


def throughput(tok_dir: str, requests, work: Path, args) -> list[dict]:
    from rl_rerank.engines.transformers_engine import TransformersEngine
    from rl_rerank.paradigms import get_paradigm
    from rl_rerank.rerank import RunOptions, rerank_requests
    from rl_rerank.rerank.strategies import StrategySettings

    shape = dict(hidden_size=1024, intermediate_size=3072, num_hidden_layers=28, num_attention_heads=16,
                 num_key_value_heads=8, head_dim=128)  # Qwen3-0.6B
    model = build_model(work / "qwen3-0.6b-shape", tok_dir, shape)
    paradigm = get_paradigm("pointwise", max_doc_tokens=args.max_doc_tokens)
    rows = []
    cpu_reqs = [type(r)(r.query, r.candidates[:8]) for r in requests[:max(1, args.cpu_pairs // 8)]]
    for device, dtype, reqs in (("cpu", "float32", cpu_reqs), ("cuda", "bfloat16", requests)):
        engine = TransformersEngine(model=str(model), dtype=dtype, device=device, batch_size=args.batch_size)
        rerank_requests(engine, paradigm, reqs[:1], StrategySettings(), RunOptions(top_k=8, progress=False))  # warm-up
        start = time.perf_counter()
        _, stats = rerank_requests(engine, paradigm, reqs, StrategySettings(),
                                   RunOptions(top_k=args.top_k, progress=False, chunk_queries=64))
        wall = time.perf_counter() - start
        rows.append({"device": device, "dtype": dtype, "docs": stats["documents_computed"], "wall_s": wall,
                     "docs_per_s": stats["documents_computed"] / wall,
                     "prompt_tokens_per_s": stats["prompt_tokens"] / wall})
        del engine
    return rows


def main(argv=None) -> int:
    import torch

    from rl_rerank.data import read_requests

    args = parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    work = out / "work"
    requests = read_requests(args.requests)[:args.queries]
    report = {"gpu": torch.cuda.get_device_name(0), "torch": torch.__version__}
    report["agreement"] = agreement(args.tokenizer, requests, work)
    report["throughput"] = throughput(args.tokenizer, requests, work, args)
    cpu, gpu = report["throughput"]
    report["gpu_over_cpu_docs_per_s"] = gpu["docs_per_s"] / cpu["docs_per_s"]
    (out / "gpu_check.json").write_text(json.dumps(report, indent=2))
    print(f"GPU: {report['gpu']}  torch {report['torch']}")
    for name, a in report["agreement"].items():
        print(f"agreement {name}: {a['pairs']} pairs, max |P_cpu - P_cuda| = {a['max_abs_prob_diff']:.2e}")
    print("| device | dtype | docs | wall s | docs/s | prompt tokens/s |")
    print("|---|---|---|---|---|---|")
    for r in report["throughput"]:
        print(f"| {r['device']} | {r['dtype']} | {r['docs']} | {r['wall_s']:.1f} | {r['docs_per_s']:.1f} | "
              f"{r['prompt_tokens_per_s']:.0f} |")
    print(f"GPU / CPU docs/s ratio: {report['gpu_over_cpu_docs_per_s']:.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
