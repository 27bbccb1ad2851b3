"""Fault injection on real django-q2 clusters: a worker killed mid-task, two clusters at once.

The clusters are `manage.py qcluster` subprocesses on the production settings (tests.alerts.
processes), sharing this test's database (a file SQLite DB, or PostgreSQL under .ci/run) as
ORM broker, its dynalite tables and a loopback Bitfinex stub. Polls made in this process get
an injected `now`; the cluster's run on the wall clock, so the stub serves candles made up
for the minutes around now, and the tests find the minute a worker was handling from when
its request reached the stub.
"""

from __future__ import annotations

import http.client
import os
import re
import signal
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlparse

import pytest
from django_q.conf import Conf
from django_q.models import OrmQ, Schedule, Task
from django_q.tasks import async_task

from alerts.models import AlertEvent, AlertRule, Delivery, NotificationChannel
from cryptotracker.scheduling import schedules_ensure
from prices.domain import MINUTE, MINUTE_MS, TickSource, minute_of_observation, to_ms
from prices.services import gaps_repair, gaps_scan, ticks_ingest
from prices.sources.bitfinex import BitfinexSource
from prices.sources.stub_server import TICKERS_FIXTURE, BitfinexStubServer
from tests.alerts.processes import PYTHON, ROOT, SmtpSink, free_port, process_env, wait_until

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.timeout(240)]

PAIRS = ["BTCUSD", "MNABTC"]  # two pairs of the recorded tickers fixture
CANDLE_CLOSE = {"BTCUSD": Decimal("7777.5"), "MNABTC": Decimal("0.00002611")}


@pytest.fixture
def broker_not_sync(monkeypatch) -> None:
    """This process enqueues on the ORM broker like production (the test settings run tasks inline)."""
    monkeypatch.setattr(Conf, "SYNC", False)
    monkeypatch.setattr(Conf, "ORM", "default")


@contextmanager
def cluster(repo, log_path: Path, **env: str) -> Iterator[subprocess.Popen]:
    """`manage.py qcluster` in its own session on `repo`'s tables; TERM on exit, KILL if it hangs."""
    environment = process_env(
        dynamodb_endpoint=env.pop("DYNAMODB_ENDPOINT_URL", repo.client.meta.endpoint_url),
        table_prefix=repo.ticks_table.removesuffix("ticks"),
        smtp_port=int(env.pop("SMTP_PORT", free_port())),
        PRICES_PAIRS=",".join(PAIRS),
        EXCHANGE_HTTP_RETRIES="0",
        EXCHANGE_HTTP_TIMEOUT_S="30",
        **env,
    )
    with log_path.open("w") as log:
        process = subprocess.Popen(
            [PYTHON, "manage.py", "qcluster"],
            cwd=ROOT,
            env=environment,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        yield process
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def worker_pid(log_path: Path, func: str) -> int | None:
    """The PID of the cluster worker that logged it is processing `func`, from django-q2's INFO lines."""
    text = log_path.read_text()
    processing = re.search(rf"(Process-\S+) processing \S+ '{re.escape(func)}'", text)
    if not processing:
        return None
    ready = re.search(rf"{re.escape(processing.group(1))} ready for work at (\d+)", text)
    return int(ready.group(1)) if ready else None


def kill_worker(log_path: Path, func: str) -> int:
    """SIGKILL the worker running `func` (found in the cluster's log); returns its PID once it is dead."""
    try:
        pid = wait_until(lambda: worker_pid(log_path, func), timeout_s=30, what=f"a worker processing {func}")
    except AssertionError as exc:
        raise AssertionError(f"{exc}; cluster log:\n{log_path.read_text()[-3000:]}") from None
    os.kill(pid, signal.SIGKILL)
    wait_until(lambda: not _alive(pid), timeout_s=10, what=f"worker {pid} to die")
    return pid


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A killed child stays a zombie until its parent reaps it.
    status = Path(f"/proc/{pid}/stat")
    return status.exists() and status.read_text().split(")")[-1].split()[0] != "Z"


def candles_around(now: datetime) -> dict[str, list[list]]:
    """Made-up 1-minute candles of PAIRS for the hour around `now` (close CANDLE_CLOSE[pair])."""
    first = to_ms(now) - to_ms(now) % MINUTE_MS - 30 * MINUTE_MS
    return {
        pair: [[first + i * MINUTE_MS, close, close, close, close, Decimal(1)] for i in range(60)]
        for pair, close in CANDLE_CLOSE.items()
    }


def poll(stub: BitfinexStubServer, repo, minute: datetime):
    """The poll of `minute` made in this process, 5 s into the next minute."""
    source = BitfinexSource(base_url=stub.url, retries=0, pairs=PAIRS)
    return ticks_ingest(source=source, repo=repo, now=lambda: minute + MINUTE + timedelta(seconds=5))


def repair(stub: BitfinexStubServer, repo, first: datetime, last: datetime):
    source = BitfinexSource(base_url=stub.url, retries=0, pairs=PAIRS, candle_min_interval_s=0)
    now = last + 10 * MINUTE
    summary = gaps_repair(now=now, source=source, since=first, until=last + MINUTE, repo=repo)
    return summary, gaps_scan(now=now, since=first, until=last + MINUTE, repo=repo)


def ticks_at(repo, minute: datetime) -> dict:
    return {
        pair: list(repo.between(exchange="bitfinex", pair=pair, start=minute, end=minute + MINUTE))
        for pair in PAIRS
    }


def fixture_prices() -> dict[str, Decimal]:
    import json

    rows = json.loads(TICKERS_FIXTURE.read_text(), parse_float=Decimal)
    return {row[0][1:]: Decimal(row[7]) for row in rows if row[0][1:] in PAIRS}


def assert_one_tick_per_pair_and_minute(repo, first: datetime, last: datetime) -> None:
    minutes = int((last - first) / MINUTE) + 1
    for pair in PAIRS:
        stored = [
            t.minute for t in repo.between(exchange="bitfinex", pair=pair, start=first, end=last + MINUTE)
        ]
        assert stored == [first + i * MINUTE for i in range(minutes)], pair
    snapshots = repo.snapshots_between(
        exchange="bitfinex", start_ms=to_ms(first), end_ms=to_ms(last + MINUTE)
    )
    assert [s.minute_ms for s in snapshots] == [to_ms(first + i * MINUTE) for i in range(minutes)]
    assert not any(s.pending for s in snapshots)
    # Hour rollups count each minute once (these tables hold only this window).
    rollups = repo.rollups_between(
        exchange="bitfinex", start_ms=to_ms(first) - 3_600_000, end_ms=to_ms(last + MINUTE)
    )
    assert {p: sum(r.segments[p].count for r in rollups) for p in PAIRS} == {p: minutes for p in PAIRS}


# --- a worker killed mid-task -----------------------------------------------------------------


def test_a_worker_killed_while_fetching_leaves_a_missing_minute_that_gap_repair_fills_once(
    transactional_db, dynalite_server, dynamo_repo_factory, broker_not_sync, tmp_path
):
    repo = dynamo_repo_factory(dynalite_server)
    requested, release, asked_at = threading.Event(), threading.Event(), []
    body = TICKERS_FIXTURE.read_bytes()

    def tickers() -> bytes:
        if not asked_at:  # the worker's request: hang until it is dead
            asked_at.append(datetime.now(UTC))
            requested.set()
            release.wait(60)
        return body

    log = tmp_path / "qcluster.log"
    with BitfinexStubServer(tickers=tickers, candles=candles_around(datetime.now(UTC))) as stub:
        with cluster(repo, log, BITFINEX_API_URL=stub.url):
            async_task("prices.tasks.fetch_prices")
            assert requested.wait(60), log.read_text()[-3000:]
            kill_worker(log, "prices.tasks.fetch_prices")
            release.set()
        killed = minute_of_observation(asked_at[0])
        left_behind = ticks_at(repo, killed), repo.get_snapshot(exchange="bitfinex", minute_ms=to_ms(killed))
        for minute in [killed + i * MINUTE for i in (-3, -2, -1, 1, 2, 3)]:
            assert poll(stub, repo, minute).status == "stored"

        summary, scan = repair(stub, repo, killed - 3 * MINUTE, killed + 3 * MINUTE)

    assert left_behind == ({"BTCUSD": [], "MNABTC": []}, None)  # died before claiming anything
    assert (summary.backfilled, summary.left) == (2, 0)
    assert scan.complete
    for pair, [tick] in ticks_at(repo, killed).items():
        assert (tick.source, tick.last_price) == (TickSource.CANDLE, CANDLE_CLOSE[pair])
    assert_one_tick_per_pair_and_minute(repo, killed - 3 * MINUTE, killed + 3 * MINUTE)
    assert not Task.objects.filter(func="prices.tasks.fetch_prices").exists()  # never finished, never rerun


class DynamoProxy:
    """An HTTP proxy on 127.0.0.1 in front of a DynamoDB endpoint that can hold the next tick write
    (a BatchWriteItem on the ticks table) without ever forwarding it."""

    def __init__(self, upstream: str, ticks_table: str) -> None:
        self.upstream = urlparse(upstream)
        self.ticks_table = ticks_table.encode()
        self.armed = False
        self.holding = threading.Event()
        self.release = threading.Event()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:  # noqa: N802 - http.server API
                proxy._handle(self)

            def log_message(self, format: str, *args: object) -> None:  # noqa: A002
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def _handle(self, handler: BaseHTTPRequestHandler) -> None:
        body = handler.rfile.read(int(handler.headers.get("Content-Length", 0)))
        target = handler.headers.get("X-Amz-Target", "")
        if self.armed and target.endswith(".BatchWriteItem") and self.ticks_table in body:
            self.armed = False
            self.holding.set()
            self.release.wait(60)
            handler.close_connection = True  # no answer: the caller is gone by now
            return
        upstream = http.client.HTTPConnection(self.upstream.hostname, self.upstream.port, timeout=30)
        headers = {k: v for k, v in handler.headers.items() if k.lower() not in ("host", "connection")}
        upstream.request("POST", handler.path, body=body, headers=headers)
        response = upstream.getresponse()
        data = response.read()
        upstream.close()
        handler.send_response(response.status)
        for key, value in response.getheaders():
            if key.lower() not in ("connection", "content-length", "transfer-encoding", "keep-alive"):
                handler.send_header(key, value)
        handler.send_header("Content-Length", str(len(data)))
        handler.end_headers()
        handler.wfile.write(data)

    def close(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


def test_a_worker_killed_between_its_claim_and_its_tick_write_is_completed_from_its_snapshot(
    transactional_db, dynalite_server, dynamo_repo_factory, broker_not_sync, tmp_path
):
    repo = dynamo_repo_factory(dynalite_server)
    proxy = DynamoProxy(dynalite_server, repo.ticks_table)
    log = tmp_path / "qcluster.log"
    try:
        with BitfinexStubServer(candles={}) as stub:
            with cluster(repo, log, BITFINEX_API_URL=stub.url, DYNAMODB_ENDPOINT_URL=proxy.url):
                proxy.armed = True
                async_task("prices.tasks.fetch_prices")
                assert proxy.holding.wait(60), log.read_text()[-3000:]
                kill_worker(log, "prices.tasks.fetch_prices")
                proxy.release.set()
            now_ms = to_ms(datetime.now(UTC))
            [claimed] = repo.snapshots_between(exchange="bitfinex", start_ms=now_ms - 600_000, end_ms=now_ms)
            killed = datetime.fromtimestamp(claimed.minute_ms / 1000, UTC)
            left_behind = ticks_at(repo, killed)
            for minute in [killed + i * MINUTE for i in (-3, -2, -1, 1, 2, 3)]:
                assert poll(stub, repo, minute).status == "stored"

            summary, scan = repair(stub, repo, killed - 3 * MINUTE, killed + 3 * MINUTE)
    finally:
        proxy.close()

    assert claimed.pending and claimed.prices == fixture_prices()
    assert left_behind == {"BTCUSD": [], "MNABTC": []}
    assert (summary.pending_completed, summary.pending_ticks, summary.requests, summary.left) == (1, 2, 0, 0)
    assert not any("/candles/" in r for r in stub.requests)
    assert scan.complete
    for pair, [tick] in ticks_at(repo, killed).items():
        assert (tick.source, tick.last_price) == (TickSource.SNAPSHOT, fixture_prices()[pair])
    assert_one_tick_per_pair_and_minute(repo, killed - 3 * MINUTE, killed + 3 * MINUTE)


# --- two clusters run the schedule at once ----------------------------------------------------


@pytest.fixture
def alice_alerted(django_user_model) -> AlertRule:
    """Alice's rule BTCUSD above 1 (true at once), with her verified email channel."""
    alice = django_user_model.objects.create_user("alice", email="alice@example.org")
    channel = NotificationChannel.objects.create(
        owner=alice, kind="email", target="alice@example.org", verified=True
    )
    rule = AlertRule.objects.create(
        owner=alice, name="BTC above 1", pair="BTCUSD", condition="price_above", threshold=Decimal(1)
    )
    rule.channels.add(channel)
    return rule


def test_two_clusters_running_the_schedules_store_each_minute_once_and_notify_once(
    transactional_db, dynalite_server, dynamo_repo_factory, broker_not_sync, alice_alerted, tmp_path
):
    repo = dynamo_repo_factory(dynalite_server)
    started = datetime.now(UTC)
    schedules_ensure(now=started)
    Schedule.objects.update(next_run=started - timedelta(seconds=1))  # due at the first scheduler pass
    body = TICKERS_FIXTURE.read_bytes()

    def slow_tickers() -> bytes:
        threading.Event().wait(0.5)  # concurrent fetches overlap
        return body

    smtp = SmtpSink()
    smtp.start()
    logs = [tmp_path / "a.log", tmp_path / "b.log"]
    try:
        with (
            BitfinexStubServer(tickers=slow_tickers, candles={}) as stub,
            cluster(repo, logs[0], BITFINEX_API_URL=stub.url, SMTP_PORT=str(smtp.port)),
            cluster(repo, logs[1], BITFINEX_API_URL=stub.url, SMTP_PORT=str(smtp.port)),
        ):
            for _ in range(3):  # as if more clusters had enqueued the same run
                async_task("prices.tasks.fetch_prices")

            def settled() -> bool:
                return (
                    Schedule.objects.filter(next_run__lt=started + timedelta(seconds=30)).count() == 0
                    and Task.objects.filter(func="prices.tasks.fetch_prices").count() >= 4
                    and not OrmQ.objects.exists()
                    and Delivery.objects.filter(status="sent").exists()
                    and len(smtp.received()) >= 1
                )

            try:
                wait_until(settled, timeout_s=120, what="both schedulers, the fetches and the email")
            except AssertionError as exc:
                tasks = list(Task.objects.values_list("func", "result"))
                tails = "\n".join(log.read_text()[-2000:] for log in logs)
                raise AssertionError(f"{exc}; tasks {tasks}\n{tails}") from None
            threading.Event().wait(2)  # room for a straggler to show up
    finally:
        smtp.stop()

    fetches = list(Task.objects.filter(func="prices.tasks.fetch_prices").values_list("success", "result"))
    stored = [re.search(r"minute (\S+): stored", r).group(1) for ok, r in fetches if ok and ": stored," in r]
    duplicates = [r for ok, r in fetches if ok and ": duplicate," in r]
    skipped = [r for ok, r in fetches if ok and r.startswith("skipped: ")]  # the poll lease was held
    assert all(ok for ok, _ in fetches), fetches
    assert len(stored) == len(set(stored)) >= 1  # every minute stored by exactly one run
    assert len(stored) + len(duplicates) + len(skipped) == len(fetches) >= 4
    assert skipped  # the overlapping runs never asked the exchange
    for minute_text in stored:
        minute = datetime.strptime(minute_text, "%Y-%m-%dT%H:%MZ").replace(tzinfo=UTC)
        ticks = ticks_at(repo, minute)
        assert [len(ts) for ts in ticks.values()] == [1, 1]
        assert len({ts[0].observed_at for ts in ticks.values()}) == 1  # both written by one poll
        assert not repo.get_snapshot(exchange="bitfinex", minute_ms=to_ms(minute)).pending
    rollups = repo.rollups_between(
        exchange="bitfinex", start_ms=to_ms(started) - 7_200_000, end_ms=to_ms(started) + 7_200_000
    )
    assert sum(r.segments["BTCUSD"].count for r in rollups) == len(stored)  # each stored minute counted once
    assert all("running" in log.read_text() for log in logs)
    events = list(AlertEvent.objects.filter(rule=alice_alerted, notify=True))
    assert len(events) == 1
    assert list(Delivery.objects.values_list("status", "attempts")) == [("sent", 1)]
    assert len(smtp.received()) == 1
    assert "BTC above 1" in smtp.received()[0]["Subject"]
