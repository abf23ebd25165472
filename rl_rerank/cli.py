"""`rl-rerank` console script: one subcommand per command module.

Library commands live in rl_rerank/commands/; the commands that score rankings (retrieve, eval, demo) live in
the evaluation package (eval/commands/, installed as rl_rerank.eval.commands), which builds on the library. They
are named here by module path and imported only when the parser is built, so nothing in the library imports
the evaluation package.

Each command module defines `add_arguments(parser)` and `run(args) -> int` and a one-line `HELP`.
User errors (bad data, bad config) become one line on stderr and exit code 2; `--debug` shows the traceback.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from rl_rerank import __version__
from rl_rerank.errors import UserError

# Order shown in --help: the pipeline from data to a report. name -> module defining it.
COMMANDS = {
    "retrieve": "rl_rerank.eval.commands.retrieve",
    "label": "rl_rerank.commands.label",
    "sft": "rl_rerank.commands.sft",
    "rl": "rl_rerank.commands.rl",
    "rerank": "rl_rerank.commands.rerank",
    "eval": "rl_rerank.eval.commands.eval",
    "export": "rl_rerank.commands.export",
    "export-rl-data": "rl_rerank.commands.export_rl_data",
    "import-verl": "rl_rerank.commands.import_verl",
    "demo": "rl_rerank.eval.commands.demo",
}


def _load(name: str):
    return importlib.import_module(COMMANDS[name])


class _Parser(argparse.ArgumentParser):
    """Bad options are one line too (no usage block), exit 2, like every other user error."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="rl-rerank", description="Train and evaluate LLM rerankers that reason.")
    parser.add_argument("--version", action="version", version=f"rl-rerank {__version__}")
    parser.add_argument("--debug", action="store_true", help="show full tracebacks")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        module = _load(name)
        p = sub.add_parser(name, help=module.HELP, description=module.HELP)
        p.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help="show full tracebacks")
        module.add_arguments(p)
        p.set_defaults(_run=module.run)
    return parser


# Third-party warnings that say nothing actionable on a normal run (kept with --debug).
QUIET_WARNINGS = (
    (UserWarning, r"TRL currently supports vLLM versions"),  # vLLM 0.32 is our pin; the warning is TRL's range
    (DeprecationWarning, r"`torch.jit.script_method` is deprecated"),
    (FutureWarning, r"`return_outputs=True`"),
)


def quiet_third_party() -> None:
    import logging
    import os
    import warnings

    for category, message in QUIET_WARNINGS:
        warnings.filterwarnings("ignore", message=message, category=category)
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    for name in ("DeepSpeed", "deepspeed"):
        logging.getLogger(name).setLevel(logging.ERROR)
    # bitsandbytes' CPU backend warns at import that it cannot fetch an optional kernel from the hub (no action:
    # the built-in kernel runs); it came first on every training run's log.
    logging.getLogger("bitsandbytes.backends.cpu.ops").setLevel(logging.ERROR)
    # vLLM's CPU build warns at import (through trl) that the installed triton has no CPU backend; it falls back
    # by itself, and the line opened every CPU rl run's log.
    logging.getLogger("vllm.triton_utils.importing").setLevel(logging.ERROR)
    if "DS_ACCELERATOR" not in os.environ:
        import torch

        if not torch.cuda.is_available():  # DeepSpeed warns "unable to detect" a GPU on every CPU run otherwise
            os.environ["DS_ACCELERATOR"] = "cpu"


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "debug", False):
        quiet_third_party()
    if not getattr(args, "_run", None):
        parser.print_help()
        return 2
    try:
        return int(args._run(args) or 0)
    except UserError as exc:
        if args.debug:
            raise
        print(f"rl-rerank {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"rl-rerank {args.command}: interrupted (finished work is kept; run again to resume)", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
