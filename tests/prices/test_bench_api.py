"""bench_api runs end to end (a smoke run with tiny numbers; the figures themselves are not tested)."""

from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from prices.repository import _repository
from prices.signals import ticks_stored


class Spy:
    def __init__(self):
        self.calls = []

    def __call__(self, **kwargs):
        self.calls.append(kwargs)


pytestmark = [pytest.mark.integration, pytest.mark.django_db]


def test_bench_api_seeds_measures_and_prints_every_figure_and_target(dynalite_server, settings):
    settings.DYNAMODB_ENDPOINT_URL = dynalite_server
    _repository.cache_clear()
    out = StringIO()
    spy = Spy()
    ticks_stored.connect(spy, dispatch_uid="tests.spy", weak=False)

    try:
        call_command(
            "bench_api",
            "--pairs",
            "5",
            "--minutes",
            "90",
            "--repeat",
            "2",
            "--naive-repeat",
            "1",
            "--history-days",
            "2",
            stdout=out,
        )
        spy_connected_after = any(key[0] == "tests.spy" for key, *_ in ticks_stored.receivers)
    finally:
        ticks_stored.disconnect(dispatch_uid="tests.spy")
        _repository.cache_clear()

    text = out.getvalue()
    for line in (
        "rank via aggregates (uncached)",
        "rank via API, cached",
        "rank naive (every tick)",
        "stats for one pair (24h)",
        "history 24h via API",
        "ingestion cycle",
        "naive/aggregate:",
        "tick writes ≤ ⌈5/25⌉ = 1: 1",
        "history 24h via API (1,440 rows)",
        "history 2d at 1h via API (",
        "history 2d at 1h ≤ 1,000 items read",
    ):
        assert line in text, line
    assert "Seeded 450 ticks" in text
    # Receivers outside the prices app (alerts' enqueueing) are not run by the measured cycles,
    # and are connected again afterwards.
    assert spy.calls == []
    assert spy_connected_after


def test_bench_api_refuses_to_seed_aws(settings):
    settings.DYNAMODB_ENDPOINT_URL = None

    with pytest.raises(CommandError, match="refusing to seed 432,000 items on AWS"):
        call_command("bench_api", stdout=StringIO())
