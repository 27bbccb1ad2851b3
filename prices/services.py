"""Price writes: ingest a polled minute, store history from candles and files, refresh rollups."""

from __future__ import annotations

import logging
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

from prices.domain import (
    EXCHANGE_BITFINEX,
    HOUR_MS,
    Tick,
    TickSource,
    from_ms,
    hour_floor_ms,
    minute_of_observation,
    to_ms,
)
from prices.importers import ImportFileError, SnapshotRecord, read_candle_file, read_snapshot_file
from prices.repository import LatestPrice, RepositoryError, TickRepository, get_tick_repository
from prices.rollups import MinuteSnapshot, blocks_containing, rollup_from_snapshots
from prices.signals import ticks_stored
from prices.sources.base import Candle, CandleSource, SourceError, TickerSource

logger = logging.getLogger(__name__)

Progress = Callable[[int], None]
HISTORY_CHUNK = 2000  # ticks per write round of history_store


@dataclass
class IngestSummary:
    """What one ingestion cycle did: the minute it describes, ticks stored, rows skipped by reason.

    `status` is "stored", "duplicate" (the minute was already stored by another run) or
    "failed" (with `error`); `elapsed_ms` is the wall time of the cycle in milliseconds.
    """

    exchange: str
    minute: datetime | None = None
    status: str = "stored"
    stored: int = 0
    skipped: Counter[str] = field(default_factory=Counter)
    elapsed_ms: int = 0
    error: str | None = None

    @property
    def ok(self) -> bool:
        """False when the cycle failed."""
        return self.status != "failed"

    def line(self) -> str:
        """One human-readable line, as printed by fetch_prices and logged by the task."""
        minute = self.minute.strftime("%Y-%m-%dT%H:%MZ") if self.minute else "-"
        skipped = ", ".join(f"{reason} {n}" for reason, n in sorted(self.skipped.items())) or "none"
        text = (
            f"{self.exchange} minute {minute}: {self.status}, stored {self.stored} ticks, "
            f"skipped {skipped}, {self.elapsed_ms} ms"
        )
        return f"{text}; error: {self.error}" if self.error else text


def _now() -> datetime:
    return datetime.now(UTC)


def ticks_ingest(
    *,
    source: TickerSource,
    repo: TickRepository | None = None,
    now: Callable[[], datetime] = _now,
) -> IngestSummary:
    """Run one polling cycle: fetch all tickers, store the minute they describe, refresh rollups.

    The minute is `minute_of_observation(now())`. The first run to claim a minute's snapshot
    stores it; a repeated or concurrent run for the same minute stores nothing ("duplicate").
    Never raises for exchange or store failures: they end the cycle with status "failed"
    and one log line, and nothing half-parsed is stored.
    """
    repo = repo or get_tick_repository()
    started = time.monotonic()
    observed_at = now()
    summary = IngestSummary(exchange=source.exchange, minute=minute_of_observation(observed_at))
    try:
        batch = source.fetch_tickers()
        summary.skipped.update(batch.skipped)
        ticks = [
            Tick(
                exchange=source.exchange,
                pair=row.pair,
                minute=summary.minute,
                last_price=row.last_price,
                source=TickSource.TICKER,
                bid=row.bid,
                bid_size=row.bid_size,
                ask=row.ask,
                ask_size=row.ask_size,
                daily_change=row.daily_change,
                daily_change_relative=row.daily_change_relative,
                volume_24h=row.volume_24h,
                high_24h=row.high_24h,
                low_24h=row.low_24h,
                observed_at=observed_at,
            )
            for row in batch.rows
        ]
        if not ticks:
            summary.status = "stored"
        else:
            ticks = _claim_minute(repo, ticks, summary)
            if ticks:
                _store(repo, ticks)
                summary.stored = len(ticks)
    except (SourceError, RepositoryError) as exc:
        summary.status = "failed"
        summary.error = str(exc)
    summary.elapsed_ms = round((time.monotonic() - started) * 1000)
    if summary.ok:
        logger.info("ingest %s", summary.line())
    else:
        logger.error("ingest %s", summary.line())
    if summary.stored:
        ticks_stored.send(
            sender=ticks_ingest, exchange=summary.exchange, minutes=[summary.minute], source=TickSource.TICKER
        )
    return summary


def _claim_minute(repo: TickRepository, ticks: list[Tick], summary: IngestSummary) -> list[Tick]:
    """Claim the minute's snapshot; return the ticks this run must write (maybe none)."""
    minute_ms = ticks[0].minute_ms
    exchange = ticks[0].exchange
    snapshot = MinuteSnapshot(exchange, minute_ms, {t.pair: t.last_price for t in ticks}, TickSource.TICKER)
    if repo.claim_snapshot(snapshot):
        return ticks
    existing = repo.get_snapshot(exchange=exchange, minute_ms=minute_ms)
    if existing is None or existing.source == TickSource.TICKER:
        summary.status = "duplicate"
        summary.skipped["duplicate_minute"] += len(ticks)
        return []
    # The minute was partly filled from candles (gap repair): add only the pairs it lacks.
    missing = [t for t in ticks if t.pair not in existing.prices]
    summary.skipped["already_stored"] += len(ticks) - len(missing)
    if missing:
        repo.merge_snapshot(
            MinuteSnapshot(exchange, minute_ms, {t.pair: t.last_price for t in missing}, TickSource.TICKER)
        )
    return missing


def _store(repo: TickRepository, ticks: Sequence[Tick]) -> None:
    """Write ticks, the latest-price registry and the rollups of the hours they touch."""
    repo.put_many(ticks)
    exchange = ticks[0].exchange
    repo.update_latest(exchange=exchange, prices=_newest(ticks))
    rollups_refresh(
        exchange=exchange,
        hours_ms={hour_floor_ms(t.minute_ms) for t in ticks},
        repo=repo,
        invalidate_blocks=False,
    )


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


@dataclass
class HistorySummary:
    """What a backfill or import stored: ticks written, ticks already present, skipped by reason."""

    stored: int = 0
    already_stored: int = 0
    skipped: Counter[str] = field(default_factory=Counter)
    pairs: set[str] = field(default_factory=set)

    def line(self) -> str:
        """One human-readable line."""
        skipped = ", ".join(f"{reason} {n}" for reason, n in sorted(self.skipped.items())) or "none"
        return (
            f"stored {self.stored} ticks for {len(self.pairs)} pairs, "
            f"{self.already_stored} already stored, skipped {skipped}"
        )


def history_store(
    *, ticks: Sequence[Tick], repo: TickRepository | None = None, progress: Progress | None = None
) -> HistorySummary:
    """Store historical ticks (candles, imports) for minutes not stored yet; never overwrite.

    Reads the stored minutes of each pair over the ticks' span first, writes only new ones,
    adds them to the minute snapshots (keeping prices already there), refreshes the affected
    hour rollups and the latest-price registry. Idempotent: storing the same ticks twice
    stores nothing the second time. `progress(n)` is called with the number of ticks handled.
    Raises RepositoryError.
    """
    repo = repo or get_tick_repository()
    summary = HistorySummary()
    by_series: dict[tuple[str, str], list[Tick]] = defaultdict(list)
    for tick in ticks:
        by_series[(tick.exchange, tick.pair)].append(tick)
    new: list[Tick] = []
    for (exchange, pair), series in by_series.items():
        start = min(t.minute for t in series)
        end = from_ms(max(t.minute_ms for t in series) + 60_000)
        stored = {t.minute_ms for t in repo.between(exchange=exchange, pair=pair, start=start, end=end)}
        unique = {t.minute_ms: t for t in series}
        fresh = [t for ms, t in sorted(unique.items()) if ms not in stored]
        summary.already_stored += len(unique) - len(fresh)
        summary.skipped["duplicate_in_input"] += len(series) - len(unique)
        new.extend(fresh)
        if progress:
            progress(len(series) - len(fresh))
    if summary.skipped["duplicate_in_input"] == 0:
        del summary.skipped["duplicate_in_input"]
    # Minute-major order: each snapshot update then carries every pair of its minute.
    new.sort(key=lambda t: (t.exchange, t.minute_ms, t.pair))
    for offset in range(0, len(new), HISTORY_CHUNK):
        chunk = new[offset : offset + HISTORY_CHUNK]
        # Snapshots first, ticks second: a run cut short in between is completed by a rerun,
        # which sees the ticks missing and writes them (merge_snapshot keeps what is there).
        _merge_snapshots(repo, chunk)
        repo.put_many(chunk)
        summary.stored += len(chunk)
        summary.pairs.update(t.pair for t in chunk)
        if progress:
            progress(len(chunk))
    # Registry and rollups cover every input hour, stored now or before, so a rerun after an
    # interrupted run completes them too.
    hours: dict[str, set[int]] = defaultdict(set)
    for (exchange, pair), series in by_series.items():
        latest = repo.latest(exchange=exchange, pair=pair)
        if latest is not None:
            repo.update_latest(
                exchange=exchange, prices={pair: LatestPrice(latest.minute_ms, latest.last_price)}
            )
        hours[exchange].update(hour_floor_ms(t.minute_ms) for t in series)
    for exchange, exchange_hours in hours.items():
        rollups_refresh(exchange=exchange, hours_ms=exchange_hours, repo=repo)
    if new:
        ticks_stored.send(
            sender=history_store,
            exchange=new[0].exchange,
            minutes=sorted({t.minute for t in new}),
            source=new[0].source,
        )
    return summary


def _merge_snapshots(repo: TickRepository, ticks: Iterable[Tick]) -> list[MinuteSnapshot]:
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


def _newest(ticks: Iterable[Tick]) -> dict[str, LatestPrice]:
    newest: dict[str, LatestPrice] = {}
    for tick in ticks:
        current = newest.get(tick.pair)
        if current is None or current.minute_ms < tick.minute_ms:
            newest[tick.pair] = LatestPrice(tick.minute_ms, tick.last_price)
    return newest


def candle_ticks(*, exchange: str, pair: str, candles: Iterable[Candle]) -> list[Tick]:
    """Ticks from 1-minute candles: minute = MTS, last price = close, OHLCV kept (source CANDLE)."""
    return [
        Tick(
            exchange=exchange,
            pair=pair,
            minute=candle.minute,
            last_price=candle.close,
            source=TickSource.CANDLE,
            open=candle.open,
            high=candle.high,
            low=candle.low,
            volume=candle.volume,
        )
        for candle in candles
    ]


def candles_backfill(
    *,
    source: CandleSource,
    pairs: Sequence[str],
    start: datetime,
    end: datetime,
    repo: TickRepository | None = None,
    progress: Progress | None = None,
) -> HistorySummary:
    """Fill [start, end) of each pair from the exchange's 1-minute candles (see history_store).

    Minutes already stored are kept as they are; minutes without a candle stay missing.
    Raises SourceError or RepositoryError (ticks of pairs finished before the error stay stored).
    """
    repo = repo or get_tick_repository()
    total = HistorySummary()
    for pair in pairs:
        candles = source.fetch_candles(pair=pair, start=start, end=end)
        result = history_store(
            ticks=candle_ticks(exchange=source.exchange, pair=pair, candles=candles),
            repo=repo,
            progress=progress,
        )
        total.stored += result.stored
        total.already_stored += result.already_stored
        total.skipped.update(result.skipped)
        total.pairs.add(pair)
        logger.info("backfill %s %s..%s: %s", pair, start.isoformat(), end.isoformat(), result.line())
    return total


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
        snapshots = _merge_snapshots(repo, ticks) if ticks else []
        hours = sorted({hour_floor_ms(s.minute_ms) for s in snapshots})
        for hour_ms in hours:
            rollup = rollup_from_snapshots(exchange=exchange, hour_ms=hour_ms, snapshots=snapshots)
            written += int(repo.put_rollup(rollup))
        if hours:
            repo.delete_blocks(exchange=exchange, ends_ms=blocks_containing(hours))
        cursor = day_end
    return written


POLL_GAP_S = 20  # records of one snapshot poll arrive within ~2 s; polls are ~60 s apart


def snapshot_ticks(
    records: Sequence[SnapshotRecord], *, exchange: str = EXCHANGE_BITFINEX
) -> tuple[list[Tick], Counter[str]]:
    """Ticks from recorded snapshot polls, and rows skipped by reason ("zero_price").

    Records are grouped into polls (a new poll starts after a gap of more than POLL_GAP_S);
    every record of a poll gets the minute of the poll's first record, by the same rule as a
    live poll (minute_of_observation), so a poll whose records straddle a second boundary
    stays in one minute.
    """
    skipped: Counter[str] = Counter()
    ticks: list[Tick] = []
    poll_start: datetime | None = None
    previous: datetime | None = None
    for record in sorted(records, key=lambda r: r.observed_at):
        if previous is None or (record.observed_at - previous).total_seconds() > POLL_GAP_S:
            poll_start = record.observed_at
        previous = record.observed_at
        if record.price <= 0:
            skipped["zero_price"] += 1
            continue
        ticks.append(
            Tick(
                exchange=exchange,
                pair=record.pair,
                minute=minute_of_observation(poll_start),
                last_price=record.price,
                source=TickSource.SNAPSHOT,
                observed_at=record.observed_at,
            )
        )
    return ticks, skipped


def history_files(paths: Iterable[str | Path]) -> list[Path]:
    """The .json files named by `paths`, directories searched recursively, in sorted order.

    Raises ImportFileError for a path that does not exist.
    """
    files: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            files.extend(sorted(p for p in path.rglob("*.json") if p.is_file()))
        elif path.is_file():
            files.append(path)
        else:
            raise ImportFileError(path, None, "no such file or directory")
    return files


def history_import(
    *,
    paths: Iterable[str | Path],
    repo: TickRepository | None = None,
    progress: Progress | None = None,
    on_file: Callable[[Path], None] | None = None,
) -> HistorySummary:
    """Import raw candle files and snapshot files (see prices.importers) as ticks.

    Every file is parsed before anything is stored, so a malformed file stops the import
    with ImportFileError (naming the file and position) and stores nothing. Then behaves as
    history_store: idempotent, never overwrites. `on_file(path)` is called as each file is
    parsed. Raises ImportFileError or RepositoryError.
    """
    ticks: list[Tick] = []
    skipped: Counter[str] = Counter()
    for path in history_files(paths):
        if on_file:
            on_file(path)
        if _looks_like_snapshot(path):
            file_ticks, file_skipped = snapshot_ticks(read_snapshot_file(path))
            skipped.update(file_skipped)
        else:
            candle_file = read_candle_file(path)
            file_ticks = candle_ticks(
                exchange=EXCHANGE_BITFINEX, pair=candle_file.pair, candles=candle_file.candles
            )
        ticks.extend(file_ticks)
    summary = history_store(ticks=ticks, repo=repo, progress=progress)
    summary.skipped.update(skipped)
    return summary


def _looks_like_snapshot(path: Path) -> bool:
    """A snapshot file is a list of objects; a candle file a list of lists (or empty)."""
    with path.open("rb") as handle:
        head = handle.read(256).lstrip()
    return head.startswith(b"[") and head[1:].lstrip().startswith(b"{")
