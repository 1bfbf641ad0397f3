"""The `facerig` command line.

One module per command group (COMMANDS), each with `register(subparsers)`.
User mistakes (bad files, names, values) print one line `facerig: error: ...` and exit 2. Command
modules import only argparse-level things at the top (so `--help` is quick), call rig.pipeline for
the work and write every file through rig.outputs; they never import one another (shared argument
helpers live in rig.cli.common).
"""
from __future__ import annotations

import argparse
import importlib
import sys
import warnings
from typing import Sequence

from basics.errors import UserError

#: the command groups, in --help order: rig.cli.<name>.register(subparsers) adds each
COMMANDS = ("morph", "gan", "invert", "fit", "edit", "animate", "reenact", "live", "training", "app", "verify")


class _OneLineParser(argparse.ArgumentParser):
    """argparse that reports usage mistakes in one line (exit 2) instead of usage + message."""

    def error(self, message: str):  # noqa: D401 - argparse API
        self.exit(2, f"facerig: error: {message} (see `{self.prog} --help`)\n")


def build_parser() -> argparse.ArgumentParser:
    """The whole `facerig` parser, every command group registered."""
    parser = _OneLineParser(prog="facerig", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_OneLineParser)
    for name in COMMANDS:
        importlib.import_module(f"{__name__}.{name}").register(sub)
    return parser


def _one_line_warning(message, category, filename, lineno, file=None, line=None) -> None:
    """Warnings during a command print as one line `facerig: warning: ...` (no file:line, no source; beside bars)."""
    from tqdm import tqdm

    tqdm.write(f"facerig: warning: {message}", file=sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    """Run `facerig ARGS`; returns the exit code (2 for a user mistake, 130 when interrupted)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("default", category=UserWarning)  # each distinct one, once per run
            warnings.showwarning = _one_line_warning
            result = args.func(args)
    except UserError as exc:
        print(f"facerig: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("facerig: interrupted", file=sys.stderr)
        return 130
    return int(result or 0)
