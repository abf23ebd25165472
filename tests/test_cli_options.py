"""Every numeric option of every command is checked by argparse (issue 11): found by walking the parsers, so a
new `type=int` option cannot slip in. Zero or negative counts, NaN/infinite numbers and out-of-range weights
are one line on stderr and exit 2, before any work."""

from __future__ import annotations

import argparse

import pytest

from rl_rerank import argtypes, cli

CHECKED = {argtypes.positive_int, argtypes.non_negative_int, argtypes.any_int, argtypes.non_negative_float,
           argtypes.unit_float}


def _subparsers() -> dict[str, argparse.ArgumentParser]:
    parser = cli.build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(sub.choices)


def numeric_options() -> list[tuple[str, str, object]]:
    out = []
    for command, parser in _subparsers().items():
        for action in parser._actions:
            if action.type is None or not action.option_strings or isinstance(action.type, argparse.FileType):
                continue
            if action.type in (int, float) or action.type in CHECKED or hasattr(action.type, "minimum"):
                out.append((command, action.option_strings[0], action.type))
    return out


OPTIONS = numeric_options()
COUNTS = [(c, o) for c, o, t in OPTIONS if t is argtypes.positive_int or hasattr(t, "minimum")]


def test_the_walk_finds_the_options_the_issue_names():
    found = {(c, o) for c, o, _ in OPTIONS}
    for option in ("--top-k", "--batch-size", "--batch-queries", "--window", "--stride", "--select-k",
                   "--max-doc-tokens", "--max-queries"):
        assert any(o == option for _, o in found), option
    assert len(COUNTS) >= 30


@pytest.mark.parametrize("command,option,kind", OPTIONS, ids=[f"{c} {o}" for c, o, _ in OPTIONS])
def test_no_numeric_option_uses_a_bare_int_or_float(command, option, kind):
    assert kind not in (int, float), f"{command} {option} uses type={kind.__name__}; use rl_rerank.argtypes"


def _run(argv, capsys) -> tuple[int, str]:
    with pytest.raises(SystemExit) as exc:
        cli.main(argv)
    return exc.value.code, capsys.readouterr().err


@pytest.mark.parametrize("command,option", COUNTS, ids=[f"{c} {o}" for c, o in COUNTS])
@pytest.mark.parametrize("value", ["0", "-1", "abc", "1.5"])
def test_counts_reject_zero_negative_and_non_integers(command, option, value, capsys):
    code, err = _run([command, f"{option}={value}"], capsys)
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and option in lines[0] and lines[0].startswith(f"rl-rerank {command}: error:")


FLOATS = [(c, o, t) for c, o, t in OPTIONS if t in (argtypes.non_negative_float, argtypes.unit_float)]


@pytest.mark.parametrize("command,option,kind", FLOATS, ids=[f"{c} {o}" for c, o, _ in FLOATS])
def test_numbers_reject_nan_infinity_and_negative(command, option, kind, capsys):
    for value in ["nan", "inf", "-0.5"] + (["1.5"] if kind is argtypes.unit_float else []):
        code, err = _run([command, f"{option}={value}"], capsys)
        assert code == 2 and len(err.strip().splitlines()) == 1 and option in err


def test_a_valid_count_parses():
    args = cli.build_parser().parse_args(["rerank", "--input", "x", "--output", "y", "--top-k", "5",
                                          "--batch-size", "1", "--fusion-weight", "0.25", "--seed", "-3"])
    assert (args.top_k, args.batch_size, args.fusion_weight, args.seed) == (5, 1, 0.25, -3)
