"""Every recipe field is type-checked (issue 11): a wrong type is one ConfigError line naming the file, the key
and what it must be (never a traceback, never `reasoning: "no"` read as true); TRL's own fields are checked
against TRL's annotations; `--set` values that do not parse, binary and empty YAML files are one line too."""

from __future__ import annotations

import dataclasses
import typing

import pytest

from rl_rerank.errors import ConfigError
from rl_rerank.training.config import GRPOStage, SFTStage, load_config, parse_overrides


@pytest.fixture()
def rows(tmp_path):
    path = tmp_path / "rows.jsonl"
    path.write_text('{"prompt": [{"role": "user", "content": "q"}]}\n')
    return path


def _write(tmp_path, text: str):
    path = tmp_path / "recipe.yaml"
    path.write_text(text)
    return path


def _fails(stage, path, overrides=None, needle=""):
    with pytest.raises(ConfigError) as err:
        load_config(stage, path, overrides)
    msg = str(err.value)
    assert "\n" not in msg and needle in msg, msg
    return msg


# A value of the wrong type for every annotation the recipe dataclasses use.
WRONG = {int: "forty-two", float: "fast", bool: "no", str: 5, dict: [1, 2]}


def _walk(cls, prefix: str, stage: str, cases: dict, untyped: list) -> None:
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        tp = hints[f.name]
        sub = next((a for a in (tp, *typing.get_args(tp)) if dataclasses.is_dataclass(a)), None)
        if sub is not None:  # a nested section: its own fields, and the section itself must be a mapping
            cases.setdefault(prefix + f.name, (stage, 5))
            _walk(sub, prefix + f.name + ".", stage, cases, untyped)
            continue
        base = next((a for a in (tp, *typing.get_args(tp)) if a in WRONG), None)
        if base is None:
            untyped.append(prefix + f.name)
        else:
            cases.setdefault(prefix + f.name, (stage, WRONG[base]))


def _cases():
    cases: dict = {}
    untyped: list = []
    for stage, cls in (("grpo", GRPOStage), ("sft", SFTStage)):
        _walk(cls, "", stage, cases, untyped)
    return [pytest.param(stage, key, value, id=key) for key, (stage, value) in cases.items()], sorted(set(untyped))


CASES, UNTYPED = _cases()


def test_every_field_is_covered():
    """Every recipe field (stage, lora, data, ranking sections) has a wrong-type case below; only
    lora.target_modules (Any: 'all-linear' or a list, checked by its own rule) has no plain type."""
    names = {p.id for p in CASES}
    assert {"reasoning", "seed", "trl", "rewards", "lora", "lora.r", "lora.dropout", "data.max_examples",
            "data.shuffle", "docs_per_query", "group_by_query", "output_dir", "model", "paradigm_args",
            "resume"} <= names
    assert UNTYPED == ["lora.target_modules"]
    assert len(CASES) >= 24


@pytest.mark.parametrize("stage,key,value", CASES)
def test_wrong_type_names_file_key_and_type(stage, key, value, rows, tmp_path):
    path = _write(tmp_path, f"data: {{path: {rows}}}\n")
    node: dict = {}
    cur = node
    parts = key.split(".")
    for part in parts[:-1]:
        cur = cur.setdefault(part, {})
    cur[parts[-1]] = value
    msg = _fails(stage, path, node)
    assert msg.startswith(f"{path}: {key} must be ") and "got" in msg


@pytest.mark.parametrize("text,needle", [
    ('reasoning: "no"', "reasoning must be true or false, got 'no'"),
    ('seed: "forty-two"', "seed must be an integer"),
    ("trl: 5", "trl must be a mapping"),
    ("rewards: [erank]", "rewards must be a mapping"),
    ('lora: {r: "four"}', "lora.r must be an integer"),
    ("lora: {r: 0}", "lora.r must be an integer >= 1"),
    ("lora: {dropout: 1.5}", "lora.dropout must be a number in [0, 1)"),
    ("lora: 7", "lora must be a mapping"),
    ("rewards: {erank: .nan}", "rewards.erank (its weight) must be a number"),
    ("dtype: float64", "dtype must be one of"),
    ("paradigm: pairwise", "paradigm must be one of"),
    ("reward_args: {erank: 3}", "reward_args must be a mapping of reward name"),
    ('trl: {learning_rate: "fast"}', "trl.learning_rate must be a number"),
    ("trl: {max_steps: 2.5}", "trl.max_steps must be an integer"),
    ('trl: {bf16: "yes"}', "trl.bf16 must be true or false"),
])
def test_the_issue_examples(text, needle, rows, tmp_path):
    path = _write(tmp_path, f"data: {{path: {rows}}}\n{text}\n")
    _fails("grpo", path, needle=needle)


@pytest.mark.parametrize("build,needle", [
    ('{path: x, num_hard_negatives: "five"}', "data.build.num_hard_negatives must be an integer"),
    ("{path: x, depth: 2.5}", "data.build.depth must be an integer"),
    ("{path: x, negatives: 3}", "data.build: unknown key 'negatives'"),
])
def test_builder_keys_are_checked_with_the_recipe(build, needle, tmp_path):
    _fails("sft", _write(tmp_path, f"data: {{build: {build}}}\n"), needle=needle)


def test_an_empty_trl_section_is_fine(rows, tmp_path):
    cfg = load_config("sft", _write(tmp_path, f"data: {{path: {rows}}}\ntrl:\n"))
    assert cfg.trl == {} and cfg.reasoning is False


@pytest.mark.parametrize("item,needle", [
    ("trl.learning_rate=[1e-5", "does not parse as YAML"),
    ("lora.r={", "does not parse as YAML"),
    ("=5", "expected a key"),
    ("lora..r=4", "expected a key"),
    ("seed", "expected key=value"),
])
def test_set_values_that_do_not_parse(item, needle):
    with pytest.raises(ConfigError, match=needle.replace("[", r"\[")):
        parse_overrides([item])


def test_set_values_are_type_checked_too(rows, tmp_path):
    path = _write(tmp_path, f"data: {{path: {rows}}}\n")
    _fails("sft", path, ["reasoning=maybe"], "reasoning must be true or false")
    _fails("sft", path, ["lora.r=four"], "lora.r must be an integer")


def test_binary_non_utf8_and_empty_yaml(tmp_path):
    binary = tmp_path / "model.safetensors.yaml"
    binary.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\xff\xfe" + bytes(range(256)))
    _fails("sft", binary, needle="not a UTF-8 text file")
    control = tmp_path / "control.yaml"
    control.write_text("seed: 1\x07\n")
    _fails("sft", control, needle="not valid YAML")
    empty = tmp_path / "empty.yaml"
    empty.write_text("# only a comment\n")
    _fails("sft", empty, needle="the recipe is empty")
    listy = tmp_path / "list.yaml"
    listy.write_text("- a\n- b\n")
    _fails("sft", listy, needle="expected a mapping of settings")


@pytest.mark.parametrize("stage", ["sft", "grpo"])
@pytest.mark.parametrize("key,bad", [(k, v) for k in ("per_device_train_batch_size", "gradient_accumulation_steps",
                                                        "save_steps", "logging_steps")
                                     for v in (0, -1)]
                         + [(k, -1) for k in ("num_train_epochs", "learning_rate", "weight_decay")]
                         + [("learning_rate", float("nan")), ("num_train_epochs", float("inf"))])
def test_trl_sizes_and_rates_have_a_sign(stage, key, bad):
    from rl_rerank.errors import ConfigError
    from rl_rerank.training.config import check_trl_keys

    with pytest.raises(ConfigError, match=rf"recipe\.yaml: trl\.{key} must be"):
        check_trl_keys(stage, {key: bad}, "recipe.yaml")
    check_trl_keys(stage, {key: 1}, "recipe.yaml")  # a sane value passes


@pytest.mark.parametrize("key,bad", [("num_generations", 0), ("max_completion_length", -4), ("temperature", 0.0),
                                     ("beta", -0.1), ("epsilon", -0.2)])
def test_grpo_trl_fields_have_a_sign(key, bad):
    from rl_rerank.errors import ConfigError
    from rl_rerank.training.config import check_trl_keys

    with pytest.raises(ConfigError, match=rf"trl\.{key} must be"):
        check_trl_keys("grpo", {key: bad}, "recipe.yaml")


@pytest.mark.parametrize("bad", [0, -384])
def test_sft_max_length_is_positive(bad):
    from rl_rerank.errors import ConfigError
    from rl_rerank.training.config import check_trl_keys

    with pytest.raises(ConfigError, match=r"trl\.max_length must be > 0"):
        check_trl_keys("sft", {"max_length": bad}, "recipe.yaml")
