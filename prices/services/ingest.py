"""Ingestion of one polled minute: fetch every ticker, claim the minute, store ticks and aggregates."""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from cryptotracker.monitoring.metrics import fetch_cycle_record
from prices.domain import Tick, TickSource, hour_floor_ms, minute_of_observation
from prices.repository import RepositoryError, TickRepository, get_tick_repository
from prices.rollups import MinuteSnapshot
from prices.services.aggregates import newest_prices, rollups_refresh
from prices.signals import ticks_stored
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

    The minute is `minute_of_observation(now())`. The first run to claim a minute's snapshot
    stores it; a repeated or concurrent run for the same minute stores nothing ("duplicate").
    Never raises for exchange or store failures: they end the cycle with status "failed"
    and one log line, and nothing half-parsed is stored.
    """
    repo = repo or get_tick_repository()
    started = time.monotonic()
    observed_at = now()
    summary = IngestSummary(exchange=source.exchange, minute=minute_of_observation(observed_at))
    try:
        batch = source.fetch_tickers()
        summary.skipped.update(batch.skipped)
        ticks = [
            row.to_tick(exchange=source.exchange, minute=summary.minute, observed_at=observed_at)
            for row in batch.rows
        ]
        if not ticks:
            # Bitfinex always lists trading pairs: a body with none to store (empty, funding rows
            # only, or PRICES_PAIRS naming no listed pair) is a failed cycle, not a stored one.
            raise SourceError("tickers: no trading row to store")
        ticks = _claim_minute(repo, ticks, summary)
        if ticks:
            _store(repo, ticks)
            summary.stored = len(ticks)
    except (SourceError, RepositoryError) as exc:
        summary.status = "failed"
        summary.error = str(exc)
    summary.elapsed_ms = round((time.monotonic() - started) * 1000)
    if summary.ok:
        logger.info("ingest %s", summary.line())
    else:
        logger.error("ingest %s", summary.line())
    fetch_cycle_record(summary)
    if summary.stored:
        ticks_stored.send(
            sender=ticks_ingest, exchange=summary.exchange, minutes=[summary.minute], source=TickSource.TICKER
        )
    return summary


def _claim_minute(repo: TickRepository, ticks: list[Tick], summary: IngestSummary) -> list[Tick]:
    """Claim the minute's snapshot and write the ticks this run owns; return them (maybe none).

    The snapshot is claimed pending and completed once the ticks are written: a worker that
    dies in between leaves a pending snapshot, which hour rollups leave out and gap repair
    completes from the snapshot's prices (prices.services.gaps).
    """
    minute_ms = ticks[0].minute_ms
    exchange = ticks[0].exchange
    prices = {t.pair: t.last_price for t in ticks}
    if repo.claim_snapshot(MinuteSnapshot(exchange, minute_ms, prices, TickSource.TICKER, pending=True)):
        repo.put_many(ticks)
        repo.complete_snapshot(exchange=exchange, minute_ms=minute_ms)
        return ticks
    existing = repo.get_snapshot(exchange=exchange, minute_ms=minute_ms)
    if existing is None or existing.source == TickSource.TICKER:
        summary.status = "duplicate"
        summary.skipped["duplicate_minute"] += len(ticks)
        return []
    # The minute was partly filled from candles (gap repair): add only the pairs it lacks.
    missing = [t for t in ticks if t.pair not in existing.prices]
    summary.skipped["already_stored"] += len(ticks) - len(missing)
    if missing:
        # Ticks before snapshot prices: a stored price then always has its tick, and a run cut
        # short in between leaves the minute missing from the snapshot, where gap repair sees it.
        repo.put_many(missing)
        repo.merge_snapshot(
            MinuteSnapshot(exchange, minute_ms, {t.pair: t.last_price for t in missing}, TickSource.TICKER)
        )
    return missing


def _store(repo: TickRepository, ticks: Sequence[Tick]) -> None:
    """Update the latest-price registry and the rollups of the hours the written ticks touch."""
    exchange = ticks[0].exchange
    repo.update_latest(exchange=exchange, prices=newest_prices(ticks))
    rollups_refresh(
        exchange=exchange,
        hours_ms={hour_floor_ms(t.minute_ms) for t in ticks},
        repo=repo,
        invalidate_blocks=False,
    )
