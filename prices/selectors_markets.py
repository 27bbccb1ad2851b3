"""Cross-exchange reads: each configured exchange's freshness, and one market's prices on every exchange.

Everything here reads the exchanges' pair registries (one item set per exchange, whatever the
pair count), never a pair's ticks, and writes nothing. A market is a normalised base/quote
(`prices.exchanges.Market`, "BTC-USD"); each exchange's pairs are mapped to it with
`prices.exchanges.market_of`, so Binance `BTCUSDT`, Kraken `XBTUSD` and Coinbase `BTC-USD`
meet under BTC-USDT and BTC-USD as their names say (USDT is not USD).
"""

from __future__ import annotations

import statistics
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from decimal import Decimal

from prices import exchanges
from prices.cache import cached
from prices.domain import MINUTE, from_ms
from prices.repository import TickRepository, get_tick_repository
from prices.selectors import DELISTED_AFTER

# market name → [(pair, last price, minute ms)] of one exchange: what `market_index` returns.
MarketIndex = dict[str, list[tuple[str, Decimal, int]]]


def exchange_minutes(*, exchange: str, repo: TickRepository | None = None) -> Counter[int]:
    """How many tracked pairs of the exchange are newest at each minute (ms); one registry read."""
    repo = repo or get_tick_repository()
    return Counter(entry.minute_ms for entry in repo.latest_prices(exchange=exchange).values())


@dataclass(frozen=True, slots=True)
class ExchangeSummary:
    """A configured exchange: its tracked pair count and how current its newest stored price is.

    `newest_minute` is the start of the newest stored minute (aware UTC, None without data);
    `newest_age_s` its age at `now` as readiness counts it: now − (minute + 1 min). `stale_pairs`
    are pairs older than `stale_after` that are not `delisted_pairs` (DELISTED_AFTER or more
    behind the exchange's newest minute).
    """

    name: str
    label: str
    pairs: int
    newest_minute: datetime | None
    newest_age_s: float | None
    stale_pairs: int
    delisted_pairs: int


def exchange_summary(
    *, config: exchanges.ExchangeConfig, minutes: Counter[int], now: datetime, stale_after: timedelta
) -> ExchangeSummary:
    """The ExchangeSummary of an exchange from its `exchange_minutes` at `now` (no I/O)."""
    if not minutes:
        return ExchangeSummary(config.name, config.label, 0, None, None, 0, 0)
    newest = from_ms(max(minutes))
    delisted = stale = 0
    for minute_ms, count in minutes.items():
        minute = from_ms(minute_ms)
        if newest - minute >= DELISTED_AFTER:
            delisted += count
        elif now - minute - MINUTE > stale_after:
            stale += count
    return ExchangeSummary(
        name=config.name,
        label=config.label,
        pairs=sum(minutes.values()),
        newest_minute=newest,
        newest_age_s=(now - newest - MINUTE).total_seconds(),
        stale_pairs=stale,
        delisted_pairs=delisted,
    )


def market_indexes(*, repo: TickRepository | None = None) -> dict[str, MarketIndex]:
    """Every configured exchange's `market_index`, in configuration order, each cached until that
    exchange's next store of prices (prices.cache): one data-version read per exchange on a hit."""
    return {
        config.name: cached(
            "market_index",
            lambda n=config.name: market_index(exchange=n, repo=repo),
            exchange=config.name,
            repo=repo,
        )[0]
        for config in exchanges.configured_exchanges()
    }


def market_index(*, exchange: str, repo: TickRepository | None = None) -> MarketIndex:
    """The exchange's tracked pairs by normalised market name, with their newest price: one registry read.

    Pairs whose market `market_of` cannot tell are left out; pairs of one market are in name order.
    """
    repo = repo or get_tick_repository()
    index: MarketIndex = {}
    registry = repo.latest_prices(exchange=exchange)
    for pair in sorted(registry):
        market = exchanges.market_of(exchange, pair)
        if market is not None:
            entry = registry[pair]
            index.setdefault(market.name, []).append((pair, entry.price, entry.minute_ms))
    return index


# A quote this far behind the market's newest one is stale: its exchange stopped answering, or
# stopped quoting the pair. It is shown, flagged, but left out of the spread and the median.
QUOTE_STALE_AFTER = timedelta(minutes=5)


@dataclass(frozen=True, slots=True)
class MarketQuote:
    """One exchange's newest price of a market: its own pair name, the price and its minute (UTC);
    `stale` when it is more than QUOTE_STALE_AFTER behind the market's newest quote."""

    exchange: str
    pair: str
    price: Decimal
    minute: datetime
    stale: bool = False


@dataclass(frozen=True, slots=True)
class MarketPrices:
    """A market's newest price on every exchange listing it, in configuration order.

    `spread` = max − min price (exact); `median` of the prices (exact; the mean of the middle
    two for an even count); `spread_pct` = spread / median × 100 (None when the median is 0):
    all over the quotes that are not stale (`current`).
    """

    market: str
    base: str
    quote: str
    quotes: list[MarketQuote]

    @property
    def current(self) -> list[MarketQuote]:
        """The quotes that are not stale (never empty: the newest quote is current)."""
        return [q for q in self.quotes if not q.stale]

    @property
    def prices(self) -> list[Decimal]:
        return [q.price for q in self.current]

    @property
    def spread(self) -> Decimal:
        return max(self.prices) - min(self.prices)

    @property
    def median(self) -> Decimal:
        return statistics.median(self.prices)

    @property
    def spread_pct(self) -> Decimal | None:
        median = self.median
        return None if median == 0 else self.spread / median * 100

    @property
    def exchanges(self) -> list[str]:
        return list(dict.fromkeys(q.exchange for q in self.quotes))


def market_prices(*, market: str, indexes: Mapping[str, MarketIndex]) -> MarketPrices | None:
    """`market` ("BTC-USD") on every exchange of `indexes` (exchange → `market_index`, in order).

    None when no exchange of `indexes` lists it.
    """
    quotes = [
        MarketQuote(exchange, pair, price, from_ms(minute_ms))
        for exchange, index in indexes.items()
        for pair, price, minute_ms in index.get(market, ())
    ]
    if not quotes:
        return None
    newest = max(q.minute for q in quotes)
    quotes = [replace(q, stale=newest - q.minute > QUOTE_STALE_AFTER) for q in quotes]
    base, quote = market.split("-", 1)
    return MarketPrices(market, base, quote, quotes)


def markets_shared(*, indexes: Mapping[str, MarketIndex], minimum: int = 2) -> list[MarketPrices]:
    """The markets listed on at least `minimum` exchanges of `indexes`, by market name (no I/O)."""
    names: Counter[str] = Counter(name for index in indexes.values() for name in index)
    shared = sorted(name for name, count in names.items() if count >= minimum)
    return [m for m in (market_prices(market=name, indexes=indexes) for name in shared) if m is not None]
