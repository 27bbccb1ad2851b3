"""The price API over several exchanges: ?exchange=, /exchanges/, /markets/ and rank across exchanges."""

from __future__ import annotations

import statistics
from datetime import UTC, datetime
from decimal import Decimal

import pytest
import time_machine
from django.core.cache import cache
from rest_framework.test import APIClient

from prices import exchanges
from prices.domain import MINUTE, Tick, TickSource, minute_floor
from prices.services import history_store

NOW = datetime(2024, 5, 1, 12, 0, 30, tzinfo=UTC)
NEWEST = minute_floor(NOW) - MINUTE  # 11:59, the minute a poll at 12:00:30 describes
CONFIGURED = ["bitfinex", "binance", "coinbase", "kraken"]
MINUTES = 40

# Pair names in each exchange's own format, mapped to markets by prices.exchanges.market_of
# (no recorded markets list here: Kraken's and Binance's ids are split at their quote codes).
# (exchange, pair) → (newest price, step between minutes); the newest minute is 11:59 except
# Kraken's, 11:58 (its poll is a minute behind).
SERIES = {
    ("bitfinex", "BTCUSD"): ("60000.5", "3"),
    ("bitfinex", "BTCUST"): ("60004.75", "2"),
    ("bitfinex", "ETHUSD"): ("3000.1", "0.5"),
    ("binance", "BTCUSDT"): ("60010.25", "4"),
    ("binance", "ETHUSDT"): ("3001.01", "1.5"),
    ("coinbase", "BTC-USD"): ("59990.125", "1"),
    ("coinbase", "ETH-USD"): ("2999.99", "0.25"),
    ("kraken", "XBTUSD"): ("60020", "6"),
}


def prices_of(exchange: str, pair: str) -> list[Decimal]:
    """The stored prices of a series, oldest first: newest − step × (minutes before the newest)."""
    newest, step = SERIES[exchange, pair]
    return [Decimal(newest) - Decimal(step) * (MINUTES - 1 - i) for i in range(MINUTES)]


def newest_minute(exchange: str) -> datetime:
    return NEWEST - MINUTE if exchange == "kraken" else NEWEST


def series_ticks() -> list[Tick]:
    out = []
    for exchange, pair in SERIES:
        first = newest_minute(exchange) - (MINUTES - 1) * MINUTE
        for i, price in enumerate(prices_of(exchange, pair)):
            out.append(Tick(exchange, pair, first + i * MINUTE, price, source=TickSource.TICKER))
    return out


@pytest.fixture
def several_exchanges(settings, db):
    """Four configured exchanges, and no recorded markets cached from another test."""
    settings.PRICES_EXCHANGES = CONFIGURED
    exchanges.markets_forget()
    yield
    exchanges.markets_forget()


@pytest.fixture
def api(memory_configured_repo, several_exchanges, db):
    with time_machine.travel(NOW, tick=False):
        history_store(ticks=series_ticks(), repo=memory_configured_repo)
        cache.clear()
        yield APIClient()


def _error(response) -> dict:
    assert response["Content-Type"].startswith("application/json")
    return response.json()["error"]


# --- ?exchange= on the existing endpoints -------------------------------------------------


def test_pairs_lists_the_named_exchange_with_its_own_pair_names_and_exact_prices(api):
    body = api.get("/api/v1/pairs/?exchange=binance").json()

    assert body["count"] == 2
    rows = {r["pair"]: r for r in body["results"]}
    assert set(rows) == {"BTCUSDT", "ETHUSDT"}
    assert rows["BTCUSDT"]["exchange"] == "binance"
    assert rows["BTCUSDT"]["last_price"] == "60010.25"
    assert rows["BTCUSDT"]["last_minute"] == "2024-05-01T11:59:00Z"
    assert (rows["BTCUSDT"]["base"], rows["BTCUSDT"]["quote"], rows["BTCUSDT"]["symbol"]) == (
        "BTC",
        "USDT",
        "BTCUSDT",
    )
    assert rows["BTCUSDT"]["count_24h"] == MINUTES


def test_pairs_without_an_exchange_are_bitfinex_as_before(api):
    default = api.get("/api/v1/pairs/").json()
    named = api.get("/api/v1/pairs/?exchange=bitfinex").json()

    assert [r["pair"] for r in default["results"]] == ["BTCUSD", "BTCUST", "ETHUSD"]
    assert {r["exchange"] for r in default["results"]} == {"bitfinex"}
    assert default["results"][0]["symbol"] == "tBTCUSD"
    assert named["results"] == default["results"]


def test_cached_pair_lists_are_kept_apart_per_exchange(api):
    coinbase = api.get("/api/v1/pairs/?exchange=coinbase").json()
    kraken = api.get("/api/v1/pairs/?exchange=kraken").json()
    coinbase_again = api.get("/api/v1/pairs/?exchange=coinbase").json()

    assert [r["pair"] for r in coinbase["results"]] == ["BTC-USD", "ETH-USD"]
    assert [r["pair"] for r in kraken["results"]] == ["XBTUSD"]
    assert coinbase_again == coinbase


@pytest.mark.parametrize(
    "url",
    [
        "/api/v1/pairs/?exchange=okx",
        "/api/v1/pairs/BTCUSD/?exchange=okx",
        "/api/v1/pairs/BTCUSD/history/?exchange=okx",
        "/api/v1/pairs/BTCUSD/stats/?exchange=okx",
        "/api/v1/rank/?exchange=okx",
    ],
)
def test_an_unconfigured_exchange_is_a_400_naming_the_configured_ones(api, url):
    response = api.get(url)

    assert response.status_code == 400
    error = _error(response)
    assert error["code"] == "invalid_parameter"
    assert error["fields"] == {
        "exchange": ["'okx' is not a configured exchange; configured are bitfinex, binance, coinbase, kraken"]
        if "rank" not in url
        else ["'okx' is not a configured exchange; configured are bitfinex, binance, coinbase, kraken, all"]
    }


def test_a_supported_but_unconfigured_exchange_is_a_400_too(api, settings):
    settings.PRICES_EXCHANGES = ["bitfinex", "binance"]

    response = api.get("/api/v1/pairs/?exchange=kraken")

    assert response.status_code == 400
    assert _error(response)["fields"]["exchange"] == [
        "'kraken' is not a configured exchange; configured are bitfinex, binance"
    ]


def test_pair_detail_of_a_coinbase_pair_has_its_newest_tick(api):
    body = api.get("/api/v1/pairs/BTC-USD/?exchange=coinbase").json()

    assert (body["exchange"], body["pair"], body["last_price"]) == ("coinbase", "BTC-USD", "59990.125")
    assert body["minute"] == "2024-05-01T11:59:00Z"


def test_history_of_a_kraken_pair_returns_exactly_its_stored_prices(api):
    response = api.get(
        "/api/v1/pairs/XBTUSD/history/?exchange=kraken&start=2024-05-01T11:00:00Z&end=2024-05-01T12:00:00Z"
    )

    body = response.json()
    assert response.status_code == 200
    assert (body["exchange"], body["pair"], body["count"]) == ("kraken", "XBTUSD", MINUTES)
    assert [r["last_price"] for r in body["results"]] == [str(p) for p in prices_of("kraken", "XBTUSD")]
    assert body["results"][-1]["minute"] == "2024-05-01T11:58:00Z"


def test_history_csv_of_another_exchange_names_the_exchange_in_its_file_name(api):
    response = api.get(
        "/api/v1/pairs/BTC-USD/history/?exchange=coinbase&start=2024-05-01T11:00:00Z"
        "&end=2024-05-01T12:00:00Z&format=csv"
    )

    assert response.status_code == 200
    assert response["Content-Disposition"] == 'attachment; filename="coinbase_BTC-USD_1m.csv"'
    lines = b"".join(response.streaming_content).decode().splitlines()
    assert lines[-1].split(",")[:2] == ["2024-05-01T11:59:00Z", "59990.125"]


def test_stats_of_a_binance_pair_are_its_window_statistics(api):
    body = api.get("/api/v1/pairs/ETHUSDT/stats/?exchange=binance&window=1h").json()

    expected = prices_of("binance", "ETHUSDT")
    assert (body["exchange"], body["pair"], body["end"]) == ("binance", "ETHUSDT", "2024-05-01T12:00:00Z")
    assert body["stats"]["count"] == MINUTES
    assert (body["stats"]["first"], body["stats"]["last"]) == (str(expected[0]), "3001.01")
    assert body["stats"]["std"] == pytest.approx(statistics.stdev(float(p) for p in expected))


@pytest.mark.parametrize(
    "url",
    [
        "/api/v1/pairs/BTCUSDT/",  # a Binance name is not a Bitfinex pair
        "/api/v1/pairs/BTCUSDT/history/",
        "/api/v1/pairs/BTC_USD/?exchange=coinbase",  # not the format of any exchange
        "/api/v1/pairs/BTC_USD/history/?exchange=coinbase",
        "/api/v1/pairs/DOGEUSDT/?exchange=binance",  # the format, but not tracked there
        "/api/v1/pairs/BTCUSD/stats/?exchange=binance",
        "/api/v1/pairs/DOGEUSDT/history/?exchange=binance",
    ],
)
def test_a_pair_the_exchange_does_not_track_is_a_404_in_the_error_shape(api, url):
    response = api.get(url)

    assert response.status_code == 404
    assert _error(response)["code"] == "not_found"


# --- GET /api/v1/exchanges/ -----------------------------------------------------------------


def test_exchanges_lists_the_configured_ones_with_pair_counts_and_freshness(api):
    with time_machine.travel(NOW, tick=False):
        body = api.get("/api/v1/exchanges/").json()

    assert body["count"] == 4
    assert [(e["name"], e["label"], e["pairs"]) for e in body["results"]] == [
        ("bitfinex", "Bitfinex", 3),
        ("binance", "Binance", 2),
        ("coinbase", "Coinbase", 2),
        ("kraken", "Kraken", 1),
    ]
    kraken = body["results"][3]
    assert kraken["newest_minute"] == "2024-05-01T11:58:00Z"
    assert kraken["newest_age_s"] == 90.0  # 12:00:30 − (11:58 + 1 min)
    assert body["results"][0]["newest_age_s"] == 30.0
    assert (kraken["stale_pairs"], kraken["delisted_pairs"]) == (0, 0)


def test_an_exchange_without_data_is_listed_with_no_pairs(memory_configured_repo, several_exchanges, db):
    body = APIClient().get("/api/v1/exchanges/").json()

    assert body["results"][1] == {
        "name": "binance",
        "label": "Binance",
        "pairs": 0,
        "newest_minute": None,
        "newest_age_s": None,
        "stale_pairs": 0,
        "delisted_pairs": 0,
    }


# --- GET /api/v1/markets/… -----------------------------------------------------------------


def test_a_market_gives_each_exchange_s_exact_price_and_the_spread(api):
    response = api.get("/api/v1/markets/BTC-USD/")

    assert response.status_code == 200
    body = response.json()
    assert (body["market"], body["base"], body["quote"]) == ("BTC-USD", "BTC", "USD")
    assert body["exchanges"] == ["bitfinex", "coinbase", "kraken"]
    assert [q.pop("stale") for q in body["prices"]] == [False, False, False]  # a minute apart at most
    assert body["prices"] == [
        {"exchange": "bitfinex", "pair": "BTCUSD", "price": "60000.5", "minute": "2024-05-01T11:59:00Z"},
        {"exchange": "coinbase", "pair": "BTC-USD", "price": "59990.125", "minute": "2024-05-01T11:59:00Z"},
        {"exchange": "kraken", "pair": "XBTUSD", "price": "60020", "minute": "2024-05-01T11:58:00Z"},
    ]
    assert body["spread"] == "29.875"  # 60020 − 59990.125
    assert body["median"] == "60000.5"
    assert body["spread_pct"] == float(Decimal("29.875") / Decimal("60000.5") * 100)


def test_a_market_on_two_exchanges_has_the_mean_of_both_as_its_median(api):
    body = api.get("/api/v1/markets/btc-usdt/").json()

    assert body["market"] == "BTC-USDT"  # USDT is not USD: Bitfinex's UST and Binance's USDT
    assert [(p["exchange"], p["pair"], p["price"]) for p in body["prices"]] == [
        ("bitfinex", "BTCUST", "60004.75"),
        ("binance", "BTCUSDT", "60010.25"),
    ]
    assert (body["spread"], body["median"]) == ("5.5", "60007.5")


def test_a_market_on_one_exchange_has_no_spread(api):
    body = api.get("/api/v1/markets/ETH-USDT/").json()

    assert [p["exchange"] for p in body["prices"]] == ["binance"]
    assert (body["spread"], body["spread_pct"]) == ("0", 0.0)


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("/api/v1/markets/DOGE-USD/", "no configured exchange lists DOGE-USD"),
        ("/api/v1/markets/BTCUSD/", "'BTCUSD' is not a market name such as BTC-USD"),
    ],
)
def test_a_market_no_exchange_lists_is_a_404_in_the_error_shape(api, url, message):
    response = api.get(url)

    assert response.status_code == 404
    error = _error(response)
    assert error["code"] == "not_found" and error["message"].startswith(message)


def test_a_market_of_an_exchange_no_longer_configured_leaves_it_out(api, settings):
    settings.PRICES_EXCHANGES = ["bitfinex", "coinbase"]

    body = api.get("/api/v1/markets/BTC-USD/").json()

    assert body["exchanges"] == ["bitfinex", "coinbase"]
    assert body["spread"] == "10.375"


def test_markets_lists_the_markets_on_two_or_more_exchanges_in_pages(api):
    first = api.get("/api/v1/markets/?page_size=2").json()
    second = api.get(first["next"]).json()

    assert first["count"] == 3
    assert [m["market"] for m in first["results"]] == ["BTC-USD", "BTC-USDT"]
    assert [m["market"] for m in second["results"]] == ["ETH-USD"]
    assert second["results"][0]["exchanges"] == ["bitfinex", "coinbase"]
    assert second["results"][0]["spread"] == "0.11"  # 3000.1 − 2999.99
    assert second["next"] is None and second["previous"] is not None


def test_markets_past_the_last_page_is_a_400(api):
    response = api.get("/api/v1/markets/?page=3")

    assert response.status_code == 400
    assert "page" in _error(response)["fields"]


# --- rank ----------------------------------------------------------------------------------


def _relative_std(exchange: str, pair: str) -> float:
    values = [float(p) for p in prices_of(exchange, pair)]
    return statistics.stdev(values) / statistics.fmean(values)


def test_rank_within_one_exchange_ranks_only_its_pairs(api):
    body = api.get("/api/v1/rank/?exchange=coinbase&window=1h").json()

    assert body["exchange"] == "coinbase"
    assert [(r["exchange"], r["pair"]) for r in body["results"]] == [
        ("coinbase", "ETH-USD"),
        ("coinbase", "BTC-USD"),
    ]
    assert body["results"][0]["value"] == pytest.approx(_relative_std("coinbase", "ETH-USD"))
    assert body["results"][1]["last"] == "59990.125"


def test_rank_across_all_exchanges_orders_every_pair_and_names_its_exchange(api):
    body = api.get("/api/v1/rank/?exchange=all&window=1h").json()

    expected = sorted(SERIES, key=lambda key: -_relative_std(*key))
    assert body["exchange"] == "all"
    assert body["end"] == "2024-05-01T12:00:00Z"  # the newest minute of any exchange
    assert [(r["exchange"], r["pair"]) for r in body["results"]] == expected
    assert [r["rank"] for r in body["results"]] == list(range(1, len(SERIES) + 1))
    kraken = next(r for r in body["results"] if r["exchange"] == "kraken")
    assert kraken["count"] == MINUTES  # a minute behind, but all in [11:00, 12:00)


def test_rank_across_all_exchanges_keeps_the_named_pairs_and_the_limit(api):
    body = api.get("/api/v1/rank/?exchange=all&window=1h&pairs=BTCUSD,BTC-USD,XBTUSD&limit=2").json()

    ranked = sorted(
        [("bitfinex", "BTCUSD"), ("coinbase", "BTC-USD"), ("kraken", "XBTUSD")],
        key=lambda key: -_relative_std(*key),
    )
    assert [(r["exchange"], r["pair"]) for r in body["results"]] == ranked[:2]


def test_rank_across_all_exchanges_refuses_a_pair_no_exchange_tracks(api):
    response = api.get("/api/v1/rank/?exchange=all&pairs=BTCUSD,DOGEUSDT")

    assert response.status_code == 400
    assert _error(response)["fields"] == {"pairs": ["unknown pairs: DOGEUSDT"]}


def test_rank_by_default_is_bitfinex_and_its_rows_name_it(api):
    body = api.get("/api/v1/rank/?window=1h").json()

    assert body["exchange"] == "bitfinex"
    assert {r["exchange"] for r in body["results"]} == {"bitfinex"}
    assert {r["pair"] for r in body["results"]} == {"BTCUSD", "BTCUST", "ETHUSD"}


# --- nothing is written ---------------------------------------------------------------------


def test_the_cross_exchange_reads_write_nothing_to_dynamodb(configured_repo, several_exchanges, db):
    history_store(ticks=series_ticks(), repo=configured_repo)
    cache.clear()
    calls: list[str] = []
    configured_repo.client.meta.events.register(
        "before-call.dynamodb", lambda model, **_: calls.append(model.name)
    )
    client = APIClient()

    with time_machine.travel(NOW, tick=False):
        responses = [
            client.get("/api/v1/exchanges/"),
            client.get("/api/v1/markets/"),
            client.get("/api/v1/markets/BTC-USD/"),
            client.get("/api/v1/rank/?exchange=all&window=1h"),
            client.get("/api/v1/pairs/?exchange=kraken"),
            client.get("/api/v1/pairs/BTC-USD/history/?exchange=coinbase"),
        ]

    assert [r.status_code for r in responses] == [200] * 6
    assert responses[2].json()["spread"] == "29.875"
    assert calls and not {"PutItem", "UpdateItem", "BatchWriteItem", "DeleteItem"} & set(calls)


def test_a_quote_far_behind_the_newest_is_flagged_stale_and_left_out_of_the_spread():
    from prices.domain import to_ms
    from prices.selectors_markets import market_prices

    newest = to_ms(NOW) - 30_000
    indexes = {
        "bitfinex": {"BTC-USD": [("BTCUSD", Decimal("60000.5"), newest)]},
        "kraken": {"BTC-USD": [("XXBTZUSD", Decimal("60010"), newest - 5 * 60_000)]},  # 5 min: current
        "coinbase": {"BTC-USD": [("BTC-USD", Decimal("58000"), newest - 6 * 60_000)]},  # its stub stopped
    }

    market = market_prices(market="BTC-USD", indexes=indexes)

    assert [(q.exchange, q.stale) for q in market.quotes] == [
        ("bitfinex", False),
        ("kraken", False),
        ("coinbase", True),
    ]
    assert (market.spread, market.median) == (Decimal("9.5"), Decimal("60005.25"))


def test_the_market_answer_shows_each_quotes_staleness(api):
    body = api.get("/api/v1/markets/BTC-USD/").json()

    assert {q["exchange"]: q["stale"] for q in body["prices"]} == {e: False for e in body["exchanges"]}
