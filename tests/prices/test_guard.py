"""The cross-exchange bad-tick guard (prices/guard.py) on real 2019-12-31 Bitfinex closes."""

from __future__ import annotations

import math
import statistics
from decimal import Decimal

import pytest

from prices.exchanges import Market
from prices.guard import GuardSettings, deviation, median, suspect_pairs
from tests.realdata import closes

BTC_USD = Market("BTC", "USD")


def real_volatility(pair: str, minutes: int = 60) -> tuple[Decimal, float]:
    """The last close of the first `minutes` recorded minutes of 2019-12-31 and the sample std
    of their 1-minute log returns (computed here, independently of prices.statistics)."""
    values = [price for _, price in closes(pair, "19-12-31")[:minutes]]
    returns = [math.log(float(b / a)) for a, b in zip(values, values[1:], strict=False)]
    return values[-1], statistics.stdev(returns)


def test_median_is_exact_in_decimal_for_odd_and_even_counts():
    assert median([Decimal("7200.1"), Decimal("7190"), Decimal("7210.3")]) == Decimal("7200.1")
    assert median([Decimal("0.1"), Decimal("0.2")]) == Decimal("0.15")
    with pytest.raises(ValueError, match="empty"):
        median([])


def test_deviation_is_symmetric_for_a_double_and_a_half():
    assert deviation(Decimal(2), Decimal(1)) == pytest.approx(math.log(2))
    assert deviation(Decimal("0.5"), Decimal(1)) == pytest.approx(math.log(2))
    assert deviation(Decimal("7200.5"), Decimal("7200.5")) == 0
    with pytest.raises(ValueError, match="non-positive"):
        deviation(Decimal(0), Decimal(1))


def test_a_price_beyond_the_multiple_of_the_real_volatility_is_suspect_and_one_within_is_not():
    last, vol = real_volatility("BTCUSD")
    assert 0 < vol < 0.01  # a real hour of BTCUSD: well under 1 % per minute
    rules = GuardSettings(multiple=10, floor=vol)  # the floor below the multiple: volatility decides
    reference = [last, last * Decimal("1.0001"), last * Decimal("0.9999")]  # median = last
    just_in = last * Decimal(math.exp(9.9 * vol))
    just_out = last * Decimal(math.exp(10.1 * vol))

    found = suspect_pairs(
        prices={"IN": just_in, "OUT": just_out, "LOW": last / Decimal(math.exp(10.1 * vol))},
        markets={"IN": BTC_USD, "OUT": BTC_USD, "LOW": BTC_USD},
        others={BTC_USD: reference},
        volatility={"IN": vol, "OUT": vol, "LOW": vol},
        settings=rules,
    )

    assert found == {"OUT", "LOW"}


def test_the_floor_holds_when_the_volatility_is_tiny_or_not_known_yet():
    last, _ = real_volatility("BTCUSD")
    rules = GuardSettings(multiple=10, floor=0.02)
    two_pct_off = last * Decimal("1.019")
    three_pct_off = last * Decimal("1.03")

    found = suspect_pairs(
        prices={"TINY": two_pct_off, "NEW": two_pct_off, "NEW_FAR": three_pct_off},
        markets={"TINY": BTC_USD, "NEW": BTC_USD, "NEW_FAR": BTC_USD},
        others={BTC_USD: [last]},
        volatility={"TINY": 1e-6, "NEW": None},  # NEW_FAR missing: not known either
        settings=rules,
    )

    assert found == {"NEW_FAR"}


def test_a_pair_with_nothing_to_compare_is_never_suspect():
    found = suspect_pairs(
        prices={"ALONE": Decimal(100), "UNKNOWN": Decimal(100), "ZEROREF": Decimal(100)},
        markets={"ALONE": Market("ABC", "USD"), "UNKNOWN": None, "ZEROREF": BTC_USD},
        others={BTC_USD: [Decimal(0)]},
        volatility={},
        settings=GuardSettings(),
    )

    assert found == set()
