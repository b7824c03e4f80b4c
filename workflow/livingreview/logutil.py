"""Logging set-up shared by the CLI and the Snakemake glue scripts."""

from __future__ import annotations

import logging
import os
import re
import sys
from collections.abc import Callable
from typing import Any

from .errors import LivingReviewError

LOG = logging.getLogger("livingreview")

# Control characters (C0 but tab and newline, DEL, C1) in text from outside (an export's title, a
# server's error reply): written to a terminal they would run as escape sequences ("\x1b]0;...\x07"
# sets the window title), so text for people shows them as \xNN.
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def show_controls(text: str) -> str:
    """``text`` with each control character but tab and newline written as \\xNN."""
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text)


class _CurrentStderr(logging.StreamHandler):  # type: ignore[type-arg]
    """A handler writing to whatever ``sys.stderr`` is when a message is logged, not the stream it was
    at set-up: a caller that swaps stderr for a while (a test capturing output, a notebook) and closes
    its stream would otherwise leave later messages going to a closed stream ("--- Logging error ---")."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    @property  # type: ignore[override]
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, _value: Any) -> None:
        pass


def setup_logging(log_path: str | os.PathLike[str] | None = None, *, verbose: bool = False) -> None:
    """Log to a file (a rule's ``log:``) or to stderr; the handlers of an earlier set-up are closed
    (a second call in one process, e.g. the command run twice, leaves no file open)."""
    handler: logging.Handler = logging.FileHandler(log_path, mode="w", encoding="utf-8") if log_path else _CurrentStderr()
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger("livingreview")
    old, root.handlers[:] = list(root.handlers), [handler]
    for earlier in old:
        earlier.close()
    root.setLevel(logging.DEBUG if verbose else logging.INFO)


def run_step(func: Callable[..., Any], log_path: str | os.PathLike[str] | None, /, **kwargs: Any) -> Any:
    """Run one pipeline step from a Snakemake glue script: log to the rule's log; on a
    LivingReviewError print its one line to stderr (and the log) and exit 1."""
    setup_logging(log_path)
    try:
        return func(**kwargs)
    except LivingReviewError as err:
        LOG.error("%s", err)
        print(f"livingreview: error: {err}", file=sys.stderr)
        sys.exit(1)
