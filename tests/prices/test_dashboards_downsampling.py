"""Downsampling of chart series: LTTB, gap-aware lines under a point budget, candle widths."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from prices.dashboards.downsampling import (
    MINUTE_MS,
    bucket_minutes,
    candle_minutes,
    downsample_gapped,
    lttb_indices,
)

T0 = 1577750400000  # 2019-12-31T00:00:00Z


def minutes(*offsets: int, price: float = 100.0) -> list[tuple[int, float]]:
    return [(T0 + m * MINUTE_MS, price + m) for m in offsets]


# --- LTTB -------------------------------------------------------------------------------


def test_lttb_keeps_every_index_when_the_threshold_is_not_below_the_size():
    assert lttb_indices([0, 1, 2], [5, 6, 7], 3) == [0, 1, 2]
    assert lttb_indices([0, 1, 2], [5, 6, 7], 10) == [0, 1, 2]


def test_lttb_picks_the_point_making_the_largest_triangle_in_each_bucket():
    # n = 5, threshold = 3: one middle bucket [1, 4) whose triangle's third corner is point 4.
    xs = [0, 1, 2, 3, 4]
    ys = [0, 1, 9, 2, 0]

    assert lttb_indices(xs, ys, 3) == [0, 2, 4]


def test_lttb_with_threshold_two_keeps_first_and_last():
    assert lttb_indices([0, 1, 2, 3], [1, 2, 3, 4], 2) == [0, 3]


def test_lttb_keeps_a_single_spike_in_a_flat_line():
    xs = list(range(1000))
    ys = [10.0] * 1000
    ys[637] = 50.0

    assert 637 in lttb_indices(xs, ys, 50)


def test_lttb_rejects_a_threshold_below_two_and_mismatched_lengths():
    with pytest.raises(ValueError, match="threshold"):
        lttb_indices([0, 1, 2], [0, 1, 2], 1)
    with pytest.raises(ValueError, match="differ"):
        lttb_indices([0, 1, 2], [0, 1], 2)


@settings(max_examples=80, deadline=None)
@given(
    n=st.integers(min_value=3, max_value=400),
    threshold=st.integers(min_value=2, max_value=400),
    data=st.data(),
)
def test_lttb_returns_threshold_ascending_indices_with_both_ends(n, threshold, data):
    ys = data.draw(st.lists(st.floats(-1e6, 1e6), min_size=n, max_size=n))

    kept = lttb_indices(list(range(n)), ys, threshold)

    assert len(kept) == min(n, threshold)
    assert kept[0] == 0 and kept[-1] == n - 1
    assert all(a < b for a, b in zip(kept, kept[1:], strict=False))


# --- gap-aware lines ------------------------------------------------------------------------


def test_a_series_that_fits_is_returned_whole_with_a_break_at_every_missing_minute():
    series = downsample_gapped(minutes(0, 1, 2, 5, 6, 9), max_points=100)

    assert series.method == "none"
    assert series.xs == [
        T0,
        T0 + MINUTE_MS,
        T0 + 2 * MINUTE_MS,
        None,
        T0 + 5 * MINUTE_MS,
        T0 + 6 * MINUTE_MS,
        None,
        T0 + 9 * MINUTE_MS,
    ]
    assert series.ys == [100.0, 101.0, 102.0, None, 105.0, 106.0, None, 109.0]
    assert (series.points, series.gaps, series.gap_ms) == (6, 2, MINUTE_MS)


def test_no_points_give_an_empty_series():
    series = downsample_gapped([], max_points=10)

    assert (series.xs, series.ys, series.points, series.source_points) == ([], [], 0, 0)


def test_a_long_dense_series_is_reduced_with_lttb_to_the_budget():
    series = downsample_gapped(minutes(*range(43_200)), max_points=2000)

    assert series.method == "lttb"
    assert len(series.xs) == 2000
    assert series.gaps == 0
    assert series.xs[0] == T0 and series.xs[-1] == T0 + 43_199 * MINUTE_MS


def test_separators_count_against_the_budget():
    # 1,990 minutes with 20 one-minute holes: 1,990 points + 20 separators > 2,000.
    offsets = [m for m in range(2010) if m % 100 != 50]

    series = downsample_gapped(minutes(*offsets), max_points=2000)

    assert len(series.xs) <= 2000
    assert series.gaps == 20
    assert series.method == "lttb"


def test_a_gap_longer_than_the_resolution_stays_a_gap_after_downsampling():
    # Two dense days with a 3-hour hole: at 2,000 points a bucket is ~2 minutes wide.
    offsets = [m for m in range(2880) if not 1000 <= m < 1180]

    series = downsample_gapped(minutes(*offsets), max_points=2000)

    assert series.method == "lttb"
    assert series.gaps == 1
    hole = series.xs.index(None)
    assert series.xs[hole - 1] == T0 + 999 * MINUTE_MS
    assert series.xs[hole + 1] == T0 + 1180 * MINUTE_MS


def test_holes_shorter_than_the_resolution_are_joined_when_downsampling():
    # A minute missing every 10 minutes over 30 days: 3,888 holes cannot all be drawn.
    offsets = [m for m in range(43_200) if m % 10 != 5]

    series = downsample_gapped(minutes(*offsets), max_points=2000)

    assert series.gap_ms > MINUTE_MS
    assert series.gaps == 0
    assert len(series.xs) <= 2000


def test_max_points_below_three_is_rejected():
    with pytest.raises(ValueError, match="max_points"):
        downsample_gapped(minutes(0, 1, 2, 3), max_points=2)


@settings(max_examples=120, deadline=None)
@given(
    offsets=st.lists(st.integers(min_value=0, max_value=5000), min_size=1, max_size=1500, unique=True),
    max_points=st.integers(min_value=3, max_value=600),
)
def test_downsampled_lines_respect_the_budget_and_break_exactly_at_long_gaps(offsets, max_points):
    points = minutes(*sorted(offsets))
    source = dict(points)

    series = downsample_gapped(points, max_points=max_points)

    assert len(series.xs) == len(series.ys) <= max_points
    kept = [(x, y) for x, y in zip(series.xs, series.ys, strict=True) if x is not None]
    assert all(source[x] == y for x, y in kept)
    assert [x for x, _ in kept] == sorted({x for x, _ in kept})
    assert kept[0][0] == points[0][0] and kept[-1][0] == points[-1][0]
    input_xs = [x for x, _ in points]
    for i in range(1, len(series.xs)):
        if series.xs[i] is None or series.xs[i - 1] is None:
            continue
        between = [x for x in input_xs if series.xs[i - 1] <= x <= series.xs[i]]
        assert all(b - a <= series.gap_ms for a, b in zip(between, between[1:], strict=False))
    for i, x in enumerate(series.xs):
        if x is None:
            before, after = series.xs[i - 1], series.xs[i + 1]
            assert input_xs[input_xs.index(before) + 1] - before > series.gap_ms
            assert after == input_xs[input_xs.index(before) + 1]
    if (
        len(points) + sum(1 for a, b in zip(input_xs, input_xs[1:], strict=False) if b - a > MINUTE_MS)
        <= max_points
    ):
        assert series.method == "none" and series.points == len(points)


# --- candle and bar widths ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("span", "interval", "expected"),
    [
        (1440, 5, 5),  # 289 candles fit
        (43_200, 5, 30),  # 8,641 five-minute candles would not; 30-minute buckets do
        (43_200, 15, 30),
        (43_200, 60, 60),
        (60, 1440, 1440),
    ],
)
def test_candle_width_is_the_interval_or_the_next_round_multiple_that_fits(span, interval, expected):
    assert candle_minutes(span_minutes=span, interval_minutes=interval, max_candles=2000) == expected


@settings(max_examples=100, deadline=None)
@given(span=st.integers(min_value=1, max_value=200_000), max_buckets=st.integers(min_value=2, max_value=3000))
def test_bucket_width_never_makes_more_buckets_than_allowed(span, max_buckets):
    width = bucket_minutes(span_minutes=span, max_buckets=max_buckets)

    assert span // width + 1 <= max_buckets


def test_bucket_width_is_one_minute_when_every_minute_fits():
    assert bucket_minutes(span_minutes=1440, max_buckets=2000) == 1
