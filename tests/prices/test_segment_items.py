"""Segment strings of rollups, blocks and tails: float64 moments round-trip; the older layout is read."""

from decimal import Decimal

import pytest

from prices.repository.dynamodb_items import segment_from_item, segment_to_item
from prices.statistics import segment_of

MIN = 60_000


def test_a_segment_round_trips_exactly_through_its_string():
    segment = segment_of([(0, Decimal("7240.04860029")), (MIN, Decimal("7241.5")), (3 * MIN, Decimal("0.5"))])

    assert segment_from_item(segment_to_item(segment)) == segment


def test_a_segment_stored_with_decimal_moments_and_no_shift_is_read():
    old = {"S": "3|100000.00666666666667|0.00026666666666666667|99999.99|100000.02|0|99999.99|"
                "180000|100000.01|1|0.00000020000000000000|0"}  # fmt: skip

    segment = segment_from_item(old)

    assert (segment.count, segment.first, segment.last, segment.maximum) == (
        3, Decimal("99999.99"), Decimal("100000.01"), Decimal("100000.02")
    )  # fmt: skip
    assert segment.prices.mean == pytest.approx(100000.00666666666667, rel=1e-15)
    assert segment.prices.std_sample == pytest.approx((0.00026666666666666667 / 2) ** 0.5, rel=1e-12)
    assert (segment.returns.n, segment.returns.mean) == (1, pytest.approx(2e-7))
