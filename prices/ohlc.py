"""OHLCV candles aggregated from minute ticks (pure)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from prices.domain import MINUTE_MS, Tick, from_ms

INTERVALS: dict[str, int] = {"1m": 1, "5m": 5, "15m": 15, "1h": 60, "1d": 1440}


@dataclass(frozen=True, slots=True)
class Ohlc:
    """One candle of `minutes` minutes starting at `start` (aware UTC), prices in quote currency.

    open = the first tick's open (its last price when it has no candle open), close = the last
    tick's last price, high/low = extremes of the ticks' highs/lows (or last prices), volume =
    the sum of per-minute candle volumes in base currency (None when no tick carries one),
    count = the number of minute ticks in the bucket.
    """

    start: datetime
    minutes: int
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    volume: Decimal | None
    count: int


def ohlc_aggregate(ticks: Iterable[Tick], *, minutes: int) -> list[Ohlc]:
    """Bucket time-ordered ticks into candles aligned on multiples of `minutes` since the epoch.

    Buckets without ticks produce no candle (gaps stay gaps). Raises ValueError if minutes < 1.
    """
    return list(ohlc_iter(ticks, minutes=minutes))


def ohlc_iter(ticks: Iterable[Tick], *, minutes: int) -> Iterator[Ohlc]:
    """`ohlc_aggregate` lazily: each candle is yielded as soon as the next bucket's first tick is read."""
    if minutes < 1:
        raise ValueError("minutes must be ≥ 1")
    width = minutes * MINUTE_MS
    bucket: list[Tick] = []
    bucket_start = None
    for tick in ticks:
        start = tick.minute_ms - tick.minute_ms % width
        if bucket and start != bucket_start:
            yield _candle(bucket, bucket_start, minutes)
            bucket = []
        bucket_start = start
        bucket.append(tick)
    if bucket:
        yield _candle(bucket, bucket_start, minutes)


def _candle(ticks: list[Tick], start_ms: int, minutes: int) -> Ohlc:
    volumes = [t.volume for t in ticks if t.volume is not None]
    return Ohlc(
        start=from_ms(start_ms),
        minutes=minutes,
        open=ticks[0].open if ticks[0].open is not None else ticks[0].last_price,
        high=max(t.high if t.high is not None else t.last_price for t in ticks),
        low=min(t.low if t.low is not None else t.last_price for t in ticks),
        close=ticks[-1].last_price,
        volume=sum(volumes, Decimal(0)) if volumes else None,
        count=len(ticks),
    )
