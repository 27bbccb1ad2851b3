"""Mergeable price statistics: moments, min/max, first/last and 1-minute log returns (pure).

A `Segment` summarises the minute prices of one pair over a span of time (an hour rollup,
or the minutes at the edge of a window). Segments of consecutive spans are concatenated
with Chan et al.'s parallel update of the mean and M2 (sum of squared deviations), so a
24 h window is answered from a few stored hour segments instead of 1,440 ticks, with the
same result as computing directly from the ticks.

Arithmetic: price moments are computed in Decimal with 20 significant digits (float64 has
17; DynamoDB stores up to 38), so prices near 1e5 that move by 0.01 keep their spread to
~1e-13, and a constant price has M2 = 0. Log returns are computed in float64 (math.log of the
Decimal ratio). Results are reported as float64.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Context, Decimal

from prices.domain import MINUTE_MS

# 20 digits: beyond float64 (17), within DynamoDB's 38 (boto3 rejects numbers that would round).
CONTEXT = Context(prec=20)
ZERO = Decimal(0)


@dataclass(frozen=True, slots=True)
class Moments:
    """Count `n`, `mean` and `m2` = Σ(x − mean)² of a sample, as 20-digit Decimals."""

    n: int = 0
    mean: Decimal = ZERO
    m2: Decimal = ZERO

    @classmethod
    def of(cls, values: Iterable[Decimal]) -> Moments:
        """Moments of `values` (two-pass: exact mean first, then squared deviations)."""
        values = list(values)
        if not values:
            return cls()
        total = ZERO
        for value in values:
            total = CONTEXT.add(total, value)
        mean = CONTEXT.divide(total, len(values))
        m2 = ZERO
        for value in values:
            deviation = CONTEXT.subtract(value, mean)
            m2 = CONTEXT.add(m2, CONTEXT.multiply(deviation, deviation))
        return cls(n=len(values), mean=mean, m2=m2)

    @classmethod
    def of_floats(cls, values: Sequence[float]) -> Moments:
        """Moments of float64 values (two-pass with exactly rounded sums), stored as Decimal."""
        if not values:
            return cls()
        mean = math.fsum(values) / len(values)
        m2 = math.fsum((value - mean) ** 2 for value in values)
        return cls(n=len(values), mean=Decimal(repr(mean)), m2=Decimal(repr(m2)))

    def merge(self, other: Moments) -> Moments:
        """The moments of both samples together (see `combine`)."""
        return Moments.combine([self, other])

    @staticmethod
    def combine(parts: Sequence[Moments]) -> Moments:
        """The moments of the union of disjoint samples (Chan, Golub & LeVeque, n-way form).

        mean = Σ nᵢ·meanᵢ / n and M2 = Σ M2ᵢ + Σ nᵢ·(meanᵢ − mean)²: a second pass over the
        parts' means, so no large terms cancel. The means are shifted by the first part's
        (exactly, in Decimal) before the sums are taken in float64 with math.fsum: a window
        combines ~25 parts for each of hundreds of pairs, and float64 keeps ~1e-15 relative.
        """
        parts = [p for p in parts if p.n]
        if len(parts) <= 1:
            return parts[0] if parts else Moments()
        reference = parts[0].mean
        n = sum(p.n for p in parts)
        shifted = [float(p.mean - reference) for p in parts]
        mean = math.fsum(p.n * s for p, s in zip(parts, shifted, strict=True)) / n
        m2 = math.fsum(
            [
                *(float(p.m2) for p in parts),
                *(p.n * (s - mean) ** 2 for p, s in zip(parts, shifted, strict=True)),
            ]
        )
        return Moments(n=n, mean=CONTEXT.add(reference, Decimal(repr(mean))), m2=Decimal(repr(m2)))

    def add(self, value: Decimal) -> Moments:
        """These moments with one more value."""
        return self.merge(Moments(n=1, mean=value, m2=ZERO))

    @property
    def variance_sample(self) -> float | None:
        """Sample variance M2/(n−1); None when n < 2."""
        return float(self.m2) / (self.n - 1) if self.n >= 2 else None

    @property
    def std_sample(self) -> float | None:
        """Sample standard deviation √(M2/(n−1)); None when n < 2."""
        variance = self.variance_sample
        return math.sqrt(max(variance, 0.0)) if variance is not None else None

    @property
    def std_population(self) -> float | None:
        """Population standard deviation √(M2/n); None when n = 0."""
        return math.sqrt(max(float(self.m2) / self.n, 0.0)) if self.n >= 1 else None


@dataclass(frozen=True, slots=True)
class Segment:
    """Statistics of one pair's minute prices over a span of consecutive time.

    `prices` are the moments of the last prices; `returns` those of the 1-minute log returns
    ln(p[m] / p[m−1]) between minutes that are both present inside the span. `first_ms` /
    `last_ms` are the minutes (ms since epoch, UTC) of the first and last price.
    """

    prices: Moments
    minimum: Decimal
    maximum: Decimal
    first_ms: int
    first: Decimal
    last_ms: int
    last: Decimal
    returns: Moments = Moments()

    @property
    def count(self) -> int:
        """Number of minute prices in the segment."""
        return self.prices.n

    def then(self, later: Segment) -> Segment:
        """This segment followed by a later, non-overlapping one (see `segments_concat`)."""
        result = segments_concat([self, later])
        assert result is not None
        return result


def _log_return(before: Decimal, after: Decimal) -> float:
    """ln(after / before) in float64 (the ratio is taken exactly first)."""
    return math.log(float(CONTEXT.divide(after, before)))


def segment_of(points: Iterable[tuple[int, Decimal]]) -> Segment | None:
    """The segment of (minute_ms, price) points, sorted by minute; None when empty.

    Raises ValueError on a duplicate minute or a price that is not positive.
    """
    ordered = sorted(points)
    if not ordered:
        return None
    prices = [price for _, price in ordered]
    returns = []
    for (prev_ms, prev_price), (ms, price) in zip(ordered, ordered[1:], strict=False):
        if ms == prev_ms:
            raise ValueError(f"duplicate minute {ms} in segment")
        if ms - prev_ms == MINUTE_MS:
            returns.append(_log_return(prev_price, price))
    if min(prices) <= 0:
        raise ValueError("prices must be positive")
    return Segment(
        prices=Moments.of(prices),
        minimum=min(prices),
        maximum=max(prices),
        first_ms=ordered[0][0],
        first=ordered[0][1],
        last_ms=ordered[-1][0],
        last=ordered[-1][1],
        returns=Moments.of_floats(returns),
    )


def segments_concat(segments: Iterable[Segment | None]) -> Segment | None:
    """Concatenate time-ordered, non-overlapping segments (None entries are skipped).

    Price moments combine n-way; the returns add, to each segment's own, the log return
    across every seam between adjacent minutes. Raises ValueError if segments overlap or
    are out of order.
    """
    parts = [segment for segment in segments if segment is not None]
    if len(parts) <= 1:
        return parts[0] if parts else None
    seams = []
    for before, after in zip(parts, parts[1:], strict=False):
        if after.first_ms <= before.last_ms:
            raise ValueError("segments must be in time order and must not overlap")
        if after.first_ms - before.last_ms == MINUTE_MS:
            seams.append(Moments(n=1, mean=Decimal(repr(_log_return(before.last, after.first)))))
    return Segment(
        prices=Moments.combine([p.prices for p in parts]),
        minimum=min(p.minimum for p in parts),
        maximum=max(p.maximum for p in parts),
        first_ms=parts[0].first_ms,
        first=parts[0].first,
        last_ms=parts[-1].last_ms,
        last=parts[-1].last,
        returns=Moments.combine([*(p.returns for p in parts), *seams]),
    )


def point_segment(minute_ms: int, price: Decimal) -> Segment:
    """The segment of one minute price (what `segment_of` gives for a single point, cheaply)."""
    if price <= 0:
        raise ValueError("prices must be positive")
    return Segment(Moments(n=1, mean=price), price, price, minute_ms, price, minute_ms, price)


def tail_segments(hour_ms: int, points: Iterable[tuple[int, Decimal]]) -> dict[int, Segment]:
    """Per offset j in 1–59, the segment of the points with minute ≥ hour_ms + j min (if any).

    One backward pass over the hour's (minute_ms, price) points: each step is Chan's update
    with a one-point part (Welford's), on prices shifted by the hour's last price (exactly, in
    Decimal) so the float64 moments keep ~1e-15 of the spread, like `Moments.combine`. Log
    returns are those of `segment_of` (same `_log_return`), accumulated the same way. The
    results equal `segment_of` of each tail to float64 rounding. Raises ValueError on a
    duplicate minute or a price that is not positive.
    """
    ordered = sorted(points, reverse=True)
    if not ordered:
        return {}
    last_ms, last = ordered[0]
    reference = last
    mean, m2 = 0.0, 0.0
    rn, rmean, rm2 = 0, 0.0, 0.0
    low = high = last
    after: tuple[int, Decimal] | None = None
    by_first: list[tuple[int, Segment]] = []
    for n, (ms, price) in enumerate(ordered, start=1):
        if price <= 0:
            raise ValueError("prices must be positive")
        if after is not None:
            if after[0] == ms:
                raise ValueError(f"duplicate minute {ms} in segment")
            if after[0] - ms == MINUTE_MS:
                value = _log_return(price, after[1])
                rn += 1
                delta = value - rmean
                rmean += delta / rn
                rm2 += delta * (value - rmean)
        shifted = float(CONTEXT.subtract(price, reference))
        delta = shifted - mean
        mean += delta / n
        m2 += delta * (shifted - mean)
        low, high = min(low, price), max(high, price)
        by_first.append(
            (
                ms,
                Segment(
                    prices=Moments(
                        n=n, mean=CONTEXT.add(reference, Decimal(repr(mean))), m2=Decimal(repr(m2))
                    ),
                    minimum=low,
                    maximum=high,
                    first_ms=ms,
                    first=price,
                    last_ms=last_ms,
                    last=last,
                    returns=Moments(n=rn, mean=Decimal(repr(rmean)), m2=Decimal(repr(rm2)))
                    if rn
                    else Moments(),
                ),
            )
        )
        after = (ms, price)
    tails: dict[int, Segment] = {}
    cursor = 0  # by_first runs newest first; the tail from offset j starts at the oldest point ≥ j
    for offset in range(59, 0, -1):
        start_ms = hour_ms + offset * MINUTE_MS
        while cursor + 1 < len(by_first) and by_first[cursor + 1][0] >= start_ms:
            cursor += 1
        if by_first[cursor][0] >= start_ms:
            tails[offset] = by_first[cursor][1]
    return tails


@dataclass(frozen=True, slots=True)
class WindowStats:
    """Statistics of one pair over a window [start, end) of `expected` minutes.

    `std` is the sample standard deviation (n − 1) of the minute last prices,
    `std_population` the population one (n); `relative_std` = std / mean; `volatility` the
    sample standard deviation of 1-minute log returns (dimensionless). Fields are None where
    undefined: every field when count = 0, `std` and `volatility` with fewer than two values.
    """

    count: int
    expected: int
    first: Decimal | None
    last: Decimal | None
    minimum: Decimal | None
    maximum: Decimal | None
    mean: float | None
    change: Decimal | None
    change_pct: float | None
    std: float | None
    std_population: float | None
    relative_std: float | None
    volatility: float | None
    first_ms: int | None = None
    last_ms: int | None = None

    @property
    def coverage(self) -> float:
        """count / expected, 0.0 for an empty window."""
        return self.count / self.expected if self.expected else 0.0

    @classmethod
    def of(cls, segment: Segment | None, *, expected: int) -> WindowStats:
        """Window statistics from the window's concatenated segment."""
        if segment is None:
            return cls(0, expected, *([None] * 11))
        mean = float(segment.prices.mean)
        std = segment.prices.std_sample
        change = segment.last - segment.first
        return cls(
            count=segment.count,
            expected=expected,
            first=segment.first,
            last=segment.last,
            minimum=segment.minimum,
            maximum=segment.maximum,
            mean=mean,
            change=change,
            change_pct=float(CONTEXT.divide(change * 100, segment.first)),
            std=std,
            std_population=segment.prices.std_population,
            relative_std=(std / mean) if std is not None and mean else None,
            volatility=segment.returns.std_sample,
            first_ms=segment.first_ms,
            last_ms=segment.last_ms,
        )
