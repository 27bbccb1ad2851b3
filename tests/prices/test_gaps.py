"""Gap repair on the in-memory repository: finding missing minutes cheaply, and filling them."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from prices import tasks
from prices.domain import HOUR_MS, MINUTE, MINUTE_MS, Tick, TickSource, from_ms, to_ms
from prices.repository.base import RepositoryError
from prices.repository.memory import InMemoryTickRepository
from prices.rollups import MinuteSnapshot, rollup_from_snapshots
from prices.services import gaps_repair, gaps_scan, history_store, ticks_ingest
from prices.services.gaps import minute_ranges
from prices.sources.base import Candle, SourceError, TickerBatch, TickerRow
from prices.sources.fake import FakeCandleSource, FakeTickerSource

pytestmark = pytest.mark.django_db  # storing ticks sends ticks_stored

T0 = datetime(2019, 12, 31, 12, 0, tzinfo=UTC)


def m(i: int) -> datetime:
    """The i-th minute after T0."""
    return T0 + i * MINUTE


def price(pair: str, i: int) -> Decimal:
    return Decimal(7000 if pair == "BTCUSD" else 130) + Decimal(i) / 10


def poll(repo, i: int, pairs: Iterable[str] = ("BTCUSD", "ETHUSD")):
    """The poll describing minute i (made 5 s into minute i + 1)."""
    batch = TickerBatch(rows=[TickerRow(pair=p, last_price=price(p, i)) for p in pairs])
    return ticks_ingest(
        source=FakeTickerSource([batch]), repo=repo, now=lambda: m(i + 1) + timedelta(seconds=5)
    )


def polls(repo, minutes: Iterable[int], pairs: Iterable[str] = ("BTCUSD", "ETHUSD")) -> None:
    for i in minutes:
        assert poll(repo, i, pairs).status == "stored"


def candles(pair: str, minutes: Iterable[int]) -> list[Candle]:
    return [
        Candle(
            minute=m(i),
            open=price(pair, i),
            close=price(pair, i),
            high=price(pair, i),
            low=price(pair, i),
            volume=Decimal(1),
        )
        for i in minutes
    ]


def stored_minutes(repo, pair: str) -> list[int]:
    return [
        int((t.minute - T0) / MINUTE)
        for t in repo.between(exchange="bitfinex", pair=pair, start=T0, end=m(600))
    ]


class Spy:
    """Wraps a repository and records the name of every method called."""

    def __init__(self, repo) -> None:
        self.repo = repo
        self.calls: list[str] = []

    def __getattr__(self, name):
        attr = getattr(self.repo, name)
        if callable(attr):
            self.calls.append(name)
        return attr


def now_after(i: int) -> datetime:
    """A moment well after minute i was polled."""
    return m(i + 10)


# --- finding ---------------------------------------------------------------------------------


def test_complete_whole_hours_are_judged_from_their_rollups_without_reading_snapshots(memory_repo):
    polls(memory_repo, range(0, 125))
    spy = Spy(memory_repo)

    scan = gaps_scan(now=now_after(125), since=m(0), until=m(120), repo=spy)

    assert scan.complete
    assert {p: (c.expected, c.present, c.missing) for p, c in scan.pairs.items()} == {
        "BTCUSD": (120, 120, []),
        "ETHUSD": (120, 120, []),
    }
    assert "snapshots_between" not in spy.calls
    assert spy.calls.count("rollups_between") == 1


def test_only_the_minutes_of_incomplete_hours_are_read_from_snapshots(memory_repo, monkeypatch):
    polls(memory_repo, [i for i in range(0, 125) if i != 70])
    reads = []
    real = memory_repo.snapshots_between
    monkeypatch.setattr(memory_repo, "snapshots_between", lambda **kw: reads.append(kw) or real(**kw))

    scan = gaps_scan(now=now_after(125), since=m(0), until=m(120), repo=memory_repo)

    assert [(from_ms(r["start_ms"]), from_ms(r["end_ms"])) for r in reads] == [(m(60), m(120))]
    assert {p: c.missing for p, c in scan.pairs.items()} == {
        "BTCUSD": [to_ms(m(70))],
        "ETHUSD": [to_ms(m(70))],
    }


def test_by_default_the_range_ends_two_minutes_before_the_newest_stored_minute(memory_repo):
    polls(memory_repo, [0, 1, 2, 3, 4, 5, 9])  # 6, 7, 8 failed; 8 is inside the grace

    scan = gaps_scan(now=now_after(9), lookback_hours=1, repo=memory_repo)

    assert from_ms(scan.end_ms) == m(8)
    assert [from_ms(ms) for ms in scan.pairs["BTCUSD"].missing] == [m(6), m(7)]


def test_expected_minutes_run_from_a_pairs_first_minute_to_its_newest(memory_repo):
    polls(memory_repo, range(0, 3), pairs=["BTCUSD", "XRPUSD"])  # XRPUSD is delisted after minute 2
    polls(memory_repo, range(3, 10), pairs=["BTCUSD"])
    polls(memory_repo, range(10, 20), pairs=["BTCUSD", "ETHUSD"])  # ETHUSD is listed at minute 10

    scan = gaps_scan(now=now_after(20), lookback_hours=1, repo=memory_repo)

    assert {p: (from_ms(c.start_ms), from_ms(c.end_ms), c.missing) for p, c in scan.pairs.items()} == {
        "BTCUSD": (m(0), m(18), []),
        "ETHUSD": (m(10), m(18), []),
        "XRPUSD": (m(0), m(3), []),
    }


def test_an_outage_at_the_start_of_the_look_back_is_still_expected(memory_repo):
    polls(memory_repo, range(0, 5))
    polls(memory_repo, range(90, 130))  # down from minute 5 to 89; the look-back starts at 68

    scan = gaps_scan(now=now_after(130), lookback_hours=1, repo=memory_repo)

    assert from_ms(scan.start_ms) == m(68)
    assert minute_ranges(scan.pairs["BTCUSD"].missing) == [(to_ms(m(68)), to_ms(m(89)))]


def test_an_explicit_until_expects_every_pair_through_it(memory_repo):
    polls(memory_repo, range(0, 10))

    scan = gaps_scan(now=now_after(12), since=m(0), until=m(12), repo=memory_repo)

    assert [from_ms(ms) for ms in scan.pairs["ETHUSD"].missing] == [m(10), m(11)]


def test_an_explicit_until_still_ends_a_delisted_pair_at_its_newest_minute(memory_repo):
    polls(memory_repo, range(0, 3), pairs=["BTCUSD", "XRPUSD"])
    polls(memory_repo, range(3, 63), pairs=["BTCUSD"])  # XRPUSD is an hour behind: delisted

    scan = gaps_scan(now=now_after(63), since=m(0), until=m(64), repo=memory_repo)

    assert (from_ms(scan.pairs["XRPUSD"].end_ms), scan.pairs["XRPUSD"].missing) == (m(3), [])
    assert [from_ms(ms) for ms in scan.pairs["BTCUSD"].missing] == [m(63)]


def test_nothing_stored_means_nothing_expected(memory_repo):
    scan = gaps_scan(now=T0, repo=memory_repo)

    assert scan.pairs == {} and scan.complete


def test_the_report_lists_each_pair_and_its_missing_ranges(memory_repo):
    polls(memory_repo, [i for i in range(0, 20) if i not in (4, 5, 6, 11)])
    memory_repo.add_known_gaps(exchange="bitfinex", minutes={"ETHUSD": [to_ms(m(11))]})

    lines = gaps_scan(now=now_after(20), since=m(0), until=m(18), repo=memory_repo).lines()

    assert lines[0] == "Coverage of bitfinex 2019-12-31T12:00Z..2019-12-31T12:18Z (end exclusive), 2 pairs"
    assert lines[2].split() == ["BTCUSD", "18", "14", "0", "0", "4", "77.78%"]
    assert lines[3].split() == ["ETHUSD", "18", "14", "1", "0", "3", "83.33%"]
    assert lines[4] == ("missing BTCUSD: 2019-12-31T12:04Z..2019-12-31T12:06Z (3), 2019-12-31T12:11Z")
    assert lines[-1] == "Total: expected 36, present 28, known gaps 1, pending 0, missing 7"


# --- repairing -------------------------------------------------------------------------------


def test_a_failed_poll_is_backfilled_from_its_candle_and_the_rollup_counts_it(memory_repo):
    polls(memory_repo, [i for i in range(0, 10) if i != 4])
    source = FakeCandleSource(
        {"BTCUSD": candles("BTCUSD", range(0, 10)), "ETHUSD": candles("ETHUSD", range(0, 10))}
    )

    summary = gaps_repair(now=now_after(10), source=source, lookback_hours=1, repo=memory_repo)

    assert (summary.backfilled, summary.requests, summary.left, summary.known_gaps) == (2, 2, 0, 0)
    assert [(c.pair, c.start, c.end) for c in source.calls] == [
        ("BTCUSD", m(4), m(5)),
        ("ETHUSD", m(4), m(5)),
    ]
    tick = memory_repo.latest(exchange="bitfinex", pair="BTCUSD")
    repaired = next(memory_repo.between(exchange="bitfinex", pair="BTCUSD", start=m(4), end=m(5)))
    assert (repaired.source, repaired.last_price) == (TickSource.CANDLE, price("BTCUSD", 4))
    assert tick.minute == m(9)  # the registry keeps the newest minute
    assert memory_repo.rollups["bitfinex"][to_ms(T0)].segments["BTCUSD"].count == 10
    assert gaps_scan(now=now_after(10), lookback_hours=1, repo=memory_repo).complete


def test_a_minute_without_a_candle_becomes_a_known_gap_and_is_not_asked_for_again(memory_repo):
    polls(memory_repo, [i for i in range(0, 10) if i != 4])
    source = FakeCandleSource({"BTCUSD": candles("BTCUSD", [3, 5]), "ETHUSD": candles("ETHUSD", [4])})

    first = gaps_repair(now=now_after(10), source=source, lookback_hours=1, repo=memory_repo)
    second = gaps_repair(now=now_after(10), source=source, lookback_hours=1, repo=memory_repo)

    assert (first.known_gaps, first.backfilled, first.requests) == (1, 1, 2)
    assert (second.known_gaps, second.backfilled, second.requests) == (0, 0, 0)
    assert memory_repo.known_gaps["bitfinex"] == {"BTCUSD": {to_ms(m(4))}}
    coverage = gaps_scan(now=now_after(10), lookback_hours=1, repo=memory_repo).pairs["BTCUSD"]
    assert (coverage.present, coverage.known_gaps, coverage.missing, coverage.coverage) == (7, 1, [], 1.0)


def test_a_known_gap_that_later_got_a_price_hides_no_missing_minute(memory_repo):
    polls(memory_repo, [i for i in range(0, 65) if i not in (30, 40)])
    memory_repo.add_known_gaps(exchange="bitfinex", minutes={"BTCUSD": [to_ms(m(30))]})
    # An import then brings a price for 12:30: 59 prices + 1 known gap, yet 12:40 is missing.
    late = Tick(exchange="bitfinex", pair="BTCUSD", minute=m(30), last_price=Decimal(7030))
    history_store(ticks=[late], repo=memory_repo)

    scan = gaps_scan(now=now_after(65), since=m(0), until=m(60), repo=memory_repo)

    coverage = scan.pairs["BTCUSD"]
    assert (coverage.present, coverage.known_gaps, coverage.missing) == (59, 0, [to_ms(m(40))])


def test_missing_minutes_of_one_pair_are_asked_for_in_one_window(memory_repo):
    polls(memory_repo, [i for i in range(0, 12) if i not in (2, 7)], pairs=["BTCUSD"])
    source = FakeCandleSource({"BTCUSD": candles("BTCUSD", range(0, 12))})

    summary = gaps_repair(now=now_after(12), source=source, lookback_hours=1, repo=memory_repo)

    assert [(c.start, c.end) for c in source.calls] == [(m(2), m(8))]
    assert summary.backfilled == 2
    assert stored_minutes(memory_repo, "BTCUSD") == list(range(0, 12))
    # Minutes 3..6 came with the window but were stored already: the polled ticks stay.
    kept = next(memory_repo.between(exchange="bitfinex", pair="BTCUSD", start=m(3), end=m(4)))
    assert kept.source == TickSource.TICKER


def test_the_candle_budget_bounds_a_run_and_the_next_run_goes_on(memory_repo):
    pairs = ["BTCUSD", "ETHUSD", "XRPUSD"]
    polls(memory_repo, [i for i in range(0, 10) if i != 4], pairs=pairs)
    source = FakeCandleSource({p: candles(p, range(0, 10)) for p in pairs})

    first = gaps_repair(now=now_after(10), source=source, lookback_hours=1, max_requests=2, repo=memory_repo)
    second = gaps_repair(now=now_after(10), source=source, lookback_hours=1, max_requests=2, repo=memory_repo)

    assert (first.requests, first.backfilled, first.left) == (2, 2, 1)
    assert first.stopped == "budget of 2 candle requests used"
    assert (second.requests, second.backfilled, second.left, second.stopped) == (1, 1, 0, None)


def test_a_rate_limit_ends_the_run_and_records_no_known_gap(memory_repo):
    polls(memory_repo, [i for i in range(0, 10) if i != 4])
    source = FakeCandleSource({}, errors=[SourceError("rate limited (HTTP 429)", rate_limited=True)])

    summary = gaps_repair(now=now_after(10), source=source, lookback_hours=1, repo=memory_repo)

    assert (summary.requests, summary.errors, summary.left, summary.known_gaps) == (1, 1, 2, 0)
    assert summary.stopped.startswith("rate limited")
    assert memory_repo.known_gaps == {}


def test_an_exchange_error_skips_its_window_only(memory_repo, caplog):
    polls(memory_repo, [i for i in range(0, 10) if i != 4])
    source = FakeCandleSource(
        {"ETHUSD": candles("ETHUSD", [4])}, errors=[SourceError("HTTP 500: maintenance")]
    )
    caplog.set_level(logging.WARNING, logger="prices")

    summary = gaps_repair(now=now_after(10), source=source, lookback_hours=1, repo=memory_repo)

    assert (summary.requests, summary.errors, summary.backfilled, summary.left) == (2, 1, 1, 1)
    assert memory_repo.known_gaps == {}
    assert any("maintenance" in r.getMessage() for r in caplog.records)


class DiesAfterClaim(InMemoryTickRepository):
    """A store that fails the next tick write, as if the poll's worker died right after its claim."""

    def __init__(self) -> None:
        super().__init__()
        self.fail_next_put = False

    def put_many(self, ticks):
        if self.fail_next_put:
            self.fail_next_put = False
            raise RepositoryError("DynamoDB put_many failed: connection lost")
        return super().put_many(ticks)


def test_a_minute_whose_poll_died_after_its_claim_is_completed_from_its_snapshot():
    repo = DiesAfterClaim()
    polls(repo, range(0, 4))
    repo.fail_next_put = True
    assert poll(repo, 4).status == "failed"
    polls(repo, range(5, 10))
    before = gaps_scan(now=now_after(10), lookback_hours=1, repo=repo)
    source = FakeCandleSource({})

    summary = gaps_repair(now=now_after(10), source=source, lookback_hours=1, repo=repo)

    assert (before.pairs["BTCUSD"].pending, before.pairs["BTCUSD"].missing) == (1, [])
    assert (summary.pending_completed, summary.pending_ticks, summary.requests) == (1, 2, 0)
    repaired = next(repo.between(exchange="bitfinex", pair="ETHUSD", start=m(4), end=m(5)))
    assert (repaired.source, repaired.last_price) == (TickSource.SNAPSHOT, price("ETHUSD", 4))
    assert not repo.get_snapshot(exchange="bitfinex", minute_ms=to_ms(m(4))).pending
    assert repo.rollups["bitfinex"][to_ms(T0)].segments["ETHUSD"].count == 10
    assert gaps_scan(now=now_after(10), lookback_hours=1, repo=repo).complete
    assert source.calls == []


def test_a_pending_minute_keeps_the_ticks_its_poll_did_write(memory_repo):
    polls(memory_repo, range(0, 4))
    polled = Tick(
        exchange="bitfinex", pair="BTCUSD", minute=m(4), last_price=price("BTCUSD", 4), bid=Decimal(1)
    )
    memory_repo.claim_snapshot(
        MinuteSnapshot(
            "bitfinex",
            to_ms(m(4)),
            {"BTCUSD": price("BTCUSD", 4), "ETHUSD": price("ETHUSD", 4)},
            pending=True,
        )
    )
    memory_repo.put_many([polled])  # the first batch reached the store, the second did not
    polls(memory_repo, range(5, 10))

    summary = gaps_repair(now=now_after(10), source=FakeCandleSource({}), lookback_hours=1, repo=memory_repo)

    assert summary.pending_ticks == 1
    assert next(memory_repo.between(exchange="bitfinex", pair="BTCUSD", start=m(4), end=m(5))) == polled


def test_a_pending_minute_of_a_poll_that_may_still_run_is_left_alone(memory_repo):
    polls(memory_repo, range(0, 4))
    memory_repo.claim_snapshot(MinuteSnapshot("bitfinex", to_ms(m(4)), {"BTCUSD": Decimal(1)}, pending=True))
    polls(memory_repo, range(5, 10))

    summary = gaps_repair(
        now=m(5) + timedelta(seconds=30),
        source=FakeCandleSource({}),
        since=m(0),
        until=m(8),
        repo=memory_repo,
    )

    assert summary.pending_completed == 0
    assert memory_repo.get_snapshot(exchange="bitfinex", minute_ms=to_ms(m(4))).pending


def test_ticks_missing_from_the_snapshots_are_restored_from_the_ticks_not_the_exchange(memory_repo):
    polls(memory_repo, [i for i in range(0, 10) if i != 4], pairs=["BTCUSD"])
    orphan = Tick(
        exchange="bitfinex",
        pair="BTCUSD",
        minute=m(4),
        last_price=Decimal("7004.5"),
        source=TickSource.CANDLE,
    )
    memory_repo.put_many([orphan])  # a backfill died between the tick and the snapshot price
    source = FakeCandleSource({"BTCUSD": candles("BTCUSD", range(0, 10))})

    summary = gaps_repair(now=now_after(10), source=source, lookback_hours=1, repo=memory_repo)

    assert (summary.restored_from_ticks, summary.requests, summary.left) == (1, 0, 0)
    assert memory_repo.get_snapshot(exchange="bitfinex", minute_ms=to_ms(m(4))).prices == {
        "BTCUSD": Decimal("7004.5")
    }
    assert memory_repo.rollups["bitfinex"][to_ms(T0)].segments["BTCUSD"].count == 10


def test_a_stale_hour_rollup_is_refreshed_from_its_snapshots(memory_repo):
    polls(memory_repo, range(0, 65))
    hour = to_ms(T0)
    snapshots = memory_repo.snapshots_between(exchange="bitfinex", start_ms=hour, end_ms=hour + HOUR_MS)
    memory_repo.rollups["bitfinex"][hour] = rollup_from_snapshots(
        exchange="bitfinex", hour_ms=hour, snapshots=snapshots[:-1]
    )

    summary = gaps_repair(
        now=now_after(65), source=FakeCandleSource({}), since=m(0), until=m(60), repo=memory_repo
    )

    assert (summary.rollups_refreshed, summary.requests, summary.left) == (1, 0, 0)
    assert memory_repo.rollups["bitfinex"][hour].segments["BTCUSD"].count == 60


def test_repairing_twice_changes_nothing_the_second_time(memory_repo):
    polls(memory_repo, [i for i in range(0, 10) if i not in (2, 3)])
    source = FakeCandleSource({"BTCUSD": candles("BTCUSD", [2]), "ETHUSD": candles("ETHUSD", [2, 3])})
    gaps_repair(now=now_after(10), source=source, lookback_hours=1, repo=memory_repo)
    ticks = {p: list(memory_repo.ticks[("bitfinex", p)].items()) for p in ("BTCUSD", "ETHUSD")}
    calls = len(source.calls)

    summary = gaps_repair(now=now_after(10), source=source, lookback_hours=1, repo=memory_repo)

    assert (summary.backfilled, summary.known_gaps, summary.requests, summary.left) == (0, 0, 0, 0)
    assert {p: list(memory_repo.ticks[("bitfinex", p)].items()) for p in ("BTCUSD", "ETHUSD")} == ticks
    assert len(source.calls) == calls


def test_history_is_stored_ticks_first_then_snapshot_prices(memory_repo):
    order = []
    spy = Spy(memory_repo)
    real_put, real_merge = memory_repo.put_many, memory_repo.merge_snapshot
    memory_repo.put_many = lambda ticks: order.append("ticks") or real_put(ticks)
    memory_repo.merge_snapshot = lambda s: order.append("snapshot") or real_merge(s)

    history_store(
        ticks=[Tick(exchange="bitfinex", pair="BTCUSD", minute=T0, last_price=Decimal(1))], repo=spy
    )

    assert order == ["ticks", "snapshot"]


def test_a_poll_claims_pending_and_completes_after_writing_its_ticks(memory_repo):
    order = []
    for name in ("claim_snapshot", "put_many", "complete_snapshot", "update_polled"):
        real = getattr(memory_repo, name)
        setattr(memory_repo, name, lambda *a, _n=name, _r=real, **k: order.append(_n) or _r(*a, **k))

    poll(memory_repo, 0)

    assert order == ["claim_snapshot", "put_many", "complete_snapshot", "update_polled"]
    assert not memory_repo.get_snapshot(exchange="bitfinex", minute_ms=to_ms(T0)).pending


POLL_WRITES = (
    "claim_snapshot",
    "put_many",
    "complete_snapshot",
    "update_polled",
    "update_latest",
    "put_rollup",
    "put_tails",
    "put_block",
    "put_live",
    "data_version_bump",
)


def record_writes(repo, order: list[str]) -> None:
    for name in POLL_WRITES:
        real = getattr(repo, name)
        setattr(repo, name, lambda *a, _n=name, _r=real, **k: order.append(_n) or _r(*a, **k))


def test_a_poll_writes_its_aggregates_after_its_ticks_snapshot_and_registry_missing_tails_too(memory_repo):
    order = []
    record_writes(memory_repo, order)

    poll(memory_repo, 0)  # the first poll: no tails nor block of the earlier hours are stored yet

    head = ["claim_snapshot", "put_many", "complete_snapshot", "update_polled", "put_rollup"]
    assert order[:5] == head
    assert order[5:] == ["put_tails", "put_tails", "put_block", "put_live", "put_live", "data_version_bump"]


def test_a_poll_prepares_its_aggregates_while_its_ticks_are_written_and_writes_them_in_turn(memory_repo):
    polls(memory_repo, range(2))
    order = []
    record_writes(memory_repo, order)
    rollup_read = threading.Event()
    real_get_rollup, real_put_many = memory_repo.get_rollup, memory_repo.put_many
    memory_repo.get_rollup = lambda **k: rollup_read.set() or real_get_rollup(**k)
    # The ticks are written only once the fold has read the hour's rollup: both run at once.
    memory_repo.put_many = lambda ticks: rollup_read.wait(10) and real_put_many(ticks)

    summary = poll(memory_repo, 2)

    assert summary.status == "stored"
    assert memory_repo.latest(exchange="bitfinex", pair="BTCUSD").minute == m(2)
    # put_many is recorded only if the rollup was read before it returned. The registry,
    # rollup and live windows are written at once, after the snapshot; the version last.
    assert order[:3] == ["claim_snapshot", "put_many", "complete_snapshot"]
    assert sorted(order[3:-1]) == ["put_live", "put_live", "put_rollup", "update_polled"]
    assert order[-1] == "data_version_bump"
    assert memory_repo.get_live(exchange="bitfinex", window_minutes=60).stats["BTCUSD"].count == 3


def test_a_prepared_poll_writes_its_registry_rollup_and_live_windows_at_once(memory_repo):
    polls(memory_repo, range(2))
    # Each of the four writes waits for the others to start: written one after another, the
    # first would wait alone until the barrier broke.
    barrier = threading.Barrier(4, timeout=10)
    for name in ("update_polled", "put_rollup", "put_live"):
        real = getattr(memory_repo, name)
        setattr(memory_repo, name, lambda *a, _r=real, **k: barrier.wait() >= 0 and _r(*a, **k))

    assert poll(memory_repo, 2).status == "stored"

    assert memory_repo.latest(exchange="bitfinex", pair="BTCUSD").minute == m(2)
    assert memory_repo.get_rollup(exchange="bitfinex", hour_ms=to_ms(T0)).segments["BTCUSD"].count == 3
    for window in (60, 1440):
        assert memory_repo.get_live(exchange="bitfinex", window_minutes=window).stats["BTCUSD"].count == 3


def test_a_poll_whose_rollup_write_fails_fails_after_the_other_writes_and_publishes_no_version(memory_repo):
    polls(memory_repo, range(2))
    version = memory_repo.data_version(exchange="bitfinex")

    def put_rollup(*args, **kwargs):
        raise RepositoryError("DynamoDB put_rollup failed: connection lost")

    memory_repo.put_rollup = put_rollup

    assert poll(memory_repo, 2).status == "failed"

    assert memory_repo.data_version(exchange="bitfinex") == version
    assert memory_repo.get_live(exchange="bitfinex", window_minutes=60).stats["BTCUSD"].count == 3
    # Gap repair sees the hour's rollup counting fewer minutes than its snapshots.
    assert memory_repo.get_rollup(exchange="bitfinex", hour_ms=to_ms(T0)).segments["BTCUSD"].count == 2


def test_minute_ranges_groups_consecutive_minutes():
    minutes = [to_ms(m(i)) for i in (5, 1, 2, 3, 9)]

    assert minute_ranges(minutes) == [
        (to_ms(m(1)), to_ms(m(3))),
        (to_ms(m(5)), to_ms(m(5))),
        (to_ms(m(9)), to_ms(m(9))),
    ]
    assert MINUTE_MS == 60_000


# --- task and commands ---------------------------------------------------------------------


def test_the_repair_task_reads_its_budget_from_settings_and_never_waits_on_rate_limits(
    memory_configured_repo, settings, monkeypatch, time_machine
):
    polls(memory_configured_repo, [i for i in range(0, 10) if i not in (3, 6)], pairs=["BTCUSD"])
    time_machine.move_to(now_after(10), tick=False)
    asked = []
    source = FakeCandleSource({"BTCUSD": candles("BTCUSD", [3, 6])})
    monkeypatch.setattr("prices.tasks.get_candle_source", lambda exchange, **kw: asked.append(kw) or source)
    settings.PRICES_GAP_LOOKBACK_HOURS = 1
    settings.PRICES_GAP_MAX_REQUESTS = 1

    line = tasks.repair_gaps()

    assert asked == [{"wait_on_rate_limit": False}]
    assert "2 ticks backfilled from 1 candle requests" in line and "0 minutes still missing" in line


def test_report_gaps_prints_coverage_per_pair_and_check_fails_while_minutes_are_missing(
    memory_configured_repo,
):
    polls(memory_configured_repo, [i for i in range(0, 10) if i != 4])
    out = StringIO()

    call_command("report_gaps", "--since", "2019-12-31T12:00", "--until", "2019-12-31T12:10Z", stdout=out)
    with pytest.raises(CommandError, match="2 minutes missing"):
        call_command(
            "report_gaps",
            "--since",
            "2019-12-31T12:00",
            "--pair",
            "btcusd",
            "--pair",
            "ETHUSD",
            "--check",
            stdout=StringIO(),
        )

    lines = out.getvalue().splitlines()
    header = ["pair", "expected", "present", "known", "gaps", "pending", "missing", "coverage"]
    assert lines[1].split() == header
    assert lines[2].split() == ["BTCUSD", "10", "9", "0", "0", "1", "90.00%"]
    assert "missing ETHUSD: 2019-12-31T12:04Z" in lines


def test_report_gaps_check_passes_when_every_minute_is_present_or_a_known_gap(memory_configured_repo):
    polls(memory_configured_repo, [i for i in range(0, 10) if i != 4])
    memory_configured_repo.add_known_gaps(
        exchange="bitfinex", minutes={p: [to_ms(m(4))] for p in ("BTCUSD", "ETHUSD")}
    )
    out = StringIO()

    call_command("report_gaps", "--since", "2019-12-31T12:00", "--check", stdout=out)

    assert "known gaps 2, pending 0, missing 0" in out.getvalue()


def test_report_gaps_rejects_a_malformed_pair_or_range(memory_configured_repo):
    with pytest.raises(CommandError, match="invalid pair"):
        call_command("report_gaps", "--pair", "BTC-USD", stdout=StringIO())
    with pytest.raises(CommandError, match="--since must be before --until"):
        call_command(
            "report_gaps", "--since", "2019-12-31T12:00", "--until", "2019-12-31T11:00", stdout=StringIO()
        )


def test_repair_gaps_command_repairs_and_prints_one_line(memory_configured_repo, monkeypatch):
    polls(memory_configured_repo, [i for i in range(0, 10) if i != 4], pairs=["BTCUSD"])
    source = FakeCandleSource({"BTCUSD": candles("BTCUSD", [4])})
    monkeypatch.setattr(
        "prices.management.commands.repair_gaps.get_candle_source", lambda exchange="bitfinex": source
    )
    out = StringIO()

    call_command(
        "repair_gaps",
        "--since",
        "2019-12-31T12:00",
        "--until",
        "2019-12-31T12:10",
        stdout=out,
        stderr=StringIO(),
    )

    assert out.getvalue().startswith("gap repair bitfinex 2019-12-31T12:00Z..2019-12-31T12:10Z, 1 pairs: ")
    assert "1 ticks backfilled from 1 candle requests" in out.getvalue()
    assert stored_minutes(memory_configured_repo, "BTCUSD") == list(range(0, 10))


def test_report_gaps_on_a_fresh_install_explains_the_two_minute_lag(memory_configured_repo):
    polls(memory_configured_repo, [0])
    out = StringIO()

    call_command("report_gaps", stdout=out)

    assert "No stored minutes in that range" in out.getvalue()
    assert "2 minutes before the newest stored minute" in out.getvalue()
