"""The one JSON-lines reader (rl_rerank.data._io.iter_jsonl): strict for inputs, counting for journals/caches."""

from __future__ import annotations

import gzip
import json

import pytest

from rl_rerank.data._io import iter_jsonl, load_json
from rl_rerank.errors import DataError


def test_strict_reader_names_file_and_line(tmp_path):
    path = tmp_path / "in.jsonl"
    path.write_bytes(b'\xef\xbb\xbf{"a": 1}\n\n{"a": 2}\n[3]\n')
    with pytest.raises(DataError) as err:
        list(iter_jsonl(path))
    assert err.value.line == 4 and "a JSON object, got list" in str(err.value)
    path.write_text('{"a": 1}\n{"a": \n')
    with pytest.raises(DataError, match=r"in\.jsonl:2: one JSON object per line"):
        list(iter_jsonl(path))
    gz = tmp_path / "in.jsonl.gz"
    gz.write_bytes(gzip.compress(b'\xef\xbb\xbf{"a": 1}\n\n{"a": 2}\n'))
    assert list(iter_jsonl(gz)) == [(1, {"a": 1}), (3, {"a": 2})]  # BOM dropped, blank lines keep numbering


def test_tolerant_reader_counts_what_it_passes_over(tmp_path):
    path = tmp_path / "journal.jsonl"
    path.write_bytes(b'{"key": "a"}\nnot json\n"a string"\n{"key": "b", "t": "\xff"}\n{"key": "c"\n')
    skipped: list[int] = []
    got = list(iter_jsonl(path, skipped=skipped))
    assert [rec["key"] for _, rec in got] == ["a", "b"] and got[1][1]["t"] == "\ufffd"
    assert skipped == [2, 3, 5]


def test_load_json_errors_name_the_line(tmp_path):
    path = tmp_path / "rows.json"
    path.write_text(json.dumps([{"a": 1}], indent=1)[:-1])
    with pytest.raises(DataError) as err:
        load_json(path)
    assert err.value.line is not None and "valid JSON" in str(err.value)
    path.write_bytes(b"\xef\xbb\xbf[1]")
    assert load_json(path) == [1]


def test_result_cache_counts_lines_it_cannot_use(tmp_path):
    from rl_rerank.rerank.cache import ResultCache

    path = tmp_path / "cache.jsonl"
    path.write_text('{"key": "k1", "qid": "q1", "scores": {"d1": 1.5}}\ngarbage\n{"key": "k2"}\n'
                    '{"key": "k3", "qid": "q3", "scores": {"d": 2}}\n{"key": "k4", "sc')
    cache = ResultCache(path)
    assert cache.results == {"k1": {"d1": 1.5}, "k3": {"d": 2.0}}
    assert cache.skipped == 2 and cache.repaired_bytes == len('{"key": "k4", "sc')


def test_label_journal_skips_and_counts_bad_lines(tmp_path):
    from rl_rerank.datagen.label import read_journal

    path = tmp_path / "out.jsonl.partial"
    header = {"journal": "rl_rerank.label/1", "settings": {"samples": 2}}
    path.write_text(json.dumps(header) + '\n{"key": "a", "kept": true}\n{oops\n{"key": "b"}\n')
    skipped: list[int] = []
    assert sorted(read_journal(path, header, skipped)) == ["a", "b"] and skipped == [3]
