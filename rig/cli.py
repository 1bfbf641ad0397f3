"""The `facerig` command line. Each command group lives in its own rig/cli_*.py module.

User mistakes (bad files, names, values) print one line `facerig: error: ...` and exit 2.
"""
from __future__ import annotations

import argparse
import sys
from typing import Sequence

from gan.errors import GanError
from morphable.errors import MorphableError

from .errors import RigError

USER_ERRORS = (MorphableError, GanError, RigError)


class _OneLineParser(argparse.ArgumentParser):
    """argparse that reports usage mistakes in one line (exit 2) instead of usage + message."""

    def error(self, message: str):  # noqa: D401 - argparse API
        self.exit(2, f"facerig: error: {message} (see `{self.prog} --help`)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _OneLineParser(prog="facerig", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_OneLineParser)
    from . import cli_commands

    for register in cli_commands.REGISTRY:
        register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        result = args.func(args)
    except USER_ERRORS as exc:
        print(f"facerig: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("facerig: interrupted", file=sys.stderr)
        return 130
    return int(result or 0)


if __name__ == "__main__":
    sys.exit(main())
