"""decimal_str and the tick items: plain decimal text without exponent or trailing fractional zeros."""

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from prices.domain import Tick, decimal_str
from prices.repository.dynamodb_items import TICK_DECIMAL_FIELDS, tick_to_item


@pytest.mark.parametrize(
    ("value", "text"),
    [
        ("7240.1", "7240.1"),
        ("7240.10", "7240.1"),
        ("7240.0", "7240"),
        ("100", "100"),
        ("1E+2", "100"),
        ("1.10E+3", "1100"),
        ("7.181e-05", "0.00007181"),
        ("1E-7", "0.0000001"),
        ("0.000001", "0.000001"),
        ("0E-8", "0"),
        ("0.00", "0"),
        ("-0.50", "-0.5"),
        ("-12.5", "-12.5"),
        ("0", "0"),
    ],
)
def test_decimal_text_is_plain_without_trailing_fractional_zeros(value, text):
    tick = Tick("bitfinex", "BTCUSD", datetime(2024, 5, 24, tzinfo=UTC), Decimal(value), bid=Decimal(value))

    item = tick_to_item(tick)

    assert decimal_str(Decimal(value)) == text
    assert item["last_price"] == item["bid"] == {"N": text}
    assert set(TICK_DECIMAL_FIELDS) & set(item) == {"last_price", "bid"}
