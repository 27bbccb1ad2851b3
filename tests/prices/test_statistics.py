"""Mergeable statistics: moments, segments and window stats against direct computation."""

import math
import statistics
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from prices.statistics import Moments, WindowStats, segment_of, segments_concat

MIN = 60_000


def test_std_of_prices_near_1e5_moving_by_a_cent_is_exact():
    prices = [Decimal("100000.00") + Decimal("0.01") * (i % 3) for i in range(1440)]

    moments = Moments.of(prices)

    expected = statistics.stdev(prices)  # exact Decimal arithmetic in the standard library
    assert moments.std_sample == pytest.approx(float(expected), rel=1e-12)
    assert moments.std_population == pytest.approx(float(statistics.pstdev(prices)), rel=1e-12)


def test_naive_float_sum_of_squares_would_fail_where_moments_do_not():
    prices = [Decimal("100000.01"), Decimal("100000.02"), Decimal("100000.03")]
    floats = [float(p) for p in prices]
    naive = (sum(x * x for x in floats) - sum(floats) ** 2 / 3) / 2

    moments = Moments.of(prices)

    assert moments.variance_sample == pytest.approx(0.0001, rel=1e-12)
    assert abs(naive - 0.0001) / 0.0001 > 1e-3  # the seed's one-pass formula loses digits


def test_constant_price_has_zero_std_not_an_error():
    moments = Moments.of([Decimal("58512")] * 60)

    assert moments.std_sample == 0.0
    assert moments.std_population == 0.0


def test_std_of_one_value_is_undefined_and_population_std_is_zero():
    moments = Moments.of([Decimal("7240.04860029")])

    assert moments.std_sample is None
    assert moments.std_population == 0.0


def test_merging_moments_equals_moments_of_the_union():
    a = [Decimal("1.5"), Decimal("2.25"), Decimal("3")]
    b = [Decimal("10"), Decimal("0.001")]

    merged = Moments.of(a).merge(Moments.of(b))

    direct = Moments.of(a + b)
    assert merged.n == 5
    assert float(merged.mean) == pytest.approx(float(direct.mean), rel=1e-15)
    assert float(merged.m2) == pytest.approx(float(direct.m2), rel=1e-14)


def test_segment_counts_returns_only_between_consecutive_minutes():
    points = [
        (0, Decimal("100")),
        (MIN, Decimal("110")),
        (3 * MIN, Decimal("121")),
        (4 * MIN, Decimal("121")),
    ]

    segment = segment_of(points)

    assert segment.returns.n == 2  # 0→1 and 3→4; the gap 1→3 is not a 1-minute return
    returns = [math.log(110 / 100), math.log(121 / 121)]
    assert segment.returns.std_sample == pytest.approx(statistics.stdev(returns), rel=1e-12)


def test_concatenation_adds_the_return_across_the_boundary_only_when_adjacent():
    left = segment_of([(0, Decimal("100")), (MIN, Decimal("101"))])
    adjacent = segment_of([(2 * MIN, Decimal("99"))])
    apart = segment_of([(5 * MIN, Decimal("99"))])

    assert left.then(adjacent).returns.n == 2
    assert left.then(apart).returns.n == 1


def test_concatenation_rejects_overlapping_segments():
    segment = segment_of([(0, Decimal("1")), (MIN, Decimal("2"))])

    with pytest.raises(ValueError):
        segment.then(segment)


def test_window_stats_of_an_empty_window_is_all_null_with_zero_coverage():
    stats = WindowStats.of(None, expected=1440)

    assert stats.count == 0
    assert stats.coverage == 0.0
    assert stats.std is None and stats.mean is None and stats.change_pct is None


def test_window_stats_report_change_and_relative_std():
    segment = segment_of([(0, Decimal("100")), (MIN, Decimal("110")), (2 * MIN, Decimal("105"))])

    stats = WindowStats.of(segment, expected=4)

    assert stats.change == Decimal("5")
    assert stats.change_pct == pytest.approx(5.0)
    assert stats.coverage == 0.75
    assert stats.relative_std == pytest.approx(statistics.stdev([100, 110, 105]) / 105, rel=1e-12)


prices_strategy = st.decimals(min_value=Decimal("0.00001"), max_value=Decimal("100000"), places=5)


@settings(max_examples=150, deadline=None)
@given(
    minutes=st.lists(st.integers(min_value=0, max_value=300), min_size=1, max_size=120, unique=True),
    data=st.data(),
)
def test_concatenated_segments_equal_direct_statistics(minutes, data):
    minutes.sort()
    points = [(m * MIN, data.draw(prices_strategy)) for m in minutes]
    cuts = sorted(
        set(data.draw(st.lists(st.integers(min_value=1, max_value=len(points) - 1 or 1), max_size=4)))
    )
    pieces, previous = [], 0
    for cut in [*cuts, len(points)]:
        if cut > previous:
            pieces.append(segment_of(points[previous:cut]))
            previous = cut

    combined = segments_concat(pieces)

    direct = segment_of(points)
    assert combined.count == direct.count
    assert combined.first == direct.first and combined.last == direct.last
    assert combined.minimum == direct.minimum and combined.maximum == direct.maximum
    assert float(combined.prices.mean) == pytest.approx(float(direct.prices.mean), rel=1e-14)
    if direct.count >= 2:
        # Equal prices have std 0, computed to float64 noise (e.g. 1.7e-17 for three 1.1s):
        # the absolute tolerance is that noise at the prices' own scale.
        scale = float(max(price for _, price in points))
        noise = 1e-14 * scale
        assert combined.prices.std_sample == pytest.approx(direct.prices.std_sample, rel=1e-9, abs=noise)
    assert combined.returns.n == direct.returns.n
    if direct.returns.n >= 2:
        assert combined.returns.std_sample == pytest.approx(direct.returns.std_sample, rel=1e-9, abs=1e-15)


def test_a_window_of_hours_near_1e5_moving_by_cents_keeps_its_std():
    prices = [Decimal("99999.99") + Decimal("0.01") * ((i % 3) + i // 60) for i in range(300)]
    hours = [segment_of([(m * MIN, prices[m]) for m in range(h * 60, h * 60 + 60)]) for h in range(5)]

    window = segments_concat(hours)

    assert window.prices.std_sample == pytest.approx(float(statistics.stdev(prices)), rel=1e-12)
    assert window.prices.std_population == pytest.approx(float(statistics.pstdev(prices)), rel=1e-12)


def test_a_segment_extended_by_one_minute_equals_it_followed_by_that_point():
    segment = segment_of(
        [(0, Decimal("99999.99")), (MIN, Decimal("100000.01")), (3 * MIN, Decimal("100000"))]
    )

    extended = segment.extended(4 * MIN, Decimal("99999.98"))

    direct = segment_of(
        [
            (0, Decimal("99999.99")),
            (MIN, Decimal("100000.01")),
            (3 * MIN, Decimal("100000")),
            (4 * MIN, Decimal("99999.98")),
        ]
    )
    assert (extended.count, extended.minimum, extended.maximum, extended.last_ms, extended.last) == (
        4, Decimal("99999.98"), Decimal("100000.01"), 4 * MIN, Decimal("99999.98")
    )  # fmt: skip
    assert extended.prices.std_sample == pytest.approx(direct.prices.std_sample, rel=1e-12)
    assert extended.returns.n == 2
    assert extended.returns.std_sample == pytest.approx(direct.returns.std_sample, rel=1e-12)
    with pytest.raises(ValueError):
        extended.extended(4 * MIN, Decimal("1"))


def test_window_stats_of_parts_equal_window_stats_of_their_concatenation():
    parts = [
        segment_of([(0, Decimal("7240.1")), (MIN, Decimal("7241.25"))]),
        None,
        segment_of([(2 * MIN, Decimal("7239")), (3 * MIN, Decimal("7239.5"))]),
        segment_of([(9 * MIN, Decimal("7300"))]),
    ]

    stats = WindowStats.of_parts(parts, expected=10)

    assert stats == WindowStats.of(segments_concat(parts), expected=10)
    assert stats.count == 5 and stats.last == Decimal("7300") and stats.change == Decimal("59.9")


def test_moments_shift_prices_by_an_integer_so_a_cent_at_1e5_keeps_its_digits():
    moments = Moments.of([Decimal("99999.99"), Decimal("100000.01")])

    assert moments.shift == 99999
    assert moments.offset == pytest.approx(1.0, rel=1e-15)
    assert moments.m2 == pytest.approx(0.0002, rel=1e-13)


def test_equal_prices_split_anywhere_have_a_std_of_float64_noise_at_most():
    points = [(m * MIN, Decimal("1.1")) for m in range(3)]

    combined = segments_concat([segment_of(points[:1]), segment_of(points[1:])])

    assert combined.prices.std_sample == pytest.approx(0.0, abs=1e-14 * 1.1)
    assert segment_of(points).prices.std_sample == pytest.approx(0.0, abs=1e-14 * 1.1)
