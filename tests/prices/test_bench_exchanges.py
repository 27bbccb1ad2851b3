"""bench_exchanges runs end to end (tiny numbers; the figures themselves are not tested)."""

from __future__ import annotations

import re
from io import StringIO

import boto3
import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from prices.repository import _repository

pytestmark = [pytest.mark.integration, pytest.mark.django_db]


def test_bench_exchanges_polls_the_four_stubs_each_minute_and_checks_the_market_prices(
    dynalite_server, settings
):
    settings.DYNAMODB_ENDPOINT_URL = dynalite_server
    _repository.cache_clear()
    out = StringIO()
    try:
        call_command(
            "bench_exchanges",
            *("--cycles", "2", "--minutes", "60", "--repeat", "1", "--bitfinex-pairs", "5"),
            *("--binance-pairs", "1300", "--kraken-pairs", "10", "--coinbase-pairs", "170"),
            stdout=out,
        )
    finally:
        _repository.cache_clear()

    text = out.getvalue()
    # Binance and Coinbase padded past their recorded lists (1,262 and 162), Kraken's 293 kept.
    assert "bitfinex 5 pairs, binance 1,300 pairs, kraken 293 pairs, coinbase 170 pairs" in text
    assert len(re.findall(r"^  \d\d:\d\d all four ", text, flags=re.MULTILINE)) == 2
    for line in (
        "Failed cycles: 0",
        "markets/BTC-USD/   uncached",
        "exchanges/         cached",
        "[ok] failed cycles = 0: 0",
        "[ok] DynamoDB writes during reads = 0: 0",
        "[ok] BTC-USD prices equal each stub's exactly: yes",
    ):
        assert line in text, line
    # Bitfinex's BTCUSD is among even 5 pairs: the market compares the three exchanges listing it.
    assert re.search(r"BTC-USD: bitfinex [\d.]+, coinbase [\d.]+, kraken [\d.]+", text)
    client = boto3.client(
        "dynamodb",
        endpoint_url=dynalite_server,
        region_name="us-east-1",
        aws_access_key_id="x",
        aws_secret_access_key="x",
    )
    assert not [t for t in client.list_tables()["TableNames"] if t.startswith("benchx_")]  # dropped


def test_bench_exchanges_refuses_aws_and_bad_numbers(settings):
    settings.DYNAMODB_ENDPOINT_URL = None
    with pytest.raises(CommandError, match="refusing to seed"):
        call_command("bench_exchanges", stdout=StringIO())
    settings.DYNAMODB_ENDPOINT_URL = "http://127.0.0.1:1"
    with pytest.raises(CommandError, match="--cycles must be at least 1, not 0"):
        call_command("bench_exchanges", "--cycles", "0", stdout=StringIO())
