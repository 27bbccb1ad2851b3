"""The soak run (manage.py soak), shortened: minutes with faults, then gap repair and the verdict."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from prices.repository import _repository
from prices.services.gaps import GapRepairSummary

pytestmark = pytest.mark.django_db


@pytest.mark.integration
def test_a_short_soak_with_faults_on_dynalite_ends_with_every_minute_present_or_a_known_gap(
    dynalite_server, settings
):
    settings.DYNAMODB_ENDPOINT_URL = dynalite_server
    _repository.cache_clear()
    out = StringIO()

    # Seed 6 draws a 429, a 500, an HTML page and an empty list among 8 cycles (no timeout to wait for).
    call_command(
        "soak", "--minutes", "8", "--failure-rate", "0.5", "--seed", "6", stdout=out, stderr=StringIO()
    )

    _repository.cache_clear()
    lines = out.getvalue().splitlines()
    assert lines[0] == "Soak: 8 simulated minutes 2019-12-31T12:00Z..12:08Z, 7 pairs"
    assert lines[1] == "Cycles: failed 4, stored 4"
    assert lines[2] == "Faults injected: empty_list 1, error_500 1, html 1, rate_limit_429 1"
    assert "Total: expected 56, present" in out.getvalue() and out.getvalue().count("missing 0") == 1
    assert lines[-1] == "Soak passed: every minute of every pair is present or a known gap"


def test_the_soak_fails_when_gap_repair_cannot_restore_the_failed_minutes(monkeypatch):
    monkeypatch.setattr("prices.soak.gaps_repair", lambda **kwargs: GapRepairSummary("bitfinex"))
    out = StringIO()

    with pytest.raises(CommandError, match="soak failed"):
        call_command(
            "soak", "--store", "memory", "--minutes", "8", "--failure-rate", "0.5", "--seed", "6",
            stdout=out, stderr=StringIO(),
        )  # fmt: skip

    assert "Soak FAILED: MINUTES MISSING" in out.getvalue()
    assert "Failed minutes: 12:03, 12:04, 12:06, 12:07" in out.getvalue()
    assert (
        "missing BTCUSD: 2019-12-31T12:03Z..2019-12-31T12:04Z (2), 2019-12-31T12:06Z..2019-12-31T12:07Z (2)"
        in (out.getvalue())
    )
