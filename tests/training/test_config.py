"""Recipe configs: every shipped YAML validates, overrides apply, and each user mistake fails before any model
is loaded with one line saying what to change."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rl_rerank.errors import ConfigError
from rl_rerank.training import policy, resume
from rl_rerank.training.config import GRPOStage, SFTStage, load_config, parse_overrides, read_yaml

REPO = Path(__file__).resolve().parents[2]
# Our stage recipes; *-verl.yaml are verl Hydra overrides, validated in tests/training/test_verl_launch.py.
CONFIGS = sorted(p for p in (REPO / "configs").glob("*/*.yaml") if not p.stem.endswith("-verl"))


def _stage(path: Path) -> str:
    return "sft" if path.stem.startswith("sft") else "grpo"


def test_every_recipe_has_its_stages():
    names = {p.parent.name: set() for p in CONFIGS}
    for p in CONFIGS:
        names[p.parent.name].add(p.stem)
    for recipe in ("erank-pointwise", "grouprank-groupwise", "reasonrank-listwise"):
        assert {"sft", "grpo", "sft-cpu", "grpo-cpu"} <= names[recipe]
    assert {"grpo", "grpo-cpu"} <= names["rank-r1-setwise"]
    assert {"sft", "grpo"} <= names["demo"]


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_shipped_configs_validate(path):
    # init_from points at a stage-1 output that does not exist yet: validate everything else.
    cfg = load_config(_stage(path), path, {"init_from": None})
    assert isinstance(cfg, SFTStage if _stage(path) == "sft" else GRPOStage)
    assert cfg.data.build or cfg.data.path
    if path.parent.name == "erank-pointwise" and path.stem == "grpo":
        assert cfg.trl["beta"] == 0.001 and cfg.trl["epsilon"] == 0.2 and cfg.trl["learning_rate"] == 1e-6
        assert cfg.trl["num_generations"] == 5 and cfg.docs_per_query == 20 and cfg.group_by_query
    if path.parent.name == "erank-pointwise" and path.stem == "sft":
        assert (cfg.lora.r, cfg.lora.alpha, cfg.trl["learning_rate"], cfg.trl["max_length"]) == (32, 64, 1e-4, 2048)
        assert cfg.model == "Qwen/Qwen3-4B"


def test_yaml_reads_exponent_floats_and_overrides_nest():
    assert read_yaml("lr: 1e-4\nx: 3") == {"lr": 1e-4, "x": 3}
    assert parse_overrides(["trl.learning_rate=5e-6", "lora.r=4", "model=null", "rewards={erank: 2}"]) == {
        "trl": {"learning_rate": 5e-6}, "lora": {"r": 4}, "model": None, "rewards": {"erank": 2}}


def test_overrides_apply(tmp_path):
    cfg = load_config("sft", REPO / "configs/demo/sft.yaml",
                      ["trl.learning_rate=1e-3", "lora.r=4", f"output_dir={tmp_path}"])
    assert cfg.trl["learning_rate"] == 1e-3 and cfg.lora.r == 4 and cfg.output_dir == str(tmp_path)
    assert cfg.lora.alpha == 32  # untouched keys keep the recipe's value


def _rows(path: Path, labels: list[int]) -> Path:
    rows = [{"prompt": [{"role": "user", "content": f"q d{i}"}], "completion": [{"role": "assistant",
             "content": f"<answer>{10 * lab}</answer>"}], "qid": "q1", "docid": f"d{i}", "label": lab}
            for i, lab in enumerate(labels)]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


@pytest.fixture
def no_model(monkeypatch):
    """Any model load fails the test: the errors under test must come first."""

    def boom(*a, **k):
        raise AssertionError("a model was loaded before the config error")

    # import first: a module imported while policy is patched would bind `boom` for good
    import rl_rerank.training.grpo as grpo
    import rl_rerank.training.sft as sft

    monkeypatch.setattr(policy, "load_policy", boom)
    monkeypatch.setattr(sft, "load_policy", boom)
    monkeypatch.setattr(grpo, "load_policy", boom)


def _one_line(exc: ConfigError) -> str:
    text = str(exc)
    assert "\n" not in text
    return text


def test_unknown_key_of_ours(tmp_path, no_model):
    data = _rows(tmp_path / "d.jsonl", [1, 0])
    with pytest.raises(ConfigError) as e:
        load_config("sft", None, {"data": {"path": str(data)}, "lora_rank": 8})
    assert "unknown key 'lora_rank'" in _one_line(e.value)
    with pytest.raises(ConfigError) as e:
        load_config("sft", None, {"data": {"path": str(data)}, "lora": {"rank": 8}})
    assert "'rank'" in _one_line(e.value) and "known: alpha, dropout, r, target_modules" in str(e.value)


def test_unknown_trl_key(tmp_path, no_model):
    data = _rows(tmp_path / "d.jsonl", [1, 0])
    with pytest.raises(ConfigError) as e:
        load_config("grpo", None, {"data": {"path": str(data)}, "rewards": {"setwise": 1.0},
                                   "trl": {"max_prompt_length": 512}})
    msg = _one_line(e.value)
    assert "max_prompt_length" in msg and "GRPOConfig" in msg
    with pytest.raises(ConfigError) as e:
        load_config("sft", None, {"data": {"path": str(data)}, "trl": {"learning_rte": 1e-4}})
    assert "did you mean 'learning_rate'" in _one_line(e.value)


def test_unregistered_reward(tmp_path, no_model):
    data = _rows(tmp_path / "d.jsonl", [1, 0])
    with pytest.raises(ConfigError) as e:
        load_config("grpo", None, {"data": {"path": str(data)}, "rewards": {"erankk": 1.0}})
    msg = _one_line(e.value)
    assert "'erankk'" in msg and "not a registered reward" in msg and "erank" in msg


def test_missing_stage1_output(tmp_path, no_model):
    data = _rows(tmp_path / "d.jsonl", [1, 0])
    with pytest.raises(ConfigError) as e:
        load_config("grpo", None, {"data": {"path": str(data)}, "rewards": {"setwise": 1.0},
                                   "init_from": str(tmp_path / "runs/sft")})
    msg = _one_line(e.value)
    assert "does not exist" in msg and "run stage 1 first" in msg
    (tmp_path / "half").mkdir()  # a stage-1 folder with only checkpoints: not finished
    with pytest.raises(ConfigError, match="stage 1 did not finish"):
        load_config("grpo", None, {"data": {"path": str(data)}, "rewards": {"setwise": 1.0},
                                   "init_from": str(tmp_path / "half")})


def test_no_positives_fails_before_model(tmp_path, no_model):
    from rl_rerank.training.grpo import run_grpo
    from rl_rerank.training.sft import run_sft

    data = _rows(tmp_path / "d.jsonl", [0, 0, 0])
    cfg = load_config("sft", None, {"data": {"path": str(data)}, "output_dir": str(tmp_path / "o")})
    with pytest.raises(ConfigError) as e:
        run_sft(cfg)
    assert "no positives" in _one_line(e.value)
    cfg = load_config("grpo", None, {"data": {"path": str(data)}, "rewards": {"erank": 1.0},
                                     "group_by_query": True, "docs_per_query": 3,
                                     "output_dir": str(tmp_path / "o2")})
    with pytest.raises(ConfigError, match="no positives"):
        run_grpo(cfg)
    assert not (tmp_path / "o").exists()


def test_erank_without_grouping_and_bad_geometry(tmp_path, no_model):
    from rl_rerank.training.grpo import run_grpo

    data = _rows(tmp_path / "d.jsonl", [1, 0, 0, 0])
    cfg = load_config("grpo", None, {"data": {"path": str(data)}, "rewards": {"erank": 1.0}})
    with pytest.raises(ConfigError, match="group_by_query: true"):
        run_grpo(cfg)
    cfg = load_config("grpo", None, {"data": {"path": str(data)}, "rewards": {"erank": 1.0},
                                     "group_by_query": True, "docs_per_query": 4,
                                     "optimizer_steps_per_generation": 5,
                                     "trl": {"num_generations": 3, "per_device_train_batch_size": 8}})
    with pytest.raises(ConfigError, match="12 completions per generation batch do not split into "
                                          "optimizer_steps_per_generation=5"):
        run_grpo(cfg)
    cfg = load_config("grpo", None, {"data": {"path": str(data)}, "rewards": {"erank": 1.0},
                                     "group_by_query": True, "docs_per_query": 5})
    with pytest.raises(ConfigError, match="docs_per_query=5"):
        run_grpo(cfg)


def test_cli_prints_one_line_and_exit_2(tmp_path, capsys):
    from rl_rerank.cli import main

    cfg = tmp_path / "bad.yaml"
    cfg.write_text(f"data: {{path: {_rows(tmp_path / 'd.jsonl', [1])}}}\ntrl: {{not_a_trl_key: 1}}\n")
    assert main(["sft", "--config", str(cfg)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "not_a_trl_key" in err[0] and err[0].startswith("rl-rerank sft: error:")


def test_resume_flag_without_checkpoint(tmp_path):
    cfg = load_config("sft", None, {"data": {"path": str(_rows(tmp_path / "d.jsonl", [1]))},
                                    "output_dir": str(tmp_path / "o"), "resume": True})
    with pytest.raises(ConfigError, match="no checkpoint"):
        resume.resume_target(cfg)
    (tmp_path / "o" / "checkpoint-3").mkdir(parents=True)
    (tmp_path / "o" / "checkpoint-12").mkdir(parents=True)
    assert resume.resume_target(cfg).endswith("checkpoint-12")
    cfg.resume = False
    assert resume.resume_target(cfg) is None


def test_checkpoint_steps_come_from_folder_names(tmp_path):
    """One parser for checkpoint-<step> (resume, the SFT run card, the demo's dev curve), transformers' pattern."""
    assert resume.checkpoint_step("runs/x/checkpoint-500") == 500 and resume.checkpoint_step(None) is None
    assert resume.checkpoint_step("checkpoint-best") is None and resume.checkpoint_step("checkpoint-5-tmp") is None
    for name in ("checkpoint-20", "checkpoint-3", "checkpoint-x", "notes-7"):
        (tmp_path / name).mkdir()
    (tmp_path / "checkpoint-99").write_text("a file, not a checkpoint")
    assert resume.checkpoints(tmp_path) == [(3, tmp_path / "checkpoint-3"), (20, tmp_path / "checkpoint-20")]
    assert resume.last_checkpoint(str(tmp_path)) == str(tmp_path / "checkpoint-20")
    assert resume.checkpoints(tmp_path / "missing") == []
