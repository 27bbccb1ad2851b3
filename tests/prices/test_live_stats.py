"""Live window statistics published at ingestion equal a direct two-pass computation on real data.

The recorded Bitfinex candles of 2019-12-30/31 (7 pairs; minutes without trades are gaps) are
polled minute by minute through `ticks_ingest`. At minutes across hour edges the published
1 h and 24 h statistics are compared with statistics computed directly, in two passes, from
the stored minute prices of the window: with gaps, a minute a dead poll left pending (left
out, as everywhere in statistics), a minute nobody polled, and a backfilled minute inside the
window (its hour's tails and block are dropped and computed again).
"""

from __future__ import annotations

import math
import statistics
from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from prices.domain import HOUR_MS, MINUTE_MS, Tick, TickSource, from_ms, to_ms
from prices.repository.base import LatestPrice
from prices.repository.memory import InMemoryTickRepository
from prices.rollups import LiveWindow, MinuteSnapshot
from prices.selectors import pairs_rank, pairs_stats
from prices.services import history_store, ticks_ingest
from prices.sources.base import TickerBatch, TickerRow
from prices.statistics import WindowStats, segment_of
from tests.realdata import PAIRS, closes

pytestmark = pytest.mark.django_db  # storing ticks sends ticks_stored (alerts enqueue on commit)

START = datetime(2019, 12, 30, 0, 0, tzinfo=UTC)
PENDING = datetime(2019, 12, 31, 9, 17, tzinfo=UTC)  # claimed by a poll that died
UNPOLLED = datetime(2019, 12, 31, 10, 0, tzinfo=UTC)  # no poll at all (an hour's first minute)
CHECK_OFFSETS = {0, 1, 2, 30, 57, 58, 59}


class ClockedSource:
    """A ticker source answering each poll with the recorded closes of the minute being polled."""

    exchange = "bitfinex"

    def __init__(self, by_minute: dict[int, dict[str, Decimal]]) -> None:
        self.by_minute = by_minute
        self.minute_ms = 0

    def fetch_tickers(self) -> TickerBatch:
        prices = self.by_minute[self.minute_ms]
        return TickerBatch(
            rows=[TickerRow(pair=p, last_price=v) for p, v in sorted(prices.items())], skipped=Counter()
        )


def _reference(points: list[tuple[int, Decimal]], start_ms: int, end_ms: int) -> dict:
    """Two-pass statistics of the points in [start_ms, end_ms), independent of prices.statistics."""
    inside = sorted((ms, p) for ms, p in points if start_ms <= ms < end_ms)
    values = [p for _, p in inside]
    returns = [
        math.log(float(b / a))
        for (ma, a), (mb, b) in zip(inside, inside[1:], strict=False)
        if mb - ma == MINUTE_MS
    ]
    mean = statistics.mean(values)
    std = float(statistics.stdev(values)) if len(values) > 1 else None
    return {
        "count": len(values),
        "first": values[0],
        "last": values[-1],
        "minimum": min(values),
        "maximum": max(values),
        "mean": float(mean),
        "std": std,
        "std_population": float(statistics.pstdev(values)),
        "relative_std": std / float(mean) if std is not None else None,
        "volatility": statistics.stdev(returns) if len(returns) > 1 else None,
        "change_pct": float((values[-1] - values[0]) * 100 / values[0]),
    }


def _assert_matches(stats, expected: dict, where: str) -> None:
    exact = ("count", "first", "last", "minimum", "maximum")
    assert {k: getattr(stats, k) for k in exact} == {k: expected[k] for k in exact}, where
    for name in ("mean", "std", "std_population", "relative_std", "volatility", "change_pct"):
        value, want = getattr(stats, name), expected[name]
        if want is None:
            assert value is None, (where, name)
        else:
            assert value == pytest.approx(want, rel=1e-9, abs=1e-12), (where, name)


def test_published_live_statistics_equal_a_direct_two_pass_computation_across_hour_edges():
    by_minute: dict[int, dict[str, Decimal]] = defaultdict(dict)
    for pair in PAIRS:
        for ms, close in closes(pair):
            by_minute[ms][pair] = close
    repo = InMemoryTickRepository()
    source = ClockedSource(by_minute)
    stored: dict[str, list[tuple[int, Decimal]]] = defaultdict(list)  # what statistics must count
    checked = Counter()
    backfilled = False
    for minute_ms in sorted(by_minute):
        minute = from_ms(minute_ms)
        if minute == UNPOLLED:
            continue
        if minute == PENDING:
            repo.claim_snapshot(
                MinuteSnapshot("bitfinex", minute_ms, by_minute[minute_ms], "ticker", pending=True)
            )
            continue
        source.minute_ms = minute_ms
        poll = minute + timedelta(minutes=1, seconds=3)
        assert ticks_ingest(source=source, repo=repo, now=lambda p=poll: p).status == "stored"
        for pair, price in by_minute[minute_ms].items():
            stored[pair].append((minute_ms, price))
        end_ms = minute_ms + MINUTE_MS
        offset = (minute_ms % HOUR_MS) // MINUTE_MS
        if minute == datetime(2019, 12, 31, 12, 40, tzinfo=UTC) and not backfilled:
            # A minute NEOUSD had no trade in the previous hour gets a candle (gap repair):
            # that hour's tails are dropped, and the next poll computes them again.
            hour_before = minute_ms - minute_ms % HOUR_MS - HOUR_MS
            have = {ms for ms, _ in stored["NEOUSD"]}
            hole = next(
                ms
                for ms in range(hour_before + 30 * MINUTE_MS, hour_before + HOUR_MS, MINUTE_MS)
                if ms not in have
            )
            tick = Tick("bitfinex", "NEOUSD", from_ms(hole), Decimal("0.9"), source=TickSource.CANDLE)
            history_store(ticks=[tick], repo=repo)
            stored["NEOUSD"].append((hole, Decimal("0.9")))
            backfilled = True
            continue
        if minute < START + timedelta(hours=25) or offset not in CHECK_OFFSETS:
            continue
        for window in (60, 1440):
            live = repo.get_live(exchange="bitfinex", window_minutes=window)
            assert live.end_ms == end_ms
            for pair in PAIRS:
                expected = _reference(stored[pair], end_ms - window * MINUTE_MS, end_ms)
                _assert_matches(live.stats[pair], expected, f"{pair} {window} min to {from_ms(end_ms)}")
                checked[window] += 1
            # The selector answers the live window from the published statistics alone.
            assert pairs_stats(window_minutes=window, end=from_ms(end_ms), repo=repo) == live.stats
    assert backfilled and checked[60] > 200 and checked[1440] > 200


def test_the_live_rank_reads_the_published_items_and_writes_nothing():
    repo = InMemoryTickRepository()
    prices = {"BTCUSD": Decimal(7000), "ETHUSD": Decimal(130), "LTCUSD": Decimal(40)}
    source = ClockedSource({})
    for i in range(90):
        minute_ms = to_ms(START) + i * MINUTE_MS
        source.by_minute[minute_ms] = {p: v + (i % 7) * (j + 1) for j, (p, v) in enumerate(prices.items())}
        source.minute_ms = minute_ms
        poll = from_ms(minute_ms) + timedelta(minutes=1, seconds=3)
        ticks_ingest(source=source, repo=repo, now=lambda p=poll: p)
    end = from_ms(to_ms(START) + 90 * MINUTE_MS)
    before = (dict(repo.rollups), dict(repo.blocks), dict(repo.tails), dict(repo.live["bitfinex"]))

    ranked = pairs_rank(window_minutes=1440, end=end, repo=repo, metric="std")

    assert [e.pair.name for e in ranked] == ["LTCUSD", "ETHUSD", "BTCUSD"]
    assert all(e.stats.count == 90 for e in ranked)
    assert (dict(repo.rollups), dict(repo.blocks), dict(repo.tails), dict(repo.live["bitfinex"])) == before


class RegistryCountingRepo(InMemoryTickRepository):
    def __init__(self) -> None:
        super().__init__()
        self.tracked_reads = 0

    def tracked_pairs(self, *, exchange: str) -> set[str]:
        self.tracked_reads += 1
        return super().tracked_pairs(exchange=exchange)


def hour_stats_alternating(hour: int, spreads: dict[str, str]) -> dict[str, WindowStats]:
    """Per pair, the stats of 60 minutes alternating between 100 and 100 + its spread."""
    return {
        pair: WindowStats.of(
            segment_of([(hour + i * MINUTE_MS, Decimal(100 + (i % 2) * int(d))) for i in range(60)]),
            expected=60,
        )
        for pair, d in spreads.items()
    }


def three_live_pairs_and_a_silent_one(repo) -> tuple[int, dict]:
    """Registry entries for BTCUSD, ETHUSD, LTCUSD (priced in the hour) and XRPUSD (silent two days).

    Returns the live hour window's end (ms) and the three pairs' hour statistics, BTCUSD the
    most volatile.
    """
    hour = to_ms(START)
    end_ms = hour + 60 * MINUTE_MS
    spreads = {"BTCUSD": "9", "ETHUSD": "5", "LTCUSD": "1"}
    registry = {p: LatestPrice(end_ms - MINUTE_MS, Decimal(100)) for p in [*spreads, "XRPUSD"]}
    registry["XRPUSD"] = LatestPrice(hour - 48 * HOUR_MS, Decimal("0.2"))
    repo.update_latest(exchange="bitfinex", prices=registry)
    return end_ms, hour_stats_alternating(hour, spreads)


def test_a_rank_whose_first_limit_pairs_have_data_reads_no_registry_and_a_full_rank_lists_silent_pairs():
    repo = RegistryCountingRepo()
    end_ms, stats = three_live_pairs_and_a_silent_one(repo)
    repo.put_live(LiveWindow("bitfinex", 60, end_ms, stats))

    top = pairs_rank(window_minutes=60, end=from_ms(end_ms), limit=2, repo=repo)
    every = pairs_rank(window_minutes=60, end=from_ms(end_ms), repo=repo)

    assert [e.pair.name for e in top] == ["BTCUSD", "ETHUSD"]
    assert [(e.pair.name, e.stats.count) for e in every] == [
        ("BTCUSD", 60), ("ETHUSD", 60), ("LTCUSD", 60), ("XRPUSD", 0)
    ]  # fmt: skip
    assert repo.tracked_reads == 1  # the full rank only


def test_a_live_window_published_with_its_idle_pairs_ranks_them_without_reading_the_registry():
    repo = RegistryCountingRepo()
    end_ms, stats = three_live_pairs_and_a_silent_one(repo)
    repo.put_live(LiveWindow("bitfinex", 60, end_ms, stats))
    from_registry = pairs_rank(window_minutes=60, end=from_ms(end_ms), repo=repo)
    repo.put_live(LiveWindow("bitfinex", 60, end_ms, stats, idle=frozenset({"XRPUSD"})))
    repo.tracked_reads = 0

    every = pairs_rank(window_minutes=60, end=from_ms(end_ms), repo=repo)
    subset = pairs_rank(window_minutes=60, end=from_ms(end_ms), pairs=["XRPUSD", "LTCUSD"], repo=repo)

    assert every == from_registry
    assert [(e.pair.name, e.stats.count) for e in every][-1] == ("XRPUSD", 0)
    assert [e.pair.name for e in subset] == ["LTCUSD", "XRPUSD"]
    assert repo.tracked_reads == 0
    assert pairs_stats(window_minutes=60, end=from_ms(end_ms), repo=repo) == stats  # idle pairs absent
