"""Retention: expired ticks deleted where DynamoDB TTL does not, aggregates kept; the tasks and commands."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import call_command

from prices import tasks
from prices.domain import MINUTE, Tick
from prices.services import history_store, ticks_expire

NOW = datetime(2020, 1, 10, 12, 0, 30, tzinfo=UTC)
PAIRS = ("BTCUSD", "ETHUSD")

pytestmark = pytest.mark.django_db


def seed(repo, start: datetime, minutes: int) -> None:
    start = start.replace(second=0)
    ticks = [
        Tick(exchange="bitfinex", pair=pair, minute=start + i * MINUTE, last_price=Decimal(100 + i))
        for pair in PAIRS
        for i in range(minutes)
    ]
    history_store(ticks=ticks, repo=repo)


def minutes_left(repo, pair: str) -> list[datetime]:
    return [
        t.minute
        for t in repo.between(exchange="bitfinex", pair=pair, start=NOW - timedelta(days=30), end=NOW)
    ]


def test_ticks_whose_minute_ended_before_the_retention_are_deleted_and_aggregates_kept(memory_repo):
    cutoff = NOW - timedelta(days=7)  # the minute ending at the cut-off is the last to go
    first = cutoff.replace(second=0) - 3 * MINUTE
    seed(memory_repo, first, 6)
    snapshots, rollups = dict(memory_repo.snapshots["bitfinex"]), dict(memory_repo.rollups["bitfinex"])

    summary = ticks_expire(now=NOW, retention_days=7, repo=memory_repo)

    expected = [first + i * MINUTE for i in range(3, 6)]
    assert [minutes_left(memory_repo, p) for p in PAIRS] == [expected, expected]
    assert (summary.status, summary.deleted, summary.pairs) == ("done", 6, 2)
    assert summary.line() == ("retention: deleted 6 ticks of 2 pairs that ended before 2020-01-03T12:00Z")
    assert memory_repo.snapshots["bitfinex"] == snapshots and memory_repo.rollups["bitfinex"] == rollups


def test_a_run_deletes_at_most_its_budget_and_the_next_one_goes_on(memory_repo):
    seed(memory_repo, NOW - timedelta(days=8), 10)

    first = ticks_expire(now=NOW, retention_days=7, max_deletes=15, repo=memory_repo)
    second = ticks_expire(now=NOW, retention_days=7, max_deletes=15, repo=memory_repo)

    assert (first.status, first.deleted) == ("partial", 15)
    assert (second.status, second.deleted) == ("done", 5)
    assert minutes_left(memory_repo, "ETHUSD") == []


def test_without_retention_nothing_is_deleted(memory_repo):
    seed(memory_repo, NOW - timedelta(days=800), 3)

    summary = ticks_expire(now=NOW, retention_days=None, repo=memory_repo)

    assert summary.status == "off" and "kept forever" in summary.line()
    assert len(minutes_left(memory_repo, "BTCUSD")) == 0  # outside the helper's window, but still stored
    assert len(memory_repo.ticks[("bitfinex", "BTCUSD")]) == 3


def test_where_dynamodb_ttl_expires_ticks_the_task_deletes_nothing_unless_forced(mock_aws_repo):
    from prices.repository.dynamodb import DynamoTickRepository

    repo = DynamoTickRepository(table_prefix="test_", region="us-east-1", retention_days=7)
    repo.ensure_tables()  # moto has UpdateTimeToLive, like AWS
    seed(repo, NOW - timedelta(days=9), 2)

    native = ticks_expire(now=NOW, retention_days=7, repo=repo)
    forced = ticks_expire(now=NOW, retention_days=7, force=True, repo=repo)

    assert (native.status, native.deleted) == ("native", 0)
    assert (forced.status, forced.deleted) == ("done", 4)


def test_the_expire_task_uses_the_retention_setting(memory_configured_repo, settings, time_machine):
    time_machine.move_to(NOW, tick=False)
    seed(memory_configured_repo, NOW - timedelta(days=3), 2)
    settings.PRICES_RETENTION_DAYS = 2

    line = tasks.expire_ticks()

    assert line.startswith("retention: deleted 4 ticks of 2 pairs")


def test_expire_ticks_command_deletes_every_expired_tick_in_batches(
    memory_configured_repo, settings, time_machine
):
    time_machine.move_to(NOW, tick=False)
    seed(memory_configured_repo, NOW - timedelta(days=4), 3000)
    settings.PRICES_RETENTION_DAYS = 1
    out, err = StringIO(), StringIO()

    call_command("expire_ticks", stdout=out, stderr=err)

    assert out.getvalue() == "retention: deleted 6000 ticks that ended before 2020-01-09T12:00Z\n"
    assert "5000 ticks deleted so far" in err.getvalue()
    assert memory_configured_repo.ticks[("bitfinex", "BTCUSD")] == {}


@pytest.mark.parametrize("value", ["0", "-3", "seven", "1.5"])
def test_a_malformed_retention_is_a_configuration_error(value, monkeypatch):
    import importlib

    from django.core.exceptions import ImproperlyConfigured

    import cryptotracker.settings as production_settings

    monkeypatch.setenv("PRICES_RETENTION_DAYS", value)
    monkeypatch.setenv("DJANGO_DEBUG", "true")
    with pytest.raises(ImproperlyConfigured, match="PRICES_RETENTION_DAYS"):
        importlib.reload(production_settings)
    monkeypatch.delenv("PRICES_RETENTION_DAYS")
    importlib.reload(production_settings)
