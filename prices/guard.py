"""The cross-exchange bad-tick guard: a price far from the other exchanges' median is `suspect`.

A polled price of one exchange is compared with the median of the newest prices of the same
normalised market (prices.exchanges.Market) on the other configured exchanges. Its deviation
is the absolute log ratio |ln(price / median)|, so that a price twice the median and one half
of it deviate alike. It is suspect when that exceeds

    max(floor, multiple × volatility)

where `volatility` is the pair's recent volatility on its own exchange: the sample standard
deviation of its 1-minute log returns over the live 1-hour window (WindowStats.volatility),
and `floor` a deviation always tolerated (exchanges quote the same market a little apart; a
stablecoin's volatility is near zero). A pair whose volatility is not known yet (fewer than
two minutes) is judged against the floor alone. A pair no other exchange quotes, or whose
market cannot be told, is never suspect: there is nothing to compare it with.

A suspect price is stored all the same, flagged: the guard never drops data.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal

from prices.exchanges import Market


@dataclass(frozen=True, slots=True)
class GuardSettings:
    """`multiple` of the volatility and `floor` (a deviation as a fraction: 0.02 = 2 %)."""

    multiple: float = 10.0
    floor: float = 0.02


def median(values: Iterable[Decimal]) -> Decimal:
    """The median of `values` (the mean of the middle two for an even count); exact in Decimal
    (statistics.median, as the market endpoint's). Raises ValueError (StatisticsError) for none."""
    return statistics.median(values)


def deviation(price: Decimal, reference: Decimal) -> float:
    """|ln(price / reference)|: 0 for equal prices, ln 2 for twice or half. Both must be > 0."""
    if price <= 0 or reference <= 0:
        raise ValueError(f"deviation of non-positive prices: {price} vs {reference}")
    return abs(math.log(float(price / reference)))


def suspect_pairs(
    *,
    prices: Mapping[str, Decimal],
    markets: Mapping[str, Market | None],
    others: Mapping[Market, Iterable[Decimal]],
    volatility: Mapping[str, float | None],
    settings: GuardSettings,
) -> set[str]:
    """The pairs of `prices` (one exchange's minute, pair → last price) that are suspect.

    `markets`: each pair's normalised market (None: unknown); `others`: per market, the
    newest prices on the other exchanges; `volatility`: each pair's 1-hour volatility on
    this exchange (missing or None: not known yet).
    """
    suspect = set()
    for pair, price in prices.items():
        market = markets.get(pair)
        reference = [p for p in others.get(market, ()) if p > 0] if market is not None else []
        if not reference or price <= 0:
            continue
        vol = volatility.get(pair)
        threshold = max(settings.floor, settings.multiple * vol) if vol is not None else settings.floor
        if deviation(price, median(reference)) > threshold:
            suspect.add(pair)
    return suspect
