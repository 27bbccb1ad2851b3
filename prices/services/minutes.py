"""minutes_store: the one write path for stored minutes, owning the order of the writes.

"A price in a minute snapshot means its tick is stored" is a write order, not a
transaction (dynalite has none): every writer of minutes — the poll (`ticks_ingest`),
history (`history_store`: backfills, imports, gap repair's candles), gap repair's completion
of a pending minute and its restore of orphaned ticks, and `rollups_rebuild` — calls
`minutes_store`, which writes, in this order:

0. nothing yet: a poll's ticks are first flagged by the cross-exchange guard (`suspects_flag`,
   reads only; a suspect price is stored all the same, flagged);
1. the minute snapshot claim (polls only: `pending`, with the prices), or nothing;
2. the ticks (`put_many`: parallel batches, unprocessed items retried);
3. the snapshot prices (`complete_snapshot` for a claim, else `merge_snapshot`);
4. the latest-price registry (`update_polled` for the poll, `update_latest` for the others);
5. the hour rollups of the touched hours: the poll folds its one minute in and publishes the
   live window statistics (the cycle that closes an hour prepares the next hour's tails and
   23-hour block); others rebuild the hours from their snapshots and delete the blocks and
   tails that depend on them; the hour candles of hours holding ticks made from candles;
6. the data version (`data_version_bump`), which keys every cached answer of every web
   process (prices/cache.py);
7. the `ticks_stored` signal.

Whatever step a writer dies at, the aggregates show the minute as missing (no price, a
pending one, or a rollup counting fewer prices than its snapshots) and gap repair, which
reads only the aggregates, finds it. See docs/data-model.md.

The order is one of writes only. A poll reads what steps 4–5 need (its registry, the
hour's rollup, the live windows' tails and block, all at once) and computes the fold and
the window statistics while it claims its minute and writes its ticks (steps 1–3): none
of that depends on them, and the endpoint works on the ticks meanwhile; a lost claim
discards them. Nothing is written until
its turn; a fold that needs the hour rebuilt from its snapshots, or a tail or block that
is missing, waits for its turn too. The poll then writes steps 4 and 5 at once (registry,
fold, live windows): each derives from the completed snapshot alone, so any subset of them
left by a dead poll is a state gap repair or the next poll already handles.
"""

from __future__ import annotations

import logging
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum
from typing import NamedTuple

from prices.concurrency import Background, concurrently, parallel_map
from prices.domain import HOUR_MS, MINUTE_MS, Tick, TickSource, from_ms, hour_floor_ms
from prices.repository import LatestPrice, PolledRead, RepositoryError, TickRepository
from prices.rollups import HourRollup, LiveWindow, MinuteSnapshot
from prices.services.aggregates import (
    hour_candles_refresh,
    live_parts,
    live_prepare,
    live_publish,
    live_windows_of,
    rollup_fold,
    rollup_folded,
    rollups_refresh,
)
from prices.services.guard import suspects_flag
from prices.signals import ticks_stored

logger = logging.getLogger(__name__)

Progress = Callable[[int], None]

STORE_CHUNK = 2000  # ticks per write round of a history store: ticks, then their snapshot prices


class StoreMode(StrEnum):
    """How `minutes_store` writes the minute snapshots of its ticks.

    POLL: one polled minute; the snapshot is claimed (first writer wins) before the ticks.
    NEW: ticks not stored yet (candles, imports); their prices are merged after the ticks.
    STORED: ticks already in the table (gap repair's orphans, rebuilds); only their prices
    are merged back into the snapshots.
    PENDING: the ticks of a minute a dead poll claimed; those missing are written, then the
    snapshot's pending mark is cleared.
    """

    POLL = "poll"
    NEW = "new"
    STORED = "stored"
    PENDING = "pending"


@dataclass
class MinutesStored:
    """What `minutes_store` wrote: `ticks` (written, or whose prices were merged), `status`.

    `written` is the number of ticks put into the ticks table (PENDING: those the dead poll
    had not written; STORED: 0).
    `status` is "stored", or "duplicate" when a poll's minute was already claimed by another
    run; `skipped` counts ticks left out by reason ("duplicate_minute", "already_stored").
    """

    ticks: list[Tick] = field(default_factory=list)
    written: int = 0
    status: str = "stored"
    skipped: Counter[str] = field(default_factory=Counter)


def minutes_store(
    *,
    exchange: str,
    ticks: Sequence[Tick],
    repo: TickRepository,
    mode: StoreMode,
    sender: object,
    latest: Mapping[str, LatestPrice] | None = None,
    hours_ms: Iterable[int] = (),
    progress: Progress | None = None,
) -> MinutesStored:
    """Store `ticks` (all of `exchange`) and everything derived from them, in the documented order.

    `latest` adds registry entries (the newer of it and `ticks` wins per pair), and `hours_ms` adds hours
    (starts, ms) whose rollups are refreshed: history passes each pair's newest stored tick
    and every input hour, so a rerun after an interrupted run completes them. No signal is
    sent in mode STORED (nothing new was stored).
    `progress(n)` is called with the number of ticks written per round. The poll's ticks
    must all describe one minute. Raises RepositoryError; what was written before stays
    written and is visible to gap repair as missing or pending.
    """
    result = MinutesStored()
    prepared: PollAggregates | None = None
    if any(t.exchange != exchange for t in ticks):
        raise ValueError(f"minutes_store: every tick must be of {exchange}")
    if not ticks:
        pass
    elif mode is StoreMode.POLL:
        # Before anything is written: a suspect price is stored flagged (prices/guard.py).
        ticks = suspects_flag(exchange=exchange, ticks=ticks, repo=repo)
        result.ticks, prepared = _poll_minute(repo, ticks, result)
        result.written = len(result.ticks)
    elif mode is StoreMode.PENDING:
        result.ticks, result.written = _pending_minute(repo, ticks)
    else:
        result.ticks = _history_minutes(repo, ticks, write_ticks=mode is StoreMode.NEW, progress=progress)
        result.written = len(result.ticks) if mode is StoreMode.NEW else 0
    stored = result.ticks
    hours = {hour_floor_ms(t.minute_ms) for t in stored} | set(hours_ms)
    if not stored and not latest and not hours:
        return result
    registry = newest_prices(stored)
    for pair, entry in (latest or {}).items():
        if pair not in registry or registry[pair].minute_ms < entry.minute_ms:
            registry[pair] = entry
    if mode is StoreMode.POLL and stored:
        _poll_aggregates_write(repo, exchange, stored, registry, prepared)
    elif mode is StoreMode.POLL:
        repo.update_polled(exchange=exchange, prices=registry)
    else:
        repo.update_latest(exchange=exchange, prices=registry)
    if mode is not StoreMode.POLL:
        rollups_refresh(exchange=exchange, hours_ms=hours, repo=repo)
    # 1h/1d candles need the open/high/low/volume of ticks made from candles (none for polls).
    hour_candles_refresh(exchange=exchange, ticks=stored, repo=repo)
    _data_version_publish(repo, exchange)
    if stored and mode is not StoreMode.STORED:
        ticks_stored.send(
            sender=sender,
            exchange=exchange,
            minutes=sorted({from_ms(t.minute_ms) for t in stored}),
            source=stored[0].source,
        )
    return result


def _data_version_publish(repo: TickRepository, exchange: str) -> None:
    """Make every cached price answer stale; an outage here is logged, never raised.

    The minute is stored by now: failing the store for its cache would only lose the
    `ticks_stored` signal, and cached answers still expire at the next minute.
    """
    try:
        repo.data_version_bump(exchange=exchange)
    except RepositoryError:
        logger.exception(
            "could not publish the data version of %s; cached answers expire within a minute", exchange
        )


class PollAggregates(NamedTuple):
    """What a claimed poll computes while its ticks are written (see the module docstring).

    `folded`: the hour's rollup with the minute folded in (None: the hour must be rebuilt
    from its snapshots); `windows`: the live windows ending after the minute, without idle
    pairs (None: a tail or block is missing, to be computed and stored in its turn);
    `registry`: the poll's registry as read for `update_polled` (None: read in its turn).
    """

    folded: HourRollup | None = None
    windows: list[LiveWindow] | None = None
    registry: PolledRead | None = None


def _poll_aggregates(
    repo: TickRepository, exchange: str, minute_ms: int, prices: Mapping[str, Decimal]
) -> PollAggregates:
    """Read and compute (never write) the registry merge, rollup fold and live windows of a polled minute.

    The registry, the hour's rollup and the live windows' tails and block are read at once:
    none depends on another.
    """
    end_ms = minute_ms + MINUTE_MS
    registry, rollup, parts = concurrently(
        lambda: repo.read_polled(exchange=exchange),
        lambda: rollup_folded(exchange=exchange, minute_ms=minute_ms, prices=prices, repo=repo),
        lambda: live_parts(
            exchange=exchange, hour_ms=hour_floor_ms(minute_ms), end_ms=end_ms, repo=repo, store_missing=False
        ),
    )
    if rollup is None:
        return PollAggregates(registry=registry)
    windows = None if parts is None else live_windows_of(parts, rollup=rollup, end_ms=end_ms)
    return PollAggregates(rollup, windows, registry)


def _poll_aggregates_write(
    repo: TickRepository,
    exchange: str,
    stored: Sequence[Tick],
    registry: Mapping[str, LatestPrice],
    prepared: Background | None,
) -> None:
    """Steps 4–5 of a polled minute: its registry entries, hour fold and live windows.

    Constant work per minute: the minute is folded into its hour's rollup and the live
    windows ending at it are published. The poll only adds the newest minute, whose hour no
    stored block or tail contains, so it invalidates none. When all three were prepared,
    they are written at once: each derives from the completed snapshot alone and none is
    read to write another, so a poll that dies among them leaves what any order would (a
    registry a minute behind, a rollup short of the minute that gap repair rebuilds, or live
    windows a minute old that the next poll replaces).
    """
    minute_ms = stored[0].minute_ms
    prices = {t.pair: t.last_price for t in stored}
    aggregates = prepared.result() if prepared is not None else PollAggregates()
    end_ms = minute_ms + MINUTE_MS
    if aggregates.folded is not None and aggregates.windows is not None and aggregates.registry is not None:
        tracked = set(aggregates.registry.tracked) | set(registry)
        folded, windows = aggregates.folded, aggregates.windows
        concurrently(  # re-raises the first failure, once all three have finished
            lambda: repo.update_polled(exchange=exchange, prices=registry, read=aggregates.registry),
            lambda: repo.put_rollup(folded, replace=True),
            lambda: live_publish(
                exchange=exchange, rollup=folded, end_ms=end_ms, repo=repo, tracked=tracked, windows=windows
            ),
        )
    else:
        tracked = repo.update_polled(exchange=exchange, prices=registry, read=aggregates.registry)
        rollup = rollup_fold(
            exchange=exchange, minute_ms=minute_ms, prices=prices, repo=repo, folded=aggregates.folded
        )
        windows = aggregates.windows if aggregates.folded is not None else None
        live_publish(
            exchange=exchange, rollup=rollup, end_ms=end_ms, repo=repo, tracked=tracked, windows=windows
        )
    if end_ms % HOUR_MS == 0:
        # The cycle that closes an hour prepares the next hour's live windows (its tails
        # and the 23-hour block), so the cycles of that hour only read.
        live_prepare(exchange=exchange, hour_ms=end_ms, repo=repo)


def _poll_minute(
    repo: TickRepository, ticks: Sequence[Tick], result: MinutesStored
) -> tuple[list[Tick], Background | None]:
    """Claim the minute's snapshot and write the ticks this run owns; return them (maybe none).

    The snapshot is claimed pending and completed once the ticks are written: a worker that
    dies in between leaves a pending snapshot, which hour rollups leave out and gap repair
    completes from the snapshot's prices (prices.services.gaps). The minute's aggregates
    are prepared (`_poll_aggregates`, reads only) on a thread meanwhile, and returned done.
    """
    minute_ms = ticks[0].minute_ms
    exchange = ticks[0].exchange
    if any(t.minute_ms != minute_ms for t in ticks):
        raise ValueError("a poll stores one minute")
    prices = {t.pair: t.last_price for t in ticks}
    snapshot = MinuteSnapshot(exchange, minute_ms, prices, TickSource.TICKER, pending=True)
    # Reads only: a lost claim discards them (and whatever error they met).
    prepared = Background(lambda: _poll_aggregates(repo, exchange, minute_ms, prices))
    try:
        claimed = repo.claim_snapshot(snapshot)
        if claimed:
            repo.put_many(ticks)
            repo.complete_snapshot(exchange=exchange, minute_ms=minute_ms)
    except BaseException:
        prepared.wait()  # no call of this poll outlives it
        raise
    if claimed:
        return list(ticks), prepared
    prepared.wait()
    existing = repo.get_snapshot(exchange=exchange, minute_ms=minute_ms)
    if existing is None or existing.source == TickSource.TICKER:
        result.status = "duplicate"
        result.skipped["duplicate_minute"] += len(ticks)
        return [], None
    # The minute was partly filled from candles (gap repair): add only the pairs it lacks.
    missing = [t for t in ticks if t.pair not in existing.prices]
    result.skipped["already_stored"] += len(ticks) - len(missing)
    if missing:
        # Ticks before snapshot prices: a stored price then always has its tick, and a run cut
        # short in between leaves the minute missing from the snapshot, where gap repair sees it.
        repo.put_many(missing)
        snapshots_merge(repo, missing)
    return missing, None


def _pending_minute(repo: TickRepository, ticks: Sequence[Tick]) -> tuple[list[Tick], int]:
    """Write the ticks of a pending minute that are not stored yet, then complete its snapshot.

    Ticks the poll did write are kept (they carry the ticker's other fields). Returns all
    `ticks` (their prices are the snapshot's) and the number written.
    """
    minute = ticks[0].minute
    end = from_ms(ticks[0].minute_ms + 60_000)
    missing = [
        t for t in ticks if not any(repo.between(exchange=t.exchange, pair=t.pair, start=minute, end=end))
    ]
    if missing:
        repo.put_many(missing)
    repo.complete_snapshot(exchange=ticks[0].exchange, minute_ms=ticks[0].minute_ms)
    return list(ticks), len(missing)


def _history_minutes(
    repo: TickRepository, ticks: Sequence[Tick], *, write_ticks: bool, progress: Progress | None
) -> list[Tick]:
    """Ticks first, snapshot prices second, in rounds of STORE_CHUNK, minute-major."""
    # Minute-major order: each snapshot update then carries every pair of its minute.
    ordered = sorted(ticks, key=lambda t: (t.exchange, t.minute_ms, t.pair))
    for offset in range(0, len(ordered), STORE_CHUNK):
        chunk = ordered[offset : offset + STORE_CHUNK]
        # A run cut short between the two leaves minutes with a tick but no snapshot price;
        # gap repair finds them missing from the aggregates and merges them from the ticks.
        if write_ticks:
            repo.put_many(chunk)
        snapshots_merge(repo, chunk)
        if progress:
            progress(len(chunk))
    return ordered


def snapshots_merge(repo: TickRepository, ticks: Iterable[Tick]) -> list[MinuteSnapshot]:
    """Merge the ticks' prices into their minute snapshots (stored prices are kept)."""
    by_minute: dict[tuple[str, int], dict[str, Decimal]] = defaultdict(dict)
    sources: dict[tuple[str, int], str] = {}
    for tick in ticks:
        by_minute[(tick.exchange, tick.minute_ms)][tick.pair] = tick.last_price
        sources[(tick.exchange, tick.minute_ms)] = tick.source
    snapshots = [MinuteSnapshot(ex, ms, prices, sources[(ex, ms)]) for (ex, ms), prices in by_minute.items()]
    # One UpdateItem per minute; a few threads hide the round trips (boto3 clients are thread-safe).
    parallel_map(repo.merge_snapshot, snapshots, workers=8)
    return snapshots


def newest_prices(ticks: Iterable[Tick]) -> dict[str, LatestPrice]:
    """Per pair, the minute and last price of its newest tick among `ticks`."""
    newest: dict[str, LatestPrice] = {}
    for tick in ticks:
        current = newest.get(tick.pair)
        if current is None or current.minute_ms < tick.minute_ms:
            newest[tick.pair] = LatestPrice(tick.minute_ms, tick.last_price)
    return newest
