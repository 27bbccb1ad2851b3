"""InMemoryTickRepository: a working, process-local TickRepository for tests."""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from typing import TypeVar

from prices.domain import HOUR_MS, Tick, TickRow, to_ms
from prices.ohlc import HourCandle
from prices.repository.base import LatestPrice, PolledRead
from prices.repository.dynamodb_items import DEFAULT_SHARDS, by_shard, shard_of
from prices.rollups import TAIL_SLOTS, BlockRollup, HourRollup, HourTails, LiveWindow, MinuteSnapshot
from prices.statistics import Segment

V = TypeVar("V")


def _of_pairs(values: Mapping[str, V], pairs: Iterable[str] | None) -> dict[str, V]:
    """The entries of `values` (keyed by pair name) for `pairs`; every entry when `pairs` is None."""
    if pairs is None:
        return dict(values)
    wanted = pairs if isinstance(pairs, set | frozenset) else set(pairs)
    return {p: v for p, v in values.items() if p in wanted}


class InMemoryTickRepository:
    """Dict-backed storage with the same semantics as DynamoTickRepository."""

    def __init__(self, *, shards: int = DEFAULT_SHARDS) -> None:
        self.shards = shards  # rollups are replaced per shard of pairs, as in DynamoDB
        self._lock = threading.RLock()
        self.ticks: dict[tuple[str, str], dict[int, Tick]] = {}
        self.snapshots: dict[str, dict[int, dict[str, Decimal]]] = {}
        self.snapshot_sources: dict[tuple[str, int], str] = {}  # the first writer's source
        self.rollups: dict[str, dict[int, HourRollup]] = {}
        self.latest_registry: dict[str, dict[str, LatestPrice]] = {}
        self.blocks: dict[str, dict[int, BlockRollup]] = {}
        self.pending: set[tuple[str, int]] = set()  # snapshots claimed pending, not completed yet
        self.known_gaps: dict[str, dict[str, set[int]]] = {}
        self.data_versions: dict[str, int] = {}
        self.hour_candles: dict[tuple[str, str], dict[int, HourCandle]] = {}
        self.tails: dict[str, dict[int, HourTails]] = {}  # exchange → slot → the hour's tails
        self.live: dict[str, dict[int, LiveWindow]] = {}  # exchange → window minutes → statistics
        self.put_calls = 0

    def ensure_tables(self) -> list[str]:
        """Nothing to create in memory."""
        return []

    def put_many(self, ticks: Sequence[Tick]) -> int:
        """Store ticks, overwriting the same (exchange, pair, minute); returns distinct keys written."""
        with self._lock:
            self.put_calls += 1
            for tick in ticks:
                self.ticks.setdefault((tick.exchange, tick.pair), {})[tick.minute_ms] = tick
        return len({(t.exchange, t.pair, t.minute_ms) for t in ticks})

    def between(
        self, *, exchange: str, pair: str, start: datetime, end: datetime, limit: int | None = None
    ) -> Iterator[Tick]:
        """The pair's ticks in [start, end), oldest first, at most `limit`."""
        start_ms, end_ms = to_ms(start), to_ms(end)
        with self._lock:
            series = dict(self.ticks.get((exchange, pair), {}))
        yielded = 0
        for minute_ms in sorted(series):
            if limit is not None and yielded >= limit:
                return
            if start_ms <= minute_ms < end_ms:
                yielded += 1
                yield series[minute_ms]

    def rows_between(
        self, *, exchange: str, pair: str, start: datetime, end: datetime, limit: int | None = None
    ) -> Iterator[TickRow]:
        """`between` as TickRows."""
        for tick in self.between(exchange=exchange, pair=pair, start=start, end=end, limit=limit):
            yield TickRow.of(tick)

    def put_hour_candles(self, *, exchange: str, pair: str, candles: Sequence[HourCandle]) -> None:
        """Store (replace) the pair's hour candles."""
        with self._lock:
            stored = self.hour_candles.setdefault((exchange, pair), {})
            for candle in candles:
                stored[candle.hour_ms] = candle

    def hour_candles_between(
        self, *, exchange: str, pair: str, start_ms: int, end_ms: int
    ) -> list[HourCandle]:
        """The pair's hour candles in [start_ms, end_ms), oldest first."""
        with self._lock:
            stored = dict(self.hour_candles.get((exchange, pair), {}))
        return [stored[h] for h in sorted(stored) if start_ms <= h < end_ms]

    def latest(self, *, exchange: str, pair: str) -> Tick | None:
        """The pair's newest tick, or None."""
        with self._lock:
            series = self.ticks.get((exchange, pair), {})
            return series[max(series)] if series else None

    def ticks_at(self, *, exchange: str, minutes: Mapping[str, int]) -> dict[str, Tick]:
        """The tick of each pair at its minute (ms), pairs without one left out."""
        with self._lock:
            found = {pair: self.ticks.get((exchange, pair), {}).get(ms) for pair, ms in minutes.items()}
        return {pair: tick for pair, tick in found.items() if tick is not None}

    def first(self, *, exchange: str, pair: str) -> Tick | None:
        """The pair's oldest tick, or None."""
        with self._lock:
            series = self.ticks.get((exchange, pair), {})
            return series[min(series)] if series else None

    def expire_ticks(self, *, exchange: str, pair: str, before_ms: int, limit: int) -> int:
        """Forget the pair's oldest ticks with minute < before_ms, at most `limit`."""
        with self._lock:
            series = self.ticks.get((exchange, pair), {})
            doomed = sorted(ms for ms in series if ms < before_ms)[: max(limit, 0)]
            for minute_ms in doomed:
                del series[minute_ms]
            return len(doomed)

    def native_expiry(self) -> bool:
        """Memory never expires anything by itself."""
        return False

    def claim_snapshot(self, snapshot: MinuteSnapshot) -> bool:
        """Create the minute's snapshot unless it exists."""
        with self._lock:
            minutes = self.snapshots.setdefault(snapshot.exchange, {})
            if snapshot.minute_ms in minutes:
                return False
            minutes[snapshot.minute_ms] = {p: v.normalize() for p, v in snapshot.prices.items()}
            self.snapshot_sources[(snapshot.exchange, snapshot.minute_ms)] = snapshot.source
            if snapshot.pending:
                self.pending.add((snapshot.exchange, snapshot.minute_ms))
            return True

    def complete_snapshot(self, *, exchange: str, minute_ms: int) -> None:
        """Clear the minute's pending mark."""
        with self._lock:
            self.pending.discard((exchange, minute_ms))

    def merge_snapshot(self, snapshot: MinuteSnapshot) -> None:
        """Add prices for pairs the minute does not have yet."""
        with self._lock:
            stored = self.snapshots.setdefault(snapshot.exchange, {}).setdefault(snapshot.minute_ms, {})
            self.snapshot_sources.setdefault((snapshot.exchange, snapshot.minute_ms), snapshot.source)
            for pair, price in snapshot.prices.items():
                stored.setdefault(pair, price.normalize())

    def get_snapshot(self, *, exchange: str, minute_ms: int) -> MinuteSnapshot | None:
        """The stored snapshot of one minute, or None."""
        with self._lock:
            prices = self.snapshots.get(exchange, {}).get(minute_ms)
            if prices is None:
                return None
            return MinuteSnapshot(
                exchange,
                minute_ms,
                dict(prices),
                self.snapshot_sources[(exchange, minute_ms)],
                (exchange, minute_ms) in self.pending,
            )

    def snapshots_between(
        self, *, exchange: str, start_ms: int, end_ms: int, pairs: Iterable[str] | None = None
    ) -> list[MinuteSnapshot]:
        """Snapshots in [start_ms, end_ms), oldest first."""
        wanted = set(pairs) if pairs is not None else None  # once, not per minute
        with self._lock:
            minutes = {ms: dict(prices) for ms, prices in self.snapshots.get(exchange, {}).items()}
            sources = dict(self.snapshot_sources)
            pending = set(self.pending)
        return [
            MinuteSnapshot(
                exchange,
                minute_ms,
                _of_pairs(minutes[minute_ms], wanted),
                sources[(exchange, minute_ms)],
                (exchange, minute_ms) in pending,
            )
            for minute_ms in sorted(minutes)
            if start_ms <= minute_ms < end_ms
        ]

    def put_rollup(self, rollup: HourRollup, *, replace: bool = False) -> bool:
        """Per shard of pairs (as DynamoDB), store the rollup's part unless the stored one has more values.

        With `replace`, every shard of the rollup is stored whatever is there.
        """
        with self._lock:
            hours = self.rollups.setdefault(rollup.exchange, {})
            stored = dict(hours[rollup.hour_ms].segments) if rollup.hour_ms in hours else {}
            written = False
            for shard, pairs in by_shard(rollup.segments, self.shards).items():
                old = [p for p in stored if shard_of(p, self.shards) == shard]
                if not replace and sum(stored[p].count for p in old) > sum(
                    rollup.segments[p].count for p in pairs
                ):
                    continue
                for pair in old:
                    del stored[pair]
                stored.update({pair: rollup.segments[pair] for pair in pairs})
                written = True
            if written:
                hours[rollup.hour_ms] = HourRollup(rollup.exchange, rollup.hour_ms, stored)
            return written

    def rollups_between(
        self, *, exchange: str, start_ms: int, end_ms: int, pairs: Iterable[str] | None = None
    ) -> list[HourRollup]:
        """Rollups in [start_ms, end_ms), oldest first."""
        wanted = set(pairs) if pairs is not None else None  # once, not per hour
        with self._lock:
            hours = dict(self.rollups.get(exchange, {}))
        return [
            HourRollup(exchange, hour_ms, _of_pairs(hours[hour_ms].segments, wanted))
            for hour_ms in sorted(hours)
            if start_ms <= hour_ms < end_ms
        ]

    def get_block(
        self, *, exchange: str, end_ms: int, pairs: Iterable[str] | None = None
    ) -> BlockRollup | None:
        """The stored block, restricted to `pairs` if given."""
        with self._lock:
            block = self.blocks.get(exchange, {}).get(end_ms)
        if block is None:
            return None
        return BlockRollup(exchange, end_ms, _of_pairs(block.segments, pairs))

    def put_block(self, block: BlockRollup) -> None:
        """Store (replace) a block."""
        with self._lock:
            self.blocks.setdefault(block.exchange, {})[block.end_ms] = block

    def delete_blocks(self, *, exchange: str, ends_ms: Iterable[int]) -> None:
        """Forget blocks."""
        with self._lock:
            stored = self.blocks.get(exchange, {})
            for end_ms in ends_ms:
                stored.pop(end_ms, None)

    def add_known_gaps(self, *, exchange: str, minutes: Mapping[str, Iterable[int]]) -> None:
        """Add minutes to each pair's set of known gaps."""
        with self._lock:
            stored = self.known_gaps.setdefault(exchange, {})
            for pair, pair_minutes in minutes.items():
                stored.setdefault(pair, set()).update(pair_minutes)

    def known_gaps_between(
        self, *, exchange: str, start_ms: int, end_ms: int, pairs: Iterable[str] | None = None
    ) -> dict[str, set[int]]:
        """Known-gap minutes per pair in [start_ms, end_ms)."""
        with self._lock:
            stored = {pair: set(minutes) for pair, minutes in self.known_gaps.get(exchange, {}).items()}
        gaps = {
            pair: {m for m in minutes if start_ms <= m < end_ms}
            for pair, minutes in _of_pairs(stored, pairs).items()
        }
        return {pair: minutes for pair, minutes in gaps.items() if minutes}

    def update_latest(self, *, exchange: str, prices: Mapping[str, LatestPrice]) -> None:
        """Keep the newest price per pair."""
        with self._lock:
            registry = self.latest_registry.setdefault(exchange, {})
            for pair, entry in prices.items():
                stored = registry.get(pair)
                if stored is None or stored.minute_ms <= entry.minute_ms:
                    registry[pair] = LatestPrice(entry.minute_ms, entry.price.normalize())

    def data_version_bump(self, *, exchange: str) -> None:
        """Count one more store."""
        with self._lock:
            self.data_versions[exchange] = self.data_versions.get(exchange, 0) + 1

    def data_version(self, *, exchange: str) -> int:
        """The count of stores."""
        with self._lock:
            return self.data_versions.get(exchange, 0)

    def read_polled(self, *, exchange: str) -> PolledRead:
        """The tracked pairs (the registry is one in memory: nothing else to read)."""
        return PolledRead(tracked=frozenset(self.tracked_pairs(exchange=exchange)))

    def update_polled(
        self, *, exchange: str, prices: Mapping[str, LatestPrice], read: PolledRead | None = None
    ) -> set[str]:
        """The poll's registry entries: the same newest-wins registry in memory; the tracked pairs."""
        InMemoryTickRepository.update_latest(self, exchange=exchange, prices=prices)
        with self._lock:
            return set(self.latest_registry.get(exchange, {}))

    def latest_prices(self, *, exchange: str) -> dict[str, LatestPrice]:
        """The registry of newest prices."""
        with self._lock:
            return dict(self.latest_registry.get(exchange, {}))

    def tracked_pairs(self, *, exchange: str) -> set[str]:
        """The names in the registry of newest prices."""
        with self._lock:
            return set(self.latest_registry.get(exchange, {}))

    def get_rollup(
        self, *, exchange: str, hour_ms: int, pairs: Iterable[str] | None = None
    ) -> HourRollup | None:
        """The stored rollup of one hour, restricted to `pairs` if given; None if absent."""
        with self._lock:
            rollup = self.rollups.get(exchange, {}).get(hour_ms)
        if rollup is None:
            return None
        return HourRollup(exchange, hour_ms, _of_pairs(rollup.segments, pairs))

    def put_tails(self, tails: HourTails) -> None:
        """Store an hour's tails in its slot (replacing the hour stored there before)."""
        with self._lock:
            slot = (tails.hour_ms // HOUR_MS) % TAIL_SLOTS
            self.tails.setdefault(tails.exchange, {})[slot] = tails

    def get_tail(
        self, *, exchange: str, hour_ms: int, offset: int, pairs: Iterable[str] | None = None
    ) -> dict[str, Segment] | None:
        """The hour's tail from `offset` per pair; None unless the hour's tails are stored."""
        with self._lock:
            tails = self.tails.get(exchange, {}).get((hour_ms // HOUR_MS) % TAIL_SLOTS)
        if tails is None or tails.hour_ms != hour_ms:
            return None
        return _of_pairs(tails.offsets.get(offset, {}), pairs)

    def delete_tails(self, *, exchange: str, hours_ms: Iterable[int]) -> None:
        """Forget the tails of `hours_ms`."""
        with self._lock:
            slots = self.tails.get(exchange, {})
            for hour_ms in hours_ms:
                slot = (hour_ms // HOUR_MS) % TAIL_SLOTS
                if slot in slots and slots[slot].hour_ms == hour_ms:
                    del slots[slot]

    def put_live(self, live: LiveWindow) -> None:
        """Store (replace) the published statistics of a live window."""
        with self._lock:
            self.live.setdefault(live.exchange, {})[live.window_minutes] = live

    def get_live(
        self, *, exchange: str, window_minutes: int, pairs: Iterable[str] | None = None
    ) -> LiveWindow | None:
        """The published statistics of a live window, restricted to `pairs` if given."""
        wanted = set(pairs) if pairs is not None else None
        with self._lock:
            live = self.live.get(exchange, {}).get(window_minutes)
        if live is None:
            return None
        stats = _of_pairs(live.stats, wanted)
        idle = live.idle if live.idle is None or wanted is None else live.idle & wanted
        return LiveWindow(live.exchange, live.window_minutes, live.end_ms, stats, idle)
