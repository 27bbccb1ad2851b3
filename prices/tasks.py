"""django-q2 entry points of the prices app."""

from __future__ import annotations

from datetime import UTC, datetime

from django.conf import settings

from prices.services import gaps_repair, ticks_expire
from prices.services.lease import PollRefused, ticks_poll
from prices.services.pairs import pairs_reconcile
from prices.sources import get_candle_source, get_ticker_source


class IngestFailedError(RuntimeError):
    """A polling cycle failed; raised so that django-q2 records the task as failed."""


def fetch_prices() -> str:
    """Run one polling cycle (the schedule calls this every minute); returns the summary line.

    Holds the exchange's poll lease meanwhile: a poll that finds another one running, or its
    minute already polled (a queued task replayed after a restart), exits at once.
    """
    result = ticks_poll(source=get_ticker_source())
    if isinstance(result, PollRefused):
        return result.line()
    if not result.ok:
        raise IngestFailedError(result.line())
    return result.line()


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


def reconcile_pairs() -> str:
    """Follow the exchange's pair list: mark pairs that left it delisted, returning ones active.

    Raises SourceError, PairListError or RepositoryError so that django-q2 records a failed run.
    """
    return pairs_reconcile(source=get_ticker_source(), now=datetime.now(UTC)).line()


def expire_ticks() -> str:
    """Delete ticks past PRICES_RETENTION_DAYS where DynamoDB TTL does not (hourly; bounded)."""
    return ticks_expire(now=datetime.now(UTC), retention_days=settings.PRICES_RETENTION_DAYS).line()
