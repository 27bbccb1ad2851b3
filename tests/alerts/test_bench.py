"""Smoke test of `manage.py bench_alerts` with tiny numbers (the benchmark itself is not a test)."""

from __future__ import annotations

import re
from io import StringIO
from unittest import mock

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from alerts.models import AlertEvent, AlertRule

pytestmark = pytest.mark.django_db


def _bench(rules: int) -> tuple[str, list[tuple[str, int, int]]]:
    out = StringIO()
    call_command("bench_alerts", "--store", "memory", "--pairs", "3", "--rules", str(rules), stdout=out)
    text = out.getvalue()
    runs = re.findall(
        r"(first minute \(new rules\)|next minute): \d+ ms .* (\d+) DB queries, (\d+) memory requests", text
    )
    return text, [(label, int(queries), int(requests)) for label, queries, requests in runs]


def test_bench_alerts_prints_times_and_counts_and_leaves_nothing_behind(
    alerts_receiver, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks() as callbacks:
        text, runs = _bench(60)

    assert [label for label, _, _ in runs] == ["first minute (new rules)", "next minute"]
    assert "evaluated, 60 rules" in text
    assert "zscore" in text and "volatility_rank" in text  # the mix has every kind
    assert AlertRule.objects.count() == 0
    assert AlertEvent.objects.count() == 0
    assert callbacks == []  # seeding the throw-away prices enqueues no alert evaluation


def test_bench_store_requests_and_steady_queries_do_not_grow_with_the_rules(alerts_receiver):
    _, few = _bench(60)
    _, many = _bench(600)

    assert [requests for _, _, requests in many] == [requests for _, _, requests in few]
    assert many[1][1] == few[1][1]  # a steady minute's DB queries


def test_bench_refuses_to_run_against_aws(settings):
    settings.DYNAMODB_ENDPOINT_URL = None

    with pytest.raises(Exception, match="refusing to benchmark on AWS"):
        call_command("bench_alerts", stdout=StringIO())


def test_bench_refuses_an_unmigrated_database_with_one_line():
    with mock.patch("prices.management.commands._cli.MigrationExecutor") as executor:
        executor.return_value.migration_plan.return_value = [(object(), False)]
        with pytest.raises(CommandError, match=r"unapplied migrations: run .*manage.py migrate"):
            call_command("bench_alerts", "--store", "memory", stdout=StringIO())
