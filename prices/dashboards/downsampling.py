"""Server-side downsampling of chart series: LTTB for lines, bucket widths for candles (pure).

Charts send at most MAX_POINTS values per series. A line of minute prices is reduced with
Largest-Triangle-Three-Buckets (Steinarsson 2013, "Downsampling Time Series for Visual
Representation", ch. 4), which keeps the points that shape the line (spikes survive). Gaps
stay gaps: a missing stretch longer than the series' resolution becomes a `None` between
two points, so Plotly breaks the line there instead of joining across the hole. Candles are
downsampled by asking for wider OHLC buckets (see `candle_minutes`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

MAX_POINTS = 2000
MINUTE_MS = 60_000

# Bucket widths (minutes) used when candles or volume bars must be merged: round numbers a
# reader recognises on a time axis.
BUCKET_LADDER = (1, 5, 10, 15, 30, 60, 120, 240, 360, 720, 1440, 2880, 10080)


@dataclass(frozen=True, slots=True)
class GappedSeries:
    """A line ready to plot: `xs` (ms since epoch, UTC) and `ys`, with None at each gap.

    `method` is "none" (every input point kept) or "lttb"; `source_points` the input size;
    `gap_ms` the shortest missing stretch shown as a gap (consecutive points further apart
    than this are separated by None; closer ones are joined). len(xs) == len(ys) counts the
    None separators too, so it is what the browser receives.
    """

    xs: list[int | None] = field(default_factory=list)
    ys: list[float | None] = field(default_factory=list)
    method: str = "none"
    source_points: int = 0
    gap_ms: int = MINUTE_MS

    @property
    def points(self) -> int:
        """Number of data points (None separators excluded)."""
        return sum(1 for x in self.xs if x is not None)

    @property
    def gaps(self) -> int:
        """Number of gaps (None separators)."""
        return len(self.xs) - self.points


def lttb_indices(xs: Sequence[float], ys: Sequence[float], threshold: int) -> list[int]:
    """Indices of the `threshold` points LTTB keeps out of (xs, ys), ascending.

    The first and last points are always kept. `xs` must be ascending and as long as `ys`.
    When threshold ≥ len(xs) every index is returned. Raises ValueError if threshold < 2
    (for two or more points) or the lengths differ.
    """
    n = len(xs)
    if len(ys) != n:
        raise ValueError(f"xs and ys differ in length: {n} != {len(ys)}")
    if threshold >= n:
        return list(range(n))
    if threshold < 2:
        raise ValueError(f"threshold must be ≥ 2, got {threshold}")
    if threshold == 2:
        return [0, n - 1]
    every = (n - 2) / (threshold - 2)
    kept = [0]
    a = 0
    for i in range(threshold - 2):
        # The average of the next bucket is the third corner of the triangle.
        next_start = math.floor((i + 1) * every) + 1
        next_end = min(math.floor((i + 2) * every) + 1, n)
        span = next_end - next_start
        avg_x = sum(xs[next_start:next_end]) / span
        avg_y = sum(ys[next_start:next_end]) / span
        start = math.floor(i * every) + 1
        end = math.floor((i + 1) * every) + 1
        ax, ay = xs[a], ys[a]
        best, best_area = start, -1.0
        for j in range(start, end):
            area = abs((ax - avg_x) * (ys[j] - ay) - (ax - xs[j]) * (avg_y - ay))
            if area > best_area:
                best, best_area = j, area
        kept.append(best)
        a = best
    kept.append(n - 1)
    return kept


def downsample_gapped(
    points: Sequence[tuple[int, float]], *, max_points: int = MAX_POINTS, step_ms: int = MINUTE_MS
) -> GappedSeries:
    """A gap-aware line of at most `max_points` values (None separators included).

    `points` are (x ms, y) sorted by x, one per `step_ms` at most (minute prices). If they fit
    with a None at every missing step, they are returned as they are (method "none", every
    missing minute a gap). Otherwise only holes wider than one output bucket (span ÷
    max_points, doubled until the runs between holes fit) stay gaps; each run keeps its first
    and last point, and the remaining budget is shared between runs in proportion to their
    length and filled by LTTB. Raises ValueError if max_points < 3.
    """
    if max_points < 3:
        raise ValueError(f"max_points must be ≥ 3, got {max_points}")
    if not points:
        return GappedSeries(gap_ms=step_ms)
    xs = [int(x) for x, _ in points]
    ys = [float(y) for _, y in points]
    runs = _runs(xs, step_ms)
    if len(xs) + len(runs) - 1 <= max_points:
        return _join(xs, ys, runs, [len(r) for r in runs], method="none", gap_ms=step_ms, source=len(xs))

    # A hole is drawn when it is wider than one output bucket (the line's resolution); if the
    # runs between such holes still do not fit, only wider holes are drawn.
    gap_ms = max(step_ms, math.ceil((xs[-1] - xs[0] + step_ms) / max_points))
    while True:
        runs = _runs(xs, gap_ms)
        if sum(min(len(r), 2) for r in runs) + len(runs) - 1 <= max_points:
            break
        gap_ms *= 2
    budgets = _share(max_points - (len(runs) - 1), [len(r) for r in runs])
    reduced = any(b < len(r) for b, r in zip(budgets, runs, strict=True))
    return _join(xs, ys, runs, budgets, method="lttb" if reduced else "none", gap_ms=gap_ms, source=len(xs))


def _runs(xs: list[int], gap_ms: int) -> list[range]:
    """Index ranges of xs split wherever two neighbours are more than gap_ms apart."""
    runs = []
    start = 0
    for i in range(1, len(xs)):
        if xs[i] - xs[i - 1] > gap_ms:
            runs.append(range(start, i))
            start = i
    runs.append(range(start, len(xs)))
    return runs


def _share(budget: int, lengths: list[int]) -> list[int]:
    """Split `budget` points over runs: min(len, 2) each, the rest by length (largest remainder)."""
    base = [min(length, 2) for length in lengths]
    extra_room = [length - b for length, b in zip(lengths, base, strict=True)]
    left = budget - sum(base)
    room = sum(extra_room)
    if left >= room:
        return list(lengths)
    quotas = [left * r / room for r in extra_room]
    extra = [math.floor(q) for q in quotas]
    order = sorted(range(len(lengths)), key=lambda i: quotas[i] - extra[i], reverse=True)
    for i in order[: left - sum(extra)]:
        extra[i] += 1
    return [b + e for b, e in zip(base, extra, strict=True)]


def _join(
    xs: list[int],
    ys: list[float],
    runs: list[range],
    budgets: list[int],
    *,
    method: str,
    gap_ms: int,
    source: int,
) -> GappedSeries:
    out_x: list[int | None] = []
    out_y: list[float | None] = []
    for run, budget in zip(runs, budgets, strict=True):
        if out_x:
            out_x.append(None)
            out_y.append(None)
        run_x, run_y = xs[run.start : run.stop], ys[run.start : run.stop]
        for i in lttb_indices(run_x, run_y, budget):
            out_x.append(run_x[i])
            out_y.append(run_y[i])
    return GappedSeries(out_x, out_y, method=method, source_points=source, gap_ms=gap_ms)


def bucket_minutes(*, span_minutes: int, max_buckets: int = MAX_POINTS, at_least: int = 1) -> int:
    """The narrowest bucket width (minutes) of BUCKET_LADDER that is a multiple of `at_least`
    and cuts `span_minutes` into at most `max_buckets` buckets (a window not aligned to the
    buckets touches one more). Falls back to whole multiples of the widest step.
    """
    if span_minutes < 1 or max_buckets < 2 or at_least < 1:
        raise ValueError("span_minutes ≥ 1, max_buckets ≥ 2 and at_least ≥ 1 are required")
    for width in BUCKET_LADDER:
        if width >= at_least and width % at_least == 0 and span_minutes // width + 1 <= max_buckets:
            return width
    width = max(BUCKET_LADDER[-1], at_least)
    while span_minutes // width + 1 > max_buckets:
        width *= 2
    return width


def candle_minutes(*, span_minutes: int, interval_minutes: int, max_candles: int = MAX_POINTS) -> int:
    """The candle width to request: `interval_minutes`, or a wider multiple of it when the
    window would otherwise hold more than `max_candles` candles (OHLC buckets).
    """
    return bucket_minutes(span_minutes=span_minutes, max_buckets=max_candles, at_least=interval_minutes)
