"""KrakenSource and its parsers on recorded payloads (tests/fixtures/exchanges/_README.md)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
import responses

from prices.exchanges import Market
from prices.sources.base import SourceError
from prices.sources.http import loads_exact
from prices.sources.kraken import KrakenSource, parse_asset_pairs, parse_ohlc, parse_tickers
from prices.sources.stub_exchanges import kraken_tickers_body, recorded_body

BASE = "https://api.kraken.com"


@pytest.mark.parametrize(
    ("name", "key"), [("kraken_ticker.json", "XBTUSDT"), ("kraken_ticker_doc.txt", "XXBTZUSD")]
)
def test_a_recorded_ticker_parses_to_the_exact_text_of_each_price(name, key):
    body = recorded_body(name)
    text = json.loads(body)["result"][key]

    (row,) = parse_tickers(loads_exact(body)).rows

    assert row.pair == key
    assert format(row.last_price, "f") == text["c"][0]
    assert (format(row.bid, "f"), format(row.bid_size, "f")) == (text["b"][0], text["b"][2])
    assert (format(row.ask, "f"), format(row.ask_size, "f")) == (text["a"][0], text["a"][2])
    assert (format(row.volume_24h, "f"), format(row.high_24h, "f"), format(row.low_24h, "f")) == (
        text["v"][1],
        text["h"][1],
        text["l"][1],
    )
    assert row.daily_change is None  # `o` is the UTC day's open, not 24 h ago


def test_the_real_xbtusdt_last_price_is_kept_with_its_trailing_zeros():
    (row,) = parse_tickers(loads_exact(recorded_body("kraken_ticker.json"))).rows

    assert format(row.last_price, "f") == "105899.40000"


def test_an_all_pairs_body_built_from_the_recorded_asset_pairs_has_every_spot_pair():
    """No full recorded /0/public/Ticker body exists (shared/data §12): this one is the recorded
    2021 AssetPairs' keys without dark pools, each with the real XBTUSDT ticker entry."""
    keys = json.loads(recorded_body("kraken_asset_pairs_2021.cryptofeed"))["result"]

    batch = parse_tickers(loads_exact(kraken_tickers_body()))

    assert len(batch.rows) == len([k for k in keys if not k.endswith(".d")]) == 293
    assert {format(row.last_price, "f") for row in batch.rows} == {"105899.40000"}
    assert {"XXBTZUSD", "XBTUSDT", "XDGEUR"} <= {row.pair for row in batch.rows}


def test_the_real_asset_pairs_normalise_kraken_codes_and_keep_usdt_apart_from_usd():
    pairs = parse_asset_pairs(loads_exact(recorded_body("kraken_asset_pairs_2021.cryptofeed")))

    assert pairs["XXBTZUSD"] == (Market("BTC", "USD"), True)
    assert pairs["XBTUSDT"][0] == Market("BTC", "USDT")
    assert pairs["XETHXXBT"][0] == Market("ETH", "BTC")
    assert pairs["XDGEUR"][0] == Market("DOGE", "EUR")
    assert pairs["AAVEAUD"][0] == Market("AAVE", "AUD")
    assert not any(key.endswith(".d") for key in pairs)


def test_the_current_asset_pairs_shape_with_status_parses_too():
    pairs = parse_asset_pairs(loads_exact(recorded_body("kraken_asset_pairs.json")))

    assert pairs == {"XBTUSDT": (Market("BTC", "USDT"), True)}


def test_the_real_ohlc_parses_exactly_and_leaves_out_the_open_candle():
    body = recorded_body("kraken_ohlc_1m.json")
    text = json.loads(body)["result"]
    rows = text["XBTUSDT"]

    candles = parse_ohlc(loads_exact(body))

    assert len(rows) == 721 and len(candles) == 720  # the last one starts after result.last
    assert int(candles[-1].minute.timestamp()) == text["last"]
    for candle, row in zip(candles, rows, strict=False):
        assert int(candle.minute.timestamp()) == row[0]
        assert [
            format(candle.open, "f"),
            format(candle.high, "f"),
            format(candle.low, "f"),
            format(candle.close, "f"),
        ] == row[1:5]
        assert format(candle.volume, "f") == row[6]


@responses.activate
def test_an_error_list_with_http_200_is_a_source_error_and_a_rate_limit_one_is_rate_limited():
    responses.get(BASE + "/0/public/AssetPairs", json={"error": ["EAPI:Rate limit exceeded"]})

    with pytest.raises(SourceError) as caught:
        KrakenSource(base_url=BASE, retries=0).fetch_pair_list()

    assert caught.value.rate_limited
    assert "Kraken error EAPI:Rate limit exceeded" in caught.value.message


@responses.activate
def test_an_unknown_pair_error_is_permanent():
    responses.get(BASE + "/0/public/OHLC", json={"error": ["EQuery:Unknown asset pair"]})
    source = KrakenSource(base_url=BASE, retries=0, candle_min_interval_s=0)

    with pytest.raises(SourceError) as caught:
        source.fetch_candles(
            pair="NOPEUSD",
            start=datetime(2025, 11, 10, 12, tzinfo=UTC),
            end=datetime(2025, 11, 10, 13, tzinfo=UTC),
        )

    assert caught.value.permanent and not caught.value.rate_limited


@responses.activate
def test_fetch_candles_asks_since_the_second_before_start_and_keeps_the_range():
    responses.get(BASE + "/0/public/OHLC", body=recorded_body("kraken_ohlc_1m.json"))
    source = KrakenSource(base_url=BASE, candle_min_interval_s=0)
    start = datetime(2025, 11, 10, 12, 20, tzinfo=UTC)

    candles = source.fetch_candles(
        pair="XBTUSDT", start=start, end=datetime(2025, 11, 10, 12, 23, tzinfo=UTC)
    )

    assert [c.minute.minute for c in candles] == [20, 21, 22]
    assert responses.calls[0].request.params == {
        "pair": "XBTUSDT",
        "interval": "1",
        "since": str(int(start.timestamp()) - 1),
    }


@responses.activate
def test_fetch_tickers_reads_asset_pairs_for_the_markets_then_the_tickers():
    responses.get(BASE + "/0/public/AssetPairs", body=recorded_body("kraken_asset_pairs.json"))
    responses.get(BASE + "/0/public/Ticker", body=recorded_body("kraken_ticker.json"))
    source = KrakenSource(base_url=BASE)

    batch = source.fetch_tickers()

    assert [row.pair for row in batch.rows] == ["XBTUSDT"]
    assert source.markets == {"XBTUSDT": Market("BTC", "USDT")}
