"""Ingestion of one polled minute: fetch every ticker, claim the minute, store ticks and aggregates."""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from cryptotracker.collector import collector_paused
from cryptotracker.monitoring.metrics import fetch_cycle_record
from prices.domain import minute_of_observation
from prices.repository import RepositoryError, TickRepository, get_tick_repository
from prices.services.minutes import StoreMode, minutes_store
from prices.sources.base import SourceError, TickerSource

logger = logging.getLogger(__name__)


@dataclass
class IngestSummary:
    """What one ingestion cycle did: the minute it describes, ticks stored, rows skipped by reason.

    `status` is "stored", "duplicate" (the minute was already stored by another run) or
    "failed" (with `error`); `elapsed_ms` is the wall time of the cycle in milliseconds.
    """

    exchange: str
    minute: datetime | None = None
    status: str = "stored"
    stored: int = 0
    skipped: Counter[str] = field(default_factory=Counter)
    elapsed_ms: int = 0
    error: str | None = None

    @property
    def ok(self) -> bool:
        """False when the cycle failed."""
        return self.status != "failed"

    def line(self) -> str:
        """One human-readable line, as printed by fetch_prices and logged by the task."""
        minute = self.minute.strftime("%Y-%m-%dT%H:%MZ") if self.minute else "-"
        skipped = ", ".join(f"{reason} {n}" for reason, n in sorted(self.skipped.items())) or "none"
        text = (
            f"{self.exchange} minute {minute}: {self.status}, stored {self.stored} ticks, "
            f"skipped {skipped}, {self.elapsed_ms} ms"
        )
        return f"{text}; error: {self.error}" if self.error else text


def _now() -> datetime:
    return datetime.now(UTC)


def ticks_ingest(
    *,
    source: TickerSource,
    repo: TickRepository | None = None,
    now: Callable[[], datetime] = _now,
) -> IngestSummary:
    """Run one polling cycle: fetch all tickers, store the minute they describe, refresh rollups.

    The minute is `minute_of_observation(t)` where t = `now()` when the tickers reply has
    arrived: a reply that crosses into the next minute describes that minute (the minute it
    missed is left to gap repair). The first run to claim a minute's snapshot
    stores it; a repeated or concurrent run for the same minute stores nothing ("duplicate").
    Never raises for exchange or store failures: they end the cycle with status "failed"
    and one log line, and nothing half-parsed is stored.
    """
    repo = repo or get_tick_repository()
    started = time.monotonic()
    summary = IngestSummary(exchange=source.exchange)
    with collector_paused():
        _cycle_run(source, repo, now, summary)
    summary.elapsed_ms = round((time.monotonic() - started) * 1000)
    if summary.ok:
        logger.info("ingest %s", summary.line())
    else:
        logger.error("ingest %s", summary.line())
    fetch_cycle_record(summary)
    return summary


def _cycle_run(
    source: TickerSource, repo: TickRepository, now: Callable[[], datetime], summary: IngestSummary
) -> None:
    """Fetch, label and store one minute into `summary`; exchange and store failures end it "failed"."""
    try:
        batch = source.fetch_tickers()
        # The reply's arrival decides the minute: a poll sent at 08:05:58 whose answer arrives
        # at 08:06:06 carries the 08:05 candle's close, not 08:04's.
        observed_at = now()
        summary.minute = minute_of_observation(observed_at)
        summary.skipped.update(batch.skipped)
        ticks = [
            row.to_tick(exchange=source.exchange, minute=summary.minute, observed_at=observed_at)
            for row in batch.rows
        ]
        if not ticks:
            # Bitfinex always lists trading pairs: a body with none to store (empty, funding rows
            # only, or PRICES_PAIRS naming no listed pair) is a failed cycle, not a stored one.
            raise SourceError("tickers: no trading row to store")
        stored = minutes_store(
            exchange=source.exchange, ticks=ticks, repo=repo, mode=StoreMode.POLL, sender=ticks_ingest
        )
        summary.status = stored.status
        summary.skipped.update(stored.skipped)
        summary.stored = len(stored.ticks)
    except (SourceError, RepositoryError) as exc:
        summary.status = "failed"
        summary.error = str(exc)
        if summary.minute is None:  # no reply: the minute the cycle would have described now
            summary.minute = minute_of_observation(now())
