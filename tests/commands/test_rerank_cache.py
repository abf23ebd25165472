"""The rerank resume cache (issue 11, "Nothing is lost"): a model is keyed by the content of its files, not by
names and sizes (two merged models of one architecture never share scores); the digest of big files is kept in
a sidecar so it is computed once; batch sizes are part of the key; a torn last line is cut off on resume, the
file stays parseable and the resumed run equals an uninterrupted one."""

from __future__ import annotations

import json
import os
import shutil

import pytest

from rl_rerank.cli import main
from rl_rerank.rerank.cache import SIDECAR, files_fingerprint

SMALL = ["--engine", "transformers", "--paradigm", "pointwise", "--top-k", "4", "--max-doc-tokens", "32",
         "--no-progress"]


@pytest.fixture(scope="module")
def two_models(tiny_model, tmp_path_factory):
    """Two copies of the tiny model, one with every weight nudged: same architecture, names and file sizes."""
    from safetensors.torch import load_file, save_file

    root = tmp_path_factory.mktemp("models")
    a, b = root / "merged-a", root / "merged-b"
    shutil.copytree(tiny_model, a)
    shutil.copytree(tiny_model, b)
    tensors = load_file(b / "model.safetensors")
    save_file({k: (v * 1.5 if v.is_floating_point() else v).contiguous() for k, v in tensors.items()},
              b / "model.safetensors", metadata={"format": "pt"})
    return a, b


@pytest.fixture(scope="module")
def requests_file(dl20_dir, tmp_path_factory):
    hits = json.loads((dl20_dir / "bm25-top100.json").read_text())[:3]
    for h in hits:
        h["hits"] = h["hits"][:6]
    path = tmp_path_factory.mktemp("req") / "requests.json"
    path.write_text(json.dumps(hits))
    return path


def _sizes(folder):
    return {p.name: p.stat().st_size for p in folder.iterdir() if not p.name.startswith(".")}


def test_same_names_and_sizes_different_weights_different_keys(two_models):
    a, b = two_models
    assert _sizes(a) == _sizes(b)
    assert files_fingerprint(a) != files_fingerprint(b)
    assert files_fingerprint(a) == files_fingerprint(a)


def test_the_weight_digest_is_computed_once_and_kept_beside_the_model(two_models, tmp_path):
    model = tmp_path / "m"
    shutil.copytree(two_models[0], model)
    first = files_fingerprint(model)
    sidecar = json.loads((model / SIDECAR).read_text())
    st = (model / "model.safetensors").stat()
    assert sidecar["model.safetensors"][:2] == [st.st_size, st.st_mtime_ns]
    # the stored digest is what the key uses (not recomputed): a forged entry changes the key ...
    sidecar["model.safetensors"][2] = "0" * 64
    (model / SIDECAR).write_text(json.dumps(sidecar))
    assert files_fingerprint(model) != first
    # ... and rewriting the file (new mtime) recomputes it
    data = (model / "model.safetensors").read_bytes()
    (model / "model.safetensors").write_bytes(data)
    os.utime(model / "model.safetensors", ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    assert files_fingerprint(model) == first


def test_two_merged_models_never_share_cached_scores(two_models, requests_file, tmp_path):
    a, b = two_models
    cache = ["--cache-dir", str(tmp_path / "cache")]
    base = ["rerank", "--input", str(requests_file), *SMALL, *cache]
    assert main(base + ["--model", str(a), "--output", str(tmp_path / "a.trec")]) == 0
    assert main(base + ["--model", str(b), "--output", str(tmp_path / "b.trec")]) == 0
    stats_b = json.loads((tmp_path / "b.trec.stats.json").read_text())
    assert stats_b["queries_from_cache"] == 0 and stats_b["queries_computed"] == 3
    assert len(list((tmp_path / "cache").glob("*.jsonl"))) == 2
    assert main(base + ["--model", str(a), "--output", str(tmp_path / "a2.trec")]) == 0  # same model: all cached
    assert json.loads((tmp_path / "a2.trec.stats.json").read_text())["queries_from_cache"] == 3


def test_batch_sizes_are_part_of_the_key(two_models, requests_file, tmp_path):
    a = two_models[0]
    base = ["rerank", "--input", str(requests_file), "--model", str(a), *SMALL, "--cache-dir", str(tmp_path / "c")]
    assert main(base + ["--output", str(tmp_path / "r1.trec"), "--batch-size", "8"]) == 0
    for i, extra in enumerate((["--batch-size", "2"], ["--batch-queries", "1"])):
        out = tmp_path / f"other{i}.trec"
        assert main(base + ["--output", str(out), *extra]) == 0
        assert json.loads(out.with_name(out.name + ".stats.json").read_text())["queries_from_cache"] == 0


def test_a_torn_last_line_is_cut_off_and_the_run_is_the_same(two_models, requests_file, tmp_path):
    a = two_models[0]
    base = ["rerank", "--input", str(requests_file), "--model", str(a), *SMALL, "--batch-queries", "1"]
    assert main(base + ["--output", str(tmp_path / "ref.trec"), "--cache-dir", str(tmp_path / "c1")]) == 0
    cache_dir = tmp_path / "c2"
    assert main(base + ["--output", str(tmp_path / "run.trec"), "--cache-dir", str(cache_dir)]) == 0
    (cache_file,) = cache_dir.glob("*.jsonl")
    lines = cache_file.read_text().splitlines(keepends=True)
    assert len(lines) == 3
    cache_file.write_text("".join(lines[:2]) + lines[2][: len(lines[2]) // 2])  # killed mid-write of query 3
    assert main(base + ["--output", str(tmp_path / "run.trec"), "--cache-dir", str(cache_dir)]) == 0
    stats = json.loads((tmp_path / "run.trec.stats.json").read_text())
    assert stats["queries_from_cache"] == 2 and stats["queries_computed"] == 1
    assert stats["cache_torn_bytes_dropped"] == len(lines[2]) // 2 and stats["cache_lines_skipped"] == 0
    repaired = cache_file.read_text().splitlines()
    assert len(repaired) == 3 and all(json.loads(line)["scores"] for line in repaired)
    assert (tmp_path / "run.trec").read_text() == (tmp_path / "ref.trec").read_text()
