"""Atomic writes: whole file or nothing, with ordinary permissions."""

from __future__ import annotations

import os
import stat

import pytest

from rl_rerank.data.atomic import atomic_open, write_json


def test_failed_write_leaves_nothing_and_keeps_old_file(tmp_path):
    target = tmp_path / "run.trec"
    target.write_text("old\n")
    with pytest.raises(RuntimeError):
        with atomic_open(target) as fh:
            fh.write("half")
            raise RuntimeError("disk on fire")
    assert target.read_text() == "old\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run.trec"]


def test_written_file_follows_umask(tmp_path):
    old = os.umask(0o022)
    try:
        write_json(tmp_path / "report.json", {"nDCG@10": 0.5})
    finally:
        os.umask(old)
    mode = stat.S_IMODE((tmp_path / "report.json").stat().st_mode)
    assert mode == 0o644
    assert (tmp_path / "report.json").read_text() == '{\n  "nDCG@10": 0.5\n}\n'


def _write(files: dict[str, str]):
    def write(tmp):
        for rel, text in files.items():
            (tmp / rel).parent.mkdir(parents=True, exist_ok=True)
            (tmp / rel).write_text(text)
    return write


def test_publish_folder_new_appears_whole_and_failure_leaves_nothing(tmp_path):
    from rl_rerank.data.atomic import publish_folder

    out = tmp_path / "cache" / "index"

    def dies(tmp):
        (tmp / "half.bin").write_text("x")
        raise RuntimeError("killed")

    with pytest.raises(RuntimeError):
        publish_folder(out, dies)
    assert not out.exists() and list((tmp_path / "cache").iterdir()) == []
    assert publish_folder(out, _write({"meta.json": "{}"})) == out
    assert sorted(p.name for p in out.iterdir()) == ["meta.json"]


def test_publish_folder_keep_leaves_what_another_process_published(tmp_path):
    from rl_rerank.data.atomic import publish_folder

    out = tmp_path / "index"

    def racing(tmp):  # another process publishes the same key while we build
        out.mkdir()
        (out / "meta.json").write_text("theirs")
        (tmp / "meta.json").write_text("ours")

    publish_folder(out, racing)
    assert (out / "meta.json").read_text() == "theirs"
    assert [p.name for p in tmp_path.iterdir()] == ["index"]  # our staging folder is gone


def test_publish_folder_merge_replaces_only_its_own_files(tmp_path):
    from rl_rerank.data.atomic import MANIFEST, publish_folder
    from rl_rerank.errors import UserError

    out = tmp_path / "export"
    publish_folder(out, _write({"a.txt": "1", "merged/m.bin": "m"}), existing="merge")
    (out / "notes.md").write_text("mine")
    publish_folder(out, _write({"a.txt": "2", "b.txt": "b"}), existing="merge")
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*")) == [MANIFEST, "a.txt", "b.txt",
                                                                             "notes.md"]
    assert (out / "a.txt").read_text() == "2" and (out / "notes.md").read_text() == "mine"  # stale merged/ gone
    (out / "c.txt").mkdir()
    with pytest.raises(UserError, match="c.txt: is a folder where a file goes"):
        publish_folder(out, _write({"c.txt": "c"}), existing="merge")
    assert sorted(p.name for p in out.iterdir()) == [MANIFEST, "a.txt", "b.txt", "c.txt", "notes.md"]
