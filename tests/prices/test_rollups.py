"""Hour rollups and window decomposition give the same segments as the raw minutes."""

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from prices.domain import HOUR_MS, MINUTE_MS
from prices.rollups import MinuteSnapshot, rollup_from_snapshots, window_plan, window_segments
from prices.statistics import segment_of

T0 = 1577664000000  # 2019-12-30T00:00:00Z


def test_window_inside_one_hour_is_read_from_minutes_only():
    plan = window_plan(T0 + 5 * MINUTE_MS, T0 + 50 * MINUTE_MS)

    assert not plan.has_hours
    assert plan.edges == [(T0 + 5 * MINUTE_MS, T0 + 50 * MINUTE_MS)]


def test_window_cutting_two_hours_has_whole_hours_and_two_edges():
    plan = window_plan(T0 + 30 * MINUTE_MS, T0 + 24 * HOUR_MS + 30 * MINUTE_MS)

    assert (plan.hours_start_ms, plan.hours_end_ms) == (T0 + HOUR_MS, T0 + 24 * HOUR_MS)
    assert plan.edges == [
        (T0 + 30 * MINUTE_MS, T0 + HOUR_MS),
        (T0 + 24 * HOUR_MS, T0 + 24 * HOUR_MS + 30 * MINUTE_MS),
    ]


def test_window_on_hour_boundaries_has_no_edges():
    plan = window_plan(T0, T0 + 24 * HOUR_MS)

    assert plan.edges == []


def test_rollup_ignores_snapshots_of_other_hours():
    snapshots = [
        MinuteSnapshot("bitfinex", T0, {"BTCUSD": Decimal("7000")}),
        MinuteSnapshot("bitfinex", T0 + HOUR_MS, {"BTCUSD": Decimal("9000")}),
    ]

    rollup = rollup_from_snapshots(exchange="bitfinex", hour_ms=T0, snapshots=snapshots)

    assert rollup.values == 1
    assert rollup.segments["BTCUSD"].maximum == Decimal("7000")


@settings(max_examples=60, deadline=None)
@given(
    minutes=st.lists(st.integers(min_value=0, max_value=5 * 60 - 1), min_size=1, max_size=200, unique=True),
    start=st.integers(min_value=0, max_value=5 * 60),
    length=st.integers(min_value=1, max_value=5 * 60),
    data=st.data(),
)
def test_window_segments_equal_segments_of_the_raw_minutes(minutes, start, length, data):
    prices = {
        m: data.draw(st.decimals(min_value=Decimal("0.0001"), max_value=Decimal("99999"), places=4))
        for m in minutes
    }
    snapshots = [
        MinuteSnapshot("bitfinex", T0 + m * MINUTE_MS, {"BTCUSD": p, "ETHUSD": p / 20})
        for m, p in prices.items()
    ]
    rollups = [
        rollup_from_snapshots(exchange="bitfinex", hour_ms=T0 + h * HOUR_MS, snapshots=snapshots)
        for h in range(5)
    ]
    start_ms, end_ms = T0 + start * MINUTE_MS, T0 + (start + length) * MINUTE_MS
    plan = window_plan(start_ms, end_ms)

    segments = window_segments(plan=plan, rollups=rollups, snapshots=snapshots, pairs=["BTCUSD"])

    inside = [(T0 + m * MINUTE_MS, p) for m, p in prices.items() if start_ms <= T0 + m * MINUTE_MS < end_ms]
    direct = segment_of(inside)
    if direct is None:
        assert segments == {}
        return
    assert set(segments) == {"BTCUSD"}
    got = segments["BTCUSD"]
    assert (got.count, got.first, got.last, got.minimum, got.maximum) == (
        direct.count,
        direct.first,
        direct.last,
        direct.minimum,
        direct.maximum,
    )
    assert got.returns.n == direct.returns.n
    if direct.count > 1:
        assert got.prices.std_sample == pytest.approx(direct.prices.std_sample, rel=1e-9, abs=1e-18)


def test_hourly_points_are_the_first_and_last_price_of_each_whole_hour():
    from datetime import UTC, datetime

    from prices.repository.memory import InMemoryTickRepository
    from prices.selectors import hourly_points
    from prices.services import history_store
    from tests.realdata import candle_ticks

    repo = InMemoryTickRepository()
    history_store(ticks=candle_ticks("IOTUSD", "19-12-31"), repo=repo)
    end = datetime(2019, 12, 31, 6, 30, tzinfo=UTC)

    points = hourly_points(end=end, minutes=300, repo=repo)["IOTUSD"]

    ticks = [t for t in candle_ticks("IOTUSD", "19-12-31") if 2 <= t.minute.hour < 6]
    expected = []
    for hour in sorted({t.minute.hour for t in ticks}):
        in_hour = [t for t in ticks if t.minute.hour == hour]
        expected += [(in_hour[0].minute, in_hour[0].last_price)]
        if len(in_hour) > 1:
            expected += [(in_hour[-1].minute, in_hour[-1].last_price)]
    assert points == expected  # the partial hours 01:30–02:00 and 06:00–06:30 are left out


class _SpyRepo:
    """Records the snapshot ranges a selector reads from an in-memory repository."""

    def __init__(self, inner):
        self.inner = inner
        self.snapshot_reads = []

    def snapshots_between(self, **kwargs):
        self.snapshot_reads.append((kwargs["start_ms"], kwargs["end_ms"]))
        return self.inner.snapshots_between(**kwargs)

    def __getattr__(self, name):
        return getattr(self.inner, name)


def _stats_from_raw(pair, start_ms, end_ms):
    import statistics

    from tests.realdata import closes

    values = [c for ms, c in closes(pair) if start_ms <= ms < end_ms]
    return len(values), float(statistics.stdev(values))


def test_a_window_ending_at_the_newest_minute_reads_its_last_partial_hour_from_the_rollup():
    from datetime import UTC, datetime

    from prices.domain import to_ms
    from prices.repository.memory import InMemoryTickRepository
    from prices.selectors import pair_stats
    from prices.services import history_store
    from tests.realdata import candle_ticks

    end = datetime(2019, 12, 31, 13, 27, tzinfo=UTC)
    inner = InMemoryTickRepository()
    history_store(ticks=[t for t in candle_ticks("BTCUSD") if t.minute < end], repo=inner)
    newest = max(inner.ticks[("bitfinex", "BTCUSD")])
    end = datetime.fromtimestamp(newest / 1000 + 60, tz=UTC)  # the end of the newest stored minute
    repo = _SpyRepo(inner)

    stats = pair_stats(pair="BTCUSD", window_minutes=1440, end=end, repo=repo)

    start_ms = to_ms(end) - 1440 * MINUTE_MS
    count, std = _stats_from_raw("BTCUSD", start_ms, to_ms(end))
    assert (stats.count, stats.std) == (count, pytest.approx(std, rel=1e-9))
    assert repo.snapshot_reads == [(start_ms, start_ms - start_ms % HOUR_MS + HOUR_MS)]  # the first edge only


def test_a_window_ending_before_the_newest_minute_reads_both_edges_from_minutes():
    from datetime import UTC, datetime

    from prices.domain import to_ms
    from prices.repository.memory import InMemoryTickRepository
    from prices.selectors import pair_stats
    from prices.services import history_store
    from tests.realdata import candle_ticks

    inner = InMemoryTickRepository()
    history_store(ticks=candle_ticks("BTCUSD"), repo=inner)
    repo = _SpyRepo(inner)
    end = datetime(2019, 12, 31, 13, 27, tzinfo=UTC)

    stats = pair_stats(pair="BTCUSD", window_minutes=1440, end=end, repo=repo)

    count, std = _stats_from_raw("BTCUSD", to_ms(end) - 1440 * MINUTE_MS, to_ms(end))
    assert (stats.count, stats.std) == (count, pytest.approx(std, rel=1e-9))
    assert len(repo.snapshot_reads) == 2


def test_a_24h_window_reads_a_stored_23_hour_block_and_a_later_backfill_inside_it_deletes_it():
    from datetime import UTC, datetime, timedelta

    from prices.domain import TickSource, to_ms
    from prices.repository.memory import InMemoryTickRepository
    from prices.selectors import pair_stats
    from prices.services import history_store
    from tests.realdata import candle_ticks, closes

    repo = InMemoryTickRepository()
    history_store(ticks=candle_ticks("BTCUSD"), repo=repo)
    end = datetime(2020, 1, 1, tzinfo=UTC) - timedelta(minutes=30)  # mid-hour: 23 whole hours
    first = pair_stats(pair="BTCUSD", window_minutes=1440, end=end, repo=repo)
    block_end = to_ms(end) - to_ms(end) % HOUR_MS
    from prices.selectors import pairs_stats
    from prices.services.aggregates import block_ensure

    pairs_stats(window_minutes=1440, end=end, repo=repo)
    assert first.count > 0 and repo.blocks.get("bitfinex", {}) == {}  # a read never stores one
    block_ensure(repo=repo, exchange="bitfinex", end_ms=block_end)  # what ingestion does
    assert block_end in repo.blocks["bitfinex"]
    from_block = pairs_stats(window_minutes=1440, end=end, repo=repo)["BTCUSD"]
    assert (from_block.count, from_block.first, from_block.last) == (first.count, first.first, first.last)
    assert from_block.std == pytest.approx(first.std, rel=1e-12)
    assert from_block.volatility == pytest.approx(first.volatility, rel=1e-12)

    stored = {ms for ms, _ in closes("BTCUSD")}
    missing = next(
        ms for ms in range(block_end - 20 * HOUR_MS, block_end, MINUTE_MS) if ms not in stored
    )  # a minute without trades inside the block
    gap_tick = candle_ticks("BTCUSD")[0].with_minute(datetime.fromtimestamp(missing / 1000, tz=UTC))
    history_store(ticks=[gap_tick], repo=repo)

    assert block_end not in repo.blocks["bitfinex"]
    after = pairs_stats(window_minutes=1440, end=end, repo=repo)["BTCUSD"]
    assert after.count == first.count + 1
    assert gap_tick.source == TickSource.CANDLE
