"""The ``livingreview`` command: one sub-command per stage, for people and for tests."""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from . import __version__
from .errors import LivingReviewError
from .logutil import setup_logging

# Each module in livingreview.commands defines ``register(subparsers)``; the sub-parsers it
# adds set ``func`` (taking the parsed args, returning an exit code).
COMMAND_MODULES: tuple[str, ...] = (
    "search",
    "add_run",
    "importer",
    "dedup",
    "screen",
    "trace",
    "pool",
    "prisma",
    "validate",
)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every available sub-command."""
    parser = argparse.ArgumentParser(
        prog="livingreview",
        description="A reproducible, living systematic-review pipeline. Run `snakemake --cores 4` to rebuild the review.",
    )
    parser.add_argument("--version", action="version", version=f"livingreview {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(f"livingreview.commands.{name}")
        except ModuleNotFoundError as err:
            if err.name == f"livingreview.commands.{name}":
                continue
            raise
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    setup_logging(None, verbose=args.verbose)
    try:
        return int(args.func(args) or 0)
    except LivingReviewError as err:
        print(f"livingreview: error: {err}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
