"""Pausing Python's cyclic garbage collector while a whole-review stage builds its tables."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def collector_paused() -> Iterator[None]:
    """Run the block (or, as ``@collector_paused()``, the function) with the cyclic collector off.

    The stages that read every record (deduplicate_records, screen_records, link_studies) keep
    hundreds of thousands of rows, records and tuples alive until they write them; each automatic
    collection walks all of them again, which took about a quarter of those jobs' time at 100,000
    records. Those objects hold no reference cycles, so nothing is left uncollected: reference
    counting frees memory as before. The collector's previous state comes back afterwards, also
    when the block raises.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
