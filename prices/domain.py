"""Price domain: pairs, ticks and the minute a tick describes (pure, no I/O)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from enum import StrEnum
from functools import lru_cache
from typing import NamedTuple

EXCHANGE_BITFINEX = "bitfinex"
MINUTE = timedelta(minutes=1)
MINUTE_MS = 60_000
HOUR_MS = 3_600_000
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

# Bitfinex pairs: BTCUSD, or BASE:QUOTE when either code is longer than 3 characters
# (AAVE:USD, TESTBTC:TESTUSD, BTCF0:USTF0). See shared/data README §5 and §7.
_PAIR_RE = re.compile(r"^(?:[A-Z0-9]{6}|[A-Z0-9]{2,12}:[A-Z0-9]{2,12})$")


class InvalidPairError(ValueError):
    """A pair name that is not in Bitfinex's format (BTCUSD or AAVE:USD)."""


class TickSource(StrEnum):
    """Where a tick came from: a polled ticker, an exchange candle, or an imported snapshot."""

    TICKER = "ticker"
    CANDLE = "candle"
    SNAPSHOT = "snapshot"


@dataclass(frozen=True, slots=True)
class Pair:
    """A trading pair in Bitfinex notation: `name` 'BTCUSD' or 'AAVE:USD', split into base/quote."""

    name: str
    base: str
    quote: str

    @classmethod
    def parse(cls, name: str) -> Pair:
        """Parse 'BTCUSD' / 'AAVE:USD' (not the `t`-prefixed symbol); raises InvalidPairError."""
        if not isinstance(name, str):
            raise InvalidPairError(_invalid_pair(name))
        return _pair_parse(name)

    @classmethod
    def from_symbol(cls, symbol: str) -> Pair:
        """Parse a Bitfinex trading symbol such as 'tBTCUSD' or 'tAAVE:USD'."""
        if not symbol.startswith("t"):
            raise InvalidPairError(f"not a trading symbol: {symbol!r}")
        return cls.parse(symbol[1:])

    @property
    def symbol(self) -> str:
        """The Bitfinex trading symbol: 't' + pair."""
        return "t" + self.name


def _invalid_pair(name: object) -> str:
    return (
        f"invalid pair {name!r}: expected 6 upper-case characters such as BTCUSD, "
        "or BASE:QUOTE such as AAVE:USD"
    )


def _pair_parts(name: str) -> tuple[str, str, str]:
    if not _PAIR_RE.match(name):
        raise InvalidPairError(_invalid_pair(name))
    if ":" in name:
        base, quote = name.split(":")
    else:
        base, quote = name[:3], name[3:]
    return name, base, quote


# Pairs are immutable and few (thousands): a rank or pairs/ of 10,000 pairs parses each name once.
@lru_cache(maxsize=32_768)
def _pair_parse(name: str) -> Pair:
    return Pair(*_pair_parts(name))


class TickRow(NamedTuple):
    """A tick's history columns (the API's minute rows): `minute_ms` and exact decimal text.

    Prices are plain-notation strings as `decimal_str` gives them ('0.00007181'), None where
    not stored; `source` is a TickSource value. Built straight from stored items, so a page of
    1,440 rows needs no Tick (nor Decimal) per row.
    """

    minute_ms: int
    last_price: str
    source: str
    bid: str | None
    ask: str | None
    volume: str | None
    volume_24h: str | None
    suspect: bool = False

    @classmethod
    def of(cls, tick: Tick) -> TickRow:
        """The row of a Tick."""
        return cls(
            tick.minute_ms,
            decimal_str(tick.last_price),
            str(tick.source),
            decimal_str(tick.bid),
            decimal_str(tick.ask),
            decimal_str(tick.volume),
            decimal_str(tick.volume_24h),
            tick.suspect,
        )


@dataclass(frozen=True, slots=True)
class Tick:
    """The last price of one pair at the end of one minute.

    `minute` is the aware UTC start of the minute described; the tick holds the price at
    the end of that minute (minute + 60 s), which is the close of the exchange's 1-minute
    candle whose MTS equals `minute` (see docs/data-model.md, "Which minute a tick describes").
    Prices are Decimal in quote-currency units. Ticker fields (`bid` … `low_24h`) are set for
    polled ticks; candle fields (`open`, `high`, `low`, `volume`: the minute's OHLCV, volume in
    base currency) for ticks made from candles. `suspect`: the cross-exchange guard found the
    price far from the other exchanges' (prices/guard.py); it is stored all the same.
    """

    exchange: str
    pair: str
    minute: datetime
    last_price: Decimal
    source: TickSource = TickSource.TICKER
    bid: Decimal | None = None
    bid_size: Decimal | None = None
    ask: Decimal | None = None
    ask_size: Decimal | None = None
    daily_change: Decimal | None = None
    daily_change_relative: Decimal | None = None
    volume_24h: Decimal | None = None
    high_24h: Decimal | None = None
    low_24h: Decimal | None = None
    open: Decimal | None = None
    high: Decimal | None = None
    low: Decimal | None = None
    volume: Decimal | None = None
    observed_at: datetime | None = field(default=None, compare=False)
    suspect: bool = False

    def __post_init__(self) -> None:
        if self.minute.tzinfo is None or self.minute.utcoffset() != timedelta(0):
            raise ValueError(f"Tick.minute must be aware UTC, got {self.minute!r}")
        if self.minute.second or self.minute.microsecond:
            raise ValueError(f"Tick.minute must be the start of a minute, got {self.minute!r}")
        if not isinstance(self.last_price, Decimal):
            raise TypeError("Tick.last_price must be a Decimal")

    @property
    def minute_ms(self) -> int:
        """The described minute in ms since the epoch (UTC)."""
        return _minute_ms(self.minute)

    def with_minute(self, minute: datetime) -> Tick:
        """A copy of this tick labelled with another minute."""
        return replace(self, minute=minute)


# --- time helpers ----------------------------------------------------------------------


def to_ms(dt: datetime) -> int:
    """An aware datetime as integer ms since the epoch (UTC); raises ValueError if naive."""
    if dt.tzinfo is None:
        raise ValueError(f"naive datetime {dt!r}; use an aware UTC datetime")
    return (dt - _EPOCH) // timedelta(milliseconds=1)


# A poll's thousands of ticks share one minute, asked for several times per tick on the way
# to storage: a cache hit is ~5× cheaper than the timedelta arithmetic.
@lru_cache(maxsize=4096)
def _minute_ms(minute: datetime) -> int:
    return to_ms(minute)


def from_ms(ms: int) -> datetime:
    """ms since the epoch as an aware UTC datetime (exact; OverflowError outside years 1–9999)."""
    ms = int(ms)
    seconds, millis = divmod(ms, 1000)
    try:
        # Twice as fast as adding a timedelta, and exact: the seconds are an int.
        moment = datetime.fromtimestamp(seconds, UTC)
    except (OverflowError, OSError, ValueError):
        return _EPOCH + timedelta(milliseconds=ms)
    return moment.replace(microsecond=millis * 1000) if millis else moment


def minute_floor(dt: datetime) -> datetime:
    """The start of the UTC minute containing `dt` (aware UTC)."""
    return dt.astimezone(UTC).replace(second=0, microsecond=0)


def minute_ceil(dt: datetime) -> datetime:
    """The smallest minute start ≥ `dt` (aware UTC)."""
    floor = minute_floor(dt)
    return floor if floor == dt else floor + MINUTE


def minute_of_observation(observed_at: datetime) -> datetime:
    """The minute a last price observed at `observed_at` describes: floor(t) − 1 min.

    A tick for minute M is the price at the end of M (M + 60 s), i.e. the close of the
    candle with MTS = M. A poll made during minute M + 1 reports that close (plus any trades
    in the seconds of M + 1 before the poll), so a poll at 12:01:02, or a late one at
    12:01:40, describes 12:00. Flooring (not rounding) keeps a scheduler that fires up to
    30 s late, or a poller that drifts by a second a minute, on consecutive minutes.
    """
    return minute_floor(observed_at) - MINUTE


def hour_floor_ms(ms: int) -> int:
    """The start of the UTC hour containing `ms` (ms since epoch)."""
    return ms - ms % HOUR_MS


def decimal_str(value: Decimal | None) -> str | None:
    """A Decimal as a plain string without exponent ('7.181e-05' → '0.00007181')."""
    if value is None:
        return None
    text = str(value)  # without an exponent, the same text as format(value, "f"), 4× faster
    if "E" in text or (text[-1] == "0" and "." in text):
        text = format(value, "f")
        if "." in text:
            text = text.rstrip("0").rstrip(".")
    return text or "0"
