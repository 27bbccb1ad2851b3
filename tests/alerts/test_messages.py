"""Messages say what fired: pair, condition and price with units, thousands separators, UTC, pair link."""

from __future__ import annotations

from decimal import Decimal

import pytest

from alerts.models import AlertEvent
from alerts.notifications import message_render, number_text, utc_text
from tests.alerts.helpers import minute

pytestmark = pytest.mark.django_db


def render(make_rule, *, state="firing", observed=None, reference=None, **rule_fields):
    rule = make_rule(**rule_fields)
    event = AlertEvent(
        rule=rule,
        minute=minute(1),
        old_state="normal",
        new_state=state,
        observed_value=observed,
        reference_value=reference,
        message="m",
    )
    return message_render(event)


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (Decimal("70112.50"), "70,112.5"),
        (Decimal("1234567.000"), "1,234,567"),
        (Decimal("7.181E-5"), "0.00007181"),
        (Decimal("1E+3"), "1,000"),
        (Decimal("-0.0"), "0"),
    ],
)
def test_numbers_have_thousands_separators_and_never_an_exponent(value, text):
    assert number_text(value) == text


def test_times_name_the_utc_zone():
    assert utc_text(minute(1)) == "2024-01-01 12:01 UTC"


def test_a_crossing_leads_with_pair_condition_and_prices_with_units(make_rule):
    message = render(
        make_rule,
        name="BTC 70k",
        condition="crosses_above",
        threshold=Decimal("70000"),
        observed=Decimal("70112.5"),
        reference=Decimal("70000"),
    )

    assert message.subject == "BTC/USD crossed above 70,000 USD — now 70,112.5 USD · BTC 70k"
    assert "Observed value:  70,112.5 USD" in message.text
    assert "Minute:          2024-01-01 12:01 UTC" in message.text
    assert "Price page:      http://127.0.0.1:8000/pairs/BTCUSD/" in message.text


@pytest.mark.parametrize(
    ("fields", "observed", "reference", "title"),
    [
        (
            {"condition": "price_below", "threshold": Decimal("0.00001")},
            "0.000009",
            "0.00001",
            "BTC/USD is below 0.00001 USD — now 0.000009 USD",
        ),
        (
            {"condition": "pct_change", "percent": Decimal("5"), "window_minutes": 60, "threshold": None},
            "105",
            "100",
            "BTC/USD moved +5 % in 60 min — now 105 USD",
        ),
        (
            {"condition": "pct_change", "percent": Decimal("5"), "window_minutes": 60, "threshold": None},
            "94.5",
            "100",
            "BTC/USD moved −5.5 % in 60 min — now 94.5 USD",
        ),
        (
            {"condition": "spike", "multiplier": Decimal("3"), "window_minutes": 60, "threshold": None},
            "3100",
            "1000",
            "BTC/USD spiked to 3.1× its 60-min average of 1,000 USD — now 3,100 USD",
        ),
        (
            {
                "condition": "volatility_above",
                "percent": Decimal("2"),
                "window_minutes": 60,
                "threshold": None,
            },
            "2.345",
            "2",
            "BTC/USD volatility 2.35 % over 60 min is above 2 %",
        ),
        (
            {"condition": "no_data", "window_minutes": 10, "threshold": None},
            "12",
            "10",
            "BTC/USD has had no prices for 12 min (limit 10 min)",
        ),
    ],
)
def test_each_condition_says_what_fired(make_rule, fields, observed, reference, title):
    message = render(make_rule, observed=Decimal(observed), reference=Decimal(reference), **fields)

    assert message.payload["title"] == title


def test_a_pair_with_a_colon_shows_its_quote(make_rule):
    message = render(make_rule, pair="AAVE:USD", observed=Decimal("101"), reference=Decimal("100"))

    assert message.payload["title"] == "AAVE/USD is above 100 USD — now 101 USD"
    assert message.payload["links"]["dashboard"] == "http://127.0.0.1:8000/pairs/AAVE:USD/"


def test_a_recovery_says_back_to_normal_with_the_price(make_rule):
    message = render(make_rule, state="normal", observed=Decimal("99.5"), reference=Decimal("100"))

    assert message.payload["title"] == "BTC/USD is back to normal — now 99.5 USD"
    assert message.level == "success"
