"""Signals sent by the prices app (it knows nothing of who listens)."""

from collections.abc import Iterator
from contextlib import contextmanager

from django.dispatch import Signal

# Sent after ticks are stored. Keyword arguments: exchange (str), minutes (list of aware UTC
# datetimes: the minutes that received ticks) and source (TickSource of the ticks).
ticks_stored = Signal()


@contextmanager
def prices_receivers_only() -> Iterator[None]:
    """Within the block, `ticks_stored` reaches only receivers whose dispatch_uid starts "prices.".

    For benchmarks that store throw-away ticks: other apps' receivers (alerts enqueues an
    evaluation task) must not act on them. The receivers are swapped for the whole process, so
    use it only where nothing else stores ticks meanwhile (a benchmark command).
    """
    with ticks_stored.lock:
        saved = list(ticks_stored.receivers)
        ticks_stored.receivers = [r for r in saved if str(r[0][0]).startswith("prices.")]
        ticks_stored.sender_receivers_cache.clear()
    try:
        yield
    finally:
        with ticks_stored.lock:
            ticks_stored.receivers = saved
            ticks_stored.sender_receivers_cache.clear()
