"""Prometheus metrics: polling cycles counted by the service, /metrics across processes, its protection."""

from __future__ import annotations

import ipaddress
import subprocess
import sys
from collections import Counter
from datetime import UTC, datetime
from decimal import Decimal
from io import BytesIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import OperationalError, connection
from django.test import Client
from prometheus_client.parser import text_string_to_metric_families

from cryptotracker.monitoring import metrics
from cryptotracker.monitoring.checks import metrics_protected_check
from prices.repository.memory import InMemoryTickRepository
from prices.services import ticks_ingest
from prices.sources.base import SourceError, TickerBatch, TickerRow
from prices.sources.fake import FakeTickerSource
from tests.conftest import ROOT

POLL = datetime(2019, 12, 31, 0, 1, 2, tzinfo=UTC)


def sample(name: str, **labels: str) -> float:
    """The current value of a sample in this process's registry (0 when never recorded)."""
    return metrics.REGISTRY.get_sample_value(name, labels) or 0.0


def samples(text: str) -> dict[tuple[str, tuple], float]:
    """Parse an exposition into {(sample name, sorted labels): value}."""
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def batch(*pairs: str, **skipped: int) -> TickerBatch:
    return TickerBatch(
        rows=[TickerRow(pair=pair, last_price=Decimal("100")) for pair in pairs], skipped=Counter(skipped)
    )


# --- polling cycles are counted by the service --------------------------------------------


@pytest.mark.django_db
def test_a_stored_cycle_counts_its_status_ticks_skipped_rows_and_duration():
    before = {
        "stored": sample("cryptotracker_fetch_cycles_total", exchange="bitfinex", status="stored"),
        "ticks": sample("cryptotracker_ticks_stored_total", exchange="bitfinex"),
        "funding": sample("cryptotracker_rows_skipped_total", exchange="bitfinex", reason="funding"),
        "zero": sample("cryptotracker_rows_skipped_total", exchange="bitfinex", reason="zero_price"),
        "cycles": sample("cryptotracker_fetch_cycle_duration_seconds_count", exchange="bitfinex"),
    }

    summary = ticks_ingest(
        source=FakeTickerSource([batch("BTCUSD", "ETHUSD", funding=2, zero_price=1)]),
        repo=InMemoryTickRepository(),
        now=lambda: POLL,
    )

    assert summary.status == "stored"
    assert (
        sample("cryptotracker_fetch_cycles_total", exchange="bitfinex", status="stored")
        == before["stored"] + 1
    )
    assert sample("cryptotracker_ticks_stored_total", exchange="bitfinex") == before["ticks"] + 2
    assert (
        sample("cryptotracker_rows_skipped_total", exchange="bitfinex", reason="funding")
        == before["funding"] + 2
    )
    assert (
        sample("cryptotracker_rows_skipped_total", exchange="bitfinex", reason="zero_price")
        == before["zero"] + 1
    )
    assert (
        sample("cryptotracker_fetch_cycle_duration_seconds_count", exchange="bitfinex")
        == before["cycles"] + 1
    )


@pytest.mark.django_db
def test_a_failed_cycle_is_counted_as_failed_and_stores_nothing():
    before = sample("cryptotracker_fetch_cycles_total", exchange="bitfinex", status="failed")
    ticks_before = sample("cryptotracker_ticks_stored_total", exchange="bitfinex")

    ticks_ingest(
        source=FakeTickerSource([SourceError("HTTP 500 from bitfinex")]),
        repo=InMemoryTickRepository(),
        now=lambda: POLL,
    )

    assert sample("cryptotracker_fetch_cycles_total", exchange="bitfinex", status="failed") == before + 1
    assert sample("cryptotracker_ticks_stored_total", exchange="bitfinex") == ticks_before


@pytest.mark.django_db
def test_a_second_run_of_the_same_minute_is_counted_as_duplicate():
    repo = InMemoryTickRepository()
    ticks_ingest(source=FakeTickerSource([batch("BTCUSD")]), repo=repo, now=lambda: POLL)
    before = sample("cryptotracker_fetch_cycles_total", exchange="bitfinex", status="duplicate")

    ticks_ingest(source=FakeTickerSource([batch("BTCUSD")]), repo=repo, now=lambda: POLL)

    assert sample("cryptotracker_fetch_cycles_total", exchange="bitfinex", status="duplicate") == before + 1


# --- /metrics ---------------------------------------------------------------------------


@pytest.mark.django_db
def test_metrics_exposes_the_counters_and_deliveries_by_status_in_prometheus_text_format():
    response = Client().get("/metrics")

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain; version=")
    exposed = samples(response.content.decode())
    assert ("cryptotracker_fetch_cycles_total", (("exchange", "bitfinex"), ("status", "failed"))) in exposed
    for status in ("pending", "sending", "retrying", "sent", "failed", "skipped"):
        assert exposed[("cryptotracker_alert_deliveries", (("status", status),))] == 0
    assert "no-store" in response["Cache-Control"]


@pytest.mark.django_db
def test_metrics_still_expose_the_counters_when_the_database_is_down():
    def database_down(execute, sql, params, many, context):
        raise OperationalError("connection refused")

    with connection.execute_wrapper(database_down):
        response = Client().get("/metrics")

    exposed = samples(response.content.decode())
    assert response.status_code == 200
    assert ("cryptotracker_fetch_cycles_total", (("exchange", "bitfinex"), ("status", "failed"))) in exposed
    assert not any(name == "cryptotracker_alert_deliveries" for name, _ in exposed)


def test_metrics_need_the_bearer_token_when_one_is_set(settings):
    settings.METRICS_TOKEN = "s3cret-scrape-token"

    anonymous = Client().get("/metrics")
    wrong = Client().get("/metrics", HTTP_AUTHORIZATION="Bearer guess")

    assert (anonymous.status_code, wrong.status_code) == (401, 401)
    assert anonymous.json()["error"]["code"] == "not_authenticated"
    assert anonymous["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.django_db
def test_metrics_answer_the_right_bearer_token(settings):
    settings.METRICS_TOKEN = "s3cret-scrape-token"

    response = Client().get("/metrics", HTTP_AUTHORIZATION="Bearer s3cret-scrape-token")

    assert response.status_code == 200


@pytest.mark.django_db
def test_metrics_answer_only_the_allowed_networks(settings):
    settings.METRICS_ALLOWED_NETWORKS = [ipaddress.ip_network("10.0.0.0/8")]

    outside = Client().get("/metrics")  # the test client's REMOTE_ADDR is 127.0.0.1
    inside = Client().get("/metrics", REMOTE_ADDR="10.1.2.3")
    mapped = Client().get("/metrics", REMOTE_ADDR="::ffff:10.1.2.3")

    assert outside.status_code == 403
    assert outside.json()["error"]["code"] == "permission_denied"
    assert (inside.status_code, mapped.status_code) == (200, 200)


def test_an_unprotected_metrics_endpoint_is_a_deployment_warning(settings):
    settings.METRICS_TOKEN = ""
    settings.METRICS_ALLOWED_NETWORKS = []

    assert [w.id for w in metrics_protected_check(None)] == ["monitoring.W001"]
    settings.METRICS_TOKEN = "s3cret-scrape-token"
    assert metrics_protected_check(None) == []


# --- several processes: the web reads what the cluster's workers counted -------------------

RECORD_ONE_CYCLE = """
import django
django.setup()
from prices.services.ingest import IngestSummary
from cryptotracker.monitoring.metrics import fetch_cycle_record
fetch_cycle_record(IngestSummary(exchange="bitfinex", status="stored", stored=5, elapsed_ms=1500))
"""


def _record_in_another_process(directory) -> None:
    env = {
        "PATH": "/usr/bin:/bin",
        "DJANGO_SETTINGS_MODULE": "cryptotracker.settings_test",
        "PROMETHEUS_MULTIPROC_DIR": str(directory),
    }
    subprocess.run([sys.executable, "-c", RECORD_ONE_CYCLE], cwd=ROOT, env=env, check=True, timeout=60)


@pytest.mark.django_db
def test_metrics_sum_the_counters_of_every_process_sharing_the_multiprocess_directory(tmp_path, settings):
    _record_in_another_process(tmp_path)
    _record_in_another_process(tmp_path)
    settings.PROMETHEUS_MULTIPROC_DIR = str(tmp_path)

    exposed = samples(Client().get("/metrics").content.decode())

    assert (
        exposed[("cryptotracker_fetch_cycles_total", (("exchange", "bitfinex"), ("status", "stored")))] == 2
    )
    assert exposed[("cryptotracker_ticks_stored_total", (("exchange", "bitfinex"),))] == 10
    duration_le_2s = (
        "cryptotracker_fetch_cycle_duration_seconds_bucket",
        (("exchange", "bitfinex"), ("le", "2.0")),
    )
    assert exposed[duration_le_2s] == 2


# --- serve_metrics: the exporter of a host that runs only qcluster ------------------------


def _wsgi_get(path: str, **environ: str) -> tuple[str, dict[str, str], bytes]:
    answer: dict = {}

    def start_response(status: str, headers: list[tuple[str, str]]) -> None:
        answer["status"], answer["headers"] = status, dict(headers)

    body = b"".join(
        metrics.metrics_wsgi_app(
            {
                "PATH_INFO": path,
                "REQUEST_METHOD": "GET",
                "REMOTE_ADDR": "127.0.0.1",
                "wsgi.input": BytesIO(),
                **environ,
            },
            start_response,
        )
    )
    return answer["status"], answer["headers"], body


def test_serve_metrics_serves_the_multiprocess_directory_without_database_gauges(tmp_path, settings):
    _record_in_another_process(tmp_path)
    settings.PROMETHEUS_MULTIPROC_DIR = str(tmp_path)

    status, headers, body = _wsgi_get("/metrics")

    exposed = samples(body.decode())
    assert status == "200 OK"
    assert (
        exposed[("cryptotracker_fetch_cycles_total", (("exchange", "bitfinex"), ("status", "stored")))] == 1
    )
    assert not any(name == "cryptotracker_alert_deliveries" for name, _ in exposed)


def test_serve_metrics_applies_the_same_token_and_answers_only_metrics(settings):
    settings.METRICS_TOKEN = "s3cret-scrape-token"

    assert _wsgi_get("/metrics")[0] == "401 Unauthorized"
    assert _wsgi_get("/metrics", HTTP_AUTHORIZATION="Bearer s3cret-scrape-token")[0] == "200 OK"
    assert _wsgi_get("/admin/", HTTP_AUTHORIZATION="Bearer s3cret-scrape-token")[0] == "404 Not Found"


def test_serve_metrics_refuses_to_start_without_a_multiprocess_directory(settings):
    settings.PROMETHEUS_MULTIPROC_DIR = ""

    with pytest.raises(CommandError, match="PROMETHEUS_MULTIPROC_DIR"):
        call_command("serve_metrics", "--port", "0")
