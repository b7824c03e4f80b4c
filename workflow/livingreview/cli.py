"""The ``livingreview`` command: one sub-command per stage, for people and for tests."""

from __future__ import annotations

import argparse
import importlib
import os
import signal
import sys
from collections.abc import Sequence
from types import FrameType

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


class Interrupted(BaseException):
    """SIGTERM (a CI job cancelled or timed out, `kill`) raised as an exception, so that cleanup runs."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


def _raise_interrupted(signum: int, frame: FrameType | None) -> None:
    raise Interrupted(signum)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script.

    SIGTERM and Ctrl-C (SIGINT) stop a command through an exception, so a run being archived is
    removed whole (runs.write_run) rather than left as a temporary folder, and print one line
    (exit 128 + the signal number) instead of a traceback.
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    setup_logging(None, verbose=args.verbose)
    try:
        previous = signal.signal(signal.SIGTERM, _raise_interrupted)
    except ValueError:  # not the main thread (main() called from a test's thread): leave signals alone
        previous = None
    try:
        return int(args.func(args) or 0)
    except LivingReviewError as err:
        print(f"livingreview: error: {err}", file=sys.stderr)
        return 1
    except BrokenPipeError:
        # The reader of our output went away (`livingreview trace X | head`): not an error to report.
        # Point stdout at devnull so the interpreter's final flush does not raise again.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 1
    except OSError as err:
        # A path the system refuses (a folder given as -o, a file as --root, no permission, disk full):
        # one line naming the path, as for every other bad input, not a traceback.
        paths = " -> ".join(str(p) for p in (err.filename, err.filename2) if p is not None)
        fix = ("check that the path exists, is a file or a folder as the option expects, and can be written" if paths
               else "a system error without a path (network, disk): check the connection and free disk space, then run the command again")
        print(f"livingreview: error: {paths + ': ' if paths else ''}{err.strerror or err}; fix: {fix}", file=sys.stderr)
        return 1
    except (KeyboardInterrupt, Interrupted) as err:
        signum = err.signum if isinstance(err, Interrupted) else signal.SIGINT
        name = signal.Signals(signum).name
        print(f"livingreview: interrupted ({name}); run the command again", file=sys.stderr)
        return 128 + signum
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


if __name__ == "__main__":
    sys.exit(main())
