"""Gap repair: find the minutes each pair is missing and fill them from the exchange's candles.

Which minutes are expected: for every tracked pair, each minute from its first stored minute
(or the start of the look-back, or `since`) up to the newest stored minute of any pair less
GRACE_MINUTES, and never past the pair's own newest minute (a pair the exchange stopped
quoting is not expected any more). Which are present is read from the aggregates, not from
every tick: an hour whose rollup counts all its 60 minutes is complete; only the other
hours' minute snapshots are read. See docs/data-model.md, "Gap repair".

A missing minute is repaired, in this order, from:

1. its pending snapshot: the poll claimed the minute, then died before its ticks were
   written; the snapshot's prices become the ticks (source `snapshot`);
2. its stored tick: a writer died between the tick and the snapshot price; the snapshot
   gets the price back;
3. the exchange's 1-minute candle (source `candle`), within a budget of candle requests per
   run (Bitfinex allows 30 a minute; the source spaces them 2 s apart);
4. nothing: the exchange has no candle (no trade in that minute). The minute is recorded as
   a known gap and not asked for again.

A pair whose candles the exchange rejects permanently (10020 "symbol: invalid", a 4xx) is asked
for once per run; after MAX_PERMANENT_FAILURES such runs in a row it is marked inactive and
not asked for again (prices.services.pairs), unless named explicitly. A pair delisted from the
exchange's pair list is expected only up to its newest stored minute.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from prices.domain import (
    EXCHANGE_BITFINEX,
    HOUR_MS,
    MINUTE_MS,
    Tick,
    TickSource,
    from_ms,
    hour_floor_ms,
    to_ms,
)
from prices.models import PairStatus
from prices.repository import TickRepository, get_tick_repository
from prices.rollups import MinuteSnapshot
from prices.services.aggregates import rollups_refresh
from prices.services.history import candle_ticks, history_store
from prices.services.minutes import StoreMode, minutes_store
from prices.services.pairs import pair_candles_failed, pair_candles_succeeded, pair_statuses
from prices.sources.base import CandleSource, SourceError

logger = logging.getLogger(__name__)

# The newest minutes are not judged: their poll may still be running (the task times out
# after 55 s) and the exchange may still be building their candles.
GRACE_MINUTES = 2
# One Bitfinex candle request returns up to 1,000 minutes; missing minutes of one pair that
# fit in such a window are asked for together.
WINDOW_MINUTES = 1000
# A pair this far behind the newest minute of all pairs is no longer quoted by the exchange.
DELISTED_AFTER_MS = HOUR_MS
# Pairs named in one snapshot projection; beyond that the snapshots are read whole.
PROJECTED_PAIRS_MAX = 80
MISSING_RANGES_SHOWN = 8


def _fmt(ms: int) -> str:
    return from_ms(ms).strftime("%Y-%m-%dT%H:%MZ")


def minute_ranges(minutes: Iterable[int]) -> list[tuple[int, int]]:
    """Sorted minutes (ms) as runs of consecutive minutes: (first, last) pairs, both inclusive."""
    runs: list[tuple[int, int]] = []
    for minute in sorted(set(minutes)):
        if runs and minute == runs[-1][1] + MINUTE_MS:
            runs[-1] = (runs[-1][0], minute)
        else:
            runs.append((minute, minute))
    return runs


@dataclass
class PairCoverage:
    """One pair's minutes in [start_ms, end_ms): expected, present, known gaps, pending, missing.

    `present` counts minutes with a price in the aggregates (a tick stored); `known_gaps`
    minutes the exchange has no candle for; `pending` minutes whose poll died before writing
    their ticks (repairable from the snapshot); `missing` lists the rest (ms since epoch).
    """

    pair: str
    start_ms: int
    end_ms: int
    present: int = 0
    known_gaps: int = 0
    pending: int = 0
    missing: list[int] = field(default_factory=list)

    @property
    def expected(self) -> int:
        """Number of minutes in [start_ms, end_ms)."""
        return max(0, (self.end_ms - self.start_ms) // MINUTE_MS)

    @property
    def coverage(self) -> float:
        """Share of expected minutes that are present or known gaps (1.0 when none is expected)."""
        return (self.present + self.known_gaps) / self.expected if self.expected else 1.0


@dataclass
class GapScan:
    """Coverage of every pair over a range, plus what gap repair can mend without the exchange."""

    exchange: str
    start_ms: int
    end_ms: int
    pairs: dict[str, PairCoverage] = field(default_factory=dict)
    # Pending snapshots old enough to be a dead poll's, in minute order.
    pending: list[MinuteSnapshot] = field(default_factory=list)
    # Hours whose rollup counts fewer prices than their snapshots hold (a writer died before
    # refreshing it).
    stale_hours: set[int] = field(default_factory=set)
    # Status rows of the exchange's pairs (inactive, delisted, or counting candle failures).
    statuses: dict[str, PairStatus] = field(default_factory=dict)

    @property
    def missing(self) -> int:
        """Missing minutes over all pairs."""
        return sum(len(c.missing) for c in self.pairs.values())

    @property
    def complete(self) -> bool:
        """True when every expected minute of every pair is present or a known gap."""
        return all(not c.missing and not c.pending for c in self.pairs.values())

    def lines(self) -> list[str]:
        """The coverage report of `report_gaps`: one row per pair, its missing ranges, a total."""
        rows = [
            f"Coverage of {self.exchange} {_fmt(self.start_ms)}..{_fmt(self.end_ms)} "
            f"(end exclusive), {len(self.pairs)} pairs",
            f"{'pair':<16}{'expected':>9}{'present':>9}{'known gaps':>12}{'pending':>9}{'missing':>9}"
            f"{'coverage':>10}",
        ]
        for name in sorted(self.pairs):
            c = self.pairs[name]
            rows.append(
                f"{name:<16}{c.expected:>9}{c.present:>9}{c.known_gaps:>12}{c.pending:>9}"
                f"{len(c.missing):>9}{c.coverage:>9.2%}"
            )
        for name in sorted(self.pairs):
            runs = minute_ranges(self.pairs[name].missing)
            if runs:
                shown = ", ".join(
                    _fmt(a) if a == b else f"{_fmt(a)}..{_fmt(b)} ({(b - a) // MINUTE_MS + 1})"
                    for a, b in runs[:MISSING_RANGES_SHOWN]
                )
                more = f", and {len(runs) - MISSING_RANGES_SHOWN} more ranges" if len(runs) > 8 else ""
                rows.append(f"missing {name}: {shown}{more}")
        totals = [
            sum(getattr(c, a) for c in self.pairs.values()) for a in ("expected", "present", "known_gaps")
        ]
        for name, status in sorted(self.statuses.items()):
            if status.state != PairStatus.State.ACTIVE:
                since = status.since.strftime("%Y-%m-%dT%H:%MZ") if status.since else "-"
                rows.append(f"{status.state} {name} since {since}: {status.reason}")
        pending = sum(c.pending for c in self.pairs.values())
        rows.append(
            f"Total: expected {totals[0]}, present {totals[1]}, known gaps {totals[2]}, "
            f"pending {pending}, missing {self.missing}"
        )
        return rows


def gaps_scan(
    *,
    now: datetime,
    exchange: str = EXCHANGE_BITFINEX,
    pairs: Sequence[str] | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    lookback_hours: int = 24,
    repo: TickRepository | None = None,
) -> GapScan:
    """Which minutes of which pairs are missing, from hour rollups, known gaps and minute snapshots.

    The range ends at `until` (exclusive; default the newest stored minute less GRACE_MINUTES,
    and for each pair its own newest minute) and starts at `since` (default `lookback_hours`
    before the end) or at the pair's first stored minute if later. An explicit `until` holds
    for every pair but those whose newest minute is DELISTED_AFTER_MS behind the newest of all
    (the exchange stopped quoting them): they end at their newest minute. `pairs` defaults to every
    tracked pair. `now` (aware UTC) decides which pending snapshots belong to dead polls.
    Reads: the registry, rollups and known gaps of the range (a Query per month), snapshots of
    the hours whose rollup counts fewer than 60 minutes (a Query per day), the first tick of
    pairs that seem to start inside the range. Raises RepositoryError.
    """
    repo = repo or get_tick_repository()
    registry = repo.latest_prices(exchange=exchange)
    statuses = pair_statuses(exchange=exchange)
    if pairs is not None:
        registry = {p: e for p, e in registry.items() if p in set(pairs)}
    if not registry:
        return GapScan(exchange, 0, 0, statuses=statuses)
    newest_ms = max(e.minute_ms for e in registry.values())
    end_ms = to_ms(until) - to_ms(until) % MINUTE_MS if until else newest_ms - (GRACE_MINUTES - 1) * MINUTE_MS
    start_ms = to_ms(since) - to_ms(since) % MINUTE_MS if since else end_ms - lookback_hours * HOUR_MS
    scan = GapScan(exchange, start_ms, end_ms, statuses=statuses)
    if end_ms <= start_ms:
        return scan
    projection = sorted(registry) if pairs is not None else None

    counts: dict[str, dict[int, int]] = defaultdict(dict)
    first_ms: dict[str, int] = {}
    for rollup in repo.rollups_between(
        exchange=exchange, start_ms=hour_floor_ms(start_ms), end_ms=end_ms, pairs=projection
    ):
        for pair, segment in rollup.segments.items():
            counts[pair][rollup.hour_ms] = segment.count
            first_ms[pair] = min(first_ms.get(pair, segment.first_ms), segment.first_ms)
    known = repo.known_gaps_between(exchange=exchange, start_ms=start_ms, end_ms=end_ms, pairs=projection)

    # Each pair's range; hours whose rollup does not count all their minutes are read from the
    # minute snapshots. (Counting known gaps in too would be cheaper, but a known-gap minute
    # that later got a price, from an import, would then hide a missing one.)
    to_read: dict[str, list[tuple[int, int]]] = defaultdict(list)
    for pair, entry in sorted(registry.items()):
        pair_end = min(end_ms, entry.minute_ms + MINUTE_MS)
        delisted = pair in statuses and statuses[pair].state == PairStatus.State.DELISTED
        if until and newest_ms - entry.minute_ms < DELISTED_AFTER_MS and not delisted:
            pair_end = end_ms  # an explicit end holds for every pair still quoted
        pair_start = start_ms
        if first_ms.get(pair, pair_end) > start_ms and entry.minute_ms >= start_ms:
            first = repo.first(exchange=exchange, pair=pair)  # did the pair start inside the range?
            if first is not None:
                pair_start = max(start_ms, first.minute_ms)
        if pair_end <= pair_start:
            continue
        coverage = scan.pairs[pair] = PairCoverage(pair, pair_start, pair_end)
        for hour in range(hour_floor_ms(pair_start), pair_end, HOUR_MS):
            lo, hi = max(hour, pair_start), min(hour + HOUR_MS, pair_end)
            if (lo, hi) == (hour, hour + HOUR_MS) and counts[pair].get(hour, 0) >= 60:
                coverage.present += 60
            else:
                to_read[pair].append((lo, hi))
    if to_read:
        _scan_snapshots(repo, scan, to_read, known, counts, now_ms=to_ms(now))
    return scan


def _scan_snapshots(
    repo: TickRepository,
    scan: GapScan,
    to_read: dict[str, list[tuple[int, int]]],
    known: dict[str, set[int]],
    counts: dict[str, dict[int, int]],
    *,
    now_ms: int,
) -> None:
    spans = sorted({span for pair_spans in to_read.values() for span in pair_spans})
    merged: list[tuple[int, int]] = []
    for lo, hi in spans:
        if merged and lo <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(hi, merged[-1][1]))
        else:
            merged.append((lo, hi))
    wanted = sorted(to_read) if len(to_read) <= PROJECTED_PAIRS_MAX else None
    present: dict[str, set[int]] = defaultdict(set)
    pending: dict[str, set[int]] = defaultdict(set)
    for lo, hi in merged:
        for snapshot in repo.snapshots_between(exchange=scan.exchange, start_ms=lo, end_ms=hi, pairs=wanted):
            if snapshot.pending:
                # Dead once its poll (started after the minute ended) is past GRACE_MINUTES.
                if snapshot.minute_ms + (1 + GRACE_MINUTES) * MINUTE_MS <= now_ms:
                    scan.pending.append(snapshot)
                for pair in snapshot.prices:
                    pending[pair].add(snapshot.minute_ms)
            else:
                for pair in snapshot.prices:
                    present[pair].add(snapshot.minute_ms)
    scan.pending.sort(key=lambda s: s.minute_ms)
    for pair, pair_spans in to_read.items():
        coverage = scan.pairs[pair]
        pair_known = known.get(pair, set())
        for lo, hi in pair_spans:
            expected = range(lo, hi, MINUTE_MS)
            hour = hour_floor_ms(lo)
            here = [m for m in expected if m in present[pair]]
            if (lo, hi) == (hour, hour + HOUR_MS) and len(here) > counts[pair].get(hour, 0):
                scan.stale_hours.add(hour)
            coverage.present += len(here)
            for minute in expected:
                if minute in present[pair]:
                    continue
                if minute in pending[pair]:
                    coverage.pending += 1
                elif minute in pair_known:
                    coverage.known_gaps += 1
                else:
                    coverage.missing.append(minute)


@dataclass
class GapRepairSummary:
    """What one gap repair did: minutes completed from dead polls' snapshots, snapshot prices put
    back from stored ticks, ticks backfilled from candles, known gaps recorded, candle requests
    made, rollups refreshed, errors, and the minutes still missing afterwards."""

    exchange: str
    start_ms: int = 0
    end_ms: int = 0
    pairs: int = 0
    pending_completed: int = 0
    pending_ticks: int = 0
    restored_from_ticks: int = 0
    backfilled: int = 0
    known_gaps: int = 0
    requests: int = 0
    rollups_refreshed: int = 0
    errors: int = 0
    left: int = 0
    stopped: str | None = None
    inactive_skipped: int = 0
    inactivated: list[str] = field(default_factory=list)

    def line(self) -> str:
        """One human-readable line, as printed by repair_gaps and logged by the task."""
        span = (
            f"{_fmt(self.start_ms)}..{_fmt(self.end_ms)}" if self.end_ms > self.start_ms else "nothing stored"
        )
        text = (
            f"gap repair {self.exchange} {span}, {self.pairs} pairs: "
            f"{self.pending_completed} pending minutes completed ({self.pending_ticks} ticks), "
            f"{self.restored_from_ticks} prices restored from ticks, "
            f"{self.backfilled} ticks backfilled from {self.requests} candle requests, "
            f"{self.known_gaps} known gaps recorded, {self.rollups_refreshed} rollups refreshed, "
            f"{self.errors} errors, {self.left} minutes still missing"
        )
        if self.inactive_skipped:
            text += f"; {self.inactive_skipped} inactive pairs not asked for"
        if self.inactivated:
            text += f"; now inactive: {', '.join(self.inactivated)}"
        return f"{text}; stopped: {self.stopped}" if self.stopped else text


def gaps_repair(
    *,
    now: datetime,
    source: CandleSource,
    exchange: str = EXCHANGE_BITFINEX,
    pairs: Sequence[str] | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    lookback_hours: int = 24,
    max_requests: int = 15,
    repo: TickRepository | None = None,
    progress: Callable[[int], None] | None = None,
) -> GapRepairSummary:
    """Find missing minutes (see gaps_scan) and repair them, oldest first, idempotently.

    At most `max_requests` candle windows are asked from `source` per run (oldest first);
    what is left is repaired by the next run. A rate limit stops the run; another exchange
    error skips that window (logged, counted in `errors`). Candles only fill minutes that are
    missing; minutes the exchange has no candle for become known gaps. `progress(1)` is called
    per candle request. A permanent error counts against the pair (prices.services.pairs) and
    ends its windows for this run; inactive pairs are not asked for unless named in `pairs`.
    Raises RepositoryError (what was stored before stays stored).
    """
    repo = repo or get_tick_repository()
    scan = gaps_scan(
        now=now,
        exchange=exchange,
        pairs=pairs,
        since=since,
        until=until,
        lookback_hours=lookback_hours,
        repo=repo,
    )
    summary = GapRepairSummary(exchange, scan.start_ms, scan.end_ms, len(scan.pairs))
    for snapshot in scan.pending:
        summary.pending_ticks += _complete_pending(repo, snapshot)
        summary.pending_completed += 1
    if scan.stale_hours:
        summary.rollups_refreshed += rollups_refresh(exchange=exchange, hours_ms=scan.stale_hours, repo=repo)
    named = set(pairs or ())
    inactive = {
        pair
        for pair, status in scan.statuses.items()
        if status.state == PairStatus.State.INACTIVE and pair not in named and pair in scan.pairs
    }
    summary.inactive_skipped = len(inactive)
    windows = sorted(
        (w[0], pair, w) for pair, c in scan.pairs.items() if pair not in inactive for w in _windows(c.missing)
    )
    rejected: set[str] = set()
    summary.left = scan.missing
    backfill: list[Tick] = []
    no_candle: dict[str, set[int]] = defaultdict(set)
    for _, pair, minutes in windows:
        if pair in rejected:
            continue
        start, end = from_ms(minutes[0]), from_ms(minutes[-1] + MINUTE_MS)
        wanted = set(minutes)
        stored = repo.between(exchange=exchange, pair=pair, start=start, end=end)
        orphans = [t for t in stored if t.minute_ms in wanted]
        if orphans:
            _restore_from_ticks(repo, orphans)
            summary.restored_from_ticks += len(orphans)
            summary.left -= len(orphans)
            wanted -= {t.minute_ms for t in orphans}
        if not wanted:
            continue
        if summary.requests >= max_requests:
            summary.stopped = f"budget of {max_requests} candle requests used"
            break
        summary.requests += 1
        try:
            candles = source.fetch_candles(pair=pair, start=start, end=end)
        except SourceError as exc:
            summary.errors += 1
            logger.warning("gap repair %s %s..%s: %s", pair, _fmt(minutes[0]), _fmt(minutes[-1]), exc)
            if exc.rate_limited:
                summary.stopped = f"rate limited: {exc}"
                break
            if exc.permanent:
                rejected.add(pair)
                status = pair_candles_failed(exchange=exchange, pair=pair, reason=str(exc), now=now)
                if status.state == PairStatus.State.INACTIVE and status.since == now:
                    summary.inactivated.append(pair)
            continue
        finally:
            if progress:
                progress(1)
        known_status = scan.statuses.get(pair)
        if known_status is not None and (
            known_status.failures or known_status.state == PairStatus.State.INACTIVE
        ):
            pair_candles_succeeded(exchange=exchange, pair=pair)
        found = [c for c in candles if to_ms(c.minute) in wanted]
        backfill.extend(candle_ticks(exchange=exchange, pair=pair, candles=found))
        no_candle[pair].update(wanted - {to_ms(c.minute) for c in found})
        summary.left -= len(wanted)
    # One store for every window: rollups of an hour are refreshed once, not once per pair.
    if backfill:
        summary.backfilled = history_store(ticks=backfill, repo=repo).stored
    if any(no_candle.values()):
        repo.add_known_gaps(exchange=exchange, minutes={p: m for p, m in no_candle.items() if m})
        summary.known_gaps = sum(len(m) for m in no_candle.values())
    log = logger.warning if summary.left or summary.errors else logger.info
    log("%s", summary.line())
    return summary


def _windows(missing: Sequence[int]) -> list[list[int]]:
    """Missing minutes (sorted ms) grouped into windows of at most WINDOW_MINUTES minutes."""
    windows: list[list[int]] = []
    for minute in sorted(missing):
        if windows and minute < windows[-1][0] + WINDOW_MINUTES * MINUTE_MS:
            windows[-1].append(minute)
        else:
            windows.append([minute])
    return windows


def _complete_pending(repo: TickRepository, snapshot: MinuteSnapshot) -> int:
    """Write the ticks a dead poll left unwritten from its pending snapshot; returns ticks written.

    Ticks the poll did write are kept (they carry the ticker's other fields); the others are
    made from the snapshot's prices with source `snapshot`. `minutes_store` then completes
    the snapshot and refreshes the registry, the hour's rollup and its 23-hour blocks.
    """
    minute = from_ms(snapshot.minute_ms)
    ticks = [
        Tick(
            exchange=snapshot.exchange, pair=pair, minute=minute, last_price=price, source=TickSource.SNAPSHOT
        )
        for pair, price in sorted(snapshot.prices.items())
    ]
    missing = minutes_store(
        exchange=snapshot.exchange, ticks=ticks, repo=repo, mode=StoreMode.PENDING, sender=gaps_repair
    ).written
    logger.warning(
        "gap repair: minute %s was claimed by a poll that died before storing it; wrote %d ticks "
        "from its snapshot",
        _fmt(snapshot.minute_ms),
        missing,
    )
    return missing


def _restore_from_ticks(repo: TickRepository, ticks: Sequence[Tick]) -> None:
    """Put stored ticks' prices back into their minute snapshots and refresh those hours' rollups."""
    minutes_store(
        exchange=ticks[0].exchange, ticks=ticks, repo=repo, mode=StoreMode.STORED, sender=gaps_repair
    )
    logger.warning(
        "gap repair %s: %d stored ticks were missing from the minute snapshots; restored",
        ticks[0].pair,
        len(ticks),
    )
