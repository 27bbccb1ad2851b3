"""BinanceSource and its parsers on recorded payloads (tests/fixtures/exchanges/_README.md)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal

import pytest
import responses

from prices.exchanges import Market
from prices.sources.base import SourceError
from prices.sources.binance import BinanceSource, parse_exchange_info, parse_klines, parse_tickers
from prices.sources.http import loads_exact
from prices.sources.stub_exchanges import binance_tickers_body, recorded_body

BASE = "https://api.binance.com"


def test_the_documented_24h_ticker_parses_to_the_exact_text_of_each_price():
    body = recorded_body("binance_ticker_24hr_doc.txt")
    text = json.loads(body)  # strings as sent

    batch = parse_tickers([loads_exact(body)])

    (row,) = batch.rows
    assert row.pair == "BNBBTC"
    assert format(row.last_price, "f") == text["lastPrice"] == "4.00000200"
    assert (format(row.bid, "f"), format(row.bid_size, "f")) == (text["bidPrice"], text["bidQty"])
    assert (format(row.ask, "f"), format(row.ask_size, "f")) == (text["askPrice"], text["askQty"])
    assert (format(row.high_24h, "f"), format(row.low_24h, "f"), format(row.volume_24h, "f")) == (
        "100.00000000",
        "0.10000000",
        "8913.30000000",
    )
    assert row.daily_change == Decimal("-94.99999800")
    assert row.daily_change_relative == Decimal("-0.95960")


def test_an_all_symbols_body_built_from_the_recorded_exchange_info_keeps_every_trading_symbol():
    """No full recorded /api/v3/ticker/24hr body exists (shared/data §12): this one is the recorded
    2021 exchangeInfo's TRADING symbols, each with the documented ticker object (stub_exchanges)."""
    info = json.loads(recorded_body("binance_exchange_info_2021.cryptofeed"))
    trading = {s["symbol"] for s in info["symbols"] if s["status"] == "TRADING"}

    batch = parse_tickers(loads_exact(binance_tickers_body()), trading=trading)

    assert len(batch.rows) == len(trading) == 1262
    prices = {row.pair: format(row.last_price, "f") for row in batch.rows}
    assert prices["BTCUSDT"] == "60740.00000000"  # the real recorded price
    assert prices["ETHBTC"] == "4.00000200"


def test_symbols_not_trading_and_not_tracked_and_zero_prices_are_skipped_and_counted():
    entry = json.loads(recorded_body("binance_ticker_24hr_doc.txt"))
    payload = [
        {**entry, "symbol": "BTCUSDT"},
        {**entry, "symbol": "BCCBTC"},
        {**entry, "symbol": "ETHUSDT", "lastPrice": "0.00000000"},
        {**entry, "symbol": "LTCBTC"},
    ]

    batch = parse_tickers(payload, pairs=["BTCUSDT", "BCCBTC", "ETHUSDT"], trading={"BTCUSDT", "ETHUSDT"})

    assert [row.pair for row in batch.rows] == ["BTCUSDT"]
    assert batch.skipped == {"not_trading": 1, "zero_price": 1, "not_tracked": 1}


def test_a_price_that_is_not_a_decimal_string_rejects_the_whole_body():
    entry = json.loads(recorded_body("binance_ticker_24hr_doc.txt"))

    with pytest.raises(SourceError, match="BTCUSDT.*lastPrice") as caught:
        parse_tickers([{**entry, "symbol": "ETHBTC"}, {**entry, "symbol": "BTCUSDT", "lastPrice": "abc"}])

    assert caught.value.permanent


def test_the_real_exchange_info_gives_each_symbols_base_and_quote_and_status():
    info = parse_exchange_info(loads_exact(recorded_body("binance_exchange_info_2021.cryptofeed")))

    assert len(info) == 1695
    assert info["BTCUSDT"] == (Market("BTC", "USDT"), True)
    assert info["ETHBTC"] == (Market("ETH", "BTC"), True)
    assert sum(trading for _, trading in info.values()) == 1262
    assert info["BCCBTC"][1] is False  # status BREAK


def test_the_real_klines_parse_to_exact_candles_oldest_first():
    text = json.loads(recorded_body("binance_klines_1m.json"))

    candles = parse_klines(loads_exact(recorded_body("binance_klines_1m.json")))

    assert len(candles) == len(text) == 10
    for candle, row in zip(candles, text, strict=True):
        assert int(candle.minute.timestamp() * 1000) == row[0]
        assert [
            format(candle.open, "f"),
            format(candle.high, "f"),
            format(candle.low, "f"),
            format(candle.close, "f"),
            format(candle.volume, "f"),
        ] == row[1:6]


@responses.activate
def test_fetch_candles_asks_for_the_minutes_start_to_end_minus_one_and_keeps_those_inside():
    responses.get(BASE + "/api/v3/klines", body=recorded_body("binance_klines_1m.json"))
    source = BinanceSource(base_url=BASE, candle_min_interval_s=0)
    start = datetime(2021, 10, 22, 23, 5, tzinfo=UTC)
    end = datetime(2021, 10, 22, 23, 8, tzinfo=UTC)

    candles = source.fetch_candles(pair="BTCUSDT", start=start, end=end)

    assert [c.minute.minute for c in candles] == [5, 6, 7]
    query = responses.calls[0].request.params
    assert query == {
        "symbol": "BTCUSDT",
        "interval": "1m",
        "startTime": str(int(start.timestamp() * 1000)),
        "endTime": str(int(end.timestamp() * 1000) - 1),
        "limit": "1000",
    }


@responses.activate
def test_a_429_is_a_rate_limit_and_the_source_backs_off_without_a_second_request():
    responses.get(BASE + "/api/v3/exchangeInfo", status=429, json={"code": -1003, "msg": "Too many requests"})
    source = BinanceSource(base_url=BASE, retries=0)

    with pytest.raises(SourceError) as first:
        source.fetch_pair_list()
    with pytest.raises(SourceError, match="backing off") as second:
        source.fetch_pair_list()

    assert first.value.rate_limited and second.value.rate_limited
    assert len(responses.calls) == 1


@responses.activate
def test_a_418_ban_is_a_rate_limit_too():
    responses.get(BASE + "/api/v3/exchangeInfo", status=418, json={"code": -1003, "msg": "banned"})

    with pytest.raises(SourceError) as caught:
        BinanceSource(base_url=BASE, retries=0).fetch_pair_list()

    assert caught.value.rate_limited


@responses.activate
def test_fetch_tickers_reads_exchange_info_once_and_filters_by_status():
    responses.get(BASE + "/api/v3/exchangeInfo", body=recorded_body("binance_exchange_info.json"))
    entry = json.loads(recorded_body("binance_ticker_24hr_doc.txt"))
    body = json.dumps([{**entry, "symbol": s} for s in ("BTCUSDT", "ETHUSDT", "BNBBTC")])
    responses.get(BASE + "/api/v3/ticker/24hr", body=body)
    source = BinanceSource(base_url=BASE)

    first = source.fetch_tickers()
    second = source.fetch_tickers()

    assert [r.pair for r in first.rows] == [r.pair for r in second.rows] == ["BTCUSDT", "ETHUSDT"]
    assert first.skipped == {"not_trading": 1}
    assert [c.request.path_url for c in responses.calls].count("/api/v3/exchangeInfo") == 1
    assert source.markets["ETHUSDT"] == Market("ETH", "USDT")


def test_a_misconfigured_pair_filter_is_refused():
    with pytest.raises(ValueError, match="invalid pair"):
        BinanceSource(base_url=BASE, pairs=["BTC-USDT"])
