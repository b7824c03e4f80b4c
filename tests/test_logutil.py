"""Logging set-up of the CLI and the glue scripts: messages go to the stderr of the moment, and a
second set-up closes the first one's file."""

from __future__ import annotations

import contextlib
import io
import logging
import warnings
from pathlib import Path

from livingreview.logutil import LOG, setup_logging


def test_messages_go_to_the_current_stderr_not_a_closed_one() -> None:
    """Set up while stderr was a stream that has since been closed (as pytest's capture or a
    notebook cell does), a later message reaches the stderr of the moment, with no logging error."""
    first, second = io.StringIO(), io.StringIO()
    with contextlib.redirect_stderr(first):
        setup_logging(None)
        LOG.info("while set up")
    first_text = first.getvalue()
    first.close()
    with contextlib.redirect_stderr(second):
        LOG.info("after the first stream was closed")
    assert first_text == "INFO livingreview: while set up\n"
    assert second.getvalue() == "INFO livingreview: after the first stream was closed\n"


def test_a_second_set_up_closes_the_first_log_file(tmp_path: Path) -> None:
    """setup_logging twice in one process: the first log file is closed (no ResourceWarning), holds
    only its own messages, and the second gets the rest."""
    a, b = tmp_path / "a.log", tmp_path / "b.log"
    setup_logging(a)
    LOG.info("to a")
    (handler,) = logging.getLogger("livingreview").handlers
    with warnings.catch_warnings():
        warnings.simplefilter("error", ResourceWarning)
        setup_logging(b)
    assert handler.stream is None  # FileHandler.close() drops its stream
    LOG.info("to b")
    setup_logging(None)
    assert a.read_text(encoding="utf-8") == "INFO livingreview: to a\n"
    assert b.read_text(encoding="utf-8") == "INFO livingreview: to b\n"
