"""Command-line options shared by `rerank` and `eval`, and what they build (engine, paradigm, settings).

Kept in one place so both commands key the resume cache identically.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from rl_rerank.argtypes import any_int, at_least, non_negative_float, positive_int, unit_float
from rl_rerank.engines.factory import ENGINES, make_engine
from rl_rerank.errors import UserError
from rl_rerank.paradigms import paradigm_names
from rl_rerank.paradigms.base import DEFAULT_MAX_DOC_TOKENS, DEFAULT_MAX_PROMPT_TOKENS
from rl_rerank.paths import cache_dir
from rl_rerank.rerank.cache import ResultCache, config_key, runtime_identity
from rl_rerank.rerank.fusion import FUSION_METHODS
from rl_rerank.rerank.runner import RunOptions, cache_file
from rl_rerank.rerank.strategies import REASONING_TOKENS, StrategySettings, docs_per_prompt, new_tokens

# Tokens beyond prompt + completion: pointwise reasoning scoring re-reads prompt + reasoning + the answer prefix.
CONTEXT_MARGIN = 16
VLLM_ONLY = ("tensor_parallel_size", "gpu_memory_utilization", "max_num_seqs", "max_model_len")


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
                   help=f"default: the adapter's recipe (paradigm_args), else {DEFAULT_MAX_DOC_TOKENS}")
    g.add_argument("--max-prompt-tokens", type=positive_int, default=None,
                   help=f"default: the adapter's recipe (paradigm_args), else {DEFAULT_MAX_PROMPT_TOKENS}")
    g.add_argument("--reasoning-tokens", type=positive_int, default=None,
                   help=f"with --reasoning: room for the reasoning (default: the adapter's training "
                        f"max_completion_length when larger, else {REASONING_TOKENS})")
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


def engine_name(args) -> str:
    if args.engine != "auto":
        return args.engine
    try:
        import torch

        if torch.cuda.is_available():
            import vllm  # noqa: F401

            return "vllm"
    except ImportError:
        pass
    return "transformers"


def build_engine(args):
    name = engine_name(args)
    kwargs: dict = {}
    if name == "transformers":
        kwargs.update(batch_size=args.batch_size, dtype=args.dtype, device=args.device)
    elif name == "vllm":
        kwargs.update(vllm_kwargs(args))
    else:
        kwargs.update(base_url=args.base_url, tokenizer=getattr(args, "tokenizer", None))
    if name != "vllm":
        kwargs.update(engine_args(args))
    return make_engine(name, args.model, args.adapter, **kwargs)


def engine_args(args) -> dict:
    """--engine-arg KEY=VALUE pairs (values read as YAML); vLLM-only options refused for other engines."""
    import yaml

    out: dict = {}
    for item in getattr(args, "engine_arg", None) or []:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            raise UserError(f"--engine-arg {item!r}: expected KEY=VALUE, e.g. --engine-arg max_num_batched_tokens=8192")
        try:
            out[key.strip()] = yaml.safe_load(raw)
        except yaml.YAMLError:
            raise UserError(f"--engine-arg {item!r}: the value is not valid YAML") from None
    name = engine_name(args)
    if name != "vllm":
        given = [k for k in VLLM_ONLY if getattr(args, k, None) is not None]
        if given:
            flag = "--" + given[0].replace("_", "-")
            raise UserError(f"{flag} is a vLLM option; use it with --engine vllm (the engine here is {name})")
    return out


def vllm_kwargs(args) -> dict:
    """What the vLLM engine gets from the command line: the context derived from the prompt and completion
    budgets unless --max-model-len is given, the sizing options, then --engine-arg pairs (they win)."""
    kwargs = dict(dtype=args.dtype, max_model_len=args.max_model_len or context_length(args), seed=args.seed,
                  tensor_parallel_size=args.tensor_parallel_size,
                  gpu_memory_utilization=args.gpu_memory_utilization, max_num_seqs=args.max_num_seqs)
    kwargs = {k: v for k, v in kwargs.items() if v is not None}
    kwargs.update(engine_args(args))
    return kwargs


def context_length(args) -> int:
    """max_model_len = prompt budget + the longest completion the strategy asks for (+ a small margin): a full
    prompt must leave room to answer, and vLLM refuses a prompt as long as the context."""
    paradigm, settings = build_paradigm(args), strategy_settings(args)
    return paradigm.max_prompt_tokens + new_tokens(paradigm, settings, docs_per_prompt(paradigm, settings)) \
        + CONTEXT_MARGIN


def trained_recipe(adapter: str | None) -> dict:
    """The recipe that trained an adapter (its folder's config.yaml, written by `rl-rerank sft|rl`), or {}."""
    if not adapter:
        return {}
    path = Path(adapter, "config.yaml")
    if not path.is_file():
        return {}
    import yaml

    try:
        recipe = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError):
        return {}
    return recipe if isinstance(recipe, dict) else {}


def fill_from_recipe(args) -> None:
    """Prompt budgets the CLI leaves open come from the adapter's recipe (so rerank prompts are the prompts the
    model was trained on), else the defaults; the reasoning budget is at least the training one. Idempotent."""
    if getattr(args, "_filled_from_recipe", False):
        return
    recipe = trained_recipe(None if engine_name(args) == "openai" else args.adapter)
    pargs = recipe.get("paradigm_args") or {}
    if args.max_doc_tokens is None:
        args.max_doc_tokens = int(pargs.get("max_doc_tokens", DEFAULT_MAX_DOC_TOKENS))
    if args.max_prompt_tokens is None:
        args.max_prompt_tokens = int(pargs.get("max_prompt_tokens", DEFAULT_MAX_PROMPT_TOKENS))
    if getattr(args, "reasoning_tokens", None) is None:
        trained = (recipe.get("trl") or {}).get("max_completion_length") if recipe.get("reasoning") else None
        args.reasoning_tokens = max(REASONING_TOKENS, int(trained or 0))
    args._filled_from_recipe = True


def build_paradigm(args):
    from rl_rerank.paradigms import get_paradigm

    fill_from_recipe(args)
    return get_paradigm(args.paradigm, reasoning=args.reasoning, template=args.template,
                        max_doc_tokens=args.max_doc_tokens, max_prompt_tokens=args.max_prompt_tokens)


def strategy_settings(args) -> StrategySettings:
    fill_from_recipe(args)
    if args.paradigm == "listwise" and args.stride > args.window:
        raise UserError(f"--stride {args.stride} is larger than --window {args.window}: the documents between "
                        f"two windows would never be compared")
    return StrategySettings(window=args.window, stride=args.stride, set_size=args.set_size, select_k=args.select_k,
                            group_size=args.group_size, repeats=args.repeats, seed=args.seed,
                            max_new_tokens=args.max_new_tokens, temperature=args.temperature,
                            reasoning_tokens=args.reasoning_tokens)


def run_options(args) -> RunOptions:
    return RunOptions(top_k=args.top_k, chunk_queries=args.batch_queries, fusion=args.fusion,
                      fusion_weight=args.fusion_weight, progress=not args.no_progress)


def model_identity(args) -> str | None:
    """What the cache key hashes for the model: the resolved folder (or the served name)."""
    if engine_name(args) == "openai":
        return f"openai:{args.base_url}:{args.model}"
    from rl_rerank.models import resolve_model

    return resolve_model(args.model)


def key_dtype(args) -> str | None:
    """The dtype the cache key records: as given, else the transformers engine's default where it is not the
    CPU's float32 (None keeps keys of CPU runs from before --device unchanged; bf16 scores differ)."""
    if args.dtype or engine_name(args) != "transformers":
        return args.dtype
    from rl_rerank.engines.transformers_engine import default_dtype, resolve_device

    dtype = default_dtype(resolve_device(getattr(args, "device", None)))
    return None if dtype == "float32" else dtype


def open_cache(args, paradigm, settings: StrategySettings) -> tuple[str, ResultCache | None]:
    name = engine_name(args)
    adapter = None if name == "openai" else args.adapter
    # Batch sizes are keyed, not ignored: a different batch pads prompts differently and moves scores by
    # ~1e-7, enough to swap near-ties, so only a run with the same batching reuses cached scores.
    engine_settings = {"dtype": key_dtype(args), "served_adapter": args.adapter if name == "openai" else None,
                       "batch_queries": args.batch_queries,
                       "batch_size": args.batch_size if name == "transformers" else None,
                       "max_model_len": args.max_model_len if name == "vllm" else None}
    key = config_key(name, model_identity(args), adapter, paradigm, settings.as_dict(),
                     extra={**engine_settings, "runtime": runtime_identity()})
    if args.no_cache:
        return key, None
    return key, ResultCache(cache_file(cache_root(args), key))


def cache_root(args) -> Path:
    return Path(args.cache_dir) if args.cache_dir else cache_dir("rerank")


def reranker_inputs(args) -> list:
    """Local files the reranker reads (model, adapter, template, tokenizer): outputs may not overwrite them."""
    return [args.model, args.adapter, args.template, getattr(args, "tokenizer", None)]
