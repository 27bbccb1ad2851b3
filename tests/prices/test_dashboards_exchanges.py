"""Dashboards over several exchanges: the overview's exchange filter and pair pages per exchange."""

from __future__ import annotations

import json
import re

import pytest
import time_machine
from django.core.cache import cache
from django.test import Client

from prices.services import history_store
from tests.prices.test_api_exchanges import NOW, prices_of, series_ticks, several_exchanges  # noqa: F401


@pytest.fixture
def client(memory_configured_repo, several_exchanges, db):  # noqa: F811 - the imported fixture
    with time_machine.travel(NOW, tick=False):
        history_store(ticks=series_ticks(), repo=memory_configured_repo)
        cache.clear()
        yield Client()


def rows_of(html: str) -> list[str]:
    return re.findall(r'<tr data-pair="([^"]+)"', html)


def chart_state(html: str) -> dict:
    return json.loads(re.search(r'data-chart-state="([^"]+)"', html).group(1).replace("&quot;", '"'))


def test_the_overview_lists_the_chosen_exchange_s_pairs_linking_to_their_pages_there(client):
    html = client.get("/?exchange=coinbase").content.decode()

    assert sorted(rows_of(html)) == ["BTC-USD", "ETH-USD"]
    assert 'data-href="/pairs/BTC-USD/?exchange=coinbase"' in html
    assert 'data-star="' not in html  # the watchlist holds Bitfinex pairs
    assert "Every tracked pair of Coinbase" in html


def test_the_overview_offers_every_configured_exchange_and_marks_the_shown_one(client):
    html = client.get("/?exchange=kraken").content.decode()

    links = re.findall(r'<a href="([^"]+)" data-exchange="(\w+)" aria-current="(\w+)"', html)
    assert links == [
        ("/", "bitfinex", "false"),
        ("/?exchange=binance", "binance", "false"),
        ("/?exchange=coinbase", "coinbase", "false"),
        ("/?exchange=kraken", "kraken", "true"),
    ]
    assert '<input type="hidden" name="exchange" value="kraken">' in html


def test_the_overview_without_an_exchange_is_bitfinex_as_before(client):
    html = client.get("/").content.decode()

    assert sorted(rows_of(html)) == ["BTCUSD", "BTCUST", "ETHUSD"]
    assert 'data-href="/pairs/BTCUSD/"' in html


def test_the_overview_refresh_keeps_the_exchange(client):
    html = client.get("/overview/live/?exchange=binance").content.decode()

    assert sorted(rows_of(html)) == ["BTCUSDT", "ETHUSDT"]


def test_an_unconfigured_exchange_is_a_400_page(client):
    response = client.get("/?exchange=okx")

    assert response.status_code == 400
    assert "configured are bitfinex, binance, coinbase, kraken" in response.content.decode()


def test_a_pair_page_of_another_exchange_shows_its_pair_there(client):
    html = client.get("/pairs/XBTUSD/?exchange=kraken").content.decode()

    assert "<small>XBTUSD on Kraken</small>" in html
    assert chart_state(html)["exchange"] == "kraken"
    assert '<a href="?range=1h&amp;view=line&amp;exchange=kraken"' in html
    assert '<input type="hidden" name="exchange" value="kraken">' in html
    assert 'id="create-alert"' not in html and "data-thresholds-url" not in html


def test_a_pair_chart_of_another_exchange_holds_its_exact_prices(client):
    with time_machine.travel(NOW, tick=False):
        response = client.get("/pairs/BTC-USD/chart.json?range=1h&view=line&exchange=coinbase")

    assert response.status_code == 200
    price = response.json()["figure"]["data"][0]
    assert [y for y in price["y"] if y is not None] == [float(p) for p in prices_of("coinbase", "BTC-USD")]


def test_the_statistics_fragment_is_of_the_pair_on_its_exchange(client):
    response = client.get("/pairs/ETHUSDT/stats/?range=1h&exchange=binance")

    assert response.status_code == 200
    assert "3,001.01" in response.content.decode() or "3001.01" in response.content.decode()


def test_a_pair_not_on_the_chosen_exchange_is_the_not_found_page_of_that_exchange(client):
    response = client.get("/pairs/BTCUSD/?exchange=binance")

    assert response.status_code == 404
    html = response.content.decode()
    assert "on Binance" in html
    assert 'href="/pairs/BTCUSDT/?exchange=binance"' in html  # the suggestion stays on Binance
