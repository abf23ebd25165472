"""benchmarks/dev_compare.py: two settings' seeds pooled per dev query, then paired tests; every bad JSON is one
line naming the file (exit 2)."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def dev_compare():
    spec = importlib.util.spec_from_file_location("dev_compare", REPO / "benchmarks" / "dev_compare.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def seed_json(path: Path, alone: dict, fused: dict | None = None, system: str = "base") -> str:
    rows = {"bm25": {"nDCG@10": 0.3},
            system: {"nDCG@10": sum(alone.values()) / len(alone),
                     "per_query": {"alone": alone, "fused 0.5": fused or alone}}}
    path.write_text(json.dumps(rows))
    return str(path)


def test_seeds_are_averaged_per_query_before_the_paired_test(dev_compare, tmp_path, capsys):
    a1 = seed_json(tmp_path / "a1.json", {"q1": 0.6, "q2": 0.2, "q3": 0.9}, fused={"q1": 0.1, "q2": 0.1, "q3": 0.1})
    a2 = seed_json(tmp_path / "a2.json", {"q1": 0.4, "q2": 0.6, "q3": 0.5}, fused={"q1": 0.1, "q2": 0.1, "q3": 0.1})
    b = seed_json(tmp_path / "b.json", {"q1": 0.4, "q2": 0.3, "q3": 0.6}, fused={"q1": 0.2, "q2": 0.2, "q3": 0.2})
    assert dev_compare.main(["--a", a1, a2, "--b", b]) == 0
    out = capsys.readouterr().out
    assert out.startswith("dev queries: 3; nDCG@10 (alone)")
    assert "| A | 2 | 0.5667, 0.5000 | 0.5333 | +0.1000 | +0.100..+0.100 | 0.000 / 0.250 | 3 / 0 / 0 |" in out
    assert out.rstrip().splitlines()[-1].startswith("| B | 1 | 0.4333 | 0.4333 |")
    assert dev_compare.main(["--a", a1, a2, "--b", b, "--score", "fused 0.5"]) == 0
    assert "| A | 2 | 0.1000, 0.1000 | 0.1000 | -0.1000 | " in capsys.readouterr().out


@pytest.mark.parametrize("content, expected", [
    ("{not json", "not a readable dev_selection JSON"),
    ("[1, 2]", "expected an object of systems"),
    (json.dumps({"bm25": {}, "x": {"nDCG@10": 0.5}}), "no per-query values for system 'x'"),
    (json.dumps({"bm25": {}, "x": {"per_query": {"alone": {"q1": 1}}}, "y": {}}), "2 systems (x, y); pick one"),
    (json.dumps({"x": {"per_query": {"fused 0.3": {"q1": 1}}}}), "system 'x' has no 'alone' values (has: fused 0.3)"),
])
def test_every_bad_json_is_one_line_naming_the_file(dev_compare, tmp_path, capsys, content, expected):
    bad = tmp_path / "bad.json"
    bad.write_text(content)
    good = seed_json(tmp_path / "good.json", {"q1": 0.5})
    assert dev_compare.main(["--a", good, "--b", str(bad)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"dev_compare: {bad}: ") and expected in err and "\n" not in err


def test_seeds_on_different_queries_are_refused(dev_compare, tmp_path, capsys):
    a1 = seed_json(tmp_path / "a1.json", {"q1": 0.5, "q2": 0.5})
    a2 = seed_json(tmp_path / "a2.json", {"q1": 0.5})
    b = seed_json(tmp_path / "b.json", {"q1": 0.5, "q2": 0.5})
    assert dev_compare.main(["--a", a1, a2, "--b", b]) == 2
    assert "run 2 does not cover the same queries as run 1" in capsys.readouterr().err


def test_a_json_listed_twice_is_refused(dev_compare, tmp_path, capsys):
    a1 = seed_json(tmp_path / "a1.json", {"q1": 0.5})
    b = seed_json(tmp_path / "b.json", {"q1": 0.4})
    for argv in (["--a", a1, a1, "--b", b], ["--a", a1, "--b", str(tmp_path / "." / "a1.json")]):
        assert dev_compare.main(argv) == 2
        err = capsys.readouterr().err.strip()
        assert "listed twice (also as " in err and "\n" not in err
