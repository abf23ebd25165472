"""`rerank --ray`: 2 actors on a local Ray give the single-process run byte for byte, also after an actor is
killed mid-run (ray.kill: the driver hands its chunk to a replacement). Skipped when Ray is not installed."""

from __future__ import annotations

import json

import pytest

from rl_rerank.cli import main

from .conftest import argv, sharded_api

ray = pytest.importorskip("ray", reason="Ray is an optional extra: pip install 'rl-rerank[ray]'")


@pytest.fixture(scope="module")
def local_ray():
    """A local Ray with 2 CPUs (2 actors), shared by the Ray tests and shut down after them."""
    ray.init(num_cpus=2, include_dashboard=False, logging_level="ERROR", log_to_driver=False)
    yield
    ray.shutdown()


@pytest.mark.slow
def test_ray_two_actors_equal_one_process(tiny_model, dl20_four, reference, tmp_path, local_ray):
    out = tmp_path / "ray.trec"
    assert main(argv(tiny_model, dl20_four, out, tmp_path / "c", "listwise", ["--ray", "--shards", "2"])) == 0
    assert out.read_bytes() == reference["listwise"]
    stats = json.loads((tmp_path / "ray.trec.stats.json").read_text())
    assert stats["backend"] == "ray" and stats["shards"] == 2 and stats["queries_computed"] == 4


@pytest.mark.slow
def test_ray_killed_actor_chunk_is_recomputed(tiny_model, dl20_four, reference, tmp_path, local_ray):
    from rl_rerank.data import write_run

    killed = []

    def kill_on_dispatch(event, wid, cid, backend):
        if event == "dispatch" and cid == 1 and not killed:
            backend.kill(wid)  # ray.kill on the actor holding chunk 1
            killed.append(wid)

    (run, stats), key = sharded_api(tiny_model, dl20_four, tmp_path, "pointwise", shards=2, use_ray=True,
                                     hook=kill_on_dispatch)
    assert killed and stats["chunks_retried"] == 1 and stats["workers_started"] == 3
    write_run(tmp_path / "run.trec", run)
    assert (tmp_path / "run.trec").read_bytes() == reference["pointwise"]
    assert len((tmp_path / f"{key[:24]}.jsonl").read_text().splitlines()) == 4
