"""prices.selectors.pairs_page: the pair list's filtering, sorting and paging, without HTTP."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from prices.domain import EXCHANGE_BITFINEX, Pair
from prices.selectors import PairOverview, pairs_page
from prices.statistics import WindowStats

MINUTE = datetime(2019, 12, 31, 23, 59, tzinfo=UTC)
EMPTY = WindowStats.of(None, expected=1440)


def _row(name: str, price: str, std: float | None) -> PairOverview:
    return PairOverview(EXCHANGE_BITFINEX, Pair.parse(name), Decimal(price), MINUTE, replace(EMPTY, std=std))


OVERVIEW = [
    _row("BTCUSD", "7200", 30.0),
    _row("ETHBTC", "0.018", None),
    _row("ETHUSD", "130", 2.5),
    _row("LTCUSD", "41", 0.4),
    _row("AAVE:USD", "90", 7.0),
]


def test_pairs_filter_by_quote_and_search_case_insensitively():
    page = pairs_page(overview=OVERVIEW, quote="usd", search="eth")

    assert [o.pair.name for o in page.results] == ["ETHUSD"]
    assert page.count == 1


def test_pairs_sort_descending_with_null_keys_last():
    page = pairs_page(overview=OVERVIEW, ordering="-std_24h")

    assert [o.pair.name for o in page.results] == ["BTCUSD", "AAVE:USD", "ETHUSD", "LTCUSD", "ETHBTC"]


def test_pairs_pages_join_to_the_whole_sorted_list():
    pages = [pairs_page(overview=OVERVIEW, ordering="last_price", page=n, page_size=2) for n in (1, 2, 3, 4)]

    assert [p.pages for p in pages] == [3, 3, 3, 3]
    assert [o.pair.name for p in pages for o in p.results] == [
        "ETHBTC",
        "LTCUSD",
        "AAVE:USD",
        "ETHUSD",
        "BTCUSD",
    ]
    assert pages[3].results == []


def test_an_empty_overview_has_one_empty_page():
    page = pairs_page(overview=[])

    assert (page.count, page.pages, page.results) == (0, 1, [])


def test_an_unknown_ordering_is_a_value_error():
    with pytest.raises(ValueError, match="colour"):
        pairs_page(overview=OVERVIEW, ordering="colour")
