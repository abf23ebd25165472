"""Where commands write (issue 11, "Bad input" and "Nothing is lost"): check_outputs refuses folders, read-only
files and folders, file systems that refuse writes, an output given twice and an output over an input, in one
line; every command calls it before doing any work (exit 2, input untouched)."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import pytest

from rl_rerank.cli import main
from rl_rerank.data.outputs import check_outputs
from rl_rerank.errors import UserError


def _refused(needle: str, **kw) -> str:
    with pytest.raises(UserError) as err:
        check_outputs(**kw)
    msg = str(err.value)
    assert needle in msg and "\n" not in msg, msg
    return msg


def test_fine_outputs_pass_and_create_nothing(tmp_path):
    inp = tmp_path / "in.trec"
    inp.write_text("q Q0 d 1 1.0 t\n")
    check_outputs(files=[tmp_path / "new" / "deeper" / "run.trec", None], folders=[tmp_path / "outdir"], inputs=[inp])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.trec"]


def test_a_folder_where_a_file_goes_and_the_reverse(tmp_path):
    (tmp_path / "d").mkdir()
    (tmp_path / "f").write_text("x")
    _refused("is a folder", files=[tmp_path / "d"])
    _refused("is a file", folders=[tmp_path / "f"])
    _refused("is a file, not a folder", files=[tmp_path / "f" / "run.trec"])


def test_read_only_file_and_folder(tmp_path):
    ro_file = tmp_path / "run.trec"
    ro_file.write_text("x")
    ro_file.chmod(0o444)
    _refused("read-only", files=[ro_file])
    ro_dir = tmp_path / "ro"
    ro_dir.mkdir()
    ro_dir.chmod(0o555)
    try:
        _refused("read-only", files=[ro_dir / "run.trec"])
        _refused("read-only", files=[ro_dir / "not" / "yet" / "run.trec"])  # would be created inside it
        _refused("read-only", folders=[ro_dir / "out"])
    finally:
        ro_dir.chmod(0o755)


def test_a_file_system_that_refuses_writes():
    """sysfs refuses new files even for root although its folders carry write bits: the probe (a nameless
    temp file, like a real write) catches what the mode bits do not (read-only mounts fail the same way)."""
    folder = "/sys/kernel"
    try:
        with tempfile.TemporaryFile(dir=folder):
            pytest.skip(f"{folder} accepts files on this machine")
    except OSError:
        pass
    _refused("refuses new files", files=[f"{folder}/run.trec"])
    _refused("refuses new files", folders=[f"{folder}/eval-out"])


@pytest.mark.parametrize("how", ["same path", "relative path", "symlink", "hard link"])
def test_an_output_that_is_an_input(tmp_path, monkeypatch, how):
    inp = tmp_path / "requests.jsonl"
    inp.write_text("{}\n")
    monkeypatch.chdir(tmp_path)
    out = {"same path": inp, "relative path": Path("requests.jsonl"), "symlink": tmp_path / "link.jsonl",
           "hard link": tmp_path / "hard.jsonl"}[how]
    if how == "symlink":
        out.symlink_to(inp)
    if how == "hard link":
        os.link(inp, out)
    _refused("would overwrite the input", files=[out], inputs=[inp])
    _refused("is the input", folders=[tmp_path], inputs=[tmp_path])


def test_existing_file_inside_an_input_folder_is_refused_new_file_is_fine(tmp_path):
    beir = tmp_path / "beir"
    beir.mkdir()
    (beir / "queries.jsonl").write_text("{}\n")
    _refused("would overwrite the input", files=[beir / "queries.jsonl"], inputs=[beir])
    check_outputs(files=[beir / "labels.jsonl"], inputs=[beir])


def test_the_same_output_twice(tmp_path):
    _refused("given twice", files=[tmp_path / "run.trec", tmp_path / "x" / ".." / "run.trec"])


# -- every command calls it first ------------------------------------------------------------------

def _bytes(path: Path) -> bytes:
    return path.read_bytes()


@pytest.fixture()
def requests_file(tmp_path, dl20_dir):
    hits = json.loads((dl20_dir / "bm25-top100.json").read_text())[:1]
    path = tmp_path / "requests.json"
    path.write_text(json.dumps(hits))
    return path


def _exit2_one_line(argv, capsys, needle):
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and needle in err[0], err


def test_rerank_over_its_own_input_or_stats_over_the_run(requests_file, tmp_path, capsys):
    before = _bytes(requests_file)
    base = ["rerank", "--input", str(requests_file), "--model", "no-such-model", "--no-cache"]
    _exit2_one_line(base + ["--output", str(requests_file)], capsys, "would overwrite the input")
    _exit2_one_line(base + ["--output", str(tmp_path / "r.trec"), "--stats", str(tmp_path / "r.trec")], capsys,
                    "given twice")
    _exit2_one_line(base + ["--output", str(tmp_path)], capsys, "is a folder")
    assert _bytes(requests_file) == before and sorted(p.name for p in tmp_path.iterdir()) == ["requests.json"]


def test_retrieve_over_its_topics(tmp_path, capsys, scifact_dir):
    topics = tmp_path / "topics.tsv"
    topics.write_text("1\tq one\n")
    _exit2_one_line(["retrieve", "--corpus", str(scifact_dir), "--queries", str(topics), "--run-out", str(topics)],
                    capsys, "would overwrite the input")
    _exit2_one_line(["retrieve", "--corpus", str(scifact_dir), "--queries", str(topics), "--run-out",
                     str(scifact_dir / "corpus.jsonl")], capsys, "would overwrite the input")
    assert topics.read_text() == "1\tq one\n"


def test_label_output_over_its_source(requests_file, capsys):
    before = _bytes(requests_file)
    _exit2_one_line(["label", "--source", str(requests_file), "--output", str(requests_file)], capsys,
                    "would overwrite the input")
    _exit2_one_line(["label", "--source", str(requests_file), "--output", "x.jsonl", "--sft-output", "x.jsonl"],
                    capsys, "given twice")
    assert _bytes(requests_file) == before


def test_eval_out_is_checked_before_loading(tmp_path, capsys):
    (tmp_path / "f").write_text("x")
    _exit2_one_line(["eval", "--benchmark", "trec-dl-2020", "--no-rerank", "--out", str(tmp_path / "f")], capsys,
                    "is a file")
    _exit2_one_line(["eval", "--benchmark", "trec-dl-2020", "--no-rerank", "--measures", "nDGC@10", "--out",
                     str(tmp_path / "o")], capsys, "unknown measure")
    assert not (tmp_path / "o").exists()


def test_eval_run_file_over_the_given_first_stage(tmp_path, capsys, dl20_dir):
    out = tmp_path / "o"
    (out / "runs").mkdir(parents=True)
    first = out / "runs" / "trec-dl-2020.first.trec"
    first.write_text("1030303 Q0 8726436 1 1.0 t\n")
    _exit2_one_line(["eval", "--benchmark", "trec-dl-2020", "--no-rerank", "--first-stage", str(first), "--out",
                     str(out), "--max-queries", "1"], capsys, "would overwrite the input")
    assert first.read_text() == "1030303 Q0 8726436 1 1.0 t\n"


def test_training_output_dir_over_its_init_from(tmp_path, capsys):
    init = tmp_path / "sft"
    init.mkdir()
    (init / "adapter_config.json").write_text("{}")
    data = tmp_path / "rows.jsonl"
    data.write_text("{}\n")
    cfg = tmp_path / "grpo.yaml"
    cfg.write_text(f"init_from: {init}\noutput_dir: {init}\ndata: {{path: {data}}}\n")
    _exit2_one_line(["rl", "--config", str(cfg)], capsys, "is the input")
