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
    # An alert on this pair is created on its exchange; the chart's alert lines stay Bitfinex's.
    assert 'href="/alerts/new/?pair=XBTUSD&amp;threshold=' in html and "&amp;exchange=kraken" in html
    assert "data-thresholds-url" not in html


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


# --- market pages ---------------------------------------------------------------------------


def embedded_figure(html: str, chart_id: str) -> dict:
    text = re.search(rf'<script id="{chart_id}-figure" type="application/json">(.*?)</script>', html, re.S)
    return json.loads(text.group(1))


def test_the_market_page_draws_one_line_per_exchange_and_the_spread_over_time(client):
    with time_machine.travel(NOW, tick=False):
        html = client.get("/markets/BTC-USD/?range=1h").content.decode()

    figure = embedded_figure(html, "market-chart")
    lines = {t["name"]: t for t in figure["data"] if t.get("mode") == "lines"}
    assert list(lines) == ["Bitfinex BTCUSD", "Coinbase BTC-USD", "Kraken XBTUSD", "Spread"]
    assert [y for y in lines["Coinbase BTC-USD"]["y"] if y is not None] == [
        float(p) for p in prices_of("coinbase", "BTC-USD")
    ]
    assert lines["Spread"]["yaxis"] == "y2"
    # 11:59: Kraken has no price yet, so the spread is Bitfinex's 60000.5 − Coinbase's 59990.125
    assert lines["Spread"]["x"][-1] == "2024-05-01T11:59:00Z"
    assert lines["Spread"]["y"][-1] == 10.375
    # 11:58: Kraken 60020, Bitfinex 60000.5 − 3, Coinbase 59990.125 − 1
    assert lines["Spread"]["y"][-2] == 60020 - 59989.125


def test_the_market_page_lists_each_exchange_s_newest_exact_price_and_the_spread(client):
    with time_machine.travel(NOW, tick=False):
        html = client.get("/markets/BTC-USD/").content.decode()

    rows = re.findall(r'<tr data-exchange="(\w+)">.*?data-price="([^"]+)"', html, re.S)
    assert rows == [("bitfinex", "60000.5"), ("coinbase", "59990.125"), ("kraken", "60020")]
    assert "Spread 29.875 USD" in html
    assert 'href="/pairs/XBTUSD/?exchange=kraken"' in html


def test_the_market_page_redirects_a_lower_case_name_and_keeps_the_query(client):
    response = client.get("/markets/btc-usd/?range=6h")

    assert response.status_code == 302 and response["Location"] == "/markets/BTC-USD/?range=6h"


def test_a_market_no_exchange_lists_is_a_not_found_page_naming_the_shared_ones(client):
    response = client.get("/markets/DOGE-USD/")

    assert response.status_code == 404
    html = response.content.decode()
    assert "No configured exchange lists DOGE-USD" in html
    assert 'href="/markets/BTC-USDT/"' in html


def test_the_market_chart_data_follows_the_range(client):
    with time_machine.travel(NOW, tick=False):
        hour = client.get("/markets/BTC-USDT/chart.json?range=1h").json()
        week = client.get("/markets/BTC-USDT/chart.json?range=7d").json()
        missing = client.get("/markets/DOGE-USD/chart.json?range=1h")

    assert hour["range"] == "1h" and "minute prices" in hour["note"]
    assert "60-minute close" in week["note"]
    assert missing.status_code == 404


def test_the_markets_page_lists_the_markets_on_two_or_more_exchanges(client):
    html = client.get("/markets/").content.decode()

    assert re.findall(r'<tr data-market="([^"]+)"', html) == ["BTC-USD", "BTC-USDT", "ETH-USD"]


def test_a_pair_page_links_to_its_market_across_exchanges(client):
    html = client.get("/pairs/BTCUSDT/?exchange=binance").content.decode()

    assert '<a href="/markets/BTC-USDT/" id="market-link">' in html
