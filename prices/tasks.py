"""django-q2 entry points of the prices app; each exchange's tasks take its name (default bitfinex)."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from django.conf import settings
from django.db import DatabaseError

from prices.domain import EXCHANGE_BITFINEX
from prices.services import gaps_repair, ticks_expire
from prices.services.lease import PollRefused, ticks_poll
from prices.services.pairs import exchange_markets_sync, pairs_reconcile
from prices.sources import get_candle_source, get_ticker_source

logger = logging.getLogger(__name__)


class IngestFailedError(RuntimeError):
    """A polling cycle failed; raised so that django-q2 records the task as failed."""


def fetch_prices(exchange: str = EXCHANGE_BITFINEX) -> str:
    """Run one polling cycle of `exchange` (its schedule calls this every minute); returns the summary line.

    Holds the exchange's poll lease meanwhile: a poll that finds another one running, or its
    minute already polled (a queued task replayed after a restart), exits at once. A markets list
    the source read on the way is recorded (prices.services.pairs.exchange_markets_sync).
    """
    source = get_ticker_source(exchange)
    result = ticks_poll(source=source)
    _markets_sync(source)
    if isinstance(result, PollRefused):
        return result.line()
    if not result.ok:
        raise IngestFailedError(result.line())
    return result.line()


def _markets_sync(source: object) -> None:
    try:
        exchange_markets_sync(source=source)
    except DatabaseError:  # the minute is stored; the names are recorded at the next list read
        logger.exception("could not record the markets of %s", getattr(source, "exchange", "?"))


def repair_gaps(exchange: str = EXCHANGE_BITFINEX) -> str:
    """Find `exchange`'s minutes missing over the look-back and fill them from its candles (every 2 minutes).

    A bounded number of candle requests per run, no waiting on rate limits (the next run goes
    on); raises RepositoryError so that django-q2 records a failed run.
    """
    summary = gaps_repair(
        now=datetime.now(UTC),
        exchange=exchange,
        source=get_candle_source(exchange, wait_on_rate_limit=False),
        lookback_hours=settings.PRICES_GAP_LOOKBACK_HOURS,
        max_requests=settings.PRICES_GAP_MAX_REQUESTS,
    )
    return summary.line()


def reconcile_pairs(exchange: str = EXCHANGE_BITFINEX) -> str:
    """Follow `exchange`'s pair list: mark pairs that left it delisted, returning ones active, and
    record its markets' base/quote.

    Raises SourceError, PairListError or RepositoryError so that django-q2 records a failed run.
    """
    source = get_ticker_source(exchange)
    summary = pairs_reconcile(source=source, exchange=exchange, now=datetime.now(UTC))
    _markets_sync(source)
    return summary.line()


def expire_ticks() -> str:
    """Delete ticks past PRICES_RETENTION_DAYS where DynamoDB TTL does not (hourly; bounded)."""
    return ticks_expire(now=datetime.now(UTC), retention_days=settings.PRICES_RETENTION_DAYS).line()
