"""TickRepository: the storage contract for ticks, minute snapshots and hour rollups."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any, Protocol

from prices.domain import Tick, TickRow
from prices.ohlc import HourCandle
from prices.rollups import BlockRollup, HourRollup, HourTails, LiveWindow, MinuteSnapshot
from prices.statistics import Segment


class RepositoryError(Exception):
    """The tick store failed (unreachable, throttled beyond retries, missing table...)."""


@dataclass(frozen=True, slots=True)
class LatestPrice:
    """The newest stored last price of one pair: minute (ms since epoch, UTC) and price."""

    minute_ms: int
    price: Decimal


@dataclass(frozen=True)
class PolledRead:
    """What `read_polled` read for `update_polled`: the exchange's tracked pair names, and the
    repository's own stored shards of the poll's registry (shard → item; opaque to callers)."""

    tracked: frozenset[str]
    shards: Mapping[int, Any] = field(default_factory=dict)


class TickRepository(Protocol):
    """Storage of minute ticks and the exchange-wide aggregates derived from them.

    Times are aware UTC datetimes or ms since the epoch as named; ranges are half-open
    [start, end). Every method raises RepositoryError when the store fails.
    """

    def put_many(self, ticks: Sequence[Tick]) -> int:
        """Store ticks, one item per (exchange, pair, minute); rewriting a key overwrites it.

        A key repeated within `ticks` is written once (the last one wins). Returns the
        number of distinct keys written.
        """
        ...

    def between(
        self, *, exchange: str, pair: str, start: datetime, end: datetime, limit: int | None = None
    ) -> Iterator[Tick]:
        """The pair's ticks with start ≤ minute < end, oldest first (all pages).

        With `limit`, at most that many ticks, and the store reads no more items than that
        (a page of N rows then costs N reads, not a 1 MB page).
        """
        ...

    def rows_between(
        self, *, exchange: str, pair: str, start: datetime, end: datetime, limit: int | None = None
    ) -> Iterator[TickRow]:
        """`between` as TickRows (history columns as exact text): the same ticks, reads and order."""
        ...

    def latest(self, *, exchange: str, pair: str) -> Tick | None:
        """The pair's newest tick, or None."""
        ...

    def ticks_at(self, *, exchange: str, minutes: Mapping[str, int]) -> dict[str, Tick]:
        """The stored tick of each pair at its given minute (ms), by pair; pairs without one are left out.

        One batched read per 100 pairs (e.g. every pair's newest tick, minutes from `latest_prices`).
        """
        ...

    def first(self, *, exchange: str, pair: str) -> Tick | None:
        """The pair's oldest stored tick, or None."""
        ...

    def claim_snapshot(self, snapshot: MinuteSnapshot) -> bool:
        """Create the minute's snapshot if none exists; False (and no change) if one does.

        A snapshot claimed with `pending=True` stays pending until `complete_snapshot`.
        """
        ...

    def complete_snapshot(self, *, exchange: str, minute_ms: int) -> None:
        """Clear the pending mark of a minute's snapshot (nothing happens if it is absent)."""
        ...

    def merge_snapshot(self, snapshot: MinuteSnapshot) -> None:
        """Add the snapshot's prices to its minute, keeping any price already stored there."""
        ...

    def get_snapshot(self, *, exchange: str, minute_ms: int) -> MinuteSnapshot | None:
        """The stored snapshot of one minute, or None."""
        ...

    def snapshots_between(
        self, *, exchange: str, start_ms: int, end_ms: int, pairs: Iterable[str] | None = None
    ) -> list[MinuteSnapshot]:
        """Snapshots with start_ms ≤ minute < end_ms, oldest first, restricted to `pairs` if given."""
        ...

    def put_hour_candles(self, *, exchange: str, pair: str, candles: Sequence[HourCandle]) -> None:
        """Store the pair's hour candles (replacing stored ones of the same hours)."""
        ...

    def hour_candles_between(
        self, *, exchange: str, pair: str, start_ms: int, end_ms: int
    ) -> list[HourCandle]:
        """The pair's stored hour candles with start_ms ≤ hour < end_ms, oldest first."""
        ...

    def put_rollup(self, rollup: HourRollup, *, replace: bool = False) -> bool:
        """Store an hour rollup, per shard of pairs, unless a stored shard summarises more values.

        With `replace`, store every shard whatever is there (the poll's fold of the newest
        minute; a rebuild it overwrites shows as a stale rollup to gap repair). True if written.
        """
        ...

    def get_rollup(
        self, *, exchange: str, hour_ms: int, pairs: Iterable[str] | None = None
    ) -> HourRollup | None:
        """The stored rollup of the hour starting at `hour_ms`, restricted to `pairs`; None if absent."""
        ...

    def put_tails(self, tails: HourTails) -> None:
        """Store an hour's tails (replacing those of the hour TAIL_SLOTS hours earlier)."""
        ...

    def get_tail(
        self, *, exchange: str, hour_ms: int, offset: int, pairs: Iterable[str] | None = None
    ) -> dict[str, Segment] | None:
        """The hour's tail from `offset` (1–59) per pair ({} if no pair has one); None if not stored."""
        ...

    def delete_tails(self, *, exchange: str, hours_ms: Iterable[int]) -> None:
        """Delete the stored tails of `hours_ms` (absent ones are ignored)."""
        ...

    def put_live(self, live: LiveWindow) -> None:
        """Store the published statistics of a live window (replacing the previous minute's)."""
        ...

    def get_live(
        self, *, exchange: str, window_minutes: int, pairs: Iterable[str] | None = None
    ) -> LiveWindow | None:
        """The published statistics of the live window of `window_minutes`; None if not published."""
        ...

    def rollups_between(
        self, *, exchange: str, start_ms: int, end_ms: int, pairs: Iterable[str] | None = None
    ) -> list[HourRollup]:
        """Hour rollups with start_ms ≤ hour < end_ms, oldest first, restricted to `pairs` if given."""
        ...

    def get_block(
        self, *, exchange: str, end_ms: int, pairs: Iterable[str] | None = None
    ) -> BlockRollup | None:
        """The stored block ending at `end_ms`, restricted to `pairs` if given; None if absent."""
        ...

    def put_block(self, block: BlockRollup) -> None:
        """Store a block (replacing one with the same end)."""
        ...

    def delete_blocks(self, *, exchange: str, ends_ms: Iterable[int]) -> None:
        """Delete the blocks ending at `ends_ms` (absent ones are ignored)."""
        ...

    def update_latest(self, *, exchange: str, prices: Mapping[str, LatestPrice]) -> None:
        """Record newest prices per pair, keeping a stored entry that is newer."""
        ...

    def read_polled(self, *, exchange: str) -> PolledRead:
        """Read what `update_polled` merges into (the poll reads it while its ticks are written)."""
        ...

    def update_polled(
        self, *, exchange: str, prices: Mapping[str, LatestPrice], read: PolledRead | None = None
    ) -> set[str]:
        """Record the minute poll's newest prices (only the poll writes these; newest wins on read).

        `read` is this minute's `read_polled` (read here when None). Returns the exchange's
        tracked pairs after the update (what `tracked_pairs` would read).
        """
        ...

    def latest_prices(self, *, exchange: str) -> dict[str, LatestPrice]:
        """The newest price of every tracked pair of the exchange (the pair registry)."""
        ...

    def tracked_pairs(self, *, exchange: str) -> set[str]:
        """The names of the exchange's tracked pairs: the keys of `latest_prices`, without their prices."""
        ...

    def data_version_bump(self, *, exchange: str) -> None:
        """Count one more store of the exchange's prices (one small item, whatever the pair count)."""
        ...

    def data_version(self, *, exchange: str) -> int:
        """How many stores `data_version_bump` has counted for the exchange (0 before the first).

        A strongly consistent read of one small item: cheap enough for every cached read.
        """
        ...

    def add_known_gaps(self, *, exchange: str, minutes: Mapping[str, Iterable[int]]) -> None:
        """Record, per pair, minutes (ms) the exchange has no data for; repeating a minute is harmless."""
        ...

    def known_gaps_between(
        self, *, exchange: str, start_ms: int, end_ms: int, pairs: Iterable[str] | None = None
    ) -> dict[str, set[int]]:
        """Recorded known-gap minutes per pair with start_ms ≤ minute < end_ms (pairs without any absent)."""
        ...

    def native_expiry(self) -> bool:
        """True when the store itself deletes ticks whose `ttl` has passed (DynamoDB TTL enabled)."""
        ...

    def expire_ticks(self, *, exchange: str, pair: str, before_ms: int, limit: int) -> int:
        """Delete the pair's oldest ticks with minute < before_ms, at most `limit`; returns the count."""
        ...

    def ensure_tables(self) -> list[str]:
        """Create missing tables (idempotent); returns the names of tables created."""
        ...
