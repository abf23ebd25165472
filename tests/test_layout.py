"""The package layout's rules hold in the import graph (read from the source, nothing imported):

- the library (rl_rerank/) never imports the evaluation package (eval/, installed as rl_rerank.eval); the CLI
  names eval's commands by module path only;
- training/ reads rows through datagen.rows and never builds examples itself (no import of the builders);
- every file under rl_rerank/ and eval/ imports only modules that exist (a move that left an import behind fails).
"""

from __future__ import annotations

import ast
import importlib.util
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _imports(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.append((node.lineno, node.module))
            out += [(node.lineno, f"{node.module}.{alias.name}") for alias in node.names]
    return out


def _library_files() -> list[Path]:
    return sorted((REPO / "rl_rerank").rglob("*.py"))


def test_library_never_imports_eval():
    offenders = [f"{p.relative_to(REPO)}:{line} imports {name}" for p in _library_files()
                 for line, name in _imports(p) if name == "rl_rerank.eval" or name.startswith("rl_rerank.eval.")]
    assert offenders == []


def test_training_does_not_build_examples():
    builders = ("rl_rerank.datagen.examples", "rl_rerank.datagen.sources", "rl_rerank.datagen.label")
    allowed = {"BuildSettings", "DataSource"}  # config.py validates a recipe's data keys against them
    offenders = []
    for p in sorted((REPO / "rl_rerank/training").glob("*.py")):
        for node in ast.walk(ast.parse(p.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith(builders):
                offenders += [f"{p.name}:{node.lineno} {a.name}" for a in node.names if a.name not in allowed]
            elif isinstance(node, ast.Import):
                offenders += [f"{p.name}:{node.lineno} {a.name}" for a in node.names if a.name.startswith(builders)]
    assert offenders == []


def _exists(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:  # a parent is a module, not a package: `module` is an attribute name
        return False


def test_every_internal_import_resolves():
    files = _library_files() + sorted((REPO / "eval").rglob("*.py")) + sorted((REPO / "rewards").rglob("*.py"))
    missing = []
    for p in files:
        for line, name in _imports(p):
            if not name.startswith("rl_rerank"):
                continue
            if not _exists(name):  # `from pkg import name`: name may be an attribute of an existing module
                parent = name.rpartition(".")[0]
                if not parent or not _exists(parent):
                    missing.append(f"{p.relative_to(REPO)}:{line} {name}")
    assert missing == []
