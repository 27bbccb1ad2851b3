"""Pair status: pairs whose candles the exchange rejects (inactive) and pairs off its list (delisted).

One small row per pair with something to say (prices.models.PairStatus). Gap repair records
permanent candle failures (`pair_candles_failed`) and stops asking for a pair after
MAX_PERMANENT_FAILURES of them in a row; the scheduled reconciliation (`pairs_reconcile`) marks
the tracked pairs missing from the exchange's own pair list delisted, and a pair that is listed
again active. Statuses only change what is expected and asked for: stored ticks stay.

Markets (`exchange_markets_record`): the normalised base/quote of each market id of the
exchanges whose ids have no separator, from their markets lists (prices.models.ExchangeMarket).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from prices.domain import EXCHANGE_BITFINEX
from prices.exchanges import Market, markets_forget
from prices.models import ExchangeMarket, PairStatus
from prices.repository import TickRepository, get_tick_repository
from prices.sources.base import PairListSource

logger = logging.getLogger(__name__)

# Permanent candle failures in a row (10020 "symbol: invalid", a 4xx) before gap repair stops
# asking for the pair: one can be a glitch, three across runs 2 minutes apart are not.
MAX_PERMANENT_FAILURES = 3
REASON_CHARS = 300
State = PairStatus.State


def pair_statuses(*, exchange: str = EXCHANGE_BITFINEX) -> dict[str, PairStatus]:
    """Every pair of the exchange that has a status row, by pair name (one query)."""
    return {s.pair: s for s in PairStatus.objects.filter(exchange=exchange)}


def pair_candles_failed(*, exchange: str, pair: str, reason: str, now: datetime) -> PairStatus:
    """Count one permanent candle failure of `pair`; the MAX_PERMANENT_FAILURES-th makes it inactive.

    `now` (aware UTC) becomes `since` when the pair turns inactive; `reason` is the error's line.
    """
    status, _ = PairStatus.objects.get_or_create(exchange=exchange, pair=pair)
    status.failures += 1
    status.reason = reason[:REASON_CHARS]
    if status.state == State.ACTIVE and status.failures >= MAX_PERMANENT_FAILURES:
        status.state, status.since = State.INACTIVE, now
        logger.warning(
            "pair %s is inactive after %d permanent candle failures; gap repair stops asking for it: %s",
            pair,
            status.failures,
            reason,
        )
    status.save()
    return status


def pair_candles_succeeded(*, exchange: str, pair: str) -> None:
    """A candle request of `pair` succeeded: forget its failures; an inactive pair is active again."""
    changed = PairStatus.objects.filter(exchange=exchange, pair=pair, state=State.INACTIVE).update(
        state=State.ACTIVE, failures=0, reason="candles answered again", since=None
    )
    changed += PairStatus.objects.filter(
        exchange=exchange, pair=pair, state=State.ACTIVE, failures__gt=0
    ).update(failures=0)
    if changed:
        logger.info("pair %s: candles answered again, failures reset", pair)


@dataclass
class ReconcileSummary:
    """What one reconciliation with the exchange's pair list changed."""

    exchange: str
    listed: int = 0
    tracked: int = 0
    delisted: list[str] = field(default_factory=list)
    relisted: list[str] = field(default_factory=list)

    def line(self) -> str:
        """One human-readable line, as printed by reconcile_pairs and logged by the task."""
        delisted = ", ".join(self.delisted) or "none"
        relisted = ", ".join(self.relisted) or "none"
        return (
            f"pair list {self.exchange}: {self.listed} listed, {self.tracked} tracked; "
            f"delisted now: {delisted}; listed again: {relisted}"
        )


class PairListError(ValueError):
    """The exchange's pair list cannot be right (empty, or sharing no pair with those tracked)."""


def pairs_reconcile(
    *,
    source: PairListSource,
    now: datetime,
    exchange: str = EXCHANGE_BITFINEX,
    repo: TickRepository | None = None,
) -> ReconcileSummary:
    """Follow the exchange's own pair list (one request to `source`): tracked pairs missing from
    it become delisted (since `now`, aware UTC), delisted ones that are listed again active.

    Tracked pairs are those with a stored price (the registry). Raises PairListError, changing
    nothing, for an empty list or one that lists none of the tracked pairs (a broken answer
    must not delist everything), SourceError and RepositoryError.
    """
    repo = repo or get_tick_repository()
    listed_set = set(source.fetch_pair_list())
    tracked = set(repo.latest_prices(exchange=exchange))
    summary = ReconcileSummary(exchange, listed=len(listed_set), tracked=len(tracked))
    if not listed_set:
        raise PairListError("the exchange's pair list is empty")
    if tracked and not tracked & listed_set:
        raise PairListError(
            f"the exchange's pair list ({len(listed_set)} pairs) has none of the tracked pairs"
        )
    statuses = pair_statuses(exchange=exchange)
    for pair in sorted(tracked - listed_set):
        status = statuses.get(pair) or PairStatus(exchange=exchange, pair=pair)
        if status.state != State.DELISTED:
            status.state, status.since = State.DELISTED, now
            status.reason = "not in the exchange's pair list"
            status.save()
            summary.delisted.append(pair)
    for pair, status in sorted(statuses.items()):
        if status.state == State.DELISTED and pair in listed_set:
            status.state, status.since, status.failures = State.ACTIVE, now, 0
            status.reason = "listed again"
            status.save()
            summary.relisted.append(pair)
    if summary.delisted or summary.relisted:
        logger.warning("%s", summary.line())
        repo.data_version_bump(exchange=exchange)  # cached pairs/ answers show the status
    else:
        logger.info("%s", summary.line())
    return summary


def exchange_markets_record(*, exchange: str, markets: Mapping[str, Market]) -> int:
    """Record each market id's normalised base/quote (ExchangeMarket), for market_of in every process.

    Only rows that are new or changed are written (one read, at most two bulk writes); ids no
    longer listed keep their row, so stored history still maps. Returns the rows written.
    """
    current = {
        pair: Market(base, quote)
        for pair, base, quote in ExchangeMarket.objects.filter(exchange=exchange).values_list(
            "pair", "base", "quote"
        )
    }
    new = [
        ExchangeMarket(exchange=exchange, pair=pair, base=m.base, quote=m.quote)
        for pair, m in markets.items()
        if pair not in current
    ]
    changed = [pair for pair, m in markets.items() if pair in current and current[pair] != m]
    ExchangeMarket.objects.bulk_create(new, batch_size=500, ignore_conflicts=True)
    for pair in changed:
        ExchangeMarket.objects.filter(exchange=exchange, pair=pair).update(
            base=markets[pair].base, quote=markets[pair].quote
        )
    if new or changed:
        markets_forget(exchange)
        logger.info("markets %s: %d new, %d changed", exchange, len(new), len(changed))
    return len(new) + len(changed)


def exchange_markets_sync(*, source: object) -> int:
    """Record the markets list `source` read last (its `markets`), once per list read; returns rows written.

    Sources without a markets list (Bitfinex: its names carry the split) record nothing.
    """
    version = getattr(source, "markets_version", 0)
    if not version or getattr(source, "markets_recorded_version", 0) == version:
        return 0
    written = exchange_markets_record(exchange=source.exchange, markets=source.markets)  # type: ignore[attr-defined]
    source.markets_recorded_version = version  # type: ignore[attr-defined]
    return written
