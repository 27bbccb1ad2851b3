"""Aggregate maintenance: minute snapshots, hour rollups and 23-hour blocks, refreshed and rebuilt."""

from __future__ import annotations

from collections.abc import Iterable

from prices.domain import HOUR_MS
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
