"""/healthz and /readyz: a check per dependency, 503 when one is down or prices are stale."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from django.db import OperationalError, connection
from django.test import Client
from django_q.models import Schedule

from cryptotracker.scheduling import schedules_ensure
from prices.domain import EXCHANGE_BITFINEX, minute_of_observation, to_ms
from prices.repository import LatestPrice, get_tick_repository
from prices.repository.memory import InMemoryTickRepository
from prices.selectors import pairs_freshness
from tests.conftest import DYNALITE, ROOT, _free_port, _wait_for_port

NOON = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
TWO_MINUTES = timedelta(minutes=2)


def registry(repo, **minutes: datetime) -> None:
    """Record each pair's newest tick minute in the repository's latest-price registry."""
    repo.update_latest(
        exchange=EXCHANGE_BITFINEX,
        prices={pair: LatestPrice(to_ms(minute), Decimal("1")) for pair, minute in minutes.items()},
    )


def readyz(client: Client | None = None):
    return (client or Client()).get("/readyz")


# --- freshness (the selector) -----------------------------------------------------------


def test_the_age_of_a_tick_counts_from_the_end_of_its_minute(memory_repo):
    registry(memory_repo, BTCUSD=NOON, ETHUSD=NOON - timedelta(minutes=1))

    freshness = pairs_freshness(now=NOON + timedelta(seconds=90), stale_after=TWO_MINUTES, repo=memory_repo)

    assert (freshness.pairs, freshness.newest_minute, freshness.newest_age_s) == (2, NOON, 30.0)
    assert (freshness.stale_pairs, freshness.delisted_pairs) == (0, 0)


def test_every_pair_is_stale_when_ingestion_has_stopped(memory_repo):
    registry(memory_repo, BTCUSD=NOON, ETHUSD=NOON)

    freshness = pairs_freshness(now=NOON + timedelta(minutes=4), stale_after=TWO_MINUTES, repo=memory_repo)

    assert (freshness.newest_age_s, freshness.stale_pairs) == (180.0, 2)


def test_a_pair_the_exchange_stopped_quoting_an_hour_ago_is_delisted_not_stale(memory_repo):
    registry(memory_repo, BTCUSD=NOON, ETHUSD=NOON, LUNAUSD=NOON - timedelta(hours=3))

    freshness = pairs_freshness(now=NOON + timedelta(seconds=70), stale_after=TWO_MINUTES, repo=memory_repo)

    assert (freshness.pairs, freshness.stale_pairs, freshness.delisted_pairs) == (3, 0, 1)


def test_a_pair_missing_from_the_last_polls_is_stale_while_the_others_are_fresh(memory_repo):
    registry(memory_repo, BTCUSD=NOON, ETHUSD=NOON - timedelta(minutes=5))

    freshness = pairs_freshness(now=NOON + timedelta(seconds=70), stale_after=TWO_MINUTES, repo=memory_repo)

    assert (freshness.newest_age_s, freshness.stale_pairs, freshness.delisted_pairs) == (10.0, 1, 0)


def test_an_empty_registry_has_no_newest_tick(memory_repo):
    freshness = pairs_freshness(now=NOON, stale_after=TWO_MINUTES, repo=memory_repo)

    assert (freshness.pairs, freshness.newest_minute, freshness.newest_age_s) == (0, None, None)


# --- /healthz ---------------------------------------------------------------------------


def test_healthz_answers_200_without_touching_any_dependency():
    # No database access is allowed here and no tick store is configured: using either would fail.
    response = Client().get("/healthz")

    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    assert "no-store" in response["Cache-Control"]


# --- /readyz ----------------------------------------------------------------------------


@pytest.fixture
def schedules(db) -> None:
    """The schedules `ensure_schedules` installs, next run in the coming minute."""
    schedules_ensure()


@pytest.fixture
def ready(schedules, memory_configured_repo: InMemoryTickRepository) -> InMemoryTickRepository:
    """Everything readiness looks at is healthy: schedules installed, a tick for the last minute."""
    latest = minute_of_observation(datetime.now(UTC))
    registry(memory_configured_repo, BTCUSD=latest, ETHUSD=latest)
    return memory_configured_repo


def test_readyz_is_200_with_a_passing_check_per_dependency(ready):
    response = readyz()

    body = response.json()
    assert response.status_code == 200
    assert body["status"] == "ready"
    assert set(body["checks"]) == {"database", "broker", "scheduler", "dynamodb", "freshness", "exchanges"}
    assert all(check["ok"] for check in body["checks"].values())
    assert body["checks"]["freshness"]["pairs"] == 2
    assert body["checks"]["freshness"]["stale_pairs"] == 0
    assert body["checks"]["scheduler"]["overdue"] == []
    assert "no-store" in response["Cache-Control"]


def test_readyz_is_503_when_the_newest_tick_is_older_than_two_minutes(schedules, memory_configured_repo):
    three_minutes_late = minute_of_observation(datetime.now(UTC)) - timedelta(minutes=3)
    registry(memory_configured_repo, BTCUSD=three_minutes_late)

    response = readyz()

    freshness = response.json()["checks"]["freshness"]
    assert response.status_code == 503
    assert response.json()["status"] == "not_ready"
    assert not freshness["ok"]
    assert freshness["newest_age_s"] > 120
    assert freshness["stale_pairs"] == 1


def test_readyz_is_503_when_no_tick_was_ever_stored(schedules, memory_configured_repo):
    response = readyz()

    assert response.status_code == 503
    freshness = response.json()["checks"]["freshness"]
    assert (freshness["ok"], freshness["pairs"], freshness["error"]) == (False, 0, "no tick stored yet")


def test_readyz_is_503_when_the_database_fails(ready):
    def database_down(execute, sql, params, many, context):
        raise OperationalError("connection to server at db.internal failed: password authentication failed")

    with connection.execute_wrapper(database_down):
        response = readyz()

    checks = response.json()["checks"]
    assert response.status_code == 503
    assert checks["database"] == {"ok": False, "error": "OperationalError"}
    assert not checks["scheduler"]["ok"]
    assert checks["dynamodb"]["ok"]
    assert "db.internal" not in response.content.decode()


def test_readyz_is_503_when_a_schedule_is_overdue_because_no_cluster_runs(ready):
    Schedule.objects.filter(name="prices.tasks.fetch_prices").update(
        next_run=datetime.now(UTC) - timedelta(minutes=5)
    )

    response = readyz()

    scheduler = response.json()["checks"]["scheduler"]
    assert response.status_code == 503
    assert (scheduler["ok"], scheduler["overdue"]) == (False, ["prices.tasks.fetch_prices"])


def test_readyz_is_503_when_no_schedule_is_installed(ready):
    Schedule.objects.all().delete()

    response = readyz()

    scheduler = response.json()["checks"]["scheduler"]
    assert response.status_code == 503
    assert not scheduler["ok"]
    assert "ensure_schedules" in scheduler["error"]


def test_readyz_counts_live_clusters_only_where_the_broker_keeps_their_stats(ready, settings):
    clusters = readyz().json()["checks"]["scheduler"]["clusters"]

    if "redis" in settings.Q_CLUSTER:
        assert isinstance(clusters, int)
    else:
        assert clusters is None


def test_readyz_reports_the_broker_and_its_queue(ready, settings):
    broker = readyz().json()["checks"]["broker"]

    assert broker["ok"]
    assert broker["broker"] == ("redis" if "redis" in settings.Q_CLUSTER else "orm")
    assert isinstance(broker["queued"], int)


def test_readyz_is_503_naming_only_the_error_class_when_dynamodb_is_unreachable(schedules, settings):
    endpoint = f"http://127.0.0.1:{_free_port()}"
    settings.DYNAMODB_ENDPOINT_URL = endpoint
    settings.AWS_ACCESS_KEY_ID = "AKIAEXAMPLEKEYID0000"
    settings.AWS_SECRET_ACCESS_KEY = "example-secret-access-key"

    response = readyz()

    checks = response.json()["checks"]
    assert response.status_code == 503
    assert checks["dynamodb"] == {"ok": False, "error": "EndpointConnectionError"}
    assert not checks["freshness"]["ok"]
    assert checks["database"]["ok"]
    for secret in (
        endpoint,
        "127.0.0.1",
        "AKIAEXAMPLEKEYID0000",
        "example-secret-access-key",
        settings.SECRET_KEY,
    ):
        assert secret not in response.content.decode()


# --- acceptance: DynamoDB stops and returns ---------------------------------------------


class Dynalite:
    """A dynalite process of our own on one port, with its data on disk so that it survives restarts."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.port = _free_port()
        self.process: subprocess.Popen | None = None
        self.log = path.parent / f"dynalite-{path.name}.log"

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                [str(DYNALITE), "--host", "127.0.0.1", "--port", str(self.port), "--path", str(self.path),
                 "--createTableMs", "0"],
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=ROOT,
            )  # fmt: skip
        _wait_for_port(self.port, self.process, self.log)

    def signal(self, signum: int) -> None:
        os.kill(self.process.pid, signum)

    def kill(self) -> None:
        self.process.kill()
        self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.signal(signal.SIGCONT)
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.kill()


@pytest.fixture
def own_dynalite(tmp_path, settings):
    """A dynalite started for this test, configured as the app's DynamoDB, tables created."""
    if not DYNALITE.exists():
        pytest.fail("node_modules/.bin/dynalite is missing: run `make test` (or `npm ci`)", pytrace=False)
    server = Dynalite(tmp_path / "dynamodb")
    server.path.mkdir()
    server.start()
    settings.DYNAMODB_ENDPOINT_URL = server.endpoint
    settings.DYNAMODB_TABLE_PREFIX = f"ready_{uuid.uuid4().hex[:8]}_"
    get_tick_repository().ensure_tables()
    yield server
    server.stop()


def _readyz_until(status: int, *, within_s: float) -> tuple[int, dict, float]:
    """GET /readyz until it answers `status` or `within_s` passes; (last status, body, seconds)."""
    started = time.monotonic()
    while True:
        response = readyz()
        elapsed = time.monotonic() - started
        if response.status_code == status or elapsed > within_s:
            return response.status_code, json.loads(response.content), elapsed
        time.sleep(0.2)


@pytest.mark.integration
@pytest.mark.django_db
def test_readiness_turns_503_when_dynamodb_stops_and_200_when_it_returns(own_dynalite):
    schedules_ensure()
    registry(get_tick_repository(), BTCUSD=minute_of_observation(datetime.now(UTC)))
    assert _readyz_until(200, within_s=10)[0] == 200

    # Frozen (SIGSTOP): connections are accepted by the kernel but never answered.
    own_dynalite.signal(signal.SIGSTOP)
    status, body, elapsed = _readyz_until(503, within_s=60)
    assert (status, body["checks"]["dynamodb"]["ok"]) == (503, False)
    assert elapsed < 60
    own_dynalite.signal(signal.SIGCONT)
    assert _readyz_until(200, within_s=30)[0] == 200

    # Gone (killed by PID): connections are refused.
    own_dynalite.kill()
    status, body, elapsed = _readyz_until(503, within_s=60)
    assert (status, body["checks"]["dynamodb"]["ok"], body["checks"]["freshness"]["ok"]) == (
        503,
        False,
        False,
    )
    assert elapsed < 60

    # Back on the same port and data directory: ready again, the stored registry intact.
    own_dynalite.start()
    status, body, _ = _readyz_until(200, within_s=30)
    assert status == 200
    assert body["checks"]["freshness"]["pairs"] == 1
