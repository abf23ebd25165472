"""Sharded reranking gives the single-process run byte for byte: local worker processes and Ray actors, also
when a worker dies mid-run (its chunk is recomputed, nothing is lost), streaming into the same resume cache."""

from __future__ import annotations

import json

import pytest

from rl_rerank.cli import main
from rl_rerank.rerank.cache import ResultCache
from rl_rerank.rerank.shards import parse_devices

from .conftest import argv, sharded_api


@pytest.mark.slow
def test_two_local_shards_equal_one_process(tiny_model, dl20_four, reference, tmp_path):
    for paradigm in ("pointwise", "listwise"):
        out = tmp_path / f"{paradigm}.trec"
        assert main(argv(tiny_model, dl20_four, out, tmp_path / f"c-{paradigm}", paradigm, ["--shards", "2"])) == 0
        assert out.read_bytes() == reference[paradigm]
        stats = json.loads(out.with_name(out.name + ".stats.json").read_text())
        assert stats["shards"] == 2 and stats["backend"] == "processes" and stats["queries_computed"] == 4
        assert stats["prompt_tokens"] > 0 and stats["chunks_retried"] == 0
        # the workers' shared-prefix reuse adds up like the other token counts
        assert (stats["prompt_tokens_reused"] > 0) == (paradigm == "pointwise") and stats["prefix_reuse_fallbacks"] == 0
    # the resume cache the shards filled serves a plain single-process run: nothing recomputed, same file
    again = tmp_path / "again.trec"
    assert main(argv(tiny_model, dl20_four, again, tmp_path / "c-listwise", "listwise")) == 0
    assert again.read_bytes() == reference["listwise"]
    assert json.loads((tmp_path / "again.trec.stats.json").read_text())["queries_from_cache"] == 4


@pytest.mark.slow
def test_killed_local_worker_is_replaced_and_nothing_is_lost(tiny_model, dl20_four, reference, tmp_path):
    from rl_rerank.data import write_run

    killed = []

    def kill_second_dispatch(event, wid, cid, backend):  # a chunk is in flight on that worker: kill it
        if event == "dispatch" and cid == 1 and not killed:
            backend.kill(wid)
            killed.append(wid)

    (run, stats), key = sharded_api(tiny_model, dl20_four, tmp_path, "pointwise", shards=2,
                                     devices=parse_devices(None, 2), hook=kill_second_dispatch)
    assert killed and stats["chunks_retried"] == 1 and stats["workers_started"] == 3
    assert len(stats["worker_deaths"]) == 1 and "chunk 1" in stats["worker_deaths"][0]
    write_run(tmp_path / "run.trec", run)
    assert (tmp_path / "run.trec").read_bytes() == reference["pointwise"]
    cached = ResultCache(tmp_path / f"{key[:24]}.jsonl")  # every query streamed to the cache exactly once
    lines = (tmp_path / f"{key[:24]}.jsonl").read_text().splitlines()
    assert len(cached.results) == 4 and len(lines) == 4


def test_shard_devices_parse():
    assert parse_devices("0,1,2,3", 4) == ["0", "1", "2", "3"]
    assert parse_devices("0+1,2+3", 2) == ["0,1", "2,3"]
    from rl_rerank.errors import UserError

    with pytest.raises(UserError, match="--shard-devices"):
        parse_devices("gpu0", 1)


def test_shards_must_be_positive(tiny_model, dl20_four, tmp_path, capsys):
    with pytest.raises(SystemExit) as exc:  # argparse's checked type (rl_rerank.argtypes): one line, exit 2
        main(argv(tiny_model, dl20_four, tmp_path / "r.trec", tmp_path, extra=["--shards", "0"]))
    assert exc.value.code == 2 and "--shards: expected an integer >= 1, got 0" in capsys.readouterr().err
    auto = [a if a != "transformers" else "auto" for a in argv(tiny_model, dl20_four, tmp_path / "r.trec", tmp_path)]
    assert main(auto + ["--ray"]) == 2 and "--ray needs an explicit --engine" in capsys.readouterr().err
