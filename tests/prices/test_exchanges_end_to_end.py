"""Three exchanges polled in one minute from loopback stubs serving recorded payloads, each with
its own task, lease and failure accounting; every stored price checked exactly."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

from cryptotracker.monitoring.health import exchanges_check
from cryptotracker.scheduling import declared_schedules, schedules_ensure
from prices import sources, tasks
from prices.exchanges import Market, market_of
from prices.models import ExchangeMarket, PollLease
from prices.sources.stub_exchanges import ExchangeStubServer, recorded_body

pytestmark = pytest.mark.django_db


def expected_prices() -> dict[str, dict[str, Decimal]]:
    """Each exchange's pair → last price, read from the recorded files (not through prices/)."""
    binance_info = json.loads(recorded_body("binance_exchange_info_2021.cryptofeed"))
    binance_last = json.loads(recorded_body("binance_ticker_24hr_doc.txt"))["lastPrice"]
    btc = json.loads(recorded_body("binance_ticker_price.json"))
    binance = {
        s["symbol"]: Decimal(binance_last) for s in binance_info["symbols"] if s["status"] == "TRADING"
    }
    binance[btc["symbol"]] = Decimal(btc["price"])
    kraken_pairs = json.loads(recorded_body("kraken_asset_pairs_2021.cryptofeed"))["result"]
    kraken_last = json.loads(recorded_body("kraken_ticker.json"))["result"]["XBTUSDT"]["c"][0]
    kraken = {key: Decimal(kraken_last) for key in kraken_pairs if not key.endswith(".d")}
    real = {
        p["product_id"]: Decimal(p["price"])
        for p in json.loads(recorded_body("coinbase_products.json"))["products"]
    }
    listed = json.loads(recorded_body("coinbase_products_2021.cryptofeed"))
    coinbase = {p["id"]: real.get(p["id"], real["BTC-USD"]) for p in listed} | real
    return {"binance": binance, "kraken": kraken, "coinbase": coinbase}


@pytest.fixture
def stubs(settings):
    """One stub per exchange (so one can fail alone), configured as the exchanges' API URLs."""
    servers = {
        name: ExchangeStubServer(exchanges=(name,)).start() for name in ("binance", "kraken", "coinbase")
    }
    settings.PRICES_EXCHANGES = ["binance", "kraken", "coinbase"]
    settings.EXCHANGE_API_URLS = {name: server.url for name, server in servers.items()}
    settings.EXCHANGE_PAIRS = {}
    settings.EXCHANGE_HTTP_RETRIES = 0
    sources._source.cache_clear()
    yield servers
    for server in servers.values():
        server.stop()
    sources._source.cache_clear()


def test_three_exchanges_polled_in_one_minute_store_every_pair_at_its_exact_price(
    stubs, memory_configured_repo, time_machine
):
    time_machine.move_to("2026-12-01T12:00:05Z", tick=False)
    expected = expected_prices()

    lines = [tasks.fetch_prices(name) for name in ("binance", "kraken", "coinbase")]

    for name, line in zip(("binance", "kraken", "coinbase"), lines, strict=True):
        assert line.startswith(
            f"{name} minute 2026-12-01T11:59Z: stored, stored {len(expected[name])} ticks"
        ), line
        stored = memory_configured_repo.latest_prices(exchange=name)
        assert {pair: entry.price for pair, entry in stored.items()} == expected[name]
        for pair in expected[name]:
            tick = memory_configured_repo.latest(exchange=name, pair=pair)
            assert tick.last_price == expected[name][pair]
            assert tick.last_price.as_tuple() == expected[name][pair].as_tuple()  # same digits as the text
    assert [len(expected[name]) for name in ("binance", "kraken", "coinbase")] == [1262, 293, 162]


def test_the_polls_record_each_exchanges_markets_for_market_of(stubs, memory_configured_repo, time_machine):
    time_machine.move_to("2026-12-01T12:00:05Z", tick=False)

    for name in ("binance", "kraken", "coinbase"):
        tasks.fetch_prices(name)

    assert ExchangeMarket.objects.filter(exchange="binance").count() == 1695
    assert market_of("binance", "BTCUSDT") == Market("BTC", "USDT")
    assert market_of("kraken", "XXBTZUSD") == Market("BTC", "USD")
    assert market_of("kraken", "XBTUSDT") == Market("BTC", "USDT")
    assert market_of("coinbase", "BTC-USDC") == Market("BTC", "USDC")


def test_one_exchange_failing_fails_only_its_own_task_and_readiness_names_it(
    stubs, memory_configured_repo, time_machine
):
    stubs["kraken"].stop()
    outcomes = {}
    for minute in ("12:00:05", "12:01:05"):
        time_machine.move_to(f"2026-12-01T{minute}Z", tick=False)
        for name in ("binance", "kraken", "coinbase"):
            try:
                outcomes[name] = tasks.fetch_prices(name)
            except tasks.IngestFailedError as exc:
                outcomes[name] = exc

    assert isinstance(outcomes["kraken"], tasks.IngestFailedError)
    assert "connection failed" in str(outcomes["kraken"])
    assert "minute 2026-12-01T12:00Z: stored, stored 1262 ticks" in outcomes["binance"]
    assert "minute 2026-12-01T12:00Z: stored, stored 162 ticks" in outcomes["coinbase"]
    check = exchanges_check()
    assert check["ok"] is False and check["failing"] == ["kraken"]
    assert check["exchanges"]["binance"] == {
        "ok": True,
        "failures_in_a_row": 0,
        "last_success": "2026-12-01T12:01:05Z",
    }
    assert PollLease.objects.get(exchange="kraken").failures == 2


def test_each_configured_exchange_gets_its_own_schedules_and_bitfinex_keeps_its_names(settings):
    settings.PRICES_EXCHANGES = ["bitfinex", "kraken"]

    schedules_ensure()
    schedules_ensure()

    from django_q.models import Schedule

    names = [spec.name for spec in declared_schedules() if spec.func.startswith("prices.")]
    assert names == [
        "prices.tasks.fetch_prices",
        "prices.tasks.repair_gaps",
        "prices.tasks.reconcile_pairs",
        "prices.tasks.fetch_prices:kraken",
        "prices.tasks.repair_gaps:kraken",
        "prices.tasks.reconcile_pairs:kraken",
        "prices.tasks.expire_ticks",
    ]
    kraken = Schedule.objects.get(name="prices.tasks.fetch_prices:kraken")
    assert (kraken.func, kraken.args, kraken.minutes) == ("prices.tasks.fetch_prices", "'kraken'", 1)
    assert Schedule.objects.get(name="prices.tasks.fetch_prices").args is None
    assert Schedule.objects.filter(name__startswith="prices.tasks.fetch_prices").count() == 2


def test_reconciliation_of_an_exchange_uses_its_own_pair_list(stubs, memory_configured_repo, time_machine):
    time_machine.move_to("2026-12-01T12:00:05Z", tick=False)
    tasks.fetch_prices("kraken")

    line = tasks.reconcile_pairs("kraken")

    assert line.startswith("pair list kraken: 293 listed, 293 tracked; delisted now: none")


def test_fetch_prices_command_polls_the_named_exchange(stubs, memory_configured_repo, time_machine):
    from io import StringIO

    from django.core.management import CommandError, call_command

    time_machine.move_to("2026-12-01T12:00:05Z", tick=False)
    out = StringIO()

    call_command("fetch_prices", "--exchange", "coinbase", stdout=out)

    assert out.getvalue().startswith("coinbase minute 2026-12-01T11:59Z: stored, stored 162 ticks")
    with pytest.raises(CommandError, match="unknown exchange 'mtgox'"):
        call_command("fetch_prices", "--exchange", "mtgox")


def test_gap_commands_take_the_exchange_and_its_own_pair_ids(stubs, memory_configured_repo, time_machine):
    from io import StringIO

    from django.core.management import CommandError, call_command

    time_machine.move_to("2026-12-01T12:00:05Z", tick=False)
    tasks.fetch_prices("kraken")
    out = StringIO()

    call_command(
        "report_gaps", "--exchange", "kraken", "--pair", "XBTUSDT", "--since", "2026-12-01T11:58",
        "--until", "2026-12-01T12:00", stdout=out,
    )  # fmt: skip

    assert out.getvalue().startswith("Coverage of kraken 2026-12-01T11:58Z..2026-12-01T12:00Z")
    assert "Total: expected 1, present 1, known gaps 0, pending 0, missing 0" in out.getvalue()
    with pytest.raises(CommandError, match="'BTC-USD' is not a pair name of kraken"):
        call_command("repair_gaps", "--exchange", "kraken", "--pair", "BTC-USD", stdout=StringIO())
    with pytest.raises(CommandError, match="invalid pair 'XBTUSDT'"):
        call_command(
            "backfill_prices", "--pair", "XBTUSDT", "--start", "2026-12-01", "--end", "2026-12-01T01:00"
        )
