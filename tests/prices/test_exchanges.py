"""Exchanges as configuration (prices/exchanges.py): the setting, overrides and normalised markets."""

import pytest
from django.core.exceptions import ImproperlyConfigured

from prices.exchanges import (
    Market,
    UnknownExchangeError,
    configured_exchanges,
    exchange_config,
    market_of,
    markets_forget,
    normalise_asset,
    valid_pair,
)
from prices.services.pairs import exchange_markets_record


def test_the_default_configuration_is_bitfinex_alone(settings):
    settings.PRICES_EXCHANGES = ["bitfinex"]
    assert [c.name for c in configured_exchanges()] == ["bitfinex"]


def test_configured_exchanges_take_their_url_override_and_pair_filter(settings):
    settings.PRICES_EXCHANGES = ["bitfinex", "binance"]
    settings.EXCHANGE_API_URLS = {"binance": "http://127.0.0.1:18001"}
    settings.EXCHANGE_PAIRS = {"binance": ["BTCUSDT"]}
    binance = exchange_config("binance")
    assert (binance.label, binance.api_url, binance.pairs) == (
        "Binance",
        "http://127.0.0.1:18001",
        ("BTCUSDT",),
    )
    with pytest.raises(UnknownExchangeError, match="configured are bitfinex, binance"):
        exchange_config("kraken")


def test_an_unknown_exchange_in_the_setting_is_a_configuration_error(settings):
    settings.PRICES_EXCHANGES = ["bitfinex", "mtgox"]
    with pytest.raises(ImproperlyConfigured, match="unknown exchange 'mtgox'"):
        configured_exchanges()


def test_bitfinex_pairs_map_to_normalised_markets_usdt_kept_apart_from_usd():
    assert market_of("bitfinex", "BTCUSD") == Market("BTC", "USD")
    assert market_of("bitfinex", "BTCUST") == Market("BTC", "USDT")
    assert market_of("bitfinex", "AAVE:USD").name == "AAVE-USD"
    assert market_of("bitfinex", "not a pair") is None


@pytest.mark.parametrize(
    ("exchange", "name", "valid"),
    [
        ("bitfinex", "BTCUSD", True),
        ("bitfinex", "AAVE:USD", True),
        ("bitfinex", "BTCUSDT", False),  # Bitfinex's rules are not loosened
        ("bitfinex", "BTC-USD", False),
        ("binance", "BTCUSDT", True),
        ("binance", "BTC-USDT", False),
        ("binance", "btcusdt", False),
        ("kraken", "XXBTZUSD", True),
        ("kraken", "XBTUSDT", True),
        ("kraken", "ETH2.SETH", True),
        ("kraken", "XETHXXBT.d", False),
        ("coinbase", "BTC-USD", True),
        ("coinbase", "BTCUSD", False),
        ("mtgox", "BTCUSD", False),
    ],
)
def test_valid_pair_accepts_each_exchanges_own_ids(exchange, name, valid):
    assert valid_pair(exchange, name) is valid


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("exchange", "pair", "market"),
    [
        ("kraken", "XXBTZUSD", Market("BTC", "USD")),
        ("kraken", "XETHXXBT", Market("ETH", "BTC")),
        ("kraken", "XBTUSDT", Market("BTC", "USDT")),
        ("kraken", "XDGEUR", Market("DOGE", "EUR")),
        ("kraken", "XXDGZUSD", Market("DOGE", "USD")),
        ("binance", "BTCUSDT", Market("BTC", "USDT")),
        ("binance", "ETHBTC", Market("ETH", "BTC")),
        ("coinbase", "BTC-USD", Market("BTC", "USD")),
        ("coinbase", "BTC-USDC", Market("BTC", "USDC")),
    ],
)
def test_unrecorded_ids_are_split_at_their_quote_code(exchange, pair, market):
    markets_forget()

    assert market_of(exchange, pair) == market


@pytest.mark.django_db
def test_recorded_markets_win_over_the_split_and_are_read_once_per_ttl(django_assert_num_queries):
    # Binance lists BTCUSDC; a suffix split would read it as BTCUSD + C without the list.
    exchange_markets_record(exchange="binance", markets={"ABCUSDC": Market("ABCUSD", "C")})
    markets_forget()

    with django_assert_num_queries(1):
        assert market_of("binance", "ABCUSDC") == Market("ABCUSD", "C")
        assert market_of("binance", "BTCUSDT") == Market("BTC", "USDT")


@pytest.mark.django_db
def test_recording_markets_writes_only_new_or_changed_rows():
    markets = {"XBTUSDT": Market("BTC", "USDT"), "XXBTZUSD": Market("BTC", "USD")}

    first = exchange_markets_record(exchange="kraken", markets=markets)
    again = exchange_markets_record(exchange="kraken", markets=markets)
    changed = exchange_markets_record(
        exchange="kraken", markets={**markets, "XBTUSDT": Market("XBT", "USDT")}
    )

    assert (first, again, changed) == (2, 0, 1)
    assert market_of("kraken", "XBTUSDT") == Market("XBT", "USDT")


def test_kraken_legacy_codes_normalise_and_usdt_stays_usdt():
    assert [
        normalise_asset("kraken", c) for c in ("XXBT", "ZUSD", "XXDG", "XDG", "USDT", "ZEUR", "AAVE")
    ] == [
        "BTC",
        "USD",
        "DOGE",
        "DOGE",
        "USDT",
        "EUR",
        "AAVE",
    ]
