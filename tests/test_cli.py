"""The console script: help lists the commands, user errors are one line with exit code 2."""

from __future__ import annotations

import argparse
import types

import pytest

from rl_rerank import cli
from rl_rerank.errors import DataError


def _fake_command(exc: BaseException) -> types.ModuleType:
    module = types.ModuleType("fake")
    module.HELP = "a command that fails"
    module.add_arguments = lambda p: p.add_argument("--input")

    def run(args):
        raise exc

    module.run = run
    return module


def test_help_lists_every_built_command():
    parser = cli.build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    built = [name for name in cli.COMMANDS if cli._load(name) is not None]
    assert list(sub.choices) == built


def test_no_command_prints_help_and_exits_2(capsys):
    assert cli.main([]) == 2
    assert "usage: rl-rerank" in capsys.readouterr().out


def test_user_error_is_one_line_exit_2(monkeypatch, capsys):
    error = DataError("runs/x.trec", 7, "expected 6 columns 'qid Q0 docid rank score tag'")
    monkeypatch.setattr(cli, "COMMANDS", ["fake"])
    monkeypatch.setattr(cli, "_load", lambda name: _fake_command(error))
    assert cli.main(["fake", "--input", "runs/x.trec"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["rl-rerank fake: error: runs/x.trec:7: expected 6 columns 'qid Q0 docid rank score tag'"]


def test_debug_shows_the_traceback(monkeypatch):
    monkeypatch.setattr(cli, "COMMANDS", ["fake"])
    monkeypatch.setattr(cli, "_load", lambda name: _fake_command(DataError("f", None, "bad")))
    with pytest.raises(DataError):
        cli.main(["--debug", "fake"])
    with pytest.raises(DataError):
        cli.main(["fake", "--debug"])


def test_quiet_run_has_no_bitsandbytes_deepspeed_or_vllm_notices():
    """A normal run's log starts with our output, not bitsandbytes' hub-kernel notice or vLLM's triton notice
    (both printed at import)."""
    import subprocess
    import sys

    code = ("import logging; logging.basicConfig(); from rl_rerank.cli import quiet_third_party; "
            "quiet_third_party(); import bitsandbytes, deepspeed, vllm.triton_utils; deepspeed.get_accelerator(); "
            "print(logging.getLogger('bitsandbytes.backends.cpu.ops').getEffectiveLevel())")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.split()[-1] == "40"  # logging.ERROR
    assert "kernels-community" not in proc.stderr
    assert "Triton is installed" not in proc.stderr
    import torch

    if not torch.cuda.is_available():
        assert "unable to detect" not in proc.stderr
