"""Schedules: installed once, realigned to the start of the minute at every deploy and cluster start."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django_q.models import Schedule
from django_q.signals import post_spawn

from cryptotracker.scheduling import schedules_ensure, schedules_realign

pytestmark = pytest.mark.django_db

NOW = datetime(2024, 1, 1, 12, 30, 40, tzinfo=UTC)
POLL = "prices.tasks.fetch_prices"


def next_run(name: str = POLL) -> datetime:
    return Schedule.objects.get(name=name).next_run


def test_ensure_schedules_moves_an_old_offset_back_to_the_start_of_its_minute():
    schedules_ensure(now=NOW)
    Schedule.objects.filter(name=POLL).update(next_run=NOW.replace(second=31) + timedelta(minutes=1))

    schedules_ensure(now=NOW)

    assert next_run() == NOW.replace(second=0) + timedelta(minutes=1)


def test_after_downtime_ensure_schedules_sets_the_next_minute_start():
    schedules_ensure(now=NOW - timedelta(minutes=30))

    schedules_ensure(now=NOW)  # the old next_run is 30 minutes past

    every_minute = Schedule.objects.filter(minutes__lte=2)
    assert {s.next_run for s in every_minute} == {NOW.replace(second=0) + timedelta(minutes=1)}


def test_a_due_schedule_on_the_minute_is_left_alone():
    schedules_ensure(now=NOW)
    due = NOW.replace(second=0)
    Schedule.objects.filter(name=POLL).update(next_run=due)

    moved = schedules_realign(now=NOW)

    assert POLL not in moved
    assert next_run() == due


def test_a_cluster_starting_a_worker_realigns_the_schedules():
    schedules_ensure()
    stale = datetime.now(UTC) - timedelta(hours=1, seconds=29)
    Schedule.objects.update(next_run=stale)

    post_spawn.send(sender="django_q", proc_name="Worker-1")

    runs = set(Schedule.objects.values_list("next_run", flat=True))
    assert len(runs) == 1
    (run,) = runs
    assert (run.second, run.microsecond) == (0, 0)
    assert run > datetime.now(UTC) - timedelta(seconds=1)


def test_ensure_schedules_removes_the_schedules_of_an_exchange_no_longer_configured(settings):
    settings.PRICES_EXCHANGES = ["bitfinex", "kraken"]
    schedules_ensure(now=NOW)
    Schedule.objects.create(name="an operator's own", func="prices.tasks.not_declared", minutes=5)
    assert Schedule.objects.filter(name=f"{POLL}:kraken").exists()
    settings.PRICES_EXCHANGES = ["bitfinex"]
    out = StringIO()

    call_command("ensure_schedules", stdout=out)

    names = set(Schedule.objects.values_list("name", flat=True))
    assert not any(name.endswith(":kraken") for name in names)
    assert {POLL, "prices.tasks.repair_gaps", "an operator's own"} <= names
    removed = [line for line in out.getvalue().splitlines() if line.startswith("removed")]
    assert removed == [
        f"removed (no longer declared): prices.tasks.{func}:kraken"
        for func in ("fetch_prices", "reconcile_pairs", "repair_gaps")
    ]
