"""Aggregate maintenance: minute snapshots, hour rollups and 23-hour blocks, refreshed and rebuilt."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

from prices.domain import HOUR_MS, Tick, from_ms, hour_floor_ms
from prices.ohlc import has_candle_fields, hour_candles_of
from prices.repository import TickRepository, get_tick_repository
from prices.rollups import blocks_containing, rollup_from_snapshots


def rollups_refresh(
    *,
    exchange: str,
    hours_ms: Iterable[int],
    repo: TickRepository | None = None,
    invalidate_blocks: bool = True,
) -> int:
    """Recompute the hour rollups of `hours_ms` (hour starts, ms UTC) from minute snapshots.

    Idempotent; returns the number of rollups written (a stored rollup built from more
    values is kept). Stored 23-hour blocks containing a refreshed hour are deleted, except
    when `invalidate_blocks` is False: the minute poll passes False, since it only ever adds
    the newest minute, whose hour no stored block contains (blocks are stored only once all
    their hours are complete). Raises RepositoryError.
    """
    repo = repo or get_tick_repository()
    written = 0
    hours = sorted(set(hours_ms))
    for hour_ms in hours:
        snapshots = repo.snapshots_between(exchange=exchange, start_ms=hour_ms, end_ms=hour_ms + HOUR_MS)
        rollup = rollup_from_snapshots(exchange=exchange, hour_ms=hour_ms, snapshots=snapshots)
        if rollup.segments and repo.put_rollup(rollup):
            written += 1
    if invalidate_blocks and hours:
        repo.delete_blocks(exchange=exchange, ends_ms=blocks_containing(hours))
    return written


def hour_candles_refresh(*, exchange: str, ticks: Iterable[Tick], repo: TickRepository | None = None) -> int:
    """Recompute the hour candles of the (pair, hour)s where `ticks` include exchange candles.

    Hour rollups summarise last prices only; an hour holding ticks made from candles also
    needs their open/high/low/volume for 1h/1d candles (see prices.ohlc.HourCandle). Each
    candle is computed from every stored tick of its pair and hour (one Query per pair over
    the hours touched), so it is exact whatever was stored before. Ticks without candle
    fields (polls) need none: nothing is read or written for them. Idempotent; returns the
    number of hour candles written. Raises RepositoryError.
    """
    repo = repo or get_tick_repository()
    hours: dict[str, set[int]] = defaultdict(set)
    for tick in ticks:
        if tick.exchange == exchange and has_candle_fields(tick):
            hours[tick.pair].add(hour_floor_ms(tick.minute_ms))
    written = 0
    for pair, pair_hours in sorted(hours.items()):
        stored = repo.between(
            exchange=exchange,
            pair=pair,
            start=from_ms(min(pair_hours)),
            end=from_ms(max(pair_hours) + HOUR_MS),
        )
        candles = [c for c in hour_candles_of(stored) if c.hour_ms in pair_hours]
        if candles:
            repo.put_hour_candles(exchange=exchange, pair=pair, candles=candles)
            written += len(candles)
    return written
