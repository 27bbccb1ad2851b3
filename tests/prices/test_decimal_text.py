"""decimal_str and the tick items: plain decimal text without exponent or trailing fractional zeros."""

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from prices.domain import Tick, TickRow, TickSource, decimal_str
from prices.repository.dynamodb_items import (
    TICK_DECIMAL_FIELDS,
    TICK_PACKED_DECIMALS,
    tick_from_item,
    tick_row_from_item,
    tick_to_item,
)

T = datetime(2024, 5, 24, tzinfo=UTC)


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
    # source | observed_at | last_price | bid; the absent fields after them are dropped.
    assert item["fields"] == {"S": f"ticker||{text}|{text}"}
    assert set(item) == {"series", "minute", "fields"}


def test_the_packed_layout_names_every_decimal_field_of_a_tick_once():
    assert sorted(TICK_PACKED_DECIMALS) == sorted(TICK_DECIMAL_FIELDS)


def every_field_tick() -> Tick:
    values = {name: Decimal(f"{i + 1}.5{i}") for i, name in enumerate(TICK_DECIMAL_FIELDS)}
    observed = datetime(2024, 5, 24, 0, 1, 2, 345000, tzinfo=UTC)
    return Tick("bitfinex", "AAVE:USD", T, **values, observed_at=observed, suspect=True)


def test_a_tick_item_reads_back_as_the_same_tick_and_row():
    tick = every_field_tick()

    item = tick_to_item(tick, retention_days=3)

    back = tick_from_item(item)
    assert back == tick and back.observed_at == tick.observed_at
    assert tick_row_from_item(item) == TickRow.of(tick)
    assert item["ttl"]["N"] == str(int(T.timestamp()) + 60 + 3 * 86_400)


def test_a_candle_tick_keeps_its_empty_ticker_fields_absent():
    tick = Tick(
        "kraken", "XXBTZUSD", T, Decimal("0.00007181"), source=TickSource.CANDLE,
        open=Decimal("1"), high=Decimal("2"), low=Decimal("0.5"), volume=Decimal("3.25"),
    )  # fmt: skip

    back = tick_from_item(tick_to_item(tick))

    assert back == tick and back.bid is None and back.observed_at is None
    assert tick_row_from_item(tick_to_item(tick)) == TickRow.of(tick)


def test_items_of_the_earlier_layout_one_number_attribute_per_value_still_read():
    tick = every_field_tick()
    item = {
        "series": {"S": "bitfinex#AAVE:USD"},
        "minute": {"N": str(int(T.timestamp() * 1000))},
        "source": {"S": "ticker"},
        "observed_at": {"N": str(int(tick.observed_at.timestamp() * 1000))},
        "suspect": {"BOOL": True},
        **{name: {"N": str(getattr(tick, name))} for name in TICK_DECIMAL_FIELDS},
    }

    assert tick_from_item(item) == tick
    assert tick_row_from_item(item) == TickRow.of(tick)
