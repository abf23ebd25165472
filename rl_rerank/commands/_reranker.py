"""The reranker's command-line options, shared by `rerank` and `eval`, and their conversion to the library's
typed RerankerOptions: argparse objects stop here."""

from __future__ import annotations

import argparse

from rl_rerank.argtypes import any_int, at_least, non_negative_float, positive_int, unit_float
from rl_rerank.engines.factory import ENGINES
from rl_rerank.paradigms import paradigm_names
from rl_rerank.paradigms.base import DEFAULT_MAX_DOC_TOKENS, DEFAULT_MAX_PROMPT_TOKENS
from rl_rerank.paradigms.pointwise import DEFAULT_SCORE_MODE, SCORE_MODES
from rl_rerank.rerank.fusion import FUSION_METHODS
from rl_rerank.rerank.options import RerankerOptions
from rl_rerank.rerank.strategies import REASONING_TOKENS


def add_reranker_arguments(parser: argparse.ArgumentParser) -> None:
    g = parser.add_argument_group("model and engine")
    g.add_argument("--model", default=None, help="hub id or folder (default: the embedded SmolLM2-135M-Instruct); "
                                                 "for --engine openai the served model name")
    g.add_argument("--adapter", default=None, help="LoRA adapter folder (openai engine: the served LoRA name)")
    g.add_argument("--engine", choices=("auto",) + ENGINES, default="auto",
                   help="auto: vllm when a GPU and vLLM are present, else transformers")
    g.add_argument("--dtype", default=None, help="float32 / bfloat16 (transformers default: bfloat16 on a GPU, "
                                                 "float32 on CPU; vllm default: the model's)")
    g.add_argument("--device", default=None, help="transformers engine: cpu, cuda, cuda:1 ... (default: cuda when "
                                                  "available, else cpu)")
    g.add_argument("--batch-size", type=positive_int, default=8, help="transformers engine batch size")
    g.add_argument("--base-url", default=None, help="openai engine: server URL (default $OPENAI_BASE_URL)")
    g.add_argument("--tokenizer", default=None, help="openai engine: the served model's tokenizer (hub id or "
                                                     "folder): exact prompt budgets, its special tokens kept out of "
                                                     "documents")
    g.add_argument("--max-model-len", type=positive_int, default=None,
                   help="vllm engine: context length (default: --max-prompt-tokens + the completion budget)")
    g = parser.add_argument_group("vLLM engine (large models, several GPUs)")
    g.add_argument("--tensor-parallel-size", type=positive_int, default=None, help="GPUs one vLLM engine spans")
    g.add_argument("--gpu-memory-utilization", type=unit_float, default=None,
                   help="share of each GPU's memory vLLM may take, weights + KV cache (vLLM default 0.9)")
    g.add_argument("--max-num-seqs", type=positive_int, default=None, help="sequences vLLM runs at once (vLLM default)")
    g.add_argument("--engine-arg", action="append", default=[], metavar="KEY=VALUE",
                   help="any other engine keyword argument, value read as YAML (e.g. --engine-arg "
                        "enable_chunked_prefill=true --engine-arg kv_cache_dtype=fp8); repeatable")
    g = parser.add_argument_group("paradigm and strategy")
    g.add_argument("--paradigm", choices=paradigm_names(), default="pointwise",
                   help="a registered paradigm (rl_rerank.paradigms; choices read when the parser is built)")
    g.add_argument("--reasoning", action="store_true", help="the model reasons before answering")
    g.add_argument("--template", default=None, help="prompt template file (default: the paradigm's packaged one)")
    g.add_argument("--max-doc-tokens", type=positive_int, default=None,
                   help=f"default: the recipe of the adapter or fine-tuned model (paradigm_args), else "
                        f"{DEFAULT_MAX_DOC_TOKENS}")
    g.add_argument("--max-prompt-tokens", type=positive_int, default=None,
                   help=f"default: the recipe of the adapter or fine-tuned model (paradigm_args), else "
                        f"{DEFAULT_MAX_PROMPT_TOKENS}")
    g.add_argument("--reasoning-tokens", type=positive_int, default=None,
                   help=f"with --reasoning: room for the reasoning (default: the adapter's training "
                        f"max_completion_length when larger, else {REASONING_TOKENS})")
    g.add_argument("--score-mode", choices=SCORE_MODES, default=None,
                   help="pointwise: erank = s* x P(s*) of the most probable label, expected = sum_k k P(k) "
                        f"(default: the recipe that trained the model or adapter, else {DEFAULT_SCORE_MODE})")
    g.add_argument("--top-k", type=positive_int, default=100, help="rerank the first-stage top-k (the rest stay below)")
    g.add_argument("--window", type=positive_int, default=20, help="listwise window")
    g.add_argument("--stride", type=positive_int, default=10, help="listwise stride")
    g.add_argument("--set-size", type=at_least(2), default=4, help="setwise documents per comparison")
    g.add_argument("--select-k", type=positive_int, default=10, help="setwise: top documents to select")
    g.add_argument("--group-size", type=positive_int, default=10, help="groupwise documents per group")
    g.add_argument("--repeats", type=positive_int, default=2, help="groupwise reshuffled repeats")
    g.add_argument("--seed", type=any_int, default=0)
    g.add_argument("--max-new-tokens", type=positive_int, default=None)
    g.add_argument("--temperature", type=non_negative_float, default=0.0)
    g.add_argument("--fusion", choices=FUSION_METHODS, default="zscore", help="normalisation for --fusion-weight")
    g.add_argument("--fusion-weight", type=unit_float, default=0.0, help="weight of the first-stage score (0: off)")
    g = parser.add_argument_group("run")
    g.add_argument("--batch-queries", type=positive_int, default=16,
                   help="queries per engine batch and per cache write")
    g.add_argument("--cache-dir", default=None, help="resume cache folder (default: $RL_RERANK_CACHE/rerank)")
    g.add_argument("--no-cache", action="store_true", help="do not read or write the resume cache")
    g.add_argument("--no-progress", action="store_true")


def engine_kwargs(items: list[str] | None) -> dict:
    """--engine-arg KEY=VALUE pairs, values read as YAML (rl_rerank.keyvalue, like --set and recipes)."""
    from rl_rerank.keyvalue import parse_pairs

    return parse_pairs(items, "--engine-arg", "max_num_batched_tokens=8192")


def reranker_options(args: argparse.Namespace) -> RerankerOptions:
    """The parsed flags of add_reranker_arguments as RerankerOptions, checked (bad --engine-arg pairs and
    vLLM-only flags for another engine fail here, before any data or model loads)."""
    return RerankerOptions(
        model=args.model, adapter=args.adapter, engine=args.engine, dtype=args.dtype, device=args.device,
        batch_size=args.batch_size, base_url=args.base_url, tokenizer=args.tokenizer,
        max_model_len=args.max_model_len, tensor_parallel_size=args.tensor_parallel_size,
        gpu_memory_utilization=args.gpu_memory_utilization, max_num_seqs=args.max_num_seqs,
        engine_kwargs=engine_kwargs(args.engine_arg), paradigm=args.paradigm, reasoning=args.reasoning,
        template=args.template, max_doc_tokens=args.max_doc_tokens, max_prompt_tokens=args.max_prompt_tokens,
        reasoning_tokens=args.reasoning_tokens, score_mode=args.score_mode, top_k=args.top_k, window=args.window,
        stride=args.stride,
        set_size=args.set_size, select_k=args.select_k, group_size=args.group_size, repeats=args.repeats,
        seed=args.seed, max_new_tokens=args.max_new_tokens, temperature=args.temperature, fusion=args.fusion,
        fusion_weight=args.fusion_weight, batch_queries=args.batch_queries, cache_dir=args.cache_dir,
        use_cache=not args.no_cache, progress=not args.no_progress,
    ).check()
