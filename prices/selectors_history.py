"""History reads: pages of minute ticks or OHLCV candles, each reading about what it returns.

A page of N ticks reads at most N + 1 ticks (the extra one is the next page's cursor); a page
of N 5m/15m candles reads at most 5N/15N + 1 ticks. 1h and 1d candles are built from the hour
rollups (first, max, min, last and count of the pair's last prices per UTC hour) plus the
pair's stored hour candles (open/high/low/volume of hours holding exchange candles), with the
partial hours at either end of the range read as ticks: 30 days at 1h reads ~720 rollup
items, ~31 hour-candle items and ≤ 118 ticks instead of 43,200 ticks. A range that starts
before the pair's first tick starts at that tick (one Query with Limit 1; 1h/1d candles also
end at its newest), and a page never comes back empty with a `next` cursor.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime

from prices.domain import EXCHANGE_BITFINEX, HOUR_MS, MINUTE_MS, Tick, TickRow, from_ms, hour_floor_ms, to_ms
from prices.ohlc import Ohlc, candle_merge, hour_candle, ohlc_aggregate
from prices.repository import TickRepository, get_tick_repository

# Candles whose width (minutes) is a whole number of hours come from hour rollups; others from ticks.
HOUR_MINUTES = 60


@dataclass(frozen=True, slots=True)
class HistoryPage:
    """One page of history: `rows` (Tick or TickRow for 1-minute history, Ohlc for candles), oldest first.

    `next_start` is where the next page starts (aware UTC; always a minute with data at or
    after it), None on the last page.
    """

    rows: list[Tick] | list[TickRow] | list[Ohlc]
    next_start: datetime | None


class HistoryCursorError(ValueError):
    """A history cursor that is malformed or outside the requested range."""


def history_cursor(next_start: datetime) -> str:
    """The opaque cursor of a page starting at `next_start` (today: its minute in ms since epoch)."""
    return str(to_ms(next_start))


def history_cursor_start(raw: str | None, *, start: datetime, end: datetime) -> datetime:
    """Where a page starts: `start` without a cursor, else the cursor's time within [start, end].

    Raises HistoryCursorError for a malformed cursor or one outside the range.
    """
    if not raw:
        return start
    try:
        value = from_ms(int(raw))
    except (ValueError, OverflowError):
        raise HistoryCursorError("invalid cursor; use the `next` link of a previous page") from None
    if not start <= value <= end:
        raise HistoryCursorError("cursor outside [start, end)")
    return value


def history_page(
    *,
    pair: str,
    start: datetime,
    end: datetime,
    minutes: int = 1,
    page_size: int,
    exchange: str = EXCHANGE_BITFINEX,
    repo: TickRepository | None = None,
    tick_rows: bool = False,
) -> HistoryPage:
    """Up to `page_size` rows of the pair's history in [start, end) (aware UTC), oldest first.

    `minutes` = 1 gives the ticks; more gives OHLCV candles aligned on multiples of that
    width since the epoch (a candle holds only the ticks in [start, end)), from hour rollups
    when the width is a whole number of hours. `tick_rows`: 1-minute rows as TickRows (the
    API's columns as exact text, no Tick built per row). Pass the
    previous page's `next_start` as `start` to continue. Raises ValueError for page_size < 1
    or minutes < 1, RepositoryError when the store fails.
    """
    if page_size < 1:
        raise ValueError("page_size must be ≥ 1")
    if minutes < 1:
        raise ValueError("minutes must be ≥ 1")
    repo = repo or get_tick_repository()
    if start >= end:
        return HistoryPage(rows=[], next_start=None)
    if minutes == 1:
        read = repo.rows_between if tick_rows else repo.between
        ticks = list(read(exchange=exchange, pair=pair, start=start, end=end, limit=page_size + 1))
        if len(ticks) > page_size:
            return HistoryPage(rows=ticks[:page_size], next_start=from_ms(ticks[page_size].minute_ms))
        return HistoryPage(rows=ticks, next_start=None)
    if minutes % HOUR_MINUTES == 0:
        # Rollups are read per UTC month, so the range is first cut to the pair's own data
        # (two Queries with Limit 1): a range of centuries costs no more than its data.
        first = repo.first(exchange=exchange, pair=pair)
        last = repo.latest(exchange=exchange, pair=pair) if first is not None else None
        if first is None or last is None or first.minute >= end or last.minute < start:
            return HistoryPage(rows=[], next_start=None)
        pieces: Iterator[Ohlc] = _hour_pieces(
            repo,
            exchange,
            pair,
            start_ms=max(to_ms(start), first.minute_ms),
            end_ms=min(to_ms(end), last.minute_ms + MINUTE_MS),
            span_hours=(page_size + 1) * minutes // HOUR_MINUTES,
        )
    else:
        ticks_iter = repo.between(
            exchange=exchange, pair=pair, start=start, end=end, limit=page_size * minutes + 1
        )
        pieces = iter(ohlc_aggregate(ticks_iter, minutes=1))
    return _bucketed(pieces, minutes=minutes, page_size=page_size)


def history_rows(
    *,
    pair: str,
    start: datetime,
    end: datetime,
    minutes: int = 1,
    page_size: int = 1440,
    exchange: str = EXCHANGE_BITFINEX,
    repo: TickRepository | None = None,
    tick_rows: bool = False,
) -> Iterator[Tick | TickRow | Ohlc]:
    """Every row of [start, end), oldest first, read lazily `page_size` rows at a time.

    For exports that stream a whole range (memory stays bounded by one page). Same rows and
    errors as `history_page`, page after page.
    """
    repo = repo or get_tick_repository()
    cursor: datetime | None = start
    while cursor is not None:
        page = history_page(
            pair=pair,
            start=cursor,
            end=end,
            minutes=minutes,
            page_size=page_size,
            exchange=exchange,
            repo=repo,
            tick_rows=tick_rows,
        )
        yield from page.rows
        cursor = page.next_start


def _bucketed(pieces: Iterator[Ohlc], *, minutes: int, page_size: int) -> HistoryPage:
    """Merge time-ordered pieces into candles of `minutes`; stop at the first candle past the page."""
    width_ms = minutes * MINUTE_MS
    candles: list[Ohlc] = []
    bucket: list[Ohlc] = []
    bucket_ms = 0
    for piece in pieces:
        piece_ms = to_ms(piece.start)
        piece_bucket = piece_ms - piece_ms % width_ms
        if bucket and piece_bucket != bucket_ms:
            candles.append(candle_merge(bucket, start_ms=bucket_ms, minutes=minutes))
            bucket = []
            if len(candles) == page_size:
                # The next page starts at this piece: the first data of the next candle.
                return HistoryPage(rows=candles, next_start=piece.start)
        bucket_ms = piece_bucket
        bucket.append(piece)
    if bucket:
        candles.append(candle_merge(bucket, start_ms=bucket_ms, minutes=minutes))
    return HistoryPage(rows=candles, next_start=None)


def _hour_pieces(
    repo: TickRepository, exchange: str, pair: str, *, start_ms: int, end_ms: int, span_hours: int
) -> Iterator[Ohlc]:
    """1-hour candles (pieces) of [start_ms, end_ms), oldest first, read lazily.

    The partial hours at either end come from the ticks (≤ 59 each); whole hours from hour
    rollups and stored hour candles, `span_hours` at a time, so a consumer that stops early
    reads no further.
    """
    whole_start = min(-(-start_ms // HOUR_MS) * HOUR_MS, end_ms)
    whole_end = max(hour_floor_ms(end_ms), whole_start)
    if start_ms < whole_start:
        yield from _tick_hours(repo, exchange, pair, start_ms, whole_start)
    cursor = whole_start
    while cursor < whole_end:
        span_end = min(cursor + max(span_hours, 1) * HOUR_MS, whole_end)
        rollups = repo.rollups_between(exchange=exchange, start_ms=cursor, end_ms=span_end, pairs=[pair])
        segments = {r.hour_ms: r.segments[pair] for r in rollups if pair in r.segments}
        stored = {
            c.hour_ms: c
            for c in repo.hour_candles_between(exchange=exchange, pair=pair, start_ms=cursor, end_ms=span_end)
        }
        for hour_ms in sorted(segments.keys() | stored.keys()):
            piece = hour_candle(hour_ms, segments.get(hour_ms), stored.get(hour_ms))
            if piece is not None:
                yield piece
        cursor = span_end
    if whole_end < end_ms:
        yield from _tick_hours(repo, exchange, pair, whole_end, end_ms)


def _tick_hours(repo: TickRepository, exchange: str, pair: str, start_ms: int, end_ms: int) -> list[Ohlc]:
    ticks = repo.between(exchange=exchange, pair=pair, start=from_ms(start_ms), end=from_ms(end_ms))
    return ohlc_aggregate(ticks, minutes=60)
