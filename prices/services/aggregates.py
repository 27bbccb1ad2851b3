"""Aggregate maintenance: minute snapshots, hour rollups and 23-hour blocks, refreshed and rebuilt."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from decimal import Decimal

from prices.domain import HOUR_MS, Tick, from_ms, hour_floor_ms, to_ms
from prices.repository import LatestPrice, TickRepository, get_tick_repository
from prices.rollups import MinuteSnapshot, blocks_containing, rollup_from_snapshots

Progress = Callable[[int], None]


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


def rollups_rebuild(
    *,
    exchange: str,
    start: datetime,
    end: datetime,
    pairs: Sequence[str] | None = None,
    repo: TickRepository | None = None,
    progress: Progress | None = None,
) -> int:
    """Recompute the hour rollups of [start, end) from the stored ticks, one UTC day at a time.

    Minute snapshots missing a stored tick's price get it back first. `pairs` defaults to
    every tracked pair. `progress(1)` is called per (day, pair). Returns rollups written.
    Raises RepositoryError.
    """
    repo = repo or get_tick_repository()
    pairs = list(pairs) if pairs is not None else sorted(repo.latest_prices(exchange=exchange))
    written = 0
    day_ms = 24 * HOUR_MS
    cursor = hour_floor_ms(to_ms(start))
    end_ms = to_ms(end)
    while cursor < end_ms:
        day_end = min(cursor - cursor % day_ms + day_ms, end_ms)
        ticks: list[Tick] = []
        for pair in pairs:
            ticks.extend(
                repo.between(exchange=exchange, pair=pair, start=from_ms(cursor), end=from_ms(day_end))
            )
            if progress:
                progress(1)
        snapshots = snapshots_merge(repo, ticks) if ticks else []
        hours = sorted({hour_floor_ms(s.minute_ms) for s in snapshots})
        for hour_ms in hours:
            rollup = rollup_from_snapshots(exchange=exchange, hour_ms=hour_ms, snapshots=snapshots)
            written += int(repo.put_rollup(rollup))
        if hours:
            repo.delete_blocks(exchange=exchange, ends_ms=blocks_containing(hours))
        cursor = day_end
    return written


def snapshots_merge(repo: TickRepository, ticks: Iterable[Tick]) -> list[MinuteSnapshot]:
    by_minute: dict[tuple[str, int], dict[str, Decimal]] = defaultdict(dict)
    sources: dict[tuple[str, int], str] = {}
    for tick in ticks:
        by_minute[(tick.exchange, tick.minute_ms)][tick.pair] = tick.last_price
        sources[(tick.exchange, tick.minute_ms)] = tick.source
    snapshots = [MinuteSnapshot(ex, ms, prices, sources[(ex, ms)]) for (ex, ms), prices in by_minute.items()]
    # One UpdateItem per minute; a few threads hide the round trips (boto3 clients are thread-safe).
    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(repo.merge_snapshot, snapshots))
    return snapshots


def newest_prices(ticks: Iterable[Tick]) -> dict[str, LatestPrice]:
    newest: dict[str, LatestPrice] = {}
    for tick in ticks:
        current = newest.get(tick.pair)
        if current is None or current.minute_ms < tick.minute_ms:
            newest[tick.pair] = LatestPrice(tick.minute_ms, tick.last_price)
    return newest
