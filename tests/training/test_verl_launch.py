"""launch/verl.sh and the verl recipes without verl: the script parses, its dry mode prints the whole pipeline
(verl venv, data export, merge, main_ppo with the recipe's overrides), and every override key exists in verl's
own trainer config when verl's source is findable (RL_RERANK_VERL_SITE or an installed verl)."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from rl_rerank.errors import UserError
from rl_rerank.training.config import load_config
from rl_rerank.training.verl_launch import command, hydra_value, load_verl_recipe

REPO = Path(__file__).resolve().parents[2]
RECIPES = sorted(REPO.glob("configs/*/*-verl.yaml"))


def _dry(config: str, step: str = "dry", *extra: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", "launch/verl.sh", config, step, *extra], cwd=REPO, capture_output=True,
                          text=True, timeout=120, env={**os.environ, "RL_RERANK_PYTHON": sys.executable, **env})


def test_script_parses():
    assert subprocess.run(["bash", "-n", "launch/verl.sh"], cwd=REPO).returncode == 0


def test_four_recipes_ppo_with_a_critic_and_grpo():
    names = {str(p.relative_to(REPO / "configs")) for p in RECIPES}
    assert {"reasonrank-listwise/ppo-verl.yaml", "reasonrank-listwise/grpo-verl.yaml",
            "grouprank-groupwise/ppo-verl.yaml", "grouprank-groupwise/grpo-verl.yaml"} <= names
    for path in RECIPES:
        r = load_verl_recipe(path)
        cmd = command(r)
        args = dict(a.split("=", 1) for a in cmd[3:])
        ppo = path.name.startswith("ppo")
        assert args["algorithm.adv_estimator"] == ("gae" if ppo else "grpo")
        assert ("critic.model.path" in args) == ppo and (args.get("critic.model.path") in (None, r.merged_model))
        assert args["actor_rollout_ref.model.path"] == r.merged_model and r.merged_model.endswith("/merged")
        assert args["actor_rollout_ref.rollout.name"] == "vllm" and int(args["actor_rollout_ref.model.lora_rank"]) > 0
        assert int(args["actor_rollout_ref.rollout.n"]) == (1 if ppo else 8)
        assert args["reward.custom_reward_function.path"] == "pkg://rl_rerank.rewards.verl"
        assert args["reward.custom_reward_function.name"] == "compute_score"
        assert args["data.train_files"] == f"{r.data_dir}/train.parquet"
        grpo = load_config("grpo", REPO / r.recipe, {"init_from": None})  # the GRPO recipe it exports
        assert int(args["data.max_response_length"]) == grpo.trl["max_completion_length"]
        assert float(args["actor_rollout_ref.actor.kl_loss_coef"]) == grpo.trl["beta"]
        assert args["trainer.nnodes"] == "1" and cmd[:3] == ["python", "-m", "verl.trainer.main_ppo"]


def test_dry_run_prints_the_pipeline_and_takes_overrides():
    out = _dry("configs/reasonrank-listwise/ppo-verl.yaml", "dry", "trainer.total_training_steps=10",
               NNODES="2", GPUS_PER_NODE="4")
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert [ln.split()[1] for ln in lines[:4]] == ["python3.11"] + [".venv-verl/bin/python"] * 3
    assert "--no-deps -e ." in lines[2] and "verl\\[vllm\\]==0.9.1" in lines[1]
    assert "export-rl-data --config configs/reasonrank-listwise/grpo.yaml --format verl" in out.stdout
    merge = "export --adapter runs/reasonrank-listwise/sft --out runs/reasonrank-listwise/sft-export --merge"
    assert merge in out.stdout
    train = lines[-1].split()
    assert train[1:4] == [".venv-verl/bin/python", "-m", "verl.trainer.main_ppo"]
    assert "trainer.nnodes=2" in train and "trainer.n_gpus_per_node=4" in train
    assert "trainer.total_training_steps=10" in train and "trainer.total_training_steps=400" not in train
    head = _dry("configs/grouprank-groupwise/grpo-verl.yaml", "head", DRY="1", NNODES="2")
    assert "ray start --head --port 6379" in head.stdout
    assert head.stdout.rstrip().endswith("trainer.default_local_dir=runs/grouprank-groupwise/grpo-verl")
    worker = _dry("configs/grouprank-groupwise/grpo-verl.yaml", "worker", DRY="1", RAY_HEAD="10.0.0.1:6379")
    assert worker.stdout.splitlines()[-1].endswith("ray start --address 10.0.0.1:6379 --block")
    bad = _dry("configs/grouprank-groupwise/grpo-verl.yaml", "train", "nonsense", DRY="1")
    assert bad.returncode == 2 and "expected key=value" in bad.stderr


def test_bad_recipe_is_one_clear_error(tmp_path):
    path = tmp_path / "x.yaml"
    path.write_text("recipe: a\nstage1: b\nmerged_model: c/merged\ndata_dir: d\noverrides: {trainer.nnodes: 1}\n")
    with pytest.raises(UserError, match="adv_estimator"):
        load_verl_recipe(path)
    path.write_text("recipe: a\nstage1: b\nmerged_model: c\ndata_dir: d\nmodel: e\n")
    with pytest.raises(UserError, match="unknown key"):
        load_verl_recipe(path)
    assert hydra_value([1, "a"]) == "[1,a]" and hydra_value(None) == "null" and hydra_value(True) == "true"


def _verl_trainer_config() -> Path | None:
    site = os.environ.get("RL_RERANK_VERL_SITE")
    if site:
        root = Path(site) / "verl"
    else:
        spec = importlib.util.find_spec("verl")
        if spec is None or not spec.submodule_search_locations:
            return None
        root = Path(list(spec.submodule_search_locations)[0])
    path = root / "trainer" / "config" / "_generated_ppo_trainer.yaml"
    return path if path.is_file() else None


def test_every_override_key_exists_in_verls_trainer_config():
    path = _verl_trainer_config()
    if path is None:
        pytest.skip("verl's source is not installed (set RL_RERANK_VERL_SITE to a site-packages holding verl)")
    tree = yaml.safe_load(path.read_text())
    for recipe in RECIPES:
        for item in command(load_verl_recipe(recipe))[3:]:
            node = tree
            for part in item.split("=", 1)[0].split("."):
                assert isinstance(node, dict) and part in node, f"{recipe.name}: {item} is not a verl 0.9.1 key"
                node = node[part]


@pytest.mark.parametrize("option", ["--nnodes", "--gpus-per-node"])
@pytest.mark.parametrize("value", ["0", "-2", "two"])
def test_counts_must_be_positive_integers(option, value, capsys):
    from rl_rerank.training.verl_launch import main

    with pytest.raises(SystemExit) as exc:
        main(["configs/erank-pointwise/grpo-verl.yaml", "command", option, value])
    assert exc.value.code == 2
    assert "expected an integer" in capsys.readouterr().err
