"""Python's cyclic garbage collector paused around the per-minute hot paths."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def collector_paused() -> Iterator[None]:
    """Python's cyclic garbage collector off for the block (restored to its state after).

    The minute's work (an ingestion cycle: tickers, ticks, DynamoDB items, statistics; an
    alert evaluation: rows, memories, checks, events) builds a great many short-lived
    containers that reference counting frees: they form no cycles but for the odd traceback of
    a logged exception, which the next collection after the block frees. Collecting meanwhile
    costs young collections and now and then a full one walking every object of the process
    (measured: ~25 % of a steady 10,000-rule alert minute's CPU time). `gc.disable` is
    process-wide: threads started inside the block run without collections too.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()
