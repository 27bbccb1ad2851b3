"""Exchange-wide aggregates: minute snapshots, hour rollups and window decomposition (pure).

A `MinuteSnapshot` holds the last price of every pair of one exchange for one minute; an
`HourRollup` holds one `Segment` per pair for one UTC hour, computed from that hour's
snapshots. A window [start, end) is answered from the hour rollups it covers completely
plus the minute snapshots of its partial hours at either edge (see docs/data-model.md).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal

from prices.domain import HOUR_MS, hour_floor_ms
from prices.statistics import Segment, WindowStats, segment_of, segments_concat, tail_segments


@dataclass(frozen=True, slots=True)
class MinuteSnapshot:
    """Last prices (quote-currency Decimal) of many pairs of `exchange` for the minute `minute_ms`.

    `pending` marks a minute claimed by a poll whose ticks are not known to be written yet:
    the poll clears it once its ticks are stored, and gap repair completes a minute left
    pending by a poll that died (see docs/data-model.md). Hour rollups leave pending minutes out.
    """

    exchange: str
    minute_ms: int
    prices: Mapping[str, Decimal]
    source: str = "ticker"
    pending: bool = False


@dataclass(frozen=True, slots=True)
class HourRollup:
    """One Segment per pair for the UTC hour starting at `hour_ms`.

    `values` is the number of (pair, minute) prices the rollup was built from; since stored
    prices are never changed once written, a rollup with more values supersedes one with fewer.
    """

    exchange: str
    hour_ms: int
    segments: Mapping[str, Segment] = field(default_factory=dict)

    @property
    def values(self) -> int:
        """Number of (pair, minute) prices summarised."""
        return sum(segment.count for segment in self.segments.values())

    @property
    def last_minute_ms(self) -> int | None:
        """The newest minute summarised (ms since epoch), None for an empty rollup."""
        return max((segment.last_ms for segment in self.segments.values()), default=None)


BLOCK_HOURS = 23  # a 24 h window that does not start on the hour holds 23 whole hours


@dataclass(frozen=True, slots=True)
class BlockRollup:
    """One Segment per pair for the BLOCK_HOURS whole UTC hours before `end_ms` (exclusive).

    The concatenation of those hours' rollups, stored so that a 24 h window reads one item
    instead of 23. Kept only while every hour in it is complete; deleted when one of its
    hours is refreshed later (backfills, imports, rebuilds).
    """

    exchange: str
    end_ms: int
    segments: Mapping[str, Segment] = field(default_factory=dict)

    @property
    def start_ms(self) -> int:
        """The first hour of the block (ms since epoch)."""
        return self.end_ms - BLOCK_HOURS * HOUR_MS

    def as_rollup(self) -> HourRollup:
        """The block as one rollup starting at its first hour (for window_segments)."""
        return HourRollup(exchange=self.exchange, hour_ms=self.start_ms, segments=self.segments)


def block_from_rollups(*, exchange: str, end_ms: int, rollups: Iterable[HourRollup]) -> BlockRollup:
    """The block ending at `end_ms` from the hour rollups inside it (others are ignored)."""
    start_ms = end_ms - BLOCK_HOURS * HOUR_MS
    parts: dict[str, list[Segment]] = defaultdict(list)
    for rollup in sorted(rollups, key=lambda r: r.hour_ms):
        if start_ms <= rollup.hour_ms < end_ms:
            for pair, segment in rollup.segments.items():
                parts[pair].append(segment)
    segments = {pair: segments_concat(pieces) for pair, pieces in parts.items()}
    return BlockRollup(exchange=exchange, end_ms=end_ms, segments={p: s for p, s in segments.items() if s})


def blocks_containing(hours_ms: Iterable[int]) -> list[int]:
    """The end hours of every block that contains one of `hours_ms` (sorted, unique)."""
    return sorted({hour + k * HOUR_MS for hour in hours_ms for k in range(1, BLOCK_HOURS + 1)})


def hour_points(hour_ms: int, snapshots: Iterable[MinuteSnapshot]) -> dict[str, list[tuple[int, Decimal]]]:
    """Per pair, the (minute_ms, price) points of the hour's snapshots, pending ones left out."""
    points: dict[str, list[tuple[int, Decimal]]] = defaultdict(list)
    for snapshot in snapshots:
        if snapshot.pending or hour_floor_ms(snapshot.minute_ms) != hour_ms:
            continue
        for pair, price in snapshot.prices.items():
            points[pair].append((snapshot.minute_ms, price))
    return points


def rollup_from_snapshots(*, exchange: str, hour_ms: int, snapshots: Iterable[MinuteSnapshot]) -> HourRollup:
    """The hour rollup of the snapshots whose minute falls in [hour_ms, hour_ms + 1 h).

    Pending snapshots are left out: a rollup counts only minutes whose ticks are stored, so
    a minute whose poll died before writing its ticks shows up as missing to gap repair.
    """
    points = hour_points(hour_ms, snapshots)
    segments = {pair: segment_of(pair_points) for pair, pair_points in points.items()}
    return HourRollup(exchange=exchange, hour_ms=hour_ms, segments={p: s for p, s in segments.items() if s})


@dataclass(frozen=True, slots=True)
class WindowPlan:
    """How a window [start_ms, end_ms) is read: whole hours from rollups, edges from minutes."""

    start_ms: int
    end_ms: int
    hours_start_ms: int
    hours_end_ms: int

    @property
    def has_hours(self) -> bool:
        """True when at least one whole hour lies inside the window."""
        return self.hours_end_ms > self.hours_start_ms

    @property
    def edges(self) -> list[tuple[int, int]]:
        """The [start, end) spans read from minute snapshots (0, 1 or 2 of them)."""
        if not self.has_hours:
            return [(self.start_ms, self.end_ms)] if self.end_ms > self.start_ms else []
        spans = [(self.start_ms, self.hours_start_ms), (self.hours_end_ms, self.end_ms)]
        return [(a, b) for a, b in spans if b > a]


def window_plan(start_ms: int, end_ms: int) -> WindowPlan:
    """Split [start_ms, end_ms) into whole UTC hours and the partial hours at its edges."""
    hours_start = -(-start_ms // HOUR_MS) * HOUR_MS
    hours_end = hour_floor_ms(end_ms)
    if hours_end <= hours_start:
        hours_start = hours_end = start_ms
    return WindowPlan(start_ms, end_ms, hours_start, hours_end)


def window_segments(
    *,
    plan: WindowPlan,
    rollups: Iterable[HourRollup],
    snapshots: Iterable[MinuteSnapshot],
    pairs: Iterable[str] | None = None,
) -> dict[str, Segment]:
    """Per pair, the segment of the whole window, from its hour rollups and edge snapshots.

    `rollups` must be those with hour in [plan.hours_start_ms, plan.hours_end_ms) and
    `snapshots` those of the edge spans; anything outside is ignored, and so are pending
    snapshots (rollups leave them out too, so a minute counts the same wherever it falls).
    Restricted to `pairs` when given. Pairs with no price in the window are absent.
    """
    wanted = set(pairs) if pairs is not None else None
    edges = plan.edges
    parts: dict[str, list[tuple[int, Segment]]] = defaultdict(list)
    # Edge minutes on each side of the whole hours form their own segment, keyed (pair, side).
    edge_points: dict[tuple[str, int], list[tuple[int, Decimal]]] = defaultdict(list)
    for snapshot in snapshots:
        side = next((i for i, (a, b) in enumerate(edges) if a <= snapshot.minute_ms < b), None)
        if side is None or snapshot.pending:  # left out, as in hour rollups: its ticks are missing
            continue
        for pair, price in snapshot.prices.items():
            if wanted is None or pair in wanted:
                edge_points[(pair, side)].append((snapshot.minute_ms, price))
    for rollup in rollups:
        if not plan.hours_start_ms <= rollup.hour_ms < plan.hours_end_ms:
            continue
        for pair, segment in rollup.segments.items():
            if wanted is None or pair in wanted:
                parts[pair].append((segment.first_ms, segment))
    for (pair, _), points in edge_points.items():
        segment = segment_of(points)
        if segment is not None:
            parts[pair].append((segment.first_ms, segment))
    return {
        pair: segment
        for pair, pieces in parts.items()
        if (segment := segments_concat(s for _, s in sorted(pieces, key=lambda item: item[0])))
    }


# --- live windows: hour tails and published statistics --------------------------------------

LIVE_WINDOWS = (60, 1440)  # minutes of the windows whose statistics ingestion publishes
TAIL_SLOTS = 26  # hours of tails kept: an hour's tails serve the 1 h window, then the 24 h one


@dataclass(frozen=True, slots=True)
class HourTails:
    """Per offset j (1–59), per pair, the Segment of the hour's minutes from hour + j min to its end.

    A live window ending at minute k + 1 of an hour starts at minute k + 1 of an earlier hour
    (the previous one for 1 h, 24 hours back for 24 h): its first part is that hour's tail
    from offset k + 1, computed once when the hour is complete instead of from up to 59
    minute snapshots every minute. An offset no pair has a price from is absent.
    """

    exchange: str
    hour_ms: int
    offsets: Mapping[int, Mapping[str, Segment]] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class LiveWindow:
    """Published statistics per pair of the window of `window_minutes` ending at `end_ms` (exclusive).

    `idle`: the tracked pairs without data in the window (count 0), published with it so the
    rank needs no registry read; None when not published (readers then read the registry).
    """

    exchange: str
    window_minutes: int
    end_ms: int
    stats: Mapping[str, WindowStats] = field(default_factory=dict)
    idle: frozenset[str] | None = None


def hour_tails(*, exchange: str, hour_ms: int, snapshots: Iterable[MinuteSnapshot]) -> HourTails:
    """The tails of one hour from its minute snapshots (pending ones left out, as in rollups)."""
    points = hour_points(hour_ms, snapshots)
    offsets: dict[int, dict[str, Segment]] = defaultdict(dict)
    for pair, pair_points in points.items():
        for offset, segment in tail_segments(hour_ms, pair_points).items():
            offsets[offset][pair] = segment
    return HourTails(exchange=exchange, hour_ms=hour_ms, offsets=dict(offsets))
