"""Retention: delete ticks older than PRICES_RETENTION_DAYS where DynamoDB TTL does not do it."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from prices.domain import EXCHANGE_BITFINEX, MINUTE_MS, to_ms
from prices.repository import TickRepository, get_tick_repository

logger = logging.getLogger(__name__)


@dataclass
class ExpirySummary:
    """What one expiry pass did: `status` "off" (no retention), "native" (DynamoDB TTL does it),
    "done" (every expired tick deleted) or "partial" (the per-run budget ran out); `cutoff`
    is the instant before which a tick's minute must have ended to be deleted."""

    status: str
    deleted: int = 0
    pairs: int = 0
    cutoff: datetime | None = None

    def line(self) -> str:
        """One human-readable line."""
        if self.status == "off":
            return "retention off (PRICES_RETENTION_DAYS is empty): ticks are kept forever"
        if self.status == "native":
            return "retention: DynamoDB TTL deletes expired ticks; nothing to do"
        cutoff = self.cutoff.strftime("%Y-%m-%dT%H:%MZ") if self.cutoff else "-"
        more = ", more left for the next run" if self.status == "partial" else ""
        return (
            f"retention: deleted {self.deleted} ticks of {self.pairs} pairs that ended before {cutoff}{more}"
        )


def ticks_expire(
    *,
    now: datetime,
    retention_days: int | None,
    exchange: str = EXCHANGE_BITFINEX,
    max_deletes: int = 5000,
    force: bool = False,
    repo: TickRepository | None = None,
) -> ExpirySummary:
    """Delete the ticks of every tracked pair whose minute ended more than `retention_days` ago.

    The cut-off is the one of DynamoDB TTL (a tick's `ttl` is its minute's end + the retention),
    so both ways expire the same ticks. Nothing happens when `retention_days` is None, nor
    (unless `force`) when the store expires ticks itself; `force` also reaches ticks written
    before retention was set, which carry no `ttl`. At most `max_deletes` per call, oldest first
    per pair. Minute snapshots, hour rollups and blocks are kept. Raises RepositoryError.
    """
    if retention_days is None:
        return ExpirySummary("off")
    repo = repo or get_tick_repository()
    if not force and repo.native_expiry():
        return ExpirySummary("native")
    # A tick of minute M expires once M + 1 min + retention ≤ now, i.e. M < before_ms.
    cutoff = now - timedelta(days=retention_days)
    before_ms = to_ms(cutoff) - MINUTE_MS + 1
    summary = ExpirySummary("done", cutoff=cutoff)
    for pair in sorted(repo.latest_prices(exchange=exchange)):
        budget = max_deletes - summary.deleted
        if budget <= 0:
            summary.status = "partial"
            break
        deleted = repo.expire_ticks(exchange=exchange, pair=pair, before_ms=before_ms, limit=budget)
        summary.deleted += deleted
        summary.pairs += bool(deleted)
    if summary.deleted >= max_deletes:
        summary.status = "partial"
    logger.info("%s", summary.line())
    return summary
