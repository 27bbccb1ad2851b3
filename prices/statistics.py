"""Mergeable price statistics: moments, min/max, first/last and 1-minute log returns (pure).

A `Segment` summarises the minute prices of one pair over a span of time (an hour rollup,
or the minutes at the edge of a window). Segments of consecutive spans are concatenated
with Chan et al.'s parallel update of the mean and M2 (sum of squared deviations), so a
24 h window is answered from a few stored hour segments instead of 1,440 ticks, with the
same result as computing directly from the ticks.

Arithmetic: float64, with updates that are numerically stable. Stored prices stay Decimal
(and so do first, last, minimum, maximum and change); each price is converted once, as its
difference from the segment's `shift` (an integer: the whole part of a price of the segment),
taken exactly in Decimal and then rounded to float64. So prices near 1e5 that move by 0.01
keep their spread to ~1e-15 relative, where float64 of the price itself would lose ~1e-9 of it.
From there: a point is added with Welford's update, parts are merged with Chan, Golub &
LeVeque's update (δ = mean_b − mean_a, M2 = M2_a + M2_b + δ²·n_a·n_b/n), and a sample is
taken in two passes with exactly rounded sums (math.fsum). Each adds only non-negative terms
to M2, so nothing large cancels and a constant price has M2 = 0 exactly; two parts' shifts
differ by an integer, so rebasing one onto the other is exact too. Log returns are
ln(after / before) of the exact Decimal ratio, in float64, accumulated the same way (shift 0).
Results are float64, equal to a direct two-pass computation to ~1e-13 relative.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Context, Decimal

from prices.domain import MINUTE_MS

# Exact enough for the ratio of two prices (float64 keeps 17 digits of it).
CONTEXT = Context(prec=20)


def shift_of(price: Decimal) -> int:
    """The reference a segment's prices are shifted by: the whole part of `price`."""
    return int(price)


@dataclass(frozen=True, slots=True)
class Moments:
    """Count `n`, mean and `m2` = Σ(x − mean)² of a sample, in float64.

    The mean is `shift` + `offset`: values are shifted by the integer `shift` (exactly, in
    Decimal) before they are rounded to float64, so `offset` and `m2` keep the digits of the
    spread (see the module docstring). Log returns use shift 0.
    """

    n: int = 0
    offset: float = 0.0
    m2: float = 0.0
    shift: int = 0

    @property
    def mean(self) -> float:
        """The mean of the values (float64)."""
        return self.shift + self.offset

    @classmethod
    def of(cls, values: Iterable[Decimal]) -> Moments:
        """Moments of Decimal `values`, shifted by the first one's whole part (two-pass, fsum)."""
        values = list(values)
        if not values:
            return cls()
        shift = shift_of(values[0])
        xs = [float(value - shift) for value in values]
        offset = math.fsum(xs) / len(xs)
        m2 = math.fsum([(x - offset) ** 2 for x in xs])
        return cls(n=len(xs), offset=offset, m2=m2, shift=shift)

    @classmethod
    def of_floats(cls, values: Sequence[float]) -> Moments:
        """Moments of float64 values (two-pass with exactly rounded sums), shift 0."""
        if not values:
            return cls()
        mean = math.fsum(values) / len(values)
        m2 = math.fsum([(value - mean) ** 2 for value in values])
        return cls(n=len(values), offset=mean, m2=m2)

    def merge(self, other: Moments) -> Moments:
        """The moments of both samples together (see `combine`)."""
        return Moments.combine([self, other])

    @staticmethod
    def combine(parts: Sequence[Moments]) -> Moments:
        """The moments of the union of disjoint samples (Chan, Golub & LeVeque, n-way form).

        mean = Σ nᵢ·meanᵢ / n and M2 = Σ M2ᵢ + Σ nᵢ·(meanᵢ − mean)², with exactly rounded sums
        (math.fsum): a second pass over the parts' means, so no large terms cancel. The parts'
        means are taken relative to the first part's shift (an exact integer rebase).
        """
        parts = [p for p in parts if p.n]
        if len(parts) <= 1:
            return parts[0] if parts else Moments()
        shift = parts[0].shift
        n = sum(p.n for p in parts)
        offsets = [p.offset + (p.shift - shift) if p.shift != shift else p.offset for p in parts]
        mean = math.fsum([p.n * o for p, o in zip(parts, offsets, strict=True)]) / n
        m2 = math.fsum(
            [*(p.m2 for p in parts), *(p.n * (o - mean) ** 2 for p, o in zip(parts, offsets, strict=True))]
        )
        return Moments(n=n, offset=mean, m2=m2, shift=shift)

    @property
    def variance_sample(self) -> float | None:
        """Sample variance M2/(n−1); None when n < 2."""
        return self.m2 / (self.n - 1) if self.n >= 2 else None

    @property
    def std_sample(self) -> float | None:
        """Sample standard deviation √(M2/(n−1)); None when n < 2."""
        return math.sqrt(max(self.m2 / (self.n - 1), 0.0)) if self.n >= 2 else None

    @property
    def std_population(self) -> float | None:
        """Population standard deviation √(M2/n); None when n = 0."""
        return math.sqrt(max(self.m2 / self.n, 0.0)) if self.n >= 1 else None


NO_RETURNS = Moments()


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
    returns: Moments = NO_RETURNS

    @property
    def count(self) -> int:
        """Number of minute prices in the segment."""
        return self.prices.n

    def then(self, later: Segment) -> Segment:
        """This segment followed by a later, non-overlapping one (see `segments_concat`)."""
        result = segments_concat([self, later])
        assert result is not None
        return result

    def extended(self, minute_ms: int, price: Decimal) -> Segment:
        """This segment followed by one later minute price (Welford's update; cheap).

        Equal to `self.then(point_segment(minute_ms, price))`. Raises ValueError if the minute
        is not after the segment or the price is not positive.
        """
        if minute_ms <= self.last_ms:
            raise ValueError("segments must be in time order and must not overlap")
        if price <= 0:
            raise ValueError("prices must be positive")
        p = self.prices
        n = p.n + 1
        x = float(price - p.shift)
        delta = x - p.offset
        offset = p.offset + delta / n
        prices = Moments(n, offset, p.m2 + delta * (x - offset), p.shift)
        returns = self.returns
        if minute_ms - self.last_ms == MINUTE_MS:
            r = _log_return(self.last, price)
            rn = returns.n + 1
            delta = r - returns.offset
            mean = returns.offset + delta / rn
            returns = Moments(rn, mean, returns.m2 + delta * (r - mean))
        return Segment(
            prices,
            price if price < self.minimum else self.minimum,
            price if price > self.maximum else self.maximum,
            self.first_ms,
            self.first,
            minute_ms,
            price,
            returns,
        )


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


def _concat(parts: Sequence[Segment]) -> tuple:
    """The fields of the concatenation of time-ordered segments (at least one), unpacked.

    (n, offset, m2, shift, minimum, maximum, returns n, mean, m2): pairwise Chan merges of the
    price moments on the first part's shift; the returns add, to each part's own, the log
    return across every seam between adjacent minutes (Welford). Raises ValueError if parts
    overlap or are out of order.
    """
    head = parts[0]
    p = head.prices
    n, offset, m2, shift = p.n, p.offset, p.m2, p.shift
    r = head.returns
    rn, rmean, rm2 = r.n, r.offset, r.m2
    low, high = head.minimum, head.maximum
    before = head
    for part in parts[1:]:
        gap = part.first_ms - before.last_ms
        if gap <= 0:
            raise ValueError("segments must be in time order and must not overlap")
        if gap == MINUTE_MS:
            x = _log_return(before.last, part.first)
            rn += 1
            delta = x - rmean
            rmean += delta / rn
            rm2 += delta * (x - rmean)
        q = part.returns
        if q.n:
            total = rn + q.n
            delta = q.offset - rmean
            rmean += delta * q.n / total
            rm2 += q.m2 + delta * delta * rn * q.n / total
            rn = total
        p = part.prices
        total = n + p.n
        delta = (p.offset + (p.shift - shift) if p.shift != shift else p.offset) - offset
        offset += delta * p.n / total
        m2 += p.m2 + delta * delta * n * p.n / total
        n = total
        if part.minimum < low:
            low = part.minimum
        if part.maximum > high:
            high = part.maximum
        before = part
    return n, offset, m2, shift, low, high, rn, rmean, rm2


def segments_concat(segments: Iterable[Segment | None]) -> Segment | None:
    """Concatenate time-ordered, non-overlapping segments (None entries are skipped).

    Price moments merge pairwise (Chan et al.); the returns add, to each segment's own, the
    log return across every seam between adjacent minutes. Raises ValueError if segments
    overlap or are out of order.
    """
    parts = [segment for segment in segments if segment is not None]
    if len(parts) <= 1:
        return parts[0] if parts else None
    n, offset, m2, shift, low, high, rn, rmean, rm2 = _concat(parts)
    return Segment(
        prices=Moments(n, offset, m2, shift),
        minimum=low,
        maximum=high,
        first_ms=parts[0].first_ms,
        first=parts[0].first,
        last_ms=parts[-1].last_ms,
        last=parts[-1].last,
        returns=Moments(rn, rmean, rm2) if rn else NO_RETURNS,
    )


def point_segment(minute_ms: int, price: Decimal) -> Segment:
    """The segment of one minute price (what `segment_of` gives for a single point, cheaply)."""
    if price <= 0:
        raise ValueError("prices must be positive")
    shift = shift_of(price)
    return Segment(
        Moments(1, float(price - shift), 0.0, shift), price, price, minute_ms, price, minute_ms, price
    )


def tail_segments(hour_ms: int, points: Iterable[tuple[int, Decimal]]) -> dict[int, Segment]:
    """Per offset j in 1–59, the segment of the points with minute ≥ hour_ms + j min (if any).

    One backward pass over the hour's (minute_ms, price) points: each step is Welford's
    update, on prices shifted by the whole part of the hour's last price (see `Moments`). Log
    returns are those of `segment_of` (same `_log_return`), accumulated the same way. The
    results equal `segment_of` of each tail to float64 rounding. Raises ValueError on a
    duplicate minute or a price that is not positive.
    """
    ordered = sorted(points, reverse=True)
    if not ordered:
        return {}
    last_ms, last = ordered[0]
    shift = shift_of(last)
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
        shifted = float(price - shift)
        delta = shifted - mean
        mean += delta / n
        m2 += delta * (shifted - mean)
        low, high = min(low, price), max(high, price)
        by_first.append(
            (
                ms,
                Segment(
                    prices=Moments(n, mean, m2, shift),
                    minimum=low,
                    maximum=high,
                    first_ms=ms,
                    first=price,
                    last_ms=last_ms,
                    last=last,
                    returns=Moments(rn, rmean, rm2) if rn else NO_RETURNS,
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
        return cls.of_parts((segment,), expected=expected)

    @classmethod
    def of_parts(cls, parts: Iterable[Segment | None], *, expected: int) -> WindowStats:
        """Window statistics of the concatenation of time-ordered segments (None skipped).

        Equal to `of(segments_concat(parts))`, without building the concatenated segment.
        """
        parts = [part for part in parts if part is not None]
        if not parts:
            return cls(0, expected, *([None] * 11))
        n, offset, m2, shift, low, high, rn, _, rm2 = _concat(parts)
        head, tail = parts[0], parts[-1]
        mean = shift + offset
        std = math.sqrt(max(m2 / (n - 1), 0.0)) if n >= 2 else None
        change = tail.last - head.first
        return cls(
            n,
            expected,
            head.first,
            tail.last,
            low,
            high,
            mean,
            change,
            float(CONTEXT.divide(change * 100, head.first)),
            std,
            math.sqrt(max(m2 / n, 0.0)),
            (std / mean) if std is not None and mean else None,
            math.sqrt(max(rm2 / (rn - 1), 0.0)) if rn >= 2 else None,
            head.first_ms,
            tail.last_ms,
        )
