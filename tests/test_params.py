"""The shared request-parameter parsers: datetimes, choices, pairs, exchanges, markets, integers and iso_z."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from django.http import QueryDict

from cryptotracker.params import (
    DATETIME_MAX,
    BadParameterError,
    choice_param,
    datetime_param,
    exchange_param,
    int_param,
    iso_z,
    iso_z_ms,
    market_name,
    pair_name,
    pairs_param,
)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("2019-12-31T06:30:00Z", datetime(2019, 12, 31, 6, 30, tzinfo=UTC)),
        ("2019-12-31T06:30:00", datetime(2019, 12, 31, 6, 30, tzinfo=UTC)),  # no offset: UTC
        ("2019-12-31T07:30:00+01:00", datetime(2019, 12, 31, 6, 30, tzinfo=UTC)),
        ("2019-12-31", datetime(2019, 12, 31, tzinfo=UTC)),
        ("2019-12-31 06:30:00.5", datetime(2019, 12, 31, 6, 30, 0, 500_000, tzinfo=UTC)),  # plotly.js
        # the dashboards' date/time control, as people type it
        ("2019-12-31 12:00", datetime(2019, 12, 31, 12, 0, tzinfo=UTC)),
        ("2019-12-31 12:00 UTC", datetime(2019, 12, 31, 12, 0, tzinfo=UTC)),
        ("2019-12-31 12:00 utc", datetime(2019, 12, 31, 12, 0, tzinfo=UTC)),
        ("2019-12-31 12:00Z", datetime(2019, 12, 31, 12, 0, tzinfo=UTC)),
        ("2019-12-31 12:00 Z", datetime(2019, 12, 31, 12, 0, tzinfo=UTC)),
        ("2019-12-31T12:00:30 UTC", datetime(2019, 12, 31, 12, 0, 30, tzinfo=UTC)),
    ],
)
def test_datetimes_are_read_as_aware_utc(raw, expected):
    value = datetime_param("end", raw)

    assert value == expected
    assert value.tzinfo is UTC


@pytest.mark.parametrize(
    "raw",
    [
        "9999-12-31T23:59:00Z",
        "0001-01-01T00:00:00Z",
        "0001-01-01T00:00:00+01:00",  # before datetime.min once in UTC
        "1969-12-31T23:59:59Z",
        "2100-01-01T00:00:00Z",
        "yesterday",
        "2019-12-31T00:00:00 01:00",  # '+' sent unencoded arrives as a space
    ],
)
def test_unusable_datetimes_are_a_bad_parameter_naming_it(raw):
    with pytest.raises(BadParameterError) as caught:
        datetime_param("end", raw)

    assert caught.value.parameter == "end"
    assert str(caught.value).startswith("end: ")


@pytest.mark.parametrize(
    "raw",
    [
        "2019-12-31 12:00 EST",
        "2019-12-31 12:00 CET",
        "2019-12-31T12:00 Europe/Paris",
        "2019-12-31 12:00 GMT+1",
    ],
)
def test_a_time_in_a_named_zone_other_than_utc_is_refused_naming_the_parameter(raw):
    with pytest.raises(BadParameterError) as caught:
        datetime_param("start", raw)

    assert caught.value.parameter == "start"
    assert "a time zone other than UTC" in caught.value.message


def test_a_word_with_a_space_is_not_mistaken_for_an_unencoded_offset():
    with pytest.raises(BadParameterError) as caught:
        datetime_param("end", "next tuesday")

    assert caught.value.message == "'next tuesday' is not an ISO 8601 datetime such as 2019-12-31T00:00:00Z"


def test_the_last_accepted_datetime_leaves_room_for_a_window_and_rounding():
    last = datetime_param("end", "2099-12-31T23:59:59.999999Z")

    assert last is not None and last < DATETIME_MAX
    assert last + timedelta(days=7) < datetime.max.replace(tzinfo=UTC)


def test_an_absent_datetime_is_the_default():
    default = datetime(2020, 1, 1, tzinfo=UTC)

    assert datetime_param("start", None, default=default) is default
    assert datetime_param("start", "", default=default) is default


def test_choice_is_strict_unless_told_otherwise():
    params = QueryDict("range=2y")

    with pytest.raises(BadParameterError, match="range"):
        choice_param(params, "range", ["1h", "24h"], "24h")
    assert choice_param(params, "range", ["1h", "24h"], "24h", strict=False) == "24h"
    assert choice_param(QueryDict(""), "range", ["1h", "24h"], "24h") == "24h"


def test_pairs_are_split_upper_cased_and_checked_against_the_tracked_ones():
    params = QueryDict("pairs=btcusd,ETHUSD&pairs=BTCUSD&pairs=")

    assert pairs_param(params) == ["BTCUSD", "ETHUSD"]
    with pytest.raises(BadParameterError, match="unknown pairs: ETHUSD"):
        pairs_param(params, tracked=["BTCUSD"])


def test_int_param_bounds():
    assert int_param("limit", "5", default=1, minimum=1, maximum=10) == 5
    assert int_param("limit", None, default=3, minimum=1, maximum=10) == 3
    with pytest.raises(BadParameterError, match="between 1 and 10"):
        int_param("limit", "11", default=1, minimum=1, maximum=10)
    with pytest.raises(BadParameterError, match="not an integer"):
        int_param("limit", "abc", default=1, minimum=1, maximum=10)


def test_iso_z_renders_utc_with_z():
    assert iso_z(datetime(2019, 12, 31, 7, 0, tzinfo=timezone(timedelta(hours=1)))) == "2019-12-31T06:00:00Z"
    assert iso_z(1577750400000) == "2019-12-31T00:00:00Z"
    assert iso_z(datetime(2019, 12, 31, 0, 0, 0, 250_000, tzinfo=UTC)) == "2019-12-31T00:00:00.250Z"
    assert iso_z(None) is None


@pytest.mark.parametrize(
    "ms",
    [
        0,
        1_577_750_400_000,  # 2019-12-31T00:00:00Z
        1_577_836_740_000,  # 2019-12-31T23:59:00Z
        951_782_400_000,  # 2000-02-29T00:00:00Z (leap day)
        -60_000,  # 1969-12-31T23:59:00Z
        1_577_750_400_123,  # milliseconds: the general path
        253_402_300_740_000,  # 9999-12-31T23:59:00Z
    ],
)
def test_iso_z_ms_is_iso_z_of_the_same_instant(ms):
    assert iso_z_ms(ms) == iso_z(ms)


def test_exchange_defaults_to_bitfinex_and_accepts_a_configured_one_in_any_case(settings):
    settings.PRICES_EXCHANGES = ["bitfinex", "kraken"]

    assert exchange_param(QueryDict("")) == "bitfinex"
    assert exchange_param(QueryDict("exchange=")) == "bitfinex"
    assert exchange_param(QueryDict("exchange=Kraken")) == "kraken"
    assert exchange_param(QueryDict("exchange=all"), allow_all=True) == "all"


@pytest.mark.parametrize(("query", "allow_all"), [("exchange=binance", False), ("exchange=all", False)])
def test_an_exchange_not_configured_is_refused_naming_the_configured_ones(settings, query, allow_all):
    settings.PRICES_EXCHANGES = ["bitfinex", "kraken"]

    with pytest.raises(BadParameterError) as raised:
        exchange_param(QueryDict(query), allow_all=allow_all)

    assert raised.value.parameter == "exchange"
    assert raised.value.message.endswith("configured are bitfinex, kraken")


@pytest.mark.parametrize(
    ("exchange", "raw", "expected"),
    [
        ("bitfinex", "BTCUSD", "BTCUSD"),
        ("bitfinex", "AAVE:USD", "AAVE:USD"),
        ("bitfinex", "BTCUSDT", None),  # exactly Pair.parse: six characters or BASE:QUOTE
        ("binance", "BTCUSDT", "BTCUSDT"),
        ("kraken", "XBTUSD", "XBTUSD"),
        ("coinbase", "BTC-USD", "BTC-USD"),
        ("coinbase", "btc-usd", None),
        ("coinbase", "BTC_USD", None),
        ("binance", "B", None),
    ],
)
def test_pair_names_are_checked_per_exchange(exchange, raw, expected):
    assert pair_name(exchange, raw) == expected


def test_an_odd_pair_name_the_exchange_tracks_is_accepted():
    assert pair_name("kraken", "xbt.usd", tracked=lambda: {"xbt.usd"}) == "xbt.usd"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("BTC-USD", ("BTC", "USD")), ("eth-usdt", ("ETH", "USDT")), ("BTCUSD", None), ("BTC-USD-X", None)],
)
def test_market_names_are_base_dash_quote(raw, expected):
    assert market_name(raw) == expected
