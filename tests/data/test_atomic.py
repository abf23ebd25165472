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
