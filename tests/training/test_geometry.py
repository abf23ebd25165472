"""Batch geometry independent of the process count, and `rl-rerank sft|rl --dry-run` on every shipped recipe
for 1, 2 and 8 processes (data sampled from the shared SciFact, the tiny model's tokenizer: no model loads)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from rl_rerank.errors import ConfigError
from rl_rerank.training.config import load_config
from rl_rerank.training.geometry import grpo_geometry, sft_geometry

REPO = Path(__file__).resolve().parents[2]
# rl-rerank recipes (the *-verl.yaml files are verl's own configs, launched by launch/verl.sh)
RECIPES = sorted(p.relative_to(REPO) for p in REPO.glob("configs/*/*.yaml") if "verl" not in p.name)
PROCESSES = (1, 2, 8)
LEADS = {"demo", "smollm2-dl"}  # the lead's CPU demo / experiment recipes: TRL's own batch on one process


def stage_of(path: Path) -> str:
    return "sft" if path.name.startswith("sft") else "grpo"


@pytest.mark.parametrize("path", RECIPES, ids=[str(p) for p in RECIPES])
def test_the_algorithm_is_the_same_on_1_2_and_8_processes(path):
    stage = stage_of(path)
    cfg = load_config(stage, REPO / path, require_init=False)
    fn = sft_geometry if stage == "sft" else grpo_geometry
    geos = {n: fn(cfg, n) for n in PROCESSES}
    if path.parts[1] in LEADS:
        return
    for n, geo in geos.items():
        assert not geo.depends_on_processes, f"{path}: set prompts_per_generation / examples_per_step"
        assert geo.per_device_batch * n * geo.gradient_accumulation == geo.rows_per_step
        assert geo.per_device_batch <= geo.per_device_batch_asked
        if stage == "grpo":
            assert geo.trl_steps_per_generation == geo.gradient_accumulation * geo.optimizer_steps_per_generation
            assert geo.completions_per_generation == geo.prompts_per_generation * geo.num_generations
            assert geo.rows_per_step * geo.optimizer_steps_per_generation == geo.completions_per_generation
            assert geo.max_steps is not None  # GPU and CPU recipes give their length in queries
    first = geos[1]
    for geo in geos.values():  # everything but the split is the same on any process count
        assert geo.rows_per_step == first.rows_per_step and geo.max_steps == first.max_steps
        if stage == "grpo":
            assert (geo.completions_per_generation, geo.optimizer_steps_per_generation, geo.num_iterations) == \
                (first.completions_per_generation, first.optimizer_steps_per_generation, first.num_iterations)


def test_erank_gpu_recipe_numbers():
    cfg = load_config("grpo", REPO / "configs/erank-pointwise/grpo.yaml", require_init=False)
    got = {n: (g.per_device_batch, g.gradient_accumulation, g.trl_steps_per_generation, g.max_steps)
           for n in (1, 8, 16) for g in [grpo_geometry(cfg, n)]}
    assert got == {1: (5, 80, 80, 500), 8: (5, 10, 10, 500), 16: (5, 5, 5, 500)}


def test_trl_derives_what_the_geometry_says(tmp_path):
    """GRPOConfig (one process here) ends up with our generation batch and steps_per_generation."""
    from rl_rerank.training.grpo import build_grpo_args

    cfg = load_config("grpo", REPO / "configs/reasonrank-listwise/grpo-cpu.yaml",
                      {"output_dir": str(tmp_path), "optimizer_steps_per_generation": 2}, require_init=False)
    args, geo = build_grpo_args(cfg, processes=1)
    assert args.generation_batch_size == geo.completions_per_generation == 8
    assert args.steps_per_generation == geo.trl_steps_per_generation == 2
    assert args.gradient_accumulation_steps == 1 and args.per_device_train_batch_size == 4
    assert args.max_steps == 8  # train_queries 4 = 2 generation batches x 2 steps per pass x 2 passes
    # TRL: optimizer steps per generation batch = steps_per_generation x num_iterations / accumulation
    assert args.steps_per_generation * args.num_iterations // args.gradient_accumulation_steps == 4


def test_micro_batch_is_an_upper_bound_and_bad_splits_are_one_line():
    cfg = load_config("grpo", None, {"data": {"path": str(REPO / "README.md")}, "rewards": {"erank": 1.0},
                                     "group_by_query": True, "docs_per_query": 4, "queries_per_generation": 1,
                                     "trl": {"num_generations": 3, "per_device_train_batch_size": 8}},
                      require_init=False)
    geo = grpo_geometry(cfg, 1)
    assert (geo.per_device_batch, geo.gradient_accumulation) == (6, 2)  # 12 completions: 6 x 2, not 8
    with pytest.raises(ConfigError, match="12 completions per optimizer step do not split over 8 processes"):
        grpo_geometry(cfg, 8)
    cfg.optimizer_steps_per_generation = 5
    with pytest.raises(ConfigError, match="do not split into optimizer_steps_per_generation=5"):
        grpo_geometry(cfg, 1)


def test_geometry_keys_cannot_be_mixed_with_trls(tmp_path):
    base = {"data": {"path": str(REPO / "README.md")}, "rewards": {"setwise": 1.0}, "prompts_per_generation": 4}
    with pytest.raises(ConfigError, match="drop gradient_accumulation_steps"):
        load_config("grpo", None, {**base, "trl": {"gradient_accumulation_steps": 2}})
    with pytest.raises(ConfigError, match="drop prompts_per_generation"):
        load_config("grpo", None, {**base, "rewards": {"erank": 1.0}, "group_by_query": True})
    with pytest.raises(ConfigError, match="drop gradient_accumulation_steps"):
        load_config("sft", None, {"data": {"path": str(REPO / "README.md")}, "examples_per_step": 8,
                                  "trl": {"gradient_accumulation_steps": 2}})


def test_epochs_become_steps_once_the_data_is_known():
    cfg = load_config("grpo", REPO / "configs/rank-r1-setwise/grpo-cpu.yaml",
                      {"train_queries": None, "trl": {"num_train_epochs": 2}}, require_init=False)
    assert grpo_geometry(cfg, 2).max_steps is None
    geo = grpo_geometry(cfg, 2, units=13)  # 13 sets, 2 per generation batch: 6 full batches per epoch
    assert geo.max_steps == 12


# ------------------------------------------------------------------------------------------- the CLI


def _overrides(path: Path, scifact: Path) -> list[str]:
    """Sample the shared SciFact with the tiny model's tokenizer wherever the recipe points at data not here."""
    if path.parts[1] in LEADS:  # their data is the shared data already
        return ["--set", "model=tiny"]
    out = ["--set", "model=tiny", "--set", f"data.build.path={scifact}", "--set", "data.build.kind=auto"]
    if stage_of(path) == "grpo":
        out += ["--set", "data.build.depth=40"]
    return out


@pytest.mark.parametrize("path", RECIPES, ids=[str(p) for p in RECIPES])
def test_dry_run_every_recipe_for_1_2_8_processes(path, scifact_dir, tiny_model, capsys):
    from rl_rerank.cli import main

    command = "sft" if stage_of(path) == "sft" else "rl"
    argv = [command, "--config", str(REPO / path), "--dry-run", "--num-processes", "1", "2", "8",
            "--sample-queries", "6", *_overrides(path, scifact_dir)]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert out.count("geometry for ") == 3 and "no model loaded" in out
    for n in PROCESSES:
        assert f"geometry for {n} process(es):" in out
    assert re.search(r"data sample: \d+ rows from \d+ queries", out)
    if command == "rl" and path.parts[1] not in LEADS:
        steps = re.findall(r"optimizer steps per generation batch\s+(\d+) per pass", out)
        assert len(steps) == 3 and len(set(steps)) == 1


def test_erank_dry_run_on_8_processes_prints_one_step_per_generation_batch(scifact_dir, tiny_model, capsys):
    from rl_rerank.cli import main

    path = Path("configs/erank-pointwise/grpo.yaml")
    assert main(["rl", "--config", str(REPO / path), "--dry-run", "--num-processes", "8",
                 "--sample-queries", "6", *_overrides(path, scifact_dir)]) == 0
    out = capsys.readouterr().out
    assert re.search(r"optimizer steps per generation batch\s+1 per pass x 1 pass\(es\) \(num_iterations\) = 1",
                     out)
    assert re.search(r"gradient accumulation\s+10\n", out)
    assert "init_from runs/erank-pointwise/sft does not exist yet" in out


def test_dry_run_without_the_data_prints_the_geometry_then_one_line(capsys):
    from rl_rerank.cli import main

    code = main(["rl", "--config", str(REPO / "configs/erank-pointwise/grpo.yaml"), "--dry-run",
                 "--num-processes", "8", "--set", "data.build.path=/nonexistent/msmarco"])
    captured = capsys.readouterr()
    assert code == 2 and "geometry for 8 process(es)" in captured.out
    assert "data.build.path '/nonexistent/msmarco' does not exist" in captured.err
    assert "Traceback" not in captured.err
