"""Price reads for the API, dashboards and alerts: tracked pairs, latest ticks, history."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from prices.domain import EXCHANGE_BITFINEX, Pair, Tick, from_ms
from prices.repository import TickRepository, get_tick_repository


class PairNotFoundError(LookupError):
    """No tick has ever been stored for this exchange and pair."""


@dataclass(frozen=True, slots=True)
class PairSummary:
    """A tracked pair with its newest last price (quote currency) and that price's minute (UTC)."""

    exchange: str
    pair: Pair
    last_price: Decimal
    last_minute: datetime


def pairs_list(*, exchange: str = EXCHANGE_BITFINEX, repo: TickRepository | None = None) -> list[PairSummary]:
    """Every tracked pair of the exchange, sorted by pair name (one registry read)."""
    repo = repo or get_tick_repository()
    registry = repo.latest_prices(exchange=exchange)
    summaries = []
    for name in sorted(registry):
        entry = registry[name]
        summaries.append(PairSummary(exchange, Pair.parse(name), entry.price, from_ms(entry.minute_ms)))
    return summaries


def pair_get(*, pair: str, exchange: str = EXCHANGE_BITFINEX, repo: TickRepository | None = None) -> PairSummary:
    """One tracked pair; raises PairNotFoundError (also for a malformed pair name)."""
    for summary in pairs_list(exchange=exchange, repo=repo):
        if summary.pair.name == pair:
            return summary
    raise PairNotFoundError(f"pair {pair!r} is not tracked on {exchange}")


def tick_latest(*, pair: str, exchange: str = EXCHANGE_BITFINEX, repo: TickRepository | None = None) -> Tick:
    """The pair's newest tick with every stored field; raises PairNotFoundError."""
    repo = repo or get_tick_repository()
    tick = repo.latest(exchange=exchange, pair=pair)
    if tick is None:
        raise PairNotFoundError(f"pair {pair!r} is not tracked on {exchange}")
    return tick


def ticks_between(
    *,
    pair: str,
    start: datetime,
    end: datetime,
    exchange: str = EXCHANGE_BITFINEX,
    limit: int | None = None,
    repo: TickRepository | None = None,
) -> list[Tick]:
    """The pair's ticks with start ≤ minute < end (aware UTC), oldest first, at most `limit`."""
    repo = repo or get_tick_repository()
    ticks = []
    for tick in repo.between(exchange=exchange, pair=pair, start=start, end=end):
        ticks.append(tick)
        if limit is not None and len(ticks) >= limit:
            break
    return ticks
