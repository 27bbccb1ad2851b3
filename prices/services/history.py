"""History writes: store candles and recorded files as ticks, only for minutes not stored yet."""

from __future__ import annotations

import logging
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from prices.domain import EXCHANGE_BITFINEX, Tick, TickSource, from_ms, hour_floor_ms, minute_of_observation
from prices.importers import ImportFileError, SnapshotRecord, read_candle_file, read_snapshot_file
from prices.repository import LatestPrice, TickRepository, get_tick_repository
from prices.services.minutes import Progress, StoreMode, minutes_store
from prices.sources.base import Candle, CandleSource, SourceError

logger = logging.getLogger(__name__)


@dataclass
class HistorySummary:
    """What a backfill or import stored: ticks written, ticks already present, skipped by reason,
    and (backfills) the pairs that failed, with the error's line."""

    stored: int = 0
    already_stored: int = 0
    skipped: Counter[str] = field(default_factory=Counter)
    pairs: set[str] = field(default_factory=set)
    failed: dict[str, str] = field(default_factory=dict)

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

    Reads the stored minutes of each pair over the ticks' span first, then hands the new
    ones to `minutes_store` (ticks, minute snapshots keeping prices already there, the
    latest-price registry, the affected hour rollups and blocks). Idempotent: storing the same ticks twice
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
    # The registry and rollups cover every input hour, stored now or before, so a rerun after
    # an interrupted run completes them too.
    latest = {}
    for exchange, pair in by_series:
        newest = repo.latest(exchange=exchange, pair=pair)
        if newest is not None:
            latest[(exchange, pair)] = LatestPrice(newest.minute_ms, newest.last_price)
    for exchange in sorted({exchange for exchange, _ in by_series}):
        fresh = [t for t in new if t.exchange == exchange]
        stored = minutes_store(
            exchange=exchange,
            ticks=fresh,
            repo=repo,
            mode=StoreMode.NEW,
            sender=history_store,
            latest={pair: entry for (ex, pair), entry in latest.items() if ex == exchange},
            hours_ms={
                hour_floor_ms(t.minute_ms) for (ex, _), s in by_series.items() if ex == exchange for t in s
            },
            progress=progress,
        )
        summary.stored += len(stored.ticks)
        summary.pairs.update(t.pair for t in stored.ticks)
    return summary


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

    Minutes already stored are kept as they are; minutes without a candle stay missing. A pair
    the exchange fails for (SourceError, e.g. 10020 "symbol: invalid" for an unknown pair) does
    not stop the others: it is logged and named in the summary's `failed`. Raises
    RepositoryError (ticks of pairs finished before the error stay stored).
    """
    repo = repo or get_tick_repository()
    total = HistorySummary()
    for pair in pairs:
        try:
            candles = source.fetch_candles(pair=pair, start=start, end=end)
        except SourceError as exc:
            total.failed[pair] = str(exc)
            logger.error("backfill %s %s..%s failed: %s", pair, start.isoformat(), end.isoformat(), exc)
            continue
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
