"""Fault injection, in this process: the exchange misbehaves, or DynamoDB goes away mid-cycle.

The exchange is the loopback Bitfinex stub serving, as last prices, the recorded 2019-12-31
closes of the minute being polled (prices.soak.RecordedTickers); polls get an injected `now`
inside 2019-12-31, so gap repair finds the stub's recorded candles for the minutes it fills.
DynamoDB is dynalite on 127.0.0.1 (for the outage: a process of this test, with its data on
disk so that it survives a restart).
"""

from __future__ import annotations

import logging
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from cryptotracker.monitoring import metrics
from prices.domain import MINUTE, TickSource, to_ms
from prices.repository.dynamodb import DynamoTickRepository
from prices.services import gaps_repair, gaps_scan, ticks_ingest
from prices.soak import RecordedTickers, SimulatedClock
from prices.sources.bitfinex import BitfinexSource
from prices.sources.stub_server import BitfinexStubServer
from tests.conftest import DYNALITE, ROOT, _free_port, _wait_for_port
from tests.realdata import closes

pytestmark = [pytest.mark.integration, pytest.mark.django_db, pytest.mark.timeout(120)]

T0 = datetime(2019, 12, 31, 12, 0, tzinfo=UTC)
PAIRS = ["BTCUSD", "ETHUSD"]
READ_TIMEOUT_S = 2.0


def m(i: int) -> datetime:
    return T0 + i * MINUTE


class Exchange:
    """The stub, its simulated clock and a Bitfinex source on them (no retries, 2 s timeouts).

    2 s, not less: a loaded 2-core CI machine once took over 0.5 s to answer a loopback
    candle request, failing gap repair's backfill in a test about DynamoDB.
    """

    def __init__(self) -> None:
        self.clock = SimulatedClock(T0)
        self.tickers = RecordedTickers(PAIRS, self.clock)
        self.before_answer = None  # called by the stub thread before it answers a tickers request
        self.stub = BitfinexStubServer(tickers=self._body)
        self.source = BitfinexSource(
            base_url=self.stub.url,
            timeout_s=(READ_TIMEOUT_S, READ_TIMEOUT_S),
            retries=0,
            pairs=PAIRS,
            candle_min_interval_s=0,
            sleep=self.clock.sleep,
            monotonic=self.clock.monotonic,
        )

    def _body(self) -> bytes:
        if self.before_answer is not None:
            self.before_answer()
        return self.tickers.body()

    def poll(self, repo, i: int):
        """The cycle describing minute i, run 5 s into minute i + 1."""
        self.clock.advance_to(m(i + 1) + timedelta(seconds=5))
        return ticks_ingest(source=self.source, repo=repo, now=self.clock.now)

    def repair(self, repo, *, last: int):
        """Gap repair of minutes 0..last, well after them."""
        self.clock.advance_to(m(last + 10))
        return gaps_repair(now=self.clock.now(), source=self.source, since=T0, until=m(last + 1), repo=repo)


@pytest.fixture
def exchange() -> Iterator[Exchange]:
    exchange = Exchange()
    with exchange.stub:
        yield exchange


def recorded_close(pair: str, minute: datetime):
    return dict(closes(pair, "19-12-31"))[to_ms(minute)]


def stored(repo, pair: str, first: int, last: int):
    return {
        int((t.minute - T0) / MINUTE): t
        for t in repo.between(exchange="bitfinex", pair=pair, start=m(first), end=m(last + 1))
    }


def failed_cycles() -> float:
    return metrics.REGISTRY.get_sample_value(
        "cryptotracker_fetch_cycles_total", {"exchange": "bitfinex", "status": "failed"}
    )


TRUNCATED = '[["tBTCUSD",7246.9,39.1,7247,46.8,-53.7,-0.0074,7247.1'
FAULTS = [  # what, (status, body) or None for a timeout, the error the cycle reports
    ("HTTP 429", (429, '["error",11010,"ratelimit: error"]'), "rate limited (HTTP 429"),
    ("HTTP 500 with an error body", (500, '["error",20060,"maintenance"]'), "HTTP 500 after 0 retries"),
    ("an HTML page", (200, "<html><body>502 Bad gateway</body></html>"), "unparseable payload (text/html"),
    ("a truncated body", (200, TRUNCATED), "unparseable payload (application/json"),
    ("a timeout", None, "Read timed out"),
    ("an empty list", (200, "[]"), "tickers: no trading row to store"),
]


def test_exchange_faults_store_nothing_are_logged_and_counted_and_the_next_cycle_stores(
    exchange, dynalite_server, dynamo_repo_factory, caplog
):
    repo = dynamo_repo_factory(dynalite_server)
    caplog.set_level(logging.INFO, logger="prices")
    assert exchange.poll(repo, 0).status == "stored"
    failed_before = failed_cycles()

    summaries = []
    for i, (_, fault, _) in enumerate(FAULTS, start=1):
        if fault is None:
            exchange.stub.fail_next(200, exchange.tickers.body(), delay_s=2 * READ_TIMEOUT_S)
        else:
            exchange.stub.fail_next(*fault)
        summaries.append(exchange.poll(repo, i))
    good = exchange.poll(repo, 7)

    for (what, _, error), summary in zip(FAULTS, summaries, strict=True):
        assert (summary.status, summary.stored) == ("failed", 0), what
        assert error in summary.error, what
    errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 6
    assert all(f"minute 2019-12-31T12:0{i}Z: failed" in line for i, line in enumerate(errors, start=1))
    assert failed_cycles() - failed_before == 6
    assert (good.status, good.stored) == ("stored", 2)
    # Nothing of the failed minutes reached the store: no tick, no snapshot claimed.
    assert sorted(stored(repo, "BTCUSD", 0, 7)) == [0, 7]
    assert [
        s.minute_ms
        for s in repo.snapshots_between(exchange="bitfinex", start_ms=to_ms(T0), end_ms=to_ms(m(8)))
    ] == [
        to_ms(m(0)),
        to_ms(m(7)),
    ]
    assert stored(repo, "ETHUSD", 7, 7)[7].last_price == exchange.tickers.last_price("ETHUSD", to_ms(m(7)))

    summary = exchange.repair(repo, last=7)

    assert (summary.left, summary.errors) == (0, 0)
    scan = gaps_scan(now=exchange.clock.now(), since=T0, until=m(8), repo=repo)
    assert scan.complete
    for pair in PAIRS:
        repaired = stored(repo, pair, 1, 6)
        assert all(t.source == TickSource.CANDLE for t in repaired.values())
        assert {i: t.last_price for i, t in repaired.items()} == {
            i: recorded_close(pair, m(i)) for i in repaired
        }
        assert len(repaired) + scan.pairs[pair].known_gaps == 6


# --- DynamoDB goes away during a cycle -----------------------------------------------------


class Dynalite:
    """A dynalite process of this test, its data in a directory, stopped and started at will."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.port = _free_port()
        self.process: subprocess.Popen | None = None
        self.log = path.parent / "dynalite.log"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                [str(DYNALITE), "--host", "127.0.0.1", "--port", str(self.port), "--path", str(self.path),
                 "--createTableMs", "0", "--deleteTableMs", "0", "--updateTableMs", "0"],
                stdout=log, stderr=subprocess.STDOUT, cwd=ROOT,
            )  # fmt: skip
        _wait_for_port(self.port, self.process, self.log)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


@pytest.fixture
def dynalite_on_disk(tmp_path) -> Iterator[Dynalite]:
    server = Dynalite(tmp_path / "data")
    server.path.mkdir()
    server.start()
    yield server
    server.stop()


def repository(server: Dynalite) -> DynamoTickRepository:
    repo = DynamoTickRepository(
        table_prefix="faults_", region="us-east-1", endpoint_url=server.url, connect_timeout_s=1
    )
    repo.ensure_tables()
    return repo


def test_dynamodb_stopped_while_the_exchange_answers_fails_the_cycle_and_gap_repair_restores_the_minute(
    exchange, dynalite_on_disk
):
    repo = repository(dynalite_on_disk)
    for i in range(0, 3):
        assert exchange.poll(repo, i).status == "stored"
    exchange.before_answer = dynalite_on_disk.stop

    failed = exchange.poll(repo, 3)
    exchange.before_answer = None
    dynalite_on_disk.start()
    after = [exchange.poll(repo, i).status for i in range(4, 7)]

    assert failed.status == "failed" and failed.stored == 0
    assert failed.error.startswith("DynamoDB claim_snapshot failed: Could not connect")
    assert after == ["stored"] * 3
    assert repo.get_snapshot(exchange="bitfinex", minute_ms=to_ms(m(3))) is None  # nothing half-written
    summary = exchange.repair(repo, last=6)
    assert (summary.backfilled, summary.left) == (2, 0)
    for pair in PAIRS:
        tick = stored(repo, pair, 3, 3)[3]
        assert (tick.source, tick.last_price) == (TickSource.CANDLE, recorded_close(pair, m(3)))
        assert sorted(stored(repo, pair, 0, 6)) == list(range(0, 7))
    assert gaps_scan(now=exchange.clock.now(), since=T0, until=m(7), repo=repo).complete


def test_dynamodb_stopped_after_the_claim_leaves_a_pending_minute_that_gap_repair_completes(
    exchange, dynalite_on_disk
):
    repo = repository(dynalite_on_disk)
    for i in range(0, 3):
        assert exchange.poll(repo, i).status == "stored"
    stops = [dynalite_on_disk.stop]

    def stop_before_the_first_tick_write(params, **_) -> None:
        # The claim's other shards are BatchWriteItems too; the ticks' go to the ticks table.
        if stops and repo.ticks_table in params["body"].decode():
            stops.pop()()

    repo.client.meta.events.register("before-call.dynamodb.BatchWriteItem", stop_before_the_first_tick_write)

    failed = exchange.poll(repo, 3)
    dynalite_on_disk.start()
    after = [exchange.poll(repo, i).status for i in range(4, 7)]
    pending = repo.get_snapshot(exchange="bitfinex", minute_ms=to_ms(m(3)))
    ticks_before = stored(repo, "BTCUSD", 3, 3)
    candle_requests = len([r for r in exchange.stub.requests if "/candles/" in r])

    summary = exchange.repair(repo, last=6)

    assert failed.status == "failed" and failed.error.startswith("DynamoDB put_many failed")
    assert after == ["stored"] * 3
    assert pending.pending and sorted(pending.prices) == PAIRS
    assert ticks_before == {}
    assert (summary.pending_completed, summary.pending_ticks, summary.left) == (1, 2, 0)
    assert len([r for r in exchange.stub.requests if "/candles/" in r]) == candle_requests == 0
    for pair in PAIRS:
        tick = stored(repo, pair, 3, 3)[3]
        # The price the poll fetched, not a candle: the minute is the poll's.
        assert (tick.source, tick.last_price) == (TickSource.SNAPSHOT, pending.prices[pair])
    assert not repo.get_snapshot(exchange="bitfinex", minute_ms=to_ms(m(3))).pending
    [rollup] = repo.rollups_between(exchange="bitfinex", start_ms=to_ms(T0), end_ms=to_ms(m(60)))
    assert {p: s.count for p, s in rollup.segments.items()} == {"BTCUSD": 7, "ETHUSD": 7}
    assert gaps_scan(now=exchange.clock.now(), since=T0, until=m(7), repo=repo).complete
