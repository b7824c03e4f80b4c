"""Logging set-up shared by the CLI and the Snakemake glue scripts."""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable
from typing import Any

from .errors import LivingReviewError

LOG = logging.getLogger("livingreview")


def setup_logging(log_path: str | os.PathLike[str] | None = None, *, verbose: bool = False) -> None:
    """Log to a file (a rule's ``log:``) or to stderr."""
    handler: logging.Handler = logging.FileHandler(log_path, mode="w", encoding="utf-8") if log_path else logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger("livingreview")
    root.handlers[:] = [handler]
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
