"""django-q2 entry points of the prices app."""

from __future__ import annotations

from prices.services import ticks_ingest
from prices.sources import get_ticker_source


class IngestFailedError(RuntimeError):
    """A polling cycle failed; raised so that django-q2 records the task as failed."""


def fetch_prices() -> str:
    """Run one polling cycle (the schedule calls this every minute); returns the summary line."""
    summary = ticks_ingest(source=get_ticker_source())
    if not summary.ok:
        raise IngestFailedError(summary.line())
    return summary.line()
