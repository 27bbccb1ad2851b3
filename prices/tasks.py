"""django-q2 entry points of the prices app."""

from __future__ import annotations

from datetime import UTC, datetime

from django.conf import settings

from prices.services import gaps_repair, ticks_expire, ticks_ingest
from prices.sources import get_candle_source, get_ticker_source


class IngestFailedError(RuntimeError):
    """A polling cycle failed; raised so that django-q2 records the task as failed."""


def fetch_prices() -> str:
    """Run one polling cycle (the schedule calls this every minute); returns the summary line."""
    summary = ticks_ingest(source=get_ticker_source())
    if not summary.ok:
        raise IngestFailedError(summary.line())
    return summary.line()


def repair_gaps() -> str:
    """Find the minutes missing over the look-back and fill them from candles (every 2 minutes).

    A bounded number of candle requests per run, no waiting on rate limits (the next run goes
    on); raises RepositoryError so that django-q2 records a failed run.
    """
    summary = gaps_repair(
        now=datetime.now(UTC),
        source=get_candle_source(wait_on_rate_limit=False),
        lookback_hours=settings.PRICES_GAP_LOOKBACK_HOURS,
        max_requests=settings.PRICES_GAP_MAX_REQUESTS,
    )
    return summary.line()


def expire_ticks() -> str:
    """Delete ticks past PRICES_RETENTION_DAYS where DynamoDB TTL does not (hourly; bounded)."""
    return ticks_expire(now=datetime.now(UTC), retention_days=settings.PRICES_RETENTION_DAYS).line()
