"""The poll lease: one poll at a time and one per minute, a lease that outlives a killed worker,
and a budget that lets a slow exchange still store its minute."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
from django.conf import settings

from prices import tasks
from prices.domain import minute_of_observation
from prices.models import PollLease
from prices.services.lease import poll_lease_acquire, poll_lease_release, poll_lease_ttl
from prices.sources.bitfinex import BitfinexSource
from prices.sources.http import CONNECT_TIMEOUT_S
from prices.sources.stub_server import TICKERS_FIXTURE, BitfinexStubServer

pytestmark = pytest.mark.django_db(transaction=True)

NOW = datetime(2024, 1, 1, 12, 5, 2, tzinfo=UTC)
TTL = timedelta(seconds=58)


def acquire(at: datetime, owner: str = "a"):
    return poll_lease_acquire(
        exchange="bitfinex", minute=minute_of_observation(at), now=at, ttl=TTL, owner=owner
    )


def tickers_requests(stub: BitfinexStubServer) -> int:
    return sum(1 for path in stub.requests if path.startswith("/v2/tickers"))


@pytest.fixture
def stub_source(monkeypatch, memory_configured_repo):
    """fetch_prices polls a loopback stub (with the configured timeouts) into an in-memory store."""

    def start(**stub_options) -> BitfinexStubServer:
        stub = BitfinexStubServer(candles={}, **stub_options).start()
        source = BitfinexSource.from_settings(base_url=stub.url)
        monkeypatch.setattr(tasks, "get_ticker_source", lambda exchange="bitfinex": source)
        return stub

    started: list[BitfinexStubServer] = []
    yield lambda **options: started.append(start(**options)) or started[-1]
    for stub in started:
        stub.stop()


def test_a_second_poll_while_one_holds_the_lease_is_refused():
    assert acquire(NOW) is None

    refused = acquire(NOW + timedelta(seconds=20), owner="b")

    assert refused.reason == "running"
    assert refused.owner == "a"


def test_a_killed_worker_s_lease_expires_and_the_next_minute_polls():
    acquire(NOW)  # the worker dies: it never gives the lease back

    assert acquire(NOW + timedelta(seconds=60), owner="b") is None
    assert PollLease.objects.get().owner == "b"


def test_a_second_poll_for_a_minute_already_polled_is_refused_even_after_release():
    acquire(NOW)
    poll_lease_release(exchange="bitfinex", owner="a", now=NOW + timedelta(seconds=3))

    refused = acquire(NOW + timedelta(seconds=30), owner="b")  # same minute, 30 s later

    assert refused.reason == "minute_taken"


def test_minutes_no_poll_took_are_recorded_as_the_down_span():
    acquire(NOW)
    poll_lease_release(exchange="bitfinex", owner="a", now=NOW + timedelta(seconds=3))

    acquire(NOW + timedelta(minutes=31), owner="b")  # the cluster was down for 30 minutes

    lease = PollLease.objects.get()
    first = minute_of_observation(NOW)
    assert (lease.down_from, lease.down_until) == (
        first + timedelta(minutes=1),
        first + timedelta(minutes=30),
    )


def test_release_by_another_owner_leaves_the_lease_held():
    acquire(NOW)

    poll_lease_release(exchange="bitfinex", owner="b", now=NOW + timedelta(seconds=1))

    assert acquire(NOW + timedelta(seconds=70), owner="b") is None  # only expiry freed it
    assert acquire(NOW + timedelta(seconds=71), owner="c").reason == "running"


def test_a_poll_replayed_in_the_same_minute_makes_no_second_request(stub_source):
    stub = stub_source()

    first = tasks.fetch_prices()
    second = tasks.fetch_prices()  # e.g. a task queued before a restart, then the schedule

    assert "stored" in first
    assert second.startswith("skipped: minute")
    assert tickers_requests(stub) == 1


def test_a_poll_that_finds_another_running_exits_at_once(stub_source):
    body = TICKERS_FIXTURE.read_bytes()
    answering = threading.Event()
    release = threading.Event()

    def slow_tickers() -> bytes:
        answering.set()
        release.wait(10)
        return body

    stub = stub_source(tickers=slow_tickers)
    results: list[str] = []
    first = threading.Thread(target=lambda: results.append(tasks.fetch_prices()))
    first.start()
    assert answering.wait(10)

    second = tasks.fetch_prices()
    release.set()
    first.join(10)

    assert second.startswith("skipped: another poll")
    assert "stored" in results[0]
    assert tickers_requests(stub) == 1


def test_the_timeouts_fit_a_40_s_answer_inside_the_task_timeout_below_the_broker_retry():
    attempt = CONNECT_TIMEOUT_S + settings.EXCHANGE_HTTP_TIMEOUT_S

    assert settings.EXCHANGE_HTTP_TIMEOUT_S > 40
    assert attempt <= settings.EXCHANGE_HTTP_DEADLINE_S <= settings.Q_CLUSTER["timeout"] - 5
    assert settings.Q_CLUSTER["timeout"] < settings.Q_CLUSTER["retry"]
    assert poll_lease_ttl() < timedelta(minutes=1)  # a dead worker's lease frees the next minute


@pytest.mark.slow
def test_an_exchange_answering_after_41_s_still_stores_its_minute(stub_source, memory_configured_repo):
    body = TICKERS_FIXTURE.read_bytes()

    def slow_tickers() -> bytes:
        threading.Event().wait(41)
        return body

    stub_source(tickers=slow_tickers)

    line = tasks.fetch_prices()

    assert "stored" in line
    assert memory_configured_repo.latest_prices(exchange="bitfinex")
