"""Aggregate maintenance: minute snapshots, hour rollups and 23-hour blocks, refreshed and rebuilt."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from decimal import Decimal

from prices.concurrency import parallel_map
from prices.domain import HOUR_MS, MINUTE_MS, Tick, from_ms, hour_floor_ms
from prices.ohlc import has_candle_fields, hour_candles_of
from prices.repository import TickRepository, get_tick_repository
from prices.rollups import (
    BLOCK_HOURS,
    LIVE_WINDOWS,
    BlockRollup,
    HourRollup,
    LiveWindow,
    block_from_rollups,
    blocks_containing,
    hour_tails,
    rollup_from_snapshots,
)
from prices.statistics import Segment, WindowStats, point_segment


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
        repo.delete_tails(exchange=exchange, hours_ms=hours)
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


def rollup_folded(
    *, exchange: str, minute_ms: int, prices: Mapping[str, Decimal], repo: TickRepository
) -> HourRollup | None:
    """The hour's rollup with one minute folded in: read the stored one, add a point per pair.

    Reads only (the poll runs it while its ticks are being written). None when a pair's
    rollup already reaches `minute_ms` or beyond (a minute filled out of order): the hour
    must then be rebuilt from its snapshots, once the minute's snapshot is complete
    (`rollup_fold`). Raises RepositoryError.
    """
    hour_ms = hour_floor_ms(minute_ms)
    stored = repo.get_rollup(exchange=exchange, hour_ms=hour_ms)
    segments = dict(stored.segments) if stored is not None else {}
    for pair, price in prices.items():
        current = segments.get(pair)
        if current is None:
            segments[pair] = point_segment(minute_ms, price)
        elif current.last_ms < minute_ms:
            segments[pair] = current.extended(minute_ms, price)
        else:
            return None
    return HourRollup(exchange=exchange, hour_ms=hour_ms, segments=segments)


def rollup_fold(
    *,
    exchange: str,
    minute_ms: int,
    prices: Mapping[str, Decimal],
    repo: TickRepository,
    folded: HourRollup | None = None,
) -> HourRollup:
    """Fold one stored minute into its hour's rollup and write it (`rollup_folded`, then a put).

    Constant work per minute: the hour is not rebuilt from its minutes, unless a pair's
    rollup already reaches `minute_ms` or beyond (a minute filled out of order). `folded` is
    the result of `rollup_folded` when the caller computed it already. Returns the rollup as
    written. Raises RepositoryError.
    """
    rollup = folded
    if rollup is None:
        rollup = rollup_folded(exchange=exchange, minute_ms=minute_ms, prices=prices, repo=repo)
    if rollup is None:
        hour_ms = hour_floor_ms(minute_ms)
        snapshots = repo.snapshots_between(exchange=exchange, start_ms=hour_ms, end_ms=hour_ms + HOUR_MS)
        rollup = rollup_from_snapshots(exchange=exchange, hour_ms=hour_ms, snapshots=snapshots)
        repo.put_rollup(rollup)
        return rollup
    # The newest hour is the poll's: its fold replaces the shards without a condition (one
    # BatchWriteItem per 25 shards). A gap repair rebuild it overwrites meanwhile leaves the
    # rollup counting fewer prices than the snapshots, which gap repair sees and rebuilds.
    repo.put_rollup(rollup, replace=True)
    return rollup


def live_windows(
    *, exchange: str, rollup: HourRollup, end_ms: int, repo: TickRepository, store_missing: bool = True
) -> list[LiveWindow] | None:
    """The statistics of the live windows (LIVE_WINDOWS) ending at `end_ms`, without idle pairs.

    `rollup` is the hour of the newest minute (end_ms − 1 min), as folded. A window ending
    at minute k + 1 of that hour is: the tail from offset k + 1 of an earlier hour (the
    previous one for 1 h; 24 hours back for 24 h, plus the 23-hour block in between), then
    the current hour's rollup. Tails and the block are read (`live_parts`); one that is
    missing is computed and stored here (`tail_ensure`, `block_ensure`: the cycle that
    closes an hour does that work, never a request), or, with `store_missing` False, makes
    the answer None and nothing is written. Raises RepositoryError.
    """
    parts = live_parts(
        exchange=exchange, hour_ms=rollup.hour_ms, end_ms=end_ms, repo=repo, store_missing=store_missing
    )
    return None if parts is None else live_windows_of(parts, rollup=rollup, end_ms=end_ms)


LiveParts = dict[int, list[Mapping[str, Segment]]]  # window (minutes) → its parts before the current hour


def live_parts(
    *, exchange: str, hour_ms: int, end_ms: int, repo: TickRepository, store_missing: bool = True
) -> LiveParts | None:
    """The stored tails and block that the live windows ending at `end_ms` start with.

    `hour_ms` is the hour of the newest minute. The reads are independent and run at once
    (at most three: two tails and a block). With `store_missing` False a missing one makes
    the answer None; otherwise it is computed and stored (see `live_windows`).
    """
    offset = (end_ms - hour_ms) // MINUTE_MS  # the first minute of the window in its start hour
    jobs: dict[tuple[str, int], object] = {}
    for window in LIVE_WINDOWS:
        start_hour = hour_ms - (window // 60) * HOUR_MS
        if offset < 60:
            jobs[("tail", start_hour)] = None
        if window > 60:
            jobs[("block", hour_ms)] = None

    def read(job: tuple[str, int]) -> Mapping[str, Segment] | None:
        kind, at_ms = job
        if kind == "tail":
            if store_missing:
                return tail_ensure(repo=repo, exchange=exchange, hour_ms=at_ms, offset=offset)
            return repo.get_tail(exchange=exchange, hour_ms=at_ms, offset=offset)
        block = (
            block_ensure(repo=repo, exchange=exchange, end_ms=at_ms)
            if store_missing
            else repo.get_block(exchange=exchange, end_ms=at_ms)
        )
        return None if block is None else block.segments

    found = dict(zip(jobs, parallel_map(read, jobs, workers=len(jobs)), strict=True))
    if any(part is None for part in found.values()):
        return None
    parts: LiveParts = {}
    for window in LIVE_WINDOWS:
        start_hour = hour_ms - (window // 60) * HOUR_MS
        parts[window] = [found[("tail", start_hour)]] if offset < 60 else []
        if window > 60:
            parts[window].append(found[("block", hour_ms)])
    return parts


def live_windows_of(parts: LiveParts, *, rollup: HourRollup, end_ms: int) -> list[LiveWindow]:
    """The live windows ending at `end_ms` from their earlier parts (`live_parts`) and the hour's `rollup`."""
    windows = []
    of_parts = WindowStats.of_parts
    for window in LIVE_WINDOWS:
        window_parts = [*parts[window], rollup.segments]
        pairs = {pair for part in window_parts for pair in part}
        stats = {pair: of_parts([part.get(pair) for part in window_parts], expected=window) for pair in pairs}
        windows.append(
            LiveWindow(exchange=rollup.exchange, window_minutes=window, end_ms=end_ms, stats=stats)
        )
    return windows


def live_publish(
    *,
    exchange: str,
    rollup: HourRollup,
    end_ms: int,
    repo: TickRepository,
    tracked: Iterable[str] | None = None,
    windows: Sequence[LiveWindow] | None = None,
) -> list[LiveWindow]:
    """Compute (`live_windows`) and store the statistics of the live windows ending at `end_ms`.

    `tracked` (every tracked pair name, e.g. `repo.tracked_pairs`) is published with them as
    each window's idle pairs (those without data in it), so the rank reads no registry.
    `windows` are the windows `live_windows` gave when the caller computed them already.
    Returns the published windows. Raises RepositoryError.
    """
    if windows is None:
        windows = live_windows(exchange=exchange, rollup=rollup, end_ms=end_ms, repo=repo)
        assert windows is not None  # missing tails and blocks were stored
    tracked = None if tracked is None else frozenset(tracked)
    published = [
        replace(live, idle=None if tracked is None else tracked.difference(live.stats)) for live in windows
    ]
    # The windows' items are independent: written at once, the first failure re-raised.
    parallel_map(repo.put_live, published, workers=len(published))
    return published


def live_prepare(*, exchange: str, hour_ms: int, repo: TickRepository) -> None:
    """Store what the live windows of the hour starting at `hour_ms` read, where it is missing.

    The tails of the previous hour (for 1 h windows) and of the hour 24 hours back (24 h
    windows), and the 23-hour block ending at `hour_ms`. Run by the cycle that closes the
    previous hour (and by benchmarks after seeding); a cycle that finds something missing
    computes it itself. Raises RepositoryError.
    """
    for start_hour in (hour_ms - HOUR_MS, hour_ms - 24 * HOUR_MS):
        tail_ensure(repo=repo, exchange=exchange, hour_ms=start_hour, offset=1)
    block_ensure(repo=repo, exchange=exchange, end_ms=hour_ms)


def tail_ensure(*, repo: TickRepository, exchange: str, hour_ms: int, offset: int) -> Mapping[str, Segment]:
    """The stored tail of `hour_ms` from `offset`, computing and storing the hour's tails if absent."""
    tail = repo.get_tail(exchange=exchange, hour_ms=hour_ms, offset=offset)
    if tail is not None:
        return tail
    snapshots = repo.snapshots_between(exchange=exchange, start_ms=hour_ms, end_ms=hour_ms + HOUR_MS)
    tails = hour_tails(exchange=exchange, hour_ms=hour_ms, snapshots=snapshots)
    repo.put_tails(tails)
    return tails.offsets.get(offset, {})


def block_ensure(*, repo: TickRepository, exchange: str, end_ms: int) -> BlockRollup:
    """The stored 23-hour block ending at `end_ms`, computing and storing it from hour rollups if absent."""
    block = repo.get_block(exchange=exchange, end_ms=end_ms)
    if block is not None:
        return block
    rollups = repo.rollups_between(exchange=exchange, start_ms=end_ms - BLOCK_HOURS * HOUR_MS, end_ms=end_ms)
    block = block_from_rollups(exchange=exchange, end_ms=end_ms, rollups=rollups)
    repo.put_block(block)
    return block
