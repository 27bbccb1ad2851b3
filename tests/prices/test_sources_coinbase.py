"""CoinbaseSource and its parsers on recorded payloads (tests/fixtures/exchanges/_README.md)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal

import pytest
import responses

from prices.exchanges import Market
from prices.sources.base import SourceError
from prices.sources.coinbase import CoinbaseSource, parse_candles, parse_product_markets, parse_products
from prices.sources.http import loads_exact
from prices.sources.stub_exchanges import coinbase_products_body, recorded_body

BASE = "https://api.coinbase.com"
PRODUCTS_URL = BASE + "/api/v3/brokerage/market/products"


def test_the_real_products_parse_to_the_exact_text_of_each_price():
    body = recorded_body("coinbase_products.json")
    text = {p["product_id"]: p for p in json.loads(body)["products"]}

    batch = parse_products(loads_exact(body))

    assert [row.pair for row in batch.rows] == ["BTC-USD", "BTC-USDC"]
    for row in batch.rows:
        assert format(row.last_price, "f") == text[row.pair]["price"]
        assert format(row.volume_24h, "f") == text[row.pair]["volume_24h"]
        assert row.bid is None and row.ask is None  # best_bid_price "" in the recorded body
    assert batch.rows[0].last_price == Decimal("68925.98")
    assert batch.rows[0].daily_change_relative == Decimal("-0.0028225832119521")


def test_the_documented_products_example_is_not_a_spot_product_and_is_skipped():
    batch = parse_products(loads_exact(recorded_body("coinbase_products_doc.txt")))

    assert batch.rows == []
    assert batch.skipped == {"not_spot": 1}  # its product_type is UNKNOWN_PRODUCT_TYPE


def test_products_give_base_and_quote_with_usdc_kept_apart_from_usd():
    markets = parse_product_markets(loads_exact(recorded_body("coinbase_products.json")))

    assert markets == {"BTC-USD": (Market("BTC", "USD"), True), "BTC-USDC": (Market("BTC", "USDC"), True)}


def test_a_products_body_built_from_the_recorded_product_list_has_every_product():
    """No full recorded Advanced Trade products body of all products exists (shared/data §12): this
    one is the recorded 2021 product list, each with the real BTC-USD product's fields."""
    listed = json.loads(recorded_body("coinbase_products_2021.cryptofeed"))

    batch = parse_products(loads_exact(coinbase_products_body()))

    assert {row.pair for row in batch.rows} == {p["id"] for p in listed} | {"BTC-USDC"}
    assert len(listed) == 162


def test_products_not_trading_not_spot_or_without_a_price_are_skipped_and_counted():
    (product, _) = json.loads(recorded_body("coinbase_products.json"))["products"]
    payload = {
        "products": [
            product,
            {**product, "product_id": "ETH-USD", "trading_disabled": True},
            {**product, "product_id": "BIT-28NOV25-CDE", "product_type": "FUTURE"},
            {**product, "product_id": "SOL-USD", "price": ""},
        ]
    }

    batch = parse_products(payload)

    assert [row.pair for row in batch.rows] == ["BTC-USD"]
    assert batch.skipped == {"not_trading": 1, "not_spot": 1, "zero_price": 1}


def test_the_documented_candle_example_starting_off_a_minute_is_rejected():
    with pytest.raises(SourceError, match="start 1639508050 is not a minute start") as caught:
        parse_candles(loads_exact(recorded_body("coinbase_candles_doc.txt")))

    assert caught.value.permanent


def test_real_recorded_candles_parse_exactly_oldest_first():
    name = "coinbase_candles.json"
    rows = json.loads(recorded_body(name))["candles"]

    candles = parse_candles(loads_exact(recorded_body(name)))

    by_start = {int(r["start"]): r for r in rows}
    assert [int(c.minute.timestamp()) for c in candles] == sorted(by_start)
    for candle in candles:
        row = by_start[int(candle.minute.timestamp())]
        assert [format(getattr(candle, k), "f") for k in ("open", "high", "low", "close", "volume")] == [
            row[k] for k in ("open", "high", "low", "close", "volume")
        ]


@responses.activate
def test_fetch_candles_pages_350_minutes_per_request_with_an_inclusive_end():
    responses.get(BASE + "/api/v3/brokerage/market/products/BTC-USD/candles", json={"candles": []})
    source = CoinbaseSource(base_url=BASE, candle_min_interval_s=0)
    start = datetime(2026, 4, 7, tzinfo=UTC)
    end = datetime(2026, 4, 7, 10, tzinfo=UTC)  # 600 minutes

    assert source.fetch_candles(pair="BTC-USD", start=start, end=end) == []

    params = [call.request.params for call in responses.calls]
    first = int(start.timestamp())
    assert [(p["start"], p["end"], p["granularity"]) for p in params] == [
        (str(first), str(first + 349 * 60), "ONE_MINUTE"),
        (str(first + 350 * 60), str(first + 599 * 60), "ONE_MINUTE"),
    ]


@responses.activate
def test_a_not_found_error_body_is_permanent():
    responses.get(PRODUCTS_URL, status=404, json={"error": "NOT_FOUND", "message": "not found"})

    with pytest.raises(SourceError) as caught:
        CoinbaseSource(base_url=BASE).fetch_tickers()

    assert caught.value.permanent


@responses.activate
def test_fetch_tickers_keeps_the_markets_of_the_same_body():
    responses.get(PRODUCTS_URL, body=recorded_body("coinbase_products.json"))
    source = CoinbaseSource(base_url=BASE)

    source.fetch_tickers()

    assert source.markets == {"BTC-USD": Market("BTC", "USD"), "BTC-USDC": Market("BTC", "USDC")}
    assert source.markets_version == 1
    assert len(responses.calls) == 1
