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


def test_bench_alerts_prints_times_and_counts_and_leaves_nothing_behind(
    alerts_receiver, django_capture_on_commit_callbacks
):
    out = StringIO()

    with django_capture_on_commit_callbacks() as callbacks:
        call_command("bench_alerts", "--store", "memory", "--pairs", "3", "--rules", "60", stdout=out)

    text = out.getvalue()
    runs = re.findall(
        r"(first minute \(new rules\)|next minute): \d+ ms .* (\d+) DB queries, (\d+) memory requests", text
    )
    assert [label for label, _, _ in runs] == ["first minute (new rules)", "next minute"]
    assert all(int(requests) == 2 for _, _, requests in runs)  # recent_prices + one volatility window
    assert "evaluated, 60 rules" in text
    assert AlertRule.objects.count() == 0
    assert AlertEvent.objects.count() == 0
    assert callbacks == []  # seeding the throw-away prices enqueues no alert evaluation


def test_bench_refuses_to_run_against_aws(settings):
    settings.DYNAMODB_ENDPOINT_URL = None

    with pytest.raises(Exception, match="refusing to benchmark on AWS"):
        call_command("bench_alerts", stdout=StringIO())


def test_bench_refuses_an_unmigrated_database_with_one_line():
    with mock.patch("alerts.management.commands.bench_alerts.MigrationExecutor") as executor:
        executor.return_value.migration_plan.return_value = [(object(), False)]
        with pytest.raises(CommandError, match=r"unapplied migrations: run .*manage.py migrate"):
            call_command("bench_alerts", "--store", "memory", stdout=StringIO())
