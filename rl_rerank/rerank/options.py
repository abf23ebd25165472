"""What a reranker is built from (engine, paradigm, strategy settings, run options, resume cache), as one typed
set of options. `rerank` and `eval` fill it from their command lines (rl_rerank.commands._reranker); keeping
the builders here, in one place, makes both commands key the resume cache identically.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from rl_rerank.engines.factory import make_engine
from rl_rerank.errors import UserError
from rl_rerank.paradigms.base import DEFAULT_MAX_DOC_TOKENS, DEFAULT_MAX_PROMPT_TOKENS
from rl_rerank.paradigms.pointwise import DEFAULT_MAX_SCORE, DEFAULT_SCORE_MODE, SCORE_MODES
from rl_rerank.paths import cache_dir
from rl_rerank.rerank.cache import ResultCache, config_key, runtime_identity
from rl_rerank.rerank.runner import RunOptions, cache_file
from rl_rerank.rerank.strategies import REASONING_TOKENS, StrategySettings, docs_per_prompt, new_tokens

# Tokens beyond prompt + completion: pointwise reasoning scoring re-reads prompt + reasoning + the answer prefix.
CONTEXT_MARGIN = 16
VLLM_ONLY = ("tensor_parallel_size", "gpu_memory_utilization", "max_num_seqs", "max_model_len")


@dataclass(frozen=True)
class RerankerOptions:
    """Everything a reranking run is built from; defaults are the command line's. Budgets and pointwise scoring
    left None come from the recipe that trained the model or adapter (with_recipe_budgets), else the paradigm
    defaults."""

    # model and engine
    model: str | None = None  # hub id or folder (None: the embedded model); openai: the served model name
    adapter: str | None = None  # LoRA adapter folder (openai: the served LoRA name)
    engine: str = "auto"  # auto: vllm when a GPU and vLLM are present, else transformers
    dtype: str | None = None
    device: str | None = None  # transformers engine only
    batch_size: int = 8  # transformers engine only
    base_url: str | None = None  # openai engine only
    tokenizer: str | None = None  # openai engine only: the served model's tokenizer
    max_model_len: int | None = None  # vllm only; None: prompt budget + completion budget
    tensor_parallel_size: int | None = None  # vllm only
    gpu_memory_utilization: float | None = None  # vllm only
    max_num_seqs: int | None = None  # vllm only
    engine_kwargs: dict[str, Any] = field(default_factory=dict)  # any other engine keyword argument (they win)
    # paradigm and strategy
    paradigm: str = "pointwise"
    reasoning: bool = False
    template: str | None = None
    max_doc_tokens: int | None = None
    max_prompt_tokens: int | None = None
    reasoning_tokens: int | None = None
    score_mode: str | None = None  # pointwise only: "erank" (s* x P(s*)) or "expected" (sum_k k P(k))
    max_score: int | None = None  # pointwise only: the top of the 0..max_score label range (from the recipe)
    top_k: int = 100
    window: int = 20
    stride: int = 10
    set_size: int = 4
    select_k: int = 10
    group_size: int = 10
    repeats: int = 2
    seed: int = 0
    max_new_tokens: int | None = None
    temperature: float = 0.0
    fusion: str = "zscore"
    fusion_weight: float = 0.0
    # run
    batch_queries: int = 16
    cache_dir: str | None = None  # None: $RL_RERANK_CACHE/rerank
    use_cache: bool = True
    progress: bool = True

    def check(self) -> RerankerOptions:
        """Refuse vLLM-only sizing for other engines (they would be silently ignored); returns self."""
        name = engine_name(self)
        if name != "vllm":
            given = [k for k in VLLM_ONLY if getattr(self, k) is not None]
            if given:
                flag = "--" + given[0].replace("_", "-")
                raise UserError(f"{flag} is a vLLM option; use it with --engine vllm (the engine here is {name})")
        if self.score_mode is not None and self.paradigm != "pointwise":
            raise UserError(f"--score-mode is a pointwise option; --paradigm {self.paradigm} ranks by its own output")
        return self


def engine_name(opts: RerankerOptions) -> str:
    if opts.engine != "auto":
        return opts.engine
    try:
        import torch

        if torch.cuda.is_available():
            import vllm  # noqa: F401

            return "vllm"
    except ImportError:
        pass
    return "transformers"


def build_engine(opts: RerankerOptions):
    opts = opts.check()
    name = engine_name(opts)
    kwargs: dict = {}
    if name == "transformers":
        kwargs.update(batch_size=opts.batch_size, dtype=opts.dtype, device=opts.device)
    elif name == "vllm":
        kwargs.update(vllm_kwargs(opts))
    else:
        kwargs.update(base_url=opts.base_url, tokenizer=opts.tokenizer)
    if name != "vllm":
        kwargs.update(opts.engine_kwargs)
    return make_engine(name, opts.model, opts.adapter, **kwargs)


def vllm_kwargs(opts: RerankerOptions) -> dict:
    """What the vLLM engine gets: the context derived from the prompt and completion budgets unless
    max_model_len is given, the sizing options, then the extra engine keyword arguments (they win)."""
    kwargs = dict(dtype=opts.dtype, max_model_len=opts.max_model_len or context_length(opts), seed=opts.seed,
                  tensor_parallel_size=opts.tensor_parallel_size,
                  gpu_memory_utilization=opts.gpu_memory_utilization, max_num_seqs=opts.max_num_seqs)
    kwargs = {k: v for k, v in kwargs.items() if v is not None}
    kwargs.update(opts.engine_kwargs)
    return kwargs


def context_length(opts: RerankerOptions) -> int:
    """max_model_len = prompt budget + the longest completion the strategy asks for (+ a small margin): a full
    prompt must leave room to answer, and vLLM refuses a prompt as long as the context."""
    paradigm, settings = build_paradigm(opts), strategy_settings(opts)
    return paradigm.max_prompt_tokens + new_tokens(paradigm, settings, docs_per_prompt(paradigm, settings)) \
        + CONTEXT_MARGIN


def recipe_file(adapter: str | None, model: str | None = None) -> Path | None:
    """Where the recipe that trained the weights sits: the adapter folder's config.yaml (written by `rl-rerank
    sft|rl`) or recipe.yaml (written by `rl-rerank export`), else, with no adapter, the model folder's (a fully
    fine-tuned stage 1, or an exported merged model); None when there is none."""
    folder = adapter or model
    if not folder:
        return None
    return next((p for p in (Path(folder, "config.yaml"), Path(folder, "recipe.yaml")) if p.is_file()), None)


def trained_recipe(adapter: str | None, model: str | None = None) -> dict:
    """The recipe at recipe_file(), or {} when there is none or it does not parse. A model folder's file counts
    only if it names a paradigm (other tools write a config.yaml too)."""
    path = recipe_file(adapter, model)
    if path is None:
        return {}
    import yaml

    try:
        recipe = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError):
        return {}
    if not isinstance(recipe, dict) or (not adapter and "paradigm" not in recipe):
        return {}
    return recipe


def with_recipe_budgets(opts: RerankerOptions) -> RerankerOptions:
    """Prompt budgets and pointwise scoring left None come from the recipe that trained the adapter (or the fully
    fine-tuned model), else the defaults, so rerank prompts and scores are the ones the model was trained and
    chosen with; the reasoning budget is at least the training one. Idempotent. A recipe value of the wrong kind
    (a hand-edited file) is one line naming the file and the key."""
    pointwise = opts.paradigm == "pointwise"  # only it takes score_mode / max_score (check() refuses them elsewhere)
    scoring = (opts.score_mode, opts.max_score) if pointwise else ()
    if None not in (opts.max_doc_tokens, opts.max_prompt_tokens, opts.reasoning_tokens, *scoring):
        return opts
    served = engine_name(opts) == "openai"  # model and adapter are served names there, not folders
    adapter = None if served else opts.adapter
    recipe = {} if served else trained_recipe(adapter, opts.model)
    pargs = recipe.get("paradigm_args") or {}

    def count(given: int | None, key: str, default: int) -> int:
        if given is not None:  # the command line's, already checked there
            return given
        value = pargs.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise UserError(f"{recipe_file(adapter, opts.model)}: paradigm_args.{key} must be an integer >= 1, "
                            f"got {value!r}")
        return value

    reasoning_tokens = opts.reasoning_tokens
    if reasoning_tokens is None:
        trained = (recipe.get("trl") or {}).get("max_completion_length") if recipe.get("reasoning") else None
        reasoning_tokens = max(REASONING_TOKENS, int(trained or 0))
    # Scoring settings carry over only from a pointwise recipe to a pointwise run (a listwise one has none).
    score_mode = max_score = None
    if pointwise:
        same = recipe.get("paradigm", "pointwise") == "pointwise"
        score_mode = opts.score_mode or (pargs.get("score_mode", DEFAULT_SCORE_MODE) if same else DEFAULT_SCORE_MODE)
        if score_mode not in SCORE_MODES:
            raise UserError(f"{recipe_file(adapter, opts.model)}: paradigm_args.score_mode must be one of "
                            f"{', '.join(SCORE_MODES)}, got {score_mode!r}")
        max_score = count(opts.max_score, "max_score", DEFAULT_MAX_SCORE) if same else \
            (opts.max_score or DEFAULT_MAX_SCORE)
    return replace(opts, reasoning_tokens=reasoning_tokens, score_mode=score_mode, max_score=max_score,
                   max_doc_tokens=count(opts.max_doc_tokens, "max_doc_tokens", DEFAULT_MAX_DOC_TOKENS),
                   max_prompt_tokens=count(opts.max_prompt_tokens, "max_prompt_tokens", DEFAULT_MAX_PROMPT_TOKENS))


def build_paradigm(opts: RerankerOptions):
    from rl_rerank.paradigms import get_paradigm

    opts = with_recipe_budgets(opts)
    scoring = {"score_mode": opts.score_mode, "max_score": opts.max_score} if opts.paradigm == "pointwise" else {}
    return get_paradigm(opts.paradigm, reasoning=opts.reasoning, template=opts.template,
                        max_doc_tokens=opts.max_doc_tokens, max_prompt_tokens=opts.max_prompt_tokens, **scoring)


def strategy_settings(opts: RerankerOptions) -> StrategySettings:
    opts = with_recipe_budgets(opts)
    assert opts.reasoning_tokens is not None  # with_recipe_budgets fills it
    if opts.paradigm == "listwise" and opts.stride > opts.window:
        raise UserError(f"--stride {opts.stride} is larger than --window {opts.window}: the documents between "
                        f"two windows would never be compared")
    return StrategySettings(window=opts.window, stride=opts.stride, set_size=opts.set_size, select_k=opts.select_k,
                            group_size=opts.group_size, repeats=opts.repeats, seed=opts.seed,
                            max_new_tokens=opts.max_new_tokens, temperature=opts.temperature,
                            reasoning_tokens=opts.reasoning_tokens)


def run_options(opts: RerankerOptions) -> RunOptions:
    return RunOptions(top_k=opts.top_k, chunk_queries=opts.batch_queries, fusion=opts.fusion,
                      fusion_weight=opts.fusion_weight, progress=opts.progress)


def model_identity(opts: RerankerOptions) -> str | None:
    """What the cache key hashes for the model: the resolved folder (or the served name)."""
    if engine_name(opts) == "openai":
        return f"openai:{opts.base_url}:{opts.model}"
    from rl_rerank.models import resolve_model

    return resolve_model(opts.model)


def key_dtype(opts: RerankerOptions) -> str | None:
    """The dtype the cache key records: as given, else the transformers engine's default where it is not the
    CPU's float32 (None keeps keys of CPU runs from before --device unchanged; bf16 scores differ)."""
    if opts.dtype or engine_name(opts) != "transformers":
        return opts.dtype
    from rl_rerank.engines.transformers_engine import default_dtype, resolve_device

    dtype = default_dtype(resolve_device(opts.device))
    return None if dtype == "float32" else dtype


def open_cache(opts: RerankerOptions, paradigm, settings: StrategySettings) -> tuple[str, ResultCache | None]:
    name = engine_name(opts)
    adapter = None if name == "openai" else opts.adapter
    # Batch sizes are keyed, not ignored: a different batch pads prompts differently and moves scores by
    # ~1e-7, enough to swap near-ties, so only a run with the same batching reuses cached scores.
    engine_settings = {"dtype": key_dtype(opts), "served_adapter": opts.adapter if name == "openai" else None,
                       "batch_queries": opts.batch_queries,
                       "batch_size": opts.batch_size if name == "transformers" else None,
                       "max_model_len": opts.max_model_len if name == "vllm" else None}
    key = config_key(name, model_identity(opts), adapter, paradigm, settings.as_dict(),
                     extra={**engine_settings, "runtime": runtime_identity()})
    if not opts.use_cache:
        return key, None
    return key, ResultCache(cache_file(cache_root(opts), key))


def cache_root(opts: RerankerOptions) -> Path:
    return Path(opts.cache_dir) if opts.cache_dir else cache_dir("rerank")


def reranker_inputs(opts: RerankerOptions) -> list:
    """Local files the reranker reads (model, adapter, template, tokenizer): outputs may not overwrite them."""
    return [opts.model, opts.adapter, opts.template, opts.tokenizer]
