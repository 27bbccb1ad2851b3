"""rollups_rebuild: recompute snapshots and hour rollups of a range from the stored ticks."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from prices.domain import HOUR_MS, Tick, from_ms, hour_floor_ms, to_ms
from prices.repository import TickRepository, get_tick_repository
from prices.services.minutes import Progress, StoreMode, minutes_store


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

    Minute snapshots missing a stored tick's price get it back first (`minutes_store`), then
    the hours are rebuilt from the snapshots. `pairs` defaults to every tracked pair.
    `progress(1)` is called per (day, pair). Returns the number of hours rebuilt.
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
        hours = {hour_floor_ms(t.minute_ms) for t in ticks}
        # The ticks are stored: their prices go back into the snapshots, and the hours are
        # rebuilt from the snapshots (which also keep prices whose ticks left retention).
        minutes_store(
            exchange=exchange, ticks=ticks, repo=repo, mode=StoreMode.STORED, sender=rollups_rebuild
        )
        written += len(hours)
        cursor = day_end
    return written
