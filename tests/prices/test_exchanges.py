"""Exchanges as configuration (prices/exchanges.py): the setting, overrides and normalised markets."""

import pytest
from django.core.exceptions import ImproperlyConfigured

from prices.exchanges import Market, UnknownExchangeError, configured_exchanges, exchange_config, market_of


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
