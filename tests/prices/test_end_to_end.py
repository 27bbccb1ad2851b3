"""End to end on dynalite: a loopback Bitfinex stub → fetch_prices → DynamoDB → the API."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from io import StringIO

import pytest
from django.core.cache import cache
from django.core.management import call_command
from rest_framework.test import APIClient

from prices.domain import decimal_str
from prices.repository import _repository
from prices.sources import _source
from prices.sources.stub_server import TICKERS_FIXTURE, BitfinexStubServer
from tests.realdata import ZOMBIE, closes

pytestmark = [pytest.mark.integration, pytest.mark.django_db]


@pytest.fixture
def live_stack(dynalite_server, dynamo_repo_factory, settings):
    """dynalite tables + a Bitfinex stub, wired into the settings the commands and views read."""
    repo = dynamo_repo_factory(dynalite_server)
    with BitfinexStubServer() as stub:
        settings.DYNAMODB_ENDPOINT_URL = dynalite_server
        settings.DYNAMODB_TABLE_PREFIX = repo.ticks_table.removesuffix("ticks")
        settings.BITFINEX_API_URL = stub.url
        settings.PRICES_PAIRS = []
        _repository.cache_clear()
        _source.cache_clear()
        cache.clear()
        yield repo, stub
    _repository.cache_clear()
    _source.cache_clear()


def _recorded_trading_prices() -> dict[str, Decimal]:
    rows = json.loads(TICKERS_FIXTURE.read_text(), parse_float=Decimal)
    return {row[0][1:]: Decimal(row[7]) for row in rows if row[0].startswith("t") and row[7]}


def test_fetch_prices_stores_every_trading_pair_and_the_api_returns_the_recorded_last_prices(live_stack):
    repo, stub = live_stack
    out = StringIO()

    call_command("fetch_prices", stdout=out)

    expected = _recorded_trading_prices()
    assert f"stored {len(expected)} ticks" in out.getvalue()
    assert stub.requests == ["/v2/tickers?symbols=ALL"]
    body = APIClient().get("/api/v1/pairs/").json()
    assert {r["pair"]: r["last_price"] for r in body["results"]} == {
        p: decimal_str(v) for p, v in expected.items()
    }
    assert body["results"][0]["last_minute"].endswith("Z")


def test_fetch_prices_exits_non_zero_when_the_exchange_fails(live_stack):
    repo, stub = live_stack
    stub.fail_next(500, '["error",20060,"maintenance"]')
    stub.fail_next(500, '["error",20060,"maintenance"]')
    stub.fail_next(500, '["error",20060,"maintenance"]')

    with pytest.raises(Exception) as error:
        call_command("fetch_prices", stdout=StringIO())

    assert "maintenance" in str(error.value)
    assert repo.latest_prices(exchange="bitfinex") == {}


def test_import_then_history_returns_the_recorded_closes_and_a_second_import_changes_nothing(live_stack):
    repo, _ = live_stack
    out = StringIO()
    call_command("import_prices", str(ZOMBIE / "BTCUSD"), stdout=out, stderr=StringIO())
    url = "/api/v1/pairs/BTCUSD/history/?start=2019-12-31T00:00:00Z&end=2020-01-01T00:00:00Z"
    first = APIClient().get(url).json()

    call_command("import_prices", str(ZOMBIE / "BTCUSD"), stdout=out, stderr=StringIO())

    assert [r["last_price"] for r in first["results"]] == [
        decimal_str(c) for _, c in closes("BTCUSD", "19-12-31")
    ]
    assert first["count"] == 1365
    assert "stored 0 ticks" in out.getvalue().splitlines()[-1]
    cache.clear()
    assert APIClient().get(url).json() == first


def test_backfill_prices_pages_candles_from_the_stub_into_dynalite(live_stack):
    repo, stub = live_stack
    out = StringIO()

    call_command(
        "backfill_prices",
        *("--pair", "ETHUSD", "--start", "2019-12-31T00:00:00Z", "--end", "2019-12-31T06:00:00Z"),
        stdout=out,
        stderr=StringIO(),
    )

    stored = list(
        repo.between(
            exchange="bitfinex", pair="ETHUSD",
            start=datetime(2019, 12, 31, tzinfo=UTC), end=datetime(2019, 12, 31, 6, tzinfo=UTC),
        )
    )  # fmt: skip
    expected = [(ms, c) for ms, c in closes("ETHUSD", "19-12-31") if ms < 1577772000000]
    assert [(t.minute_ms, t.last_price) for t in stored] == expected
    assert all(r.startswith("/v2/candles/trade:1m:tETHUSD/hist?") for r in stub.requests)
