"""Ingestion and history services on the in-memory repository (FakeTickerSource/FakeCandleSource)."""

from __future__ import annotations

import gc
import logging
import threading
from collections import Counter
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from prices.domain import TickSource, to_ms
from prices.repository.memory import InMemoryTickRepository
from prices.services import candles_backfill, rollups_rebuild, ticks_ingest
from prices.signals import ticks_stored
from prices.sources.base import Candle, SourceError, TickerBatch, TickerRow
from prices.sources.fake import FakeCandleSource, FakeTickerSource

POLL = datetime(2019, 12, 31, 0, 1, 2, tzinfo=UTC)
MINUTE = datetime(2019, 12, 31, 0, 0, tzinfo=UTC)

# Storing ticks sends ticks_stored; the alerts app enqueues an evaluation on commit.
pytestmark = pytest.mark.django_db


def _batch(**prices: str) -> TickerBatch:
    return TickerBatch(
        rows=[
            TickerRow(pair=pair.replace("_", ":"), last_price=Decimal(price))
            for pair, price in prices.items()
        ],
        skipped=Counter({"funding": 2, "zero_price": 1}),
    )


def test_a_poll_stores_every_pair_as_the_minute_before_the_poll():
    repo = InMemoryTickRepository()

    summary = ticks_ingest(
        source=FakeTickerSource([_batch(BTCUSD="7240.04860029", AAVE_USD="0.00007181")]),
        repo=repo,
        now=lambda: POLL,
    )

    assert summary.status == "stored" and summary.stored == 2
    assert summary.minute == MINUTE
    assert summary.skipped == Counter({"funding": 2, "zero_price": 1})
    tick = repo.latest(exchange="bitfinex", pair="AAVE:USD")
    assert tick.minute == MINUTE and tick.last_price == Decimal("0.00007181")
    assert tick.observed_at == POLL and tick.source == TickSource.TICKER


@pytest.mark.parametrize("second", [0, 2, 31, 59])
def test_a_late_poll_within_the_next_minute_still_describes_the_finished_minute(second):
    repo = InMemoryTickRepository()

    summary = ticks_ingest(
        source=FakeTickerSource([_batch(BTCUSD="1")]), repo=repo, now=lambda: POLL.replace(second=second)
    )

    assert summary.minute == MINUTE


def test_a_repeated_poll_in_the_same_minute_stores_nothing_and_keeps_the_first_price():
    repo = InMemoryTickRepository()
    ticks_ingest(source=FakeTickerSource([_batch(BTCUSD="100")]), repo=repo, now=lambda: POLL)

    summary = ticks_ingest(
        source=FakeTickerSource([_batch(BTCUSD="101")]), repo=repo, now=lambda: POLL.replace(second=40)
    )

    assert summary.status == "duplicate" and summary.stored == 0
    assert repo.latest(exchange="bitfinex", pair="BTCUSD").last_price == Decimal("100")
    assert repo.get_snapshot(exchange="bitfinex", minute_ms=to_ms(MINUTE)).prices == {
        "BTCUSD": Decimal("100")
    }


def test_concurrent_polls_of_one_minute_store_it_once():
    repo = InMemoryTickRepository()
    results = []

    def run(price):
        results.append(
            ticks_ingest(source=FakeTickerSource([_batch(BTCUSD=price)]), repo=repo, now=lambda: POLL)
        )

    threads = [threading.Thread(target=run, args=(str(100 + i),)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(r.status for r in results) == ["duplicate"] * 7 + ["stored"]
    assert repo.put_calls == 1
    winner = next(r for r in results if r.status == "stored")
    assert winner.stored == 1


def test_a_failed_fetch_stores_nothing_and_logs_one_error_line(caplog):
    repo = InMemoryTickRepository()
    caplog.set_level(logging.ERROR, logger="prices")

    summary = ticks_ingest(
        source=FakeTickerSource(
            [SourceError("Bitfinex answered HTTP 429: ratelimit: error", rate_limited=True)]
        ),
        repo=repo,
        now=lambda: POLL,
    )

    assert summary.status == "failed" and not summary.ok
    assert "429" in summary.error
    assert repo.ticks == {} and repo.snapshots == {}
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1 and "failed" in errors[0].getMessage()


def test_storing_sends_ticks_stored_and_invalidates_cached_responses():
    repo = InMemoryTickRepository()
    received = []

    def receiver(**kwargs):
        received.append(kwargs)

    ticks_stored.connect(receiver)
    try:
        ticks_ingest(source=FakeTickerSource([_batch(BTCUSD="1")]), repo=repo, now=lambda: POLL)
    finally:
        ticks_stored.disconnect(receiver)

    assert received[0]["exchange"] == "bitfinex" and received[0]["minutes"] == [MINUTE]
    assert repo.data_version(exchange="bitfinex") == 1


def _candle(minute: datetime, close: str) -> Candle:
    value = Decimal(close)
    return Candle(minute=minute, open=value, close=value, high=value, low=value, volume=Decimal("1.5"))


def test_a_backfilled_candle_describes_the_same_minute_as_a_poll_made_just_after_it():
    repo = InMemoryTickRepository()
    ticks_ingest(source=FakeTickerSource([_batch(BTCUSD="7240.1")]), repo=repo, now=lambda: POLL)
    candles = FakeCandleSource({"BTCUSD": [_candle(MINUTE, "7240.04860029")]})

    summary = candles_backfill(
        source=candles,
        pairs=["BTCUSD"],
        start=MINUTE,
        end=datetime(2019, 12, 31, 0, 5, tzinfo=UTC),
        repo=repo,
    )

    assert summary.stored == 0 and summary.already_stored == 1  # same key: the poll's minute
    ticks = list(repo.between(exchange="bitfinex", pair="BTCUSD", start=MINUTE, end=POLL))
    assert [(t.minute, t.source) for t in ticks] == [(MINUTE, TickSource.TICKER)]


def test_backfill_fills_only_missing_minutes_and_is_idempotent():
    repo = InMemoryTickRepository()
    ticks_ingest(source=FakeTickerSource([_batch(BTCUSD="7240.1")]), repo=repo, now=lambda: POLL)
    minutes = [MINUTE.replace(minute=m) for m in range(0, 5) if m != 2]  # minute 2 had no trades
    source = FakeCandleSource({"BTCUSD": [_candle(m, f"72{m.minute}0") for m in minutes]})
    end = MINUTE.replace(minute=5)

    first = candles_backfill(source=source, pairs=["BTCUSD"], start=MINUTE, end=end, repo=repo)
    second = candles_backfill(source=source, pairs=["BTCUSD"], start=MINUTE, end=end, repo=repo)

    assert (first.stored, first.already_stored) == (3, 1)
    assert (second.stored, second.already_stored) == (0, 4)
    stored = list(repo.between(exchange="bitfinex", pair="BTCUSD", start=MINUTE, end=end))
    assert [t.minute.minute for t in stored] == [0, 1, 3, 4]  # the gap stays a gap
    assert stored[1].source == TickSource.CANDLE and stored[1].volume == Decimal("1.5")
    snapshot = repo.get_snapshot(exchange="bitfinex", minute_ms=to_ms(MINUTE.replace(minute=4)))
    assert snapshot.prices == {"BTCUSD": Decimal("7240")}


def test_a_poll_into_a_minute_filled_from_candles_adds_only_the_missing_pairs():
    repo = InMemoryTickRepository()
    candles_backfill(
        source=FakeCandleSource({"BTCUSD": [_candle(MINUTE, "7000")]}),
        pairs=["BTCUSD"],
        start=MINUTE,
        end=POLL,
        repo=repo,
    )

    summary = ticks_ingest(
        source=FakeTickerSource([_batch(BTCUSD="7001", ETHUSD="130")]), repo=repo, now=lambda: POLL
    )

    assert summary.stored == 1 and summary.skipped["already_stored"] == 1
    snapshot = repo.get_snapshot(exchange="bitfinex", minute_ms=to_ms(MINUTE))
    assert snapshot.prices == {"BTCUSD": Decimal("7000"), "ETHUSD": Decimal("130")}


def test_rebuilding_rollups_from_ticks_restores_lost_aggregates():
    repo = InMemoryTickRepository()
    for minute in range(0, 90):
        poll = datetime(2019, 12, 31, minute // 60, minute % 60, 5, tzinfo=UTC)
        ticks_ingest(
            source=FakeTickerSource([_batch(BTCUSD=str(7000 + minute % 7))]), repo=repo, now=lambda p=poll: p
        )
    expected = dict(repo.rollups["bitfinex"])
    repo.rollups.clear()
    repo.snapshots.clear()

    written = rollups_rebuild(
        exchange="bitfinex",
        start=datetime(2019, 12, 30, 23, tzinfo=UTC),
        end=datetime(2019, 12, 31, 2, tzinfo=UTC),
        repo=repo,
    )

    assert written == 3  # polls from 00:00:05 describe 2019-12-30T23:59 .. 2019-12-31T01:28
    rebuilt = repo.rollups["bitfinex"]
    assert sorted(rebuilt) == sorted(expected)
    for hour, rollup in expected.items():
        # The poll folded minute by minute, the rebuild took each hour at once: equal to rounding.
        (folded,), (again,) = rollup.segments.values(), rebuilt[hour].segments.values()
        assert (again.count, again.minimum, again.maximum) == (folded.count, folded.minimum, folded.maximum)
        assert (again.first_ms, again.first, again.last_ms, again.last) == (
            folded.first_ms,
            folded.first,
            folded.last_ms,
            folded.last,
        )
        for a, b in ((again.prices, folded.prices), (again.returns, folded.returns)):
            assert a.n == b.n
            assert float(a.mean) == pytest.approx(float(b.mean), rel=1e-12, abs=1e-18)
            assert float(a.m2) == pytest.approx(float(b.m2), rel=1e-9, abs=1e-18)


def test_a_response_without_any_trading_row_fails_the_cycle_and_claims_no_minute():
    repo = InMemoryTickRepository()

    summary = ticks_ingest(
        source=FakeTickerSource([TickerBatch(rows=[], skipped=Counter({"funding": 3}))]),
        repo=repo,
        now=lambda: POLL,
    )

    assert summary.status == "failed" and summary.error == "tickers: no trading row to store"
    assert summary.skipped == Counter({"funding": 3})
    assert repo.snapshots == {} and repo.ticks == {}


def test_a_reply_that_arrives_in_the_next_minute_describes_that_minute():
    """The poll is sent at 08:05:58 (which would describe 08:04); the stub answers at 08:06:06."""
    from prices.sources.bitfinex import BitfinexSource
    from prices.sources.stub_server import TICKERS_FIXTURE, BitfinexStubServer

    clock = {"now": datetime(2019, 12, 31, 8, 5, 58, tzinfo=UTC)}

    def late_reply() -> bytes:
        clock["now"] = datetime(2019, 12, 31, 8, 6, 6, tzinfo=UTC)  # the exchange took 8 s
        return TICKERS_FIXTURE.read_bytes()

    repo = InMemoryTickRepository()
    with BitfinexStubServer(tickers=late_reply) as stub:
        summary = ticks_ingest(
            source=BitfinexSource(base_url=stub.url, timeout_s=5, retries=0),
            repo=repo,
            now=lambda: clock["now"],
        )

    assert summary.status == "stored" and summary.stored > 0
    assert summary.minute == datetime(2019, 12, 31, 8, 5, tzinfo=UTC)
    assert sorted(repo.snapshots["bitfinex"]) == [to_ms(summary.minute)]
    tick = repo.latest(exchange="bitfinex", pair="BTCUSD")
    assert tick.minute == summary.minute and tick.observed_at == clock["now"]


def test_a_cycle_runs_with_the_cyclic_collector_paused_and_restores_it_even_when_it_fails():
    seen: list[bool] = []

    class Observing(FakeTickerSource):
        def fetch_tickers(self):
            seen.append(gc.isenabled())
            return super().fetch_tickers()

    assert gc.isenabled()
    ticks_ingest(source=Observing([_batch(BTCUSD="1")]), repo=InMemoryTickRepository(), now=lambda: POLL)
    failed = ticks_ingest(source=Observing([SourceError("down")]), repo=InMemoryTickRepository())

    assert seen == [False, False]
    assert failed.status == "failed"
    assert gc.isenabled()
