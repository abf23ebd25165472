"""The distribution installs rewards/, eval/ and configs/ (as rl_rerank.recipes) inside the rl_rerank namespace,
editable and as a wheel."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import tomllib

REPO = Path(__file__).resolve().parents[1]
MAPPED = {"rl_rerank": "rl_rerank", "rl_rerank.rewards": "rewards", "rl_rerank.eval": "eval",
          "rl_rerank.recipes": "configs"}


def _declared_packages() -> list[str]:
    return tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]


def test_every_package_folder_is_declared():
    found = set()
    for dotted, folder in MAPPED.items():
        for init in (REPO / folder).rglob("__init__.py"):
            rel = init.parent.relative_to(REPO / folder).parts
            found.add(".".join((dotted, *rel)))
    # Recipe folders named like identifiers are namespace packages holding only YAML (see pyproject).
    found |= {f"rl_rerank.recipes.{d.name}" for d in (REPO / "configs").iterdir() if d.is_dir()
              and d.name.isidentifier() and any(d.glob("*.yaml"))}
    assert found == set(_declared_packages())


def test_editable_install_imports_namespaced_packages(tmp_path):
    # Run from an unrelated folder so the repo root is not on sys.path: only the installed finder can answer.
    code = ("import importlib.util as u, json; print(json.dumps([u.find_spec(n) and u.find_spec(n).origin "
            "for n in ('rl_rerank.rewards', 'rl_rerank.eval', 'rl_rerank.recipes', 'eval', 'rewards', 'configs')]))")
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, check=True)
    rewards, evaluation, recipes, bare_eval, bare_rewards, bare_configs = __import__("json").loads(out.stdout)
    assert Path(rewards) == REPO / "rewards" / "__init__.py"
    assert Path(evaluation) == REPO / "eval" / "__init__.py"
    assert Path(recipes) == REPO / "configs" / "__init__.py"
    assert bare_eval is None and bare_rewards is None and bare_configs is None


def test_wheel_installs_namespaced_packages(tmp_path):
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
                    "-w", str(tmp_path), str(REPO)], check=True, capture_output=True)
    wheel = next(tmp_path.glob("rl_rerank-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    assert "rl_rerank/rewards/__init__.py" in names
    assert "rl_rerank/eval/__init__.py" in names
    assert not any(n.startswith(("eval/", "rewards/", "configs/")) for n in names)
    recipes = sorted(p.relative_to(REPO / "configs").as_posix() for p in (REPO / "configs").glob("*/*.yaml"))
    assert recipes and [n for n in names if n.startswith("rl_rerank/recipes/") and n.endswith(".yaml")] == [
        f"rl_rerank/recipes/{r}" for r in recipes]
    target = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target", str(target),
                    str(wheel)], check=True, capture_output=True)
    # -S: no site-packages, so the editable install cannot answer; only the wheel's files are importable.
    code = ("import importlib.util as u; from rl_rerank.paths import recipes_dir; "
            "print(u.find_spec('rl_rerank.rewards').origin); print(recipes_dir())")
    out = subprocess.run([sys.executable, "-S", "-c", f"import sys; sys.path.insert(0, {str(target)!r}); {code}"],
                         cwd=tmp_path, capture_output=True, text=True, check=True)
    rewards, recipes_root = out.stdout.split()
    assert Path(rewards) == target / "rl_rerank" / "rewards" / "__init__.py"
    # The demo's recipes come from the installed package, not from the checkout.
    assert Path(recipes_root) == target / "rl_rerank" / "recipes"
    assert (Path(recipes_root) / "smollm2-dl" / "sft.yaml").is_file()
