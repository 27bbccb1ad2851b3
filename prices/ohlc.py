"""OHLCV candles aggregated from minute ticks, or from hour rollups and hour candles (pure)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from prices.domain import MINUTE_MS, Tick, from_ms, hour_floor_ms
from prices.statistics import Segment

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
    if minutes < 1:
        raise ValueError("minutes must be ≥ 1")
    width = minutes * MINUTE_MS
    candles: list[Ohlc] = []
    bucket: list[Tick] = []
    bucket_start = None
    for tick in ticks:
        start = tick.minute_ms - tick.minute_ms % width
        if bucket and start != bucket_start:
            candles.append(_candle(bucket, bucket_start, minutes))
            bucket = []
        bucket_start = start
        bucket.append(tick)
    if bucket:
        candles.append(_candle(bucket, bucket_start, minutes))
    return candles


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


def candle_merge(pieces: Sequence[Ohlc], *, start_ms: int, minutes: int) -> Ohlc:
    """One candle of `minutes` starting at `start_ms` from time-ordered, non-empty pieces inside it.

    Equals the candle of all the pieces' ticks: open of the first, close of the last, extremes,
    summed volume (None when no piece has one) and count.
    """
    volumes = [p.volume for p in pieces if p.volume is not None]
    return Ohlc(
        start=from_ms(start_ms),
        minutes=minutes,
        open=pieces[0].open,
        high=max(p.high for p in pieces),
        low=min(p.low for p in pieces),
        close=pieces[-1].close,
        volume=sum(volumes, Decimal(0)) if volumes else None,
        count=sum(p.count for p in pieces),
    )


@dataclass(frozen=True, slots=True)
class HourCandle:
    """The OHLCV of one pair's stored ticks in the UTC hour `hour_ms`, as `ohlc_aggregate` gives it.

    Stored for hours holding ticks made from exchange candles (their open/high/low/volume are
    not in the hour rollups, which summarise last prices only). `first_ms`/`last_ms` are the
    minutes (ms since epoch) of the first and last tick it was computed from.
    """

    hour_ms: int
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    volume: Decimal | None
    count: int
    first_ms: int
    last_ms: int


def has_candle_fields(tick: Tick) -> bool:
    """True when the tick carries any of a candle's open/high/low/volume."""
    return tick.open is not None or tick.high is not None or tick.low is not None or tick.volume is not None


def hour_candles_of(ticks: Iterable[Tick]) -> list[HourCandle]:
    """An HourCandle per UTC hour of one pair's ticks, for hours holding a tick with candle fields."""
    by_hour: dict[int, list[Tick]] = {}
    for tick in sorted(ticks, key=lambda t: t.minute_ms):
        by_hour.setdefault(hour_floor_ms(tick.minute_ms), []).append(tick)
    candles = []
    for hour_ms, hour_ticks in sorted(by_hour.items()):
        if not any(has_candle_fields(t) for t in hour_ticks):
            continue
        candle = _candle(hour_ticks, hour_ms, 60)
        candles.append(
            HourCandle(
                hour_ms=hour_ms,
                open=candle.open,
                high=candle.high,
                low=candle.low,
                close=candle.close,
                volume=candle.volume,
                count=candle.count,
                first_ms=hour_ticks[0].minute_ms,
                last_ms=hour_ticks[-1].minute_ms,
            )
        )
    return candles


def hour_candle(hour_ms: int, segment: Segment | None, stored: HourCandle | None) -> Ohlc | None:
    """The 1-hour candle of a pair's hour from its rollup segment and its stored HourCandle, if any.

    Without a stored candle the hour's ticks carry last prices only, so the rollup's first,
    max, min, last and count are the candle (volume None). A stored candle covers every tick
    with candle fields; ticks stored after it (polls, which have no candle fields) are in the
    segment: open/close come from whichever saw the earlier/later minute, extremes from both
    (exact as long as a candle's high/low bound its close, as the exchange's do). None when
    the hour has no data.
    """
    if segment is None and stored is None:
        return None
    start = from_ms(hour_ms)
    if stored is None:
        return Ohlc(
            start, 60, segment.first, segment.maximum, segment.minimum, segment.last, None, segment.count
        )
    if segment is None or (
        stored.count >= segment.count
        and stored.first_ms <= segment.first_ms
        and stored.last_ms >= segment.last_ms
    ):
        return Ohlc(
            start, 60, stored.open, stored.high, stored.low, stored.close, stored.volume, stored.count
        )
    return Ohlc(
        start=start,
        minutes=60,
        open=stored.open if stored.first_ms <= segment.first_ms else segment.first,
        high=max(stored.high, segment.maximum),
        low=min(stored.low, segment.minimum),
        close=segment.last if segment.last_ms >= stored.last_ms else stored.close,
        volume=stored.volume,
        count=max(segment.count, stored.count),
    )
