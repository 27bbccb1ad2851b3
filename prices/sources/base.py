"""Exchange source contract: TickerSource, CandleSource, their results and SourceError."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from dataclasses import fields as dataclass_fields
from datetime import datetime
from decimal import Decimal
from typing import Protocol

from prices.domain import Tick, TickSource


class SourceError(Exception):
    """A failed request to an exchange: network, HTTP status, error body or unparseable payload.

    `permanent` is True when retrying the same request cannot help (4xx other than 429,
    a malformed payload); `rate_limited` when the exchange asked us to slow down.
    """

    def __init__(self, message: str, *, permanent: bool = False, rate_limited: bool = False) -> None:
        super().__init__(message)
        self.message = message
        self.permanent = permanent
        self.rate_limited = rate_limited


@dataclass(frozen=True, slots=True)
class TickerRow:
    """One trading pair's ticker as parsed from the exchange (prices in quote currency).

    Field order of Bitfinex `GET /v2/tickers` trading rows (docs.bitfinex.com/reference/
    rest-public-tickers): SYMBOL, BID, BID_SIZE, ASK, ASK_SIZE, DAILY_CHANGE,
    DAILY_CHANGE_RELATIVE, LAST_PRICE, VOLUME, HIGH, LOW.
    """

    pair: str
    last_price: Decimal
    bid: Decimal | None = None
    bid_size: Decimal | None = None
    ask: Decimal | None = None
    ask_size: Decimal | None = None
    daily_change: Decimal | None = None
    daily_change_relative: Decimal | None = None
    volume_24h: Decimal | None = None
    high_24h: Decimal | None = None
    low_24h: Decimal | None = None

    def to_tick(self, *, exchange: str, minute: datetime, observed_at: datetime) -> Tick:
        """The tick of `minute` made from this row (every ticker field kept, source TICKER)."""
        fields = {f.name: getattr(self, f.name) for f in dataclass_fields(self)}
        return Tick(
            exchange=exchange, minute=minute, source=TickSource.TICKER, observed_at=observed_at, **fields
        )


@dataclass(frozen=True, slots=True)
class TickerBatch:
    """The trading rows of one tickers response plus rows skipped, counted by reason.

    Skip reasons: "funding" (f… rows), "zero_price" (last price 0 or null),
    "invalid_symbol" (a t… symbol that is not a valid pair), "not_tracked" (outside PRICES_PAIRS).
    """

    rows: Sequence[TickerRow]
    skipped: Counter[str] = field(default_factory=Counter)


@dataclass(frozen=True, slots=True)
class Candle:
    """One 1-minute candle: `minute` = MTS (aware UTC start of the minute), OHLCV in Decimal.

    Bitfinex order is [MTS, OPEN, CLOSE, HIGH, LOW, VOLUME] (docs.bitfinex.com/reference/
    rest-public-candles); volume is in base-currency units.
    """

    minute: datetime
    open: Decimal
    close: Decimal
    high: Decimal
    low: Decimal
    volume: Decimal


class TickerSource(Protocol):
    """Fetches the current tickers of all trading pairs of one exchange in one request."""

    exchange: str

    def fetch_tickers(self) -> TickerBatch:
        """One request for all tickers; raises SourceError on any failure (never partial data)."""
        ...


class CandleSource(Protocol):
    """Fetches 1-minute candles of one pair."""

    exchange: str

    def fetch_candles(self, *, pair: str, start: datetime, end: datetime) -> list[Candle]:
        """Candles with start ≤ MTS < end, oldest first (minutes without trades are absent).

        Pages through long ranges within the exchange's rate limits; raises SourceError.
        """
        ...


class PairListSource(Protocol):
    """Fetches the exchange's own list of trading pairs."""

    exchange: str

    def fetch_pair_list(self) -> list[str]:
        """One request; the names of every listed trading pair ("BTCUSD", "AAVE:USD"). Raises SourceError."""
        ...
