"""verl backend on CPU without verl: the parquet export (schema of verl's documented fields, query-level
validation split, atomic output), the reward adapter (exactly our reward functions, through the same rows the
TRL path trains on) and its import without torch/trl. When verl's source is findable (an installed verl, or
RL_RERANK_VERL_SITE pointing at a site-packages holding it), verl's own loader loads our compute_score."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from rl_rerank.cli import main
from rl_rerank.paradigms import get_paradigm
from rl_rerank.rewards import FACTORIES, get_reward
from rl_rerank.rewards.verl import compute_score
from rl_rerank.training.config import load_config
from rl_rerank.training.verl_data import settings_of, split_queries, verl_record

REPO = Path(__file__).resolve().parents[2]
SMALL = ["--set", "model=tiny", "--set", "init_from=null", "--set", "data.build.max_queries=8"]
RECIPES = ["reasonrank-listwise", "grouprank-groupwise", "rank-r1-setwise"]


def _export(recipe: str, out: Path, *extra: str) -> int:
    return main(["export-rl-data", "--config", str(REPO / f"configs/{recipe}/grpo-cpu.yaml"), "--format", "verl",
                 "--out", str(out), *SMALL, *extra])


def _read(path: Path) -> list[dict]:
    import pyarrow.parquet as pq

    return pq.read_table(path).to_pylist()


@pytest.fixture(scope="module")
def exported(tmp_path_factory, tiny_model):
    """Each CPU recipe's rows exported once (8 queries, 2 held out)."""
    root = tmp_path_factory.mktemp("verl")
    for recipe in RECIPES:
        assert _export(recipe, root / recipe, "--val-fraction", "0.25") == 0
    return root


def _completions(paradigm: str, row: dict) -> list[str]:
    """A right answer, a reversed one, a repaired-looking one and garbage, in the paradigm's own format."""
    labels = list(row["extra_info"]["labels"])
    p = get_paradigm(paradigm, reasoning=False)
    if paradigm == "listwise":
        good = p.target(labels, None)
        bad = p.target([-g for g in labels], None)
    elif paradigm == "setwise":
        good = p.target(labels, None)
        bad = p.target([1 - min(1, g) for g in labels], None)
    else:
        good = p.target([min(10, 3 * g) for g in labels], None)
        bad = p.target([10 - min(10, 3 * g) for g in labels], None)
    return [good, bad, good.replace("<answer>", "<answer> [9] "), "no idea", ""]


def test_parquet_has_verls_fields_and_split_by_query(exported):
    import pyarrow as pa
    import pyarrow.parquet as pq

    for recipe in RECIPES:
        schema = pq.read_schema(exported / recipe / "train.parquet")
        assert schema.names == ["data_source", "prompt", "ability", "reward_model", "extra_info"]
        assert schema.field("prompt").type == pa.list_(pa.struct([("role", pa.string()), ("content", pa.string())]))
        rm = schema.field("reward_model").type
        assert rm.field("style").type == pa.string() and rm.field("ground_truth").type == pa.list_(pa.int64())
        info = schema.field("extra_info").type
        assert {info.field(i).name for i in range(info.num_fields)} == {
            "index", "split", "qid", "docids", "labels", "initial_order", "paradigm", "settings", "columns"}
        assert pq.read_schema(exported / recipe / "val.parquet") == schema
        train, val = _read(exported / recipe / "train.parquet"), _read(exported / recipe / "val.parquet")
        qt, qv = {r["extra_info"]["qid"] for r in train}, {r["extra_info"]["qid"] for r in val}
        assert len(qv) == 2 and not qt & qv  # 25% of 8 queries, none in both files
        card = json.loads((exported / recipe / "export.json").read_text())
        assert card["train_rows"] == len(train) and card["val_rows"] == len(val) and card["val_queries"] == 2
        for r in train + val:
            e = r["extra_info"]
            assert r["ability"] == "reranking" and r["reward_model"]["style"] == "rule"
            assert r["data_source"] == f"rl_rerank/{e['paradigm']}"
            assert r["reward_model"]["ground_truth"] == e["labels"] and len(e["docids"]) == len(e["labels"])
            assert e["initial_order"] == list(range(len(e["labels"])))
            assert r["prompt"][-1]["role"] == "user" and e["split"] in ("train", "val")
            assert json.loads(e["columns"])["labels"] == e["labels"]
        assert sorted(r["extra_info"]["index"] for r in train + val) == list(range(len(train) + len(val)))


def test_adapter_scores_the_exported_rows_as_the_trl_path(exported):
    """The rows `rl-rerank rl` trains on, scored by its reward functions, equal the exported rows through
    compute_score (same completions), reward by reward, and the total is the recipe's weighted sum."""
    from rl_rerank.datagen.rows import prepare_rows
    from rl_rerank.training.grpo import build_rewards

    for recipe in RECIPES:
        cfg = load_config("grpo", REPO / f"configs/{recipe}/grpo-cpu.yaml",
                          ["model=tiny", "init_from=null", "data.build.max_queries=8"])
        cfg.rewards = {**cfg.rewards, f"format_{cfg.paradigm}": 0.25}  # two rewards: weights matter
        ds, _ = prepare_rows("grpo", cfg, recipe)
        funcs, weights = build_rewards(cfg)
        rows = _read(exported / recipe / "train.parquet") + _read(exported / recipe / "val.parquet")
        assert len(rows) == len(ds)
        checked = 0
        for row in rows:
            trl_row = ds[row["extra_info"]["index"]]
            assert trl_row["prompt"] == row["prompt"]
            comps = _completions(cfg.paradigm, row)
            columns = {k: [trl_row[k]] * len(comps) for k in ds.column_names if k != "prompt"}
            trl = {f.__name__: f(comps, **columns) for f in funcs}
            extra = dict(row["extra_info"])
            extra["settings"] = json.dumps({**json.loads(extra["settings"]), "rewards": dict(cfg.rewards)})
            for i, c in enumerate(comps):
                got = compute_score(row["data_source"], c, row["reward_model"]["ground_truth"], extra)
                for name in cfg.rewards:
                    assert got[name] == trl[name][i]
                assert got["score"] == sum(w * trl[n][i] for n, w in zip(cfg.rewards, weights, strict=True))
                checked += 1
        assert checked == 5 * len(rows)
        values = {compute_score(r["data_source"], c, None, r["extra_info"])["score"]
                  for r in rows for c in _completions(cfg.paradigm, r)}
        assert len(values) >= 2  # right and wrong answers score differently


CASES = {  # reward -> (paradigm of its completions, columns of one row)
    "reasonrank": ("listwise", {"qid": "q", "docids": list("abcd"), "labels": [0, 2, 0, 1]}),
    "rearank": ("listwise", {"qid": "q", "docids": list("abcd"), "labels": [0, 2, 0, 1]}),
    "grouprank": ("groupwise", {"qid": "q", "docids": list("abc"), "labels": [1, 0, 3]}),
    "setwise": ("setwise", {"qid": "q", "docids": list("abcd"), "labels": [0, 0, 1, 0]}),
    "pointwise_error": ("pointwise", {"qid": "q", "docid": "d", "label": 2, "teacher_score": 6.0, "ref_score": None}),
    "format": ("groupwise", {"qid": "q", "docids": list("abc"), "labels": [1, 0, 3]}),
    "format_pointwise": ("pointwise", {"qid": "q", "docid": "d", "label": 1}),
    "format_listwise": ("listwise", {"qid": "q", "docids": list("abcd"), "labels": [0, 2, 0, 1]}),
    "format_setwise": ("setwise", {"qid": "q", "docids": list("abcd"), "labels": [0, 0, 1, 0]}),
    "format_groupwise": ("groupwise", {"qid": "q", "docids": list("abc"), "labels": [1, 0, 3]}),
}


@pytest.mark.parametrize("reasoning", [False, True])
@pytest.mark.parametrize("name", sorted(CASES))
def test_every_per_sample_reward_equals_ours(name, reasoning):
    assert set(CASES) == set(FACTORIES) - {"erank"}  # every per-sample reward is covered
    paradigm, columns = CASES[name]
    cfg = load_config("grpo", data={"paradigm": paradigm, "reasoning": reasoning, "rewards": {name: 1.0},
                                    "reward_args": {}, "data": {"path": str(REPO / "pyproject.toml")}})
    settings = json.dumps(settings_of(cfg, "inline"))
    row = {"prompt": [{"role": "user", "content": "x"}], **columns}
    record = verl_record(row, 0, "train", settings, paradigm)
    labels = record["extra_info"]["labels"]
    p = get_paradigm(paradigm, reasoning=reasoning)
    why = "because" if reasoning else None
    targets = {"listwise": [[0, 3, 1, 2], [3, 2, 1, 0]], "groupwise": [[2, 0, 9], [9, 9, 0]],
               "setwise": [[0, 0, 1, 0], [1, 0, 0, 0]], "pointwise": [[6], [0]]}[paradigm]
    comps = [p.target(t, why) for t in targets] + ["<answer>garbage", "", "<think>x</think><answer>[1] > [1]</answer>"]
    opts = {"reasoning": reasoning, "paradigm": paradigm}
    import inspect

    ours = get_reward(name, **{k: v for k, v in opts.items() if k in inspect.signature(FACTORIES[name]).parameters})
    expected = ours(comps, **{k: [v] * len(comps) for k, v in columns.items()})
    got = [compute_score(record["data_source"], c, labels, record["extra_info"]) for c in comps]
    assert [g[name] for g in got] == expected and [g["score"] for g in got] == expected
    if name != "format":
        assert len(set(expected)) >= 2, expected  # the completions tell right from wrong


def test_erank_is_refused_with_the_reason(tmp_path, tiny_model, capsys):
    with pytest.raises(ValueError, match="TRL backend"):
        compute_score("rl_rerank/pointwise", "<answer>3</answer>", [1],
                      {"settings": json.dumps({"rewards": {"erank": 1.0}, "reward_args": {}, "common": {}}),
                       "columns": json.dumps({"qid": "q", "label": 1})})
    code = main(["export-rl-data", "--config", str(REPO / "configs/erank-pointwise/grpo-cpu.yaml"), "--out",
                 str(tmp_path / "x"), *SMALL])
    assert code == 2 and "stays on the TRL backend" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()


def test_reward_kwargs_pick_a_reward_for_foreign_rows():
    answer = "<think>x</think>\n<answer>[2] > [1]</answer>"
    got = compute_score("other", answer, [0, 1], None, rewards="format_listwise")
    assert got == {"score": 1.0, "format_listwise": 1.0}
    with pytest.raises(ValueError, match="export-rl-data"):
        compute_score("other", "x", [0, 1], {})


def test_existing_folder_is_refused_without_overwrite(tmp_path, tiny_model, capsys):
    out = tmp_path / "data"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    assert _export("reasonrank-listwise", out) == 2
    assert "--overwrite" in capsys.readouterr().err and (out / "keep.txt").read_text() == "mine"
    assert _export("reasonrank-listwise", out, "--overwrite", "--val-fraction", "0") == 0
    # --overwrite replaces only what export writes: the user's file stays
    assert sorted(p.name for p in out.iterdir()) == [".rl_rerank_export.json", "export.json", "keep.txt",
                                                     "train.parquet", "val.parquet"]
    assert (out / "keep.txt").read_text() == "mine"
    assert _read(out / "val.parquet") == [] and not list(tmp_path.glob(".data.*"))
    with pytest.raises(SystemExit) as bad:  # argparse's own one-line error
        _export("reasonrank-listwise", tmp_path / "y", "--val-fraction", "1.5")
    assert bad.value.code == 2


def test_split_queries_is_seeded_and_keeps_a_training_query():
    qids = [f"q{i}" for i in range(10)]
    assert split_queries(qids, 0.2, 0) == split_queries(list(reversed(qids)), 0.2, 0)
    assert len(split_queries(qids, 0.2, 0)) == 2 and split_queries(qids, 0.2, 0) != split_queries(qids, 0.2, 1)
    assert len(split_queries(["a", "b"], 0.9, 0)) == 1 and split_queries(["a"], 0.5, 0) == set()


def test_adapter_imports_without_torch_or_trl():
    code = ("import sys\n"
            "for m in ('torch', 'trl', 'transformers', 'datasets', 'peft', 'accelerate', 'vllm', 'numpy', 'ray'):\n"
            "    sys.modules[m] = None\n"
            "from rl_rerank.rewards.verl import compute_score\n"
            "import json\n"
            "s = json.dumps({'rewards': {'reasonrank': 1.0}, 'reward_args': {}, "
            "'common': {'reasoning': False, 'paradigm': 'listwise'}})\n"
            "print(compute_score('rl_rerank/listwise', '<answer>[2] > [1]</answer>', [0, 1], "
            "{'settings': s, 'columns': json.dumps({'labels': [0, 1]})})['score'])\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    expected = get_reward("reasonrank", reasoning=False)(["<answer>[2] > [1]</answer>"], labels=[[0, 1]])[0]
    assert float(out.stdout.strip()) == expected == pytest.approx(1.3)


def _verl_import_utils() -> Path | None:
    site = os.environ.get("RL_RERANK_VERL_SITE")
    if site:
        path = Path(site) / "verl" / "utils" / "import_utils.py"
        return path if path.is_file() else None
    spec = importlib.util.find_spec("verl")  # locates the package without running its __init__ (torch, ray)
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(list(spec.submodule_search_locations)[0]) / "utils" / "import_utils.py"
    return path if path.is_file() else None


def test_verls_loader_finds_and_calls_compute_score(exported):
    """verl's load_extern_object (the custom_reward_function loader) on our module, called per sample with
    the keyword arguments verl's naive reward manager passes."""
    path = _verl_import_utils()
    if path is None:
        pytest.skip("verl's source is not installed (set RL_RERANK_VERL_SITE to a site-packages holding verl)")
    spec = importlib.util.spec_from_file_location("verl_import_utils_under_test", path)
    utils = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(utils)  # stdlib only: no torch needed for the loader itself
    by_pkg = utils.load_extern_object("pkg://rl_rerank.rewards.verl", "compute_score")
    import rl_rerank.rewards.verl as adapter

    by_file = utils.load_extern_object(adapter.__file__, "compute_score")
    rows = _read(exported / "reasonrank-listwise" / "train.parquet")
    for row in rows:
        extra = dict(row["extra_info"], num_turns=None, rollout_reward_scores={})  # what verl adds
        for c in _completions("listwise", row):
            kwargs = dict(data_source=row["data_source"], solution_str=c,
                          ground_truth=row["reward_model"]["ground_truth"], extra_info=extra)
            assert by_pkg(**kwargs) == by_file(**kwargs) == compute_score(**kwargs)
