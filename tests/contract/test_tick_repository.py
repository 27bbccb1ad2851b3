"""The TickRepository contract, run against every implementation.

`repo` is parametrised over InMemoryTickRepository, DynamoTickRepository on moto's in-process
`mock_aws`, and DynamoTickRepository on two loopback servers speaking the DynamoDB protocol
(moto server and dynalite, marker `integration`). `dynamo_repo` covers the DynamoDB
implementation only: batching, retries and error translation.
"""

from __future__ import annotations

import json
import math
import random
import socket
import threading
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from prices.domain import HOUR_MS, MINUTE, MINUTE_MS, Tick, TickRow, TickSource, to_ms
from prices.ohlc import HourCandle
from prices.repository.base import LatestPrice, RepositoryError
from prices.repository.dynamodb import DynamoTickRepository
from prices.repository.dynamodb_items import shard_of
from prices.rollups import (
    BLOCK_HOURS,
    BlockRollup,
    HourRollup,
    MinuteSnapshot,
    block_from_rollups,
    rollup_from_snapshots,
)

EXCHANGE = "bitfinex"
T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
T0_MS = to_ms(T0)


def tick(pair: str = "BTCUSD", minute: datetime = T0, last_price: str = "7240.1", **fields) -> Tick:
    return Tick(
        exchange=fields.pop("exchange", EXCHANGE),
        pair=pair,
        minute=minute,
        last_price=Decimal(last_price),
        **fields,
    )


def full_tick(minute: datetime, pair: str = "BTCUSD") -> Tick:
    """A tick with every price field set, each to DynamoDB's maximum of 38 significant digits.

    The long numbers make an item big enough (~420 B) that 3,000 of them exceed one 1 MB Query page
    even by dynalite's compact size accounting (attribute names count one byte there).
    """
    n = to_ms(minute) // MINUTE_MS % 100_000

    def d(value: str) -> Decimal:
        missing = 38 - len(Decimal(value).as_tuple().digits)
        return Decimal(value + "".join(str((n + i) % 9 + 1) for i in range(missing)))

    return Tick(
        exchange=EXCHANGE,
        pair=pair,
        minute=minute,
        last_price=d(f"{7000 + n}.0486"),
        bid=d(f"{7000 + n}.01"),
        bid_size=d("12.3456"),
        ask=d(f"{7000 + n}.12"),
        ask_size=d("0.00007181"),
        daily_change=d("-12.5"),
        daily_change_relative=d("-0.0017"),
        volume_24h=d("18447.1234"),
        high_24h=d("7400.5"),
        low_24h=d("6900.25"),
        open=d(f"{6999 + n}.5"),
        high=d(f"{7001 + n}.5"),
        low=d(f"{6998 + n}.5"),
        volume=d("3.14"),
        observed_at=minute + MINUTE + timedelta(seconds=1, milliseconds=250),
    )


def snapshot(minute_ms: int, prices: dict[str, str], source: str = "ticker") -> MinuteSnapshot:
    return MinuteSnapshot(EXCHANGE, minute_ms, {pair: Decimal(p) for pair, p in prices.items()}, source)


def rollup(hour_ms: int, prices_by_pair: dict[str, list[str]]) -> HourRollup:
    """The rollup of minutes hour, hour+1 min, ... carrying the given prices per pair."""
    minutes: dict[int, dict[str, str]] = {}
    for pair, prices in prices_by_pair.items():
        for i, price in enumerate(prices):
            minutes.setdefault(hour_ms + i * MINUTE_MS, {})[pair] = price
    snapshots = [snapshot(ms, prices) for ms, prices in minutes.items()]
    return rollup_from_snapshots(exchange=EXCHANGE, hour_ms=hour_ms, snapshots=snapshots)


def pair_names(count: int) -> list[str]:
    """`count` distinct valid pair names, every seventh in BASE:QUOTE notation."""
    return [f"TOKEN{i:03d}:USD" if i % 7 == 1 else f"{i:03d}USD" for i in range(count)]


def minutes_ms(start_ms: int, count: int) -> list[int]:
    return [start_ms + i * MINUTE_MS for i in range(count)]


def count_calls(repo: DynamoTickRepository, operation: str) -> list[dict]:
    """Record the request body of every `operation` call the repository's client makes."""
    calls: list[dict] = []
    repo.client.meta.events.register(
        f"before-call.dynamodb.{operation}", lambda params, **_: calls.append(json.loads(params["body"]))
    )
    return calls


def count_items_read(repo: DynamoTickRepository) -> list[int]:
    """A one-element list holding the number of items the client's Queries return from now on."""
    read = [0]

    def after(parsed, **_):
        read[0] += len(parsed.get("Items", []))

    repo.client.meta.events.register("after-call.dynamodb.Query", after)
    return read


# --- ticks -------------------------------------------------------------------------------


def test_a_suspect_flag_round_trips_and_an_unflagged_tick_reads_unflagged(repo):
    flagged = tick(pair="BTCUSD", last_price="72400.1", suspect=True)
    plain = tick(pair="ETHUSD", last_price="130.5")

    repo.put_many([flagged, plain])

    [read] = repo.between(exchange=EXCHANGE, pair="BTCUSD", start=T0, end=T0 + MINUTE)
    assert read == flagged and read.suspect is True
    [row] = repo.rows_between(exchange=EXCHANGE, pair="BTCUSD", start=T0, end=T0 + MINUTE)
    assert (row.last_price, row.suspect) == ("72400.1", True)
    assert repo.latest(exchange=EXCHANGE, pair="ETHUSD").suspect is False
    [row] = repo.rows_between(exchange=EXCHANGE, pair="ETHUSD", start=T0, end=T0 + MINUTE)
    assert row.suspect is False


def test_ticks_round_trip_with_exact_decimals(repo):
    written = tick(
        last_price="7240.04860029",
        bid=Decimal("7.181e-05"),
        bid_size=Decimal("123456789012.12345678"),
        ask=Decimal("7240.1"),
        ask_size=Decimal("0.00000001"),
        daily_change=Decimal("-92.9"),
        daily_change_relative=Decimal("-0.0127"),
        volume_24h=Decimal("98765432109876.123456789"),
        high_24h=Decimal("7300"),
        low_24h=Decimal("1E+3"),
        observed_at=T0 + MINUTE + timedelta(seconds=2, milliseconds=345),
    )

    repo.put_many([written])
    [read] = repo.between(exchange=EXCHANGE, pair="BTCUSD", start=T0, end=T0 + MINUTE)

    assert read == written
    assert read.last_price == Decimal("7240.04860029")
    assert read.bid == Decimal("0.00007181")
    assert read.volume_24h == Decimal("98765432109876.123456789")
    assert read.low_24h == 1000
    assert read.observed_at == written.observed_at
    assert isinstance(read.bid, Decimal)


def test_candle_ticks_round_trip_with_their_source(repo):
    written = tick(
        "ETHUSD",
        last_price="3001.5",
        source=TickSource.CANDLE,
        open=Decimal("3000"),
        high=Decimal("3002.25"),
        low=Decimal("2999.75"),
        volume=Decimal("15.00000001"),
    )

    repo.put_many([written])

    assert repo.latest(exchange=EXCHANGE, pair="ETHUSD") == written
    assert repo.latest(exchange=EXCHANGE, pair="ETHUSD").source == TickSource.CANDLE


def test_put_many_returns_the_number_of_ticks_written(repo):
    ticks = [tick(minute=T0 + i * MINUTE) for i in range(3)]

    assert repo.put_many(ticks) == 3
    assert repo.put_many([]) == 0


def test_put_many_writes_a_key_repeated_in_one_call_once_last_wins(repo):
    written = repo.put_many([tick(last_price="7000"), tick(minute=T0 + MINUTE), tick(last_price="7001")])

    assert written == 2
    assert list(repo.between(exchange=EXCHANGE, pair="BTCUSD", start=T0, end=T0 + MINUTE)) == [
        tick(last_price="7001")
    ]


def test_rewriting_a_minute_leaves_one_tick_with_the_new_values(repo):
    repo.put_many([tick(last_price="7000")])

    repo.put_many([tick(last_price="7001")])
    repo.put_many([tick(last_price="7002"), tick(last_price="7003")])

    assert list(repo.between(exchange=EXCHANGE, pair="BTCUSD", start=T0, end=T0 + MINUTE)) == [
        tick(last_price="7003")
    ]


def test_between_is_half_open_and_oldest_first(repo):
    minutes = [T0 + i * MINUTE for i in range(6)]
    shuffled = random.Random(4).sample(minutes, len(minutes))
    repo.put_many([tick(minute=m, last_price=str(7000 + i)) for i, m in enumerate(shuffled)])

    found = list(repo.between(exchange=EXCHANGE, pair="BTCUSD", start=minutes[1], end=minutes[4]))

    assert [t.minute for t in found] == minutes[1:4]


def test_between_of_an_empty_or_inverted_range_is_empty(repo):
    repo.put_many([tick()])

    assert list(repo.between(exchange=EXCHANGE, pair="BTCUSD", start=T0, end=T0)) == []
    assert list(repo.between(exchange=EXCHANGE, pair="BTCUSD", start=T0 + MINUTE, end=T0)) == []


def test_between_reads_only_the_requested_series(repo):
    repo.put_many(
        [
            tick("BTCUSD", last_price="7000"),
            tick("BTCUST", last_price="7001"),
            tick("BTCUSD", last_price="7002", exchange="other"),
        ]
    )

    found = list(repo.between(exchange=EXCHANGE, pair="BTCUSD", start=T0, end=T0 + MINUTE))

    assert [t.last_price for t in found] == [Decimal("7000")]


def test_between_returns_every_tick_beyond_one_page(repo):
    ticks = [full_tick(T0 + i * MINUTE) for i in range(3_000)]
    repo.put_many(ticks)
    queries = count_calls(repo, "Query") if isinstance(repo, DynamoTickRepository) else None

    found = list(repo.between(exchange=EXCHANGE, pair="BTCUSD", start=T0, end=T0 + 3_000 * MINUTE))

    assert found == ticks
    assert [t.observed_at for t in found] == [t.observed_at for t in ticks]
    if queries is not None:  # the data really spans pages: LastEvaluatedKey was followed
        assert len(queries) >= 2
        assert "ExclusiveStartKey" in queries[-1]


def test_between_with_a_limit_returns_the_oldest_ticks_and_reads_no_more(repo):
    ticks = [full_tick(T0 + i * MINUTE) for i in range(3_000)]
    repo.put_many(ticks)
    dynamo = isinstance(repo, DynamoTickRepository)
    queries, read = (count_calls(repo, "Query"), count_items_read(repo)) if dynamo else (None, None)

    found = list(
        repo.between(exchange=EXCHANGE, pair="BTCUSD", start=T0, end=T0 + 3_000 * MINUTE, limit=2_500)
    )

    assert found == ticks[:2_500]
    if queries is not None:  # however many 1 MB pages it takes, only 2,500 items are read
        assert queries[0]["Limit"] == 2_500
        assert read == [2_500]


def test_between_with_a_limit_beyond_the_range_returns_the_range(repo):
    repo.put_many([tick(minute=T0 + i * MINUTE) for i in range(5)])

    found = list(
        repo.between(exchange=EXCHANGE, pair="BTCUSD", start=T0 + MINUTE, end=T0 + 4 * MINUTE, limit=10)
    )
    none = list(repo.between(exchange=EXCHANGE, pair="BTCUSD", start=T0, end=T0 + 5 * MINUTE, limit=0))

    assert [t.minute for t in found] == [T0 + i * MINUTE for i in (1, 2, 3)]
    assert none == []


def test_rows_between_are_the_rows_of_between_with_the_same_reads(repo):
    ticks = [full_tick(T0 + i * MINUTE) for i in range(1_500)]
    ticks += [
        tick(minute=T0 + 1_500 * MINUTE, last_price="0.00007181", source=TickSource.CANDLE),
        tick(minute=T0 + 1_501 * MINUTE, last_price="1E+3", volume=Decimal("0.0"), bid=Decimal("-0.50")),
        tick(minute=T0 + 1_502 * MINUTE, last_price="7240.100", volume_24h=Decimal("12E-10")),
    ]
    repo.put_many(ticks)
    end = T0 + 2_000 * MINUTE

    rows = list(repo.rows_between(exchange=EXCHANGE, pair="BTCUSD", start=T0 + MINUTE, end=end, limit=1_600))

    expected = list(repo.between(exchange=EXCHANGE, pair="BTCUSD", start=T0 + MINUTE, end=end, limit=1_600))
    assert rows == [TickRow.of(t) for t in expected]
    assert [r.last_price for r in rows[-3:]] == ["0.00007181", "1000", "7240.1"]
    assert (rows[-2].volume, rows[-2].bid, rows[-1].volume_24h, rows[-3].source) == (
        "0",
        "-0.5",
        "0.0000000012",
        "candle",
    )


def test_put_many_stores_more_than_25_ticks_at_once(repo):
    ticks = [tick(pair, T0 + i * MINUTE) for pair in ("BTCUSD", "ETHUSD", "AAVE:USD") for i in range(30)]

    repo.put_many(ticks)

    for pair in ("BTCUSD", "ETHUSD", "AAVE:USD"):
        assert len(list(repo.between(exchange=EXCHANGE, pair=pair, start=T0, end=T0 + 30 * MINUTE))) == 30


def test_latest_is_the_newest_tick_of_the_pair(repo):
    repo.put_many(
        [
            tick("BTCUSD", T0 + 2 * MINUTE, "7002"),
            tick("BTCUSD", T0 + 5 * MINUTE, "7005"),
            tick("BTCUSD", T0, "7000"),
            tick("ETHUSD", T0 + 9 * MINUTE, "3009"),
        ]
    )

    assert repo.latest(exchange=EXCHANGE, pair="BTCUSD") == tick("BTCUSD", T0 + 5 * MINUTE, "7005")
    assert repo.latest(exchange=EXCHANGE, pair="XRPUSD") is None
    assert repo.latest(exchange="other", pair="BTCUSD") is None


def test_ticks_at_reads_each_pairs_tick_at_its_minute_beyond_one_batch(repo):
    names = pair_names(130)
    repo.put_many([tick(name, T0 + (i % 3) * MINUTE, f"{100 + i}") for i, name in enumerate(names)])
    wanted = {name: to_ms(T0 + (i % 3) * MINUTE) for i, name in enumerate(names)}

    found = repo.ticks_at(
        exchange=EXCHANGE, minutes={**wanted, "NOPEUSD": to_ms(T0), names[0]: to_ms(T0) + 1}
    )

    assert set(found) == set(names[1:])
    assert found[names[5]] == tick(names[5], T0 + 2 * MINUTE, "105")
    assert repo.ticks_at(exchange="other", minutes=wanted) == {}


# --- minute snapshots ------------------------------------------------------------------------


def test_claim_snapshot_first_writer_wins(repo):
    first = snapshot(T0_MS, {"BTCUSD": "7000", "ETHUSD": "3000"})
    second = snapshot(T0_MS, {"BTCUSD": "7100", "XRPUSD": "0.5"})

    assert repo.claim_snapshot(first) is True
    assert repo.claim_snapshot(second) is False
    assert repo.get_snapshot(exchange=EXCHANGE, minute_ms=T0_MS) == first


def test_get_snapshot_of_a_missing_minute_is_none(repo):
    repo.claim_snapshot(snapshot(T0_MS, {"BTCUSD": "7000"}))

    assert repo.get_snapshot(exchange=EXCHANGE, minute_ms=T0_MS + MINUTE_MS) is None
    assert repo.get_snapshot(exchange="other", minute_ms=T0_MS) is None


def test_snapshot_keeps_the_source_of_its_first_writer(repo):
    repo.claim_snapshot(snapshot(T0_MS, {"BTCUSD": "7000"}, source="candle"))
    repo.merge_snapshot(snapshot(T0_MS, {"ETHUSD": "3000"}, source="ticker"))
    repo.merge_snapshot(snapshot(T0_MS + MINUTE_MS, {"ETHUSD": "3001"}, source="snapshot"))

    assert repo.get_snapshot(exchange=EXCHANGE, minute_ms=T0_MS).source == "candle"
    assert repo.get_snapshot(exchange=EXCHANGE, minute_ms=T0_MS + MINUTE_MS).source == "snapshot"


def test_merge_snapshot_keeps_stored_prices_and_adds_new_pairs(repo):
    repo.claim_snapshot(snapshot(T0_MS, {"BTCUSD": "7000"}))

    repo.merge_snapshot(snapshot(T0_MS, {"BTCUSD": "7999", "ETHUSD": "3000.5"}))

    assert repo.get_snapshot(exchange=EXCHANGE, minute_ms=T0_MS) == snapshot(
        T0_MS, {"BTCUSD": "7000", "ETHUSD": "3000.5"}
    )


def test_merge_snapshot_creates_a_missing_minute(repo):
    repo.merge_snapshot(snapshot(T0_MS, {"BTCUSD": "7000"}))

    assert repo.get_snapshot(exchange=EXCHANGE, minute_ms=T0_MS) == snapshot(T0_MS, {"BTCUSD": "7000"})
    assert repo.claim_snapshot(snapshot(T0_MS, {"BTCUSD": "1"})) is False


def test_merge_snapshot_of_more_than_50_pairs(repo):
    pairs = pair_names(130)
    repo.claim_snapshot(snapshot(T0_MS, {p: "1.5" for p in pairs[:40]}))

    repo.merge_snapshot(snapshot(T0_MS, {p: f"{i + 2}.25" for i, p in enumerate(pairs)}))

    stored = repo.get_snapshot(exchange=EXCHANGE, minute_ms=T0_MS).prices
    assert stored == {p: Decimal("1.5") if i < 40 else Decimal(f"{i + 2}.25") for i, p in enumerate(pairs)}


def test_snapshots_between_crosses_a_utc_day_boundary(repo):
    midnight_ms = to_ms(datetime(2024, 5, 2, tzinfo=UTC))
    for i, ms in enumerate(minutes_ms(midnight_ms - 3 * MINUTE_MS, 6)):
        repo.claim_snapshot(snapshot(ms, {"BTCUSD": f"{7000 + i}"}))
    repo.claim_snapshot(MinuteSnapshot("other", midnight_ms, {"BTCUSD": Decimal("1")}))

    found = repo.snapshots_between(
        exchange=EXCHANGE, start_ms=midnight_ms - 2 * MINUTE_MS, end_ms=midnight_ms + 2 * MINUTE_MS
    )

    assert [s.minute_ms for s in found] == minutes_ms(midnight_ms - 2 * MINUTE_MS, 4)
    assert [s.prices["BTCUSD"] for s in found] == [Decimal(p) for p in ("7001", "7002", "7003", "7004")]


def test_snapshots_between_of_an_empty_or_inverted_range_is_empty(repo):
    repo.claim_snapshot(snapshot(T0_MS, {"BTCUSD": "7000"}))

    assert repo.snapshots_between(exchange=EXCHANGE, start_ms=T0_MS, end_ms=T0_MS) == []
    assert repo.snapshots_between(exchange=EXCHANGE, start_ms=T0_MS + 1, end_ms=T0_MS) == []


def test_snapshots_between_projects_the_requested_pairs(repo):
    repo.claim_snapshot(snapshot(T0_MS, {"BTCUSD": "7000", "ETHUSD": "3000", "AAVE:USD": "90.5"}))
    repo.claim_snapshot(snapshot(T0_MS + MINUTE_MS, {"ETHUSD": "3001"}))

    found = repo.snapshots_between(
        exchange=EXCHANGE,
        start_ms=T0_MS,
        end_ms=T0_MS + 2 * MINUTE_MS,
        pairs=["AAVE:USD", "BTCUSD", "XRPUSD"],
    )

    assert found == [
        snapshot(T0_MS, {"BTCUSD": "7000", "AAVE:USD": "90.5"}),
        snapshot(T0_MS + MINUTE_MS, {}),
    ]


def test_snapshots_between_projects_more_than_80_pairs_across_days(repo):
    pairs = pair_names(200)
    midnight_ms = to_ms(datetime(2024, 5, 2, tzinfo=UTC))
    minutes = minutes_ms(midnight_ms - 2 * MINUTE_MS, 4)
    for m, ms in enumerate(minutes):
        repo.claim_snapshot(snapshot(ms, {p: f"{m + 1}.{i:03d}" for i, p in enumerate(pairs)}))
    wanted = pairs[5:175]

    found = repo.snapshots_between(
        exchange=EXCHANGE, start_ms=minutes[0], end_ms=minutes[-1] + 1, pairs=wanted
    )

    assert [s.minute_ms for s in found] == minutes
    for m, found_snapshot in enumerate(found):
        assert found_snapshot.prices == {
            p: Decimal(f"{m + 1}.{i:03d}") for i, p in enumerate(pairs) if p in wanted
        }


# --- hour rollups ----------------------------------------------------------------------------


def test_put_rollup_replaces_each_shard_only_with_at_least_as_many_values(repo):
    """Rollups are sharded by pair; each shard is replaced only by one summarising as many values."""
    assert shard_of("BTCUSD", repo.shards) != shard_of("ETHUSD", repo.shards)
    three = rollup(T0_MS, {"BTCUSD": ["7000", "7001", "7002"]})
    two = rollup(T0_MS, {"BTCUSD": ["1", "2"]})
    other = rollup(T0_MS, {"BTCUSD": ["7000", "7001"], "ETHUSD": ["3000"]})
    four = rollup(T0_MS, {"BTCUSD": ["7000", "7001", "7002", "7003"]})
    hour = {"exchange": EXCHANGE, "start_ms": T0_MS, "end_ms": T0_MS + HOUR_MS}

    assert repo.put_rollup(three) is True
    assert repo.put_rollup(two) is False
    assert repo.rollups_between(**hour) == [three]
    assert repo.put_rollup(other) is True  # ETHUSD's shard is new; BTCUSD's keeps its 3 values
    (stored,) = repo.rollups_between(**hour)
    assert stored.segments == {"BTCUSD": three.segments["BTCUSD"], "ETHUSD": other.segments["ETHUSD"]}
    assert repo.put_rollup(four) is True
    (stored,) = repo.rollups_between(**hour)
    assert stored.segments == {"BTCUSD": four.segments["BTCUSD"], "ETHUSD": other.segments["ETHUSD"]}


def test_rollups_round_trip_their_segments_exactly(repo):
    written = rollup(
        T0_MS, {"BTCUSD": ["7240.04860029", "7241.5", "7239.00000001"], "ETHUSD": ["0.00007181"]}
    )

    repo.put_rollup(written)
    [read] = repo.rollups_between(exchange=EXCHANGE, start_ms=T0_MS, end_ms=T0_MS + HOUR_MS)

    assert read == written
    assert read.segments["BTCUSD"].prices.mean == written.segments["BTCUSD"].prices.mean
    assert read.segments["BTCUSD"].returns == written.segments["BTCUSD"].returns
    assert read.values == 4


def test_rollups_between_of_an_empty_or_inverted_range_is_empty(repo):
    repo.put_rollup(rollup(T0_MS, {"BTCUSD": ["7000"]}))

    assert repo.rollups_between(exchange=EXCHANGE, start_ms=T0_MS, end_ms=T0_MS) == []
    assert repo.rollups_between(exchange=EXCHANGE, start_ms=T0_MS + 1, end_ms=T0_MS) == []


def test_rollups_between_crosses_a_month_boundary(repo):
    first_of_month_ms = to_ms(datetime(2024, 3, 1, tzinfo=UTC))
    hours = [first_of_month_ms + h * HOUR_MS for h in range(-2, 2)]
    for i, hour_ms in enumerate(hours):
        repo.put_rollup(rollup(hour_ms, {"BTCUSD": [f"{7000 + i}"]}))
    repo.put_rollup(HourRollup("other", first_of_month_ms, rollup(hours[2], {"BTCUSD": ["1"]}).segments))

    found = repo.rollups_between(exchange=EXCHANGE, start_ms=hours[1], end_ms=hours[3])

    assert [r.hour_ms for r in found] == hours[1:3]
    assert [r.segments["BTCUSD"].last for r in found] == [Decimal("7001"), Decimal("7002")]


def test_rollups_between_projects_the_requested_pairs(repo):
    pairs = pair_names(100)
    repo.put_rollup(rollup(T0_MS, {p: [f"{i + 1}.5", f"{i + 1}.75"] for i, p in enumerate(pairs)}))
    repo.put_rollup(rollup(T0_MS + HOUR_MS, {"BTCUSD": ["7000"]}))
    wanted = pairs[:90]

    found = repo.rollups_between(exchange=EXCHANGE, start_ms=T0_MS, end_ms=T0_MS + 2 * HOUR_MS, pairs=wanted)

    assert [r.hour_ms for r in found] == [T0_MS, T0_MS + HOUR_MS]
    assert sorted(found[0].segments) == sorted(wanted)
    assert found[0].segments[pairs[3]].maximum == Decimal("4.75")
    assert found[1].segments == {}


# --- latest-price registry ------------------------------------------------------------------


def test_update_latest_keeps_newer_entries(repo):
    repo.update_latest(
        exchange=EXCHANGE,
        prices={
            "BTCUSD": LatestPrice(T0_MS + 5 * MINUTE_MS, Decimal("7005")),
            "ETHUSD": LatestPrice(T0_MS, Decimal("3000")),
        },
    )

    repo.update_latest(
        exchange=EXCHANGE,
        prices={
            "BTCUSD": LatestPrice(T0_MS + 4 * MINUTE_MS, Decimal("7004")),
            "ETHUSD": LatestPrice(T0_MS + MINUTE_MS, Decimal("3001.25")),
            "XRPUSD": LatestPrice(T0_MS, Decimal("0.00007181")),
        },
    )

    assert repo.latest_prices(exchange=EXCHANGE) == {
        "BTCUSD": LatestPrice(T0_MS + 5 * MINUTE_MS, Decimal("7005")),
        "ETHUSD": LatestPrice(T0_MS + MINUTE_MS, Decimal("3001.25")),
        "XRPUSD": LatestPrice(T0_MS, Decimal("0.00007181")),
    }


def test_update_latest_of_the_same_minute_replaces_the_price(repo):
    repo.update_latest(exchange=EXCHANGE, prices={"BTCUSD": LatestPrice(T0_MS, Decimal("7000"))})

    repo.update_latest(exchange=EXCHANGE, prices={"BTCUSD": LatestPrice(T0_MS, Decimal("7000.5"))})

    assert repo.latest_prices(exchange=EXCHANGE) == {"BTCUSD": LatestPrice(T0_MS, Decimal("7000.5"))}


def test_latest_prices_are_per_exchange_and_empty_when_unknown(repo):
    repo.update_latest(exchange=EXCHANGE, prices={"BTCUSD": LatestPrice(T0_MS, Decimal("7000"))})
    repo.update_latest(exchange=EXCHANGE, prices={})

    assert repo.latest_prices(exchange="other") == {}
    assert list(repo.latest_prices(exchange=EXCHANGE)) == ["BTCUSD"]


# --- pair names with a colon ---------------------------------------------------------------


@pytest.mark.parametrize("pair", ["AAVE:USD", "TESTBTC:TESTUSD"])
def test_colon_pairs_are_stored_everywhere(repo, pair):
    repo.put_many([tick(pair, last_price="90.5")])
    repo.claim_snapshot(snapshot(T0_MS, {pair: "90.5", "BTCUSD": "7000"}))
    repo.merge_snapshot(snapshot(T0_MS + MINUTE_MS, {pair: "91"}))
    repo.put_rollup(rollup(T0_MS, {pair: ["90.5", "91"]}))
    repo.update_latest(exchange=EXCHANGE, prices={pair: LatestPrice(T0_MS + MINUTE_MS, Decimal("91"))})

    assert repo.latest(exchange=EXCHANGE, pair=pair) == tick(pair, last_price="90.5")
    assert repo.snapshots_between(
        exchange=EXCHANGE, start_ms=T0_MS, end_ms=T0_MS + HOUR_MS, pairs=[pair]
    ) == [
        snapshot(T0_MS, {pair: "90.5"}),
        snapshot(T0_MS + MINUTE_MS, {pair: "91"}),
    ]
    [hour] = repo.rollups_between(exchange=EXCHANGE, start_ms=T0_MS, end_ms=T0_MS + HOUR_MS, pairs=[pair])
    assert hour.segments[pair].last == Decimal("91")
    assert repo.latest_prices(exchange=EXCHANGE) == {pair: LatestPrice(T0_MS + MINUTE_MS, Decimal("91"))}


# --- tables -----------------------------------------------------------------------------------


def test_ensure_tables_twice_changes_nothing(repo):
    repo.put_many([tick()])

    assert repo.ensure_tables() == []
    assert repo.ensure_tables() == []
    assert repo.latest(exchange=EXCHANGE, pair="BTCUSD") == tick()


# --- DynamoDB only: tables, batching, retries, errors --------------------------------------


def test_ensure_tables_creates_both_tables_once(dynamo_repo):
    fresh = DynamoTickRepository(
        table_prefix=dynamo_repo.ticks_table.removesuffix("ticks") + "fresh_",
        region="us-east-1",
        endpoint_url=dynamo_repo.client.meta.endpoint_url,
    )
    try:
        assert sorted(fresh.ensure_tables()) == sorted([fresh.ticks_table, fresh.aggregates_table])
        assert fresh.ensure_tables() == []
    finally:
        fresh.delete_tables()


@pytest.mark.parametrize("count", [1, 25, 26, 101])
def test_put_many_sends_one_batch_write_per_25_ticks(dynamo_repo, count):
    calls = count_calls(dynamo_repo, "BatchWriteItem")
    ticks = [tick(minute=T0 + i * MINUTE) for i in range(count)]

    dynamo_repo.put_many(ticks + ticks[:3])  # repeated keys are written once

    assert len(calls) == math.ceil(count / 25)
    assert all(len(c["RequestItems"][dynamo_repo.ticks_table]) <= 25 for c in calls)


def test_tick_items_of_the_earlier_layout_read_as_they_are(dynamo_repo):
    """Items written before `fields`: one Number attribute per value, `source` and `observed_at` apart."""
    observed = T0 + MINUTE + timedelta(seconds=2)
    expected = tick(
        last_price="7240.04860029",
        bid=Decimal("0.00007181"),
        volume_24h=Decimal("1000"),
        observed_at=observed,
    )
    item = {
        "series": {"S": f"{EXCHANGE}#BTCUSD"},
        "minute": {"N": str(T0_MS)},
        "source": {"S": "ticker"},
        "observed_at": {"N": str(to_ms(observed))},
        "last_price": {"N": "7240.04860029"},
        "bid": {"N": "7.181E-5"},
        "volume_24h": {"N": "1E+3"},
    }
    dynamo_repo.client.put_item(TableName=dynamo_repo.ticks_table, Item=item)
    dynamo_repo.put_many([tick(minute=T0 + MINUTE, last_price="7241")])  # a newer one, packed

    read = list(dynamo_repo.between(exchange=EXCHANGE, pair="BTCUSD", start=T0, end=T0 + 2 * MINUTE))
    rows = list(dynamo_repo.rows_between(exchange=EXCHANGE, pair="BTCUSD", start=T0, end=T0 + 2 * MINUTE))

    assert read[0] == expected and read[0].observed_at == observed
    assert [r.last_price for r in read] == [Decimal("7240.04860029"), Decimal("7241")]
    assert rows == [TickRow.of(t) for t in read]
    assert dynamo_repo.ticks_at(exchange=EXCHANGE, minutes={"BTCUSD": T0_MS})["BTCUSD"] == expected


def test_every_read_is_strongly_consistent(dynamo_repo):
    dynamo_repo.put_many([tick()])
    queries, gets = count_calls(dynamo_repo, "Query"), count_calls(dynamo_repo, "BatchGetItem")
    window = {"exchange": EXCHANGE, "start_ms": T0_MS, "end_ms": T0_MS + HOUR_MS}

    list(dynamo_repo.between(exchange=EXCHANGE, pair="BTCUSD", start=T0, end=T0 + MINUTE))
    dynamo_repo.latest(exchange=EXCHANGE, pair="BTCUSD")
    dynamo_repo.get_snapshot(exchange=EXCHANGE, minute_ms=T0_MS)
    dynamo_repo.snapshots_between(**window, pairs=["BTCUSD"])
    dynamo_repo.rollups_between(**window)
    dynamo_repo.latest_prices(exchange=EXCHANGE)

    # ticks: 2 Queries; snapshots of BTCUSD: its shard and the head shard; rollups: every shard
    assert (len(queries), len(gets)) == (2 + 2 + dynamo_repo.shards, 2)
    assert all(body.get("ConsistentRead") is True for body in queries)
    assert all(
        request["ConsistentRead"] is True for body in gets for request in body["RequestItems"].values()
    )


def test_unprocessed_items_are_retried(dynamo_repo, monkeypatch):
    real = dynamo_repo.client.batch_write_item
    calls = []

    def first_call_unprocessed(**kwargs):
        calls.append(kwargs)
        if len(calls) == 1:
            return {"UnprocessedItems": kwargs["RequestItems"]}
        return real(**kwargs)

    monkeypatch.setattr(dynamo_repo.client, "batch_write_item", first_call_unprocessed)
    ticks = [tick(minute=T0 + i * MINUTE) for i in range(10)]

    assert dynamo_repo.put_many(ticks) == 10

    assert len(calls) == 2
    assert (
        list(dynamo_repo.between(exchange=EXCHANGE, pair="BTCUSD", start=T0, end=T0 + 60 * MINUTE)) == ticks
    )


def test_a_batch_write_sends_the_body_botocore_would_serialise(dynamo_repo):
    bodies: list[bytes] = []
    dynamo_repo.client.meta.events.register(
        "before-send.dynamodb.BatchWriteItem", lambda request, **_: bodies.append(request.body)
    )
    ticks = [tick(minute=T0 + i * MINUTE) for i in range(30)]

    assert dynamo_repo.put_many(ticks) == 30

    sent = sorted((json.loads(body) for body in bodies), key=len)
    requests = [r for body in sent for r in body["RequestItems"][dynamo_repo.ticks_table]]
    expected = dynamo_repo.client._serializer.serialize_to_request(
        {"RequestItems": {dynamo_repo.ticks_table: requests}},
        dynamo_repo.client.meta.service_model.operation_model("BatchWriteItem"),
    )
    assert len(bodies) == 2 and len(requests) == 30
    assert json.loads(expected["body"]) == {"RequestItems": {dynamo_repo.ticks_table: requests}}
    assert (
        list(dynamo_repo.between(exchange=EXCHANGE, pair="BTCUSD", start=T0, end=T0 + 30 * MINUTE)) == ticks
    )


def test_parallel_tick_batches_each_retry_their_unprocessed_items(dynamo_repo, monkeypatch):
    """100 ticks are 4 BatchWriteItem calls sent in parallel; each first answers "unprocessed"."""
    real = dynamo_repo.client.batch_write_item
    seen: list[str] = []
    lock = threading.Lock()

    def first_try_of_each_chunk_unprocessed(**kwargs):
        (requests,) = kwargs["RequestItems"].values()
        first = requests[0]["PutRequest"]["Item"]["minute"]["N"]
        with lock:
            retry = first in seen
            seen.append(first)
        return real(**kwargs) if retry else {"UnprocessedItems": kwargs["RequestItems"]}

    monkeypatch.setattr(dynamo_repo.client, "batch_write_item", first_try_of_each_chunk_unprocessed)
    ticks = [tick(minute=T0 + i * MINUTE) for i in range(100)]

    assert dynamo_repo.put_many(ticks) == 100

    assert len(seen) == 8 and len(set(seen)) == 4
    stored = list(dynamo_repo.between(exchange=EXCHANGE, pair="BTCUSD", start=T0, end=T0 + 100 * MINUTE))
    assert stored == ticks


def test_unprocessed_items_left_after_the_retries_raise_repository_error(dynamo_repo, monkeypatch):
    monkeypatch.setattr("prices.repository.dynamodb.UNPROCESSED_RETRIES", 2)
    monkeypatch.setattr(
        dynamo_repo.client, "batch_write_item", lambda **kwargs: {"UnprocessedItems": kwargs["RequestItems"]}
    )

    with pytest.raises(RepositoryError, match="left 3 writes unprocessed"):
        dynamo_repo.put_many([tick(minute=T0 + i * MINUTE) for i in range(3)])


def test_a_missing_table_raises_repository_error(dynamo_repo):
    missing = DynamoTickRepository(
        table_prefix="test_never_created_",
        region="us-east-1",
        endpoint_url=dynamo_repo.client.meta.endpoint_url,
        max_attempts=1,
    )

    with pytest.raises(RepositoryError, match="ResourceNotFoundException") as raised:
        missing.latest(exchange=EXCHANGE, pair="BTCUSD")

    assert "\n" not in str(raised.value)


def closed_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.parametrize(
    "call",
    [
        lambda r: r.ensure_tables(),
        lambda r: r.put_many([tick()]),
        lambda r: list(r.between(exchange=EXCHANGE, pair="BTCUSD", start=T0, end=T0 + MINUTE)),
        lambda r: r.latest(exchange=EXCHANGE, pair="BTCUSD"),
        lambda r: r.claim_snapshot(snapshot(T0_MS, {"BTCUSD": "1"})),
        lambda r: r.snapshots_between(exchange=EXCHANGE, start_ms=T0_MS, end_ms=T0_MS + HOUR_MS),
        lambda r: r.update_latest(exchange=EXCHANGE, prices={"BTCUSD": LatestPrice(T0_MS, Decimal("1"))}),
        lambda r: r.latest_prices(exchange=EXCHANGE),
        lambda r: r.first(exchange=EXCHANGE, pair="BTCUSD"),
        lambda r: r.complete_snapshot(exchange=EXCHANGE, minute_ms=T0_MS),
        lambda r: r.add_known_gaps(exchange=EXCHANGE, minutes={"BTCUSD": [T0_MS]}),
        lambda r: r.known_gaps_between(exchange=EXCHANGE, start_ms=T0_MS, end_ms=T0_MS + HOUR_MS),
        lambda r: r.native_expiry(),
        lambda r: r.expire_ticks(exchange=EXCHANGE, pair="BTCUSD", before_ms=T0_MS, limit=10),
    ],
    ids=[
        "ensure_tables",
        "put_many",
        "between",
        "latest",
        "claim_snapshot",
        "snapshots_between",
        "update_latest",
        "latest_prices",
        "first",
        "complete_snapshot",
        "add_known_gaps",
        "known_gaps_between",
        "native_expiry",
        "expire_ticks",
    ],
)
def test_an_unreachable_endpoint_raises_repository_error_with_one_line(call):
    port = closed_port()
    repo = DynamoTickRepository(
        table_prefix="test_",
        region="us-east-1",
        endpoint_url=f"http://127.0.0.1:{port}",
        connect_timeout_s=0.5,
        read_timeout_s=0.5,
        max_attempts=1,
    )

    with pytest.raises(RepositoryError) as raised:
        call(repo)

    message = str(raised.value)
    assert "\n" not in message
    assert "Could not connect" in message
    assert f"127.0.0.1:{port}" in message


@pytest.mark.parametrize(
    ("region", "endpoint_url"),
    [("not a region", None), ("us-east-1", "localhost:4567")],
)
def test_a_malformed_region_or_endpoint_raises_repository_error(region, endpoint_url):
    with pytest.raises(RepositoryError, match="DynamoDB client setup failed") as raised:
        DynamoTickRepository(table_prefix="test_", region=region, endpoint_url=endpoint_url)

    assert "\n" not in str(raised.value)


# --- 23-hour blocks ----------------------------------------------------------------------


def block(end_ms: int, prices_by_pair: dict[str, list[str]]) -> BlockRollup:
    hours = [rollup(end_ms - (BLOCK_HOURS - h) * HOUR_MS, prices_by_pair) for h in range(BLOCK_HOURS)]
    return block_from_rollups(exchange=EXCHANGE, end_ms=end_ms, rollups=hours)


def test_blocks_round_trip_their_segments(repo):
    written = block(T0_MS + 30 * HOUR_MS, {"BTCUSD": ["7240.04860029", "7241.5"], "AAVE:USD": ["0.00007181"]})

    repo.put_block(written)

    assert repo.get_block(exchange=EXCHANGE, end_ms=written.end_ms) == written
    assert written.segments["BTCUSD"].count == 2 * BLOCK_HOURS


def test_a_block_rewritten_between_two_reads_is_read_as_rewritten(repo):
    end_ms = T0_MS + 30 * HOUR_MS
    first = block(end_ms, {"BTCUSD": ["7240.1", "7241.5"], "ETHUSD": ["130.5"]})
    second = block(end_ms, {"BTCUSD": ["7240.1", "7299"], "ETHUSD": ["130.5"]})
    repo.put_block(first)
    assert repo.get_block(exchange=EXCHANGE, end_ms=end_ms) == first

    repo.put_block(second)

    assert repo.get_block(exchange=EXCHANGE, end_ms=end_ms) == second
    assert repo.get_block(exchange=EXCHANGE, end_ms=end_ms, pairs=["BTCUSD"]).segments == {
        "BTCUSD": second.segments["BTCUSD"]
    }


def test_a_missing_block_is_none(repo):
    assert repo.get_block(exchange=EXCHANGE, end_ms=T0_MS) is None


def test_get_block_restricted_to_pairs(repo):
    repo.put_block(block(T0_MS, {"BTCUSD": ["1"], "ETHUSD": ["2"], "TESTBTC:TESTUSD": ["3"]}))

    read = repo.get_block(exchange=EXCHANGE, end_ms=T0_MS, pairs=["ETHUSD", "TESTBTC:TESTUSD"])

    assert sorted(read.segments) == ["ETHUSD", "TESTBTC:TESTUSD"]


def test_delete_blocks_removes_only_the_named_ones(repo):
    ends = [T0_MS + h * HOUR_MS for h in range(30)]
    for end_ms in ends:
        repo.put_block(BlockRollup(EXCHANGE, end_ms, block(end_ms, {"BTCUSD": ["1"]}).segments))

    repo.delete_blocks(exchange=EXCHANGE, ends_ms=[*ends[:27], T0_MS - HOUR_MS])

    assert [e for e in ends if repo.get_block(exchange=EXCHANGE, end_ms=e)] == ends[27:]


# --- gap repair: first tick, pending snapshots, known gaps ------------------------------------


def test_first_is_the_oldest_tick_of_the_pair(repo):
    repo.put_many(
        [
            tick("BTCUSD", T0 + 5 * MINUTE, "7005"),
            tick("BTCUSD", T0 + 2 * MINUTE, "7002"),
            tick("ETHUSD", T0, "3000"),
        ]
    )

    assert repo.first(exchange=EXCHANGE, pair="BTCUSD") == tick("BTCUSD", T0 + 2 * MINUTE, "7002")
    assert repo.first(exchange=EXCHANGE, pair="XRPUSD") is None


def test_a_snapshot_claimed_pending_stays_pending_until_completed(repo):
    claimed = MinuteSnapshot(
        EXCHANGE, T0_MS, {"BTCUSD": Decimal("7000"), "AAVE:USD": Decimal("90.5")}, pending=True
    )
    repo.claim_snapshot(claimed)
    window = {"exchange": EXCHANGE, "start_ms": T0_MS, "end_ms": T0_MS + MINUTE_MS}

    pending = [
        repo.get_snapshot(exchange=EXCHANGE, minute_ms=T0_MS),
        *repo.snapshots_between(**window),
        *repo.snapshots_between(**window, pairs=["BTCUSD"]),
    ]
    repo.complete_snapshot(exchange=EXCHANGE, minute_ms=T0_MS)
    repo.complete_snapshot(exchange=EXCHANGE, minute_ms=T0_MS)  # twice is harmless

    assert [s.pending for s in pending] == [True, True, True]
    assert pending[0] == claimed
    assert repo.get_snapshot(exchange=EXCHANGE, minute_ms=T0_MS) == MinuteSnapshot(
        EXCHANGE, T0_MS, claimed.prices, pending=False
    )
    assert [s.pending for s in repo.snapshots_between(**window, pairs=["BTCUSD"])] == [False]


def test_completing_a_missing_snapshot_creates_nothing(repo):
    repo.complete_snapshot(exchange=EXCHANGE, minute_ms=T0_MS)

    assert repo.get_snapshot(exchange=EXCHANGE, minute_ms=T0_MS) is None
    assert repo.claim_snapshot(snapshot(T0_MS, {"BTCUSD": "1"})) is True


def test_known_gaps_accumulate_per_pair_across_hours_and_months(repo):
    month_end = to_ms(datetime(2024, 5, 31, 23, 59, tzinfo=UTC))
    repo.add_known_gaps(
        exchange=EXCHANGE, minutes={"BTCUSD": [T0_MS, T0_MS + HOUR_MS], "AAVE:USD": [month_end]}
    )
    repo.add_known_gaps(exchange=EXCHANGE, minutes={"BTCUSD": [T0_MS, T0_MS + MINUTE_MS]})  # T0 again
    repo.add_known_gaps(exchange=EXCHANGE, minutes={"BTCUSD": [month_end + MINUTE_MS]})

    everything = repo.known_gaps_between(exchange=EXCHANGE, start_ms=T0_MS, end_ms=month_end + HOUR_MS)
    first_hour = repo.known_gaps_between(
        exchange=EXCHANGE, start_ms=T0_MS + MINUTE_MS, end_ms=T0_MS + HOUR_MS
    )
    one_pair = repo.known_gaps_between(
        exchange=EXCHANGE, start_ms=T0_MS, end_ms=month_end + HOUR_MS, pairs=["AAVE:USD"]
    )

    assert everything == {
        "BTCUSD": {T0_MS, T0_MS + MINUTE_MS, T0_MS + HOUR_MS, month_end + MINUTE_MS},
        "AAVE:USD": {month_end},
    }
    assert first_hour == {"BTCUSD": {T0_MS + MINUTE_MS}}
    assert one_pair == {"AAVE:USD": {month_end}}
    assert repo.known_gaps_between(exchange="other", start_ms=T0_MS, end_ms=month_end) == {}
    assert repo.known_gaps_between(exchange=EXCHANGE, start_ms=T0_MS, end_ms=T0_MS) == {}


def test_known_gaps_of_more_than_50_pairs_in_one_hour(repo):
    pairs = pair_names(120)

    repo.add_known_gaps(
        exchange=EXCHANGE, minutes={p: [T0_MS + (i % 60) * MINUTE_MS] for i, p in enumerate(pairs)}
    )

    gaps = repo.known_gaps_between(exchange=EXCHANGE, start_ms=T0_MS, end_ms=T0_MS + HOUR_MS)
    assert gaps == {p: {T0_MS + (i % 60) * MINUTE_MS} for i, p in enumerate(pairs)}


def test_known_gaps_are_not_snapshot_prices_or_rollups(repo):
    hour = {"exchange": EXCHANGE, "start_ms": T0_MS, "end_ms": T0_MS + HOUR_MS}
    repo.claim_snapshot(snapshot(T0_MS, {"BTCUSD": "7000"}))
    repo.put_rollup(rollup(T0_MS, {"BTCUSD": ["7000"]}))

    repo.add_known_gaps(exchange=EXCHANGE, minutes={"ETHUSD": [T0_MS]})

    assert [s.prices for s in repo.snapshots_between(**hour)] == [{"BTCUSD": Decimal("7000")}]
    assert [sorted(r.segments) for r in repo.rollups_between(**hour)] == [["BTCUSD"]]


# --- retention ---------------------------------------------------------------------------------


def test_expire_ticks_deletes_the_oldest_ticks_before_the_cutoff_within_the_limit(repo):
    repo.put_many([tick("BTCUSD", T0 + i * MINUTE, f"{7000 + i}") for i in range(40)])
    repo.put_many([tick("ETHUSD", T0, "3000")])

    first = repo.expire_ticks(exchange=EXCHANGE, pair="BTCUSD", before_ms=T0_MS + 30 * MINUTE_MS, limit=26)
    second = repo.expire_ticks(exchange=EXCHANGE, pair="BTCUSD", before_ms=T0_MS + 30 * MINUTE_MS, limit=26)
    third = repo.expire_ticks(exchange=EXCHANGE, pair="BTCUSD", before_ms=T0_MS + 30 * MINUTE_MS, limit=26)

    assert (first, second, third) == (26, 4, 0)
    kept = list(
        repo.between(
            exchange=EXCHANGE, pair="BTCUSD", start=T0 - timedelta(hours=1), end=T0 + timedelta(hours=1)
        )
    )
    assert [t.minute for t in kept] == [T0 + i * MINUTE for i in range(30, 40)]
    assert repo.latest(exchange=EXCHANGE, pair="ETHUSD") == tick("ETHUSD", T0, "3000")


def _backend(request: pytest.FixtureRequest) -> str:
    return request.node.callspec.params["dynamo_repo"]


def test_ensure_tables_with_retention_enables_ttl_where_the_endpoint_has_it(dynamo_repo, request, caplog):
    with_retention = DynamoTickRepository(
        table_prefix=dynamo_repo.ticks_table.removesuffix("ticks"),
        region="us-east-1",
        endpoint_url=dynamo_repo.client.meta.endpoint_url,
        retention_days=30,
    )
    caplog.set_level("INFO", logger="prices.repository")

    with_retention.ensure_tables()
    answers = [with_retention.native_expiry(), with_retention.native_expiry()]
    again = DynamoTickRepository(
        table_prefix=dynamo_repo.ticks_table.removesuffix("ticks"),
        region="us-east-1",
        endpoint_url=dynamo_repo.client.meta.endpoint_url,
    )

    # dynalite has no UpdateTimeToLive; moto (in-process and server) has it, like AWS.
    native = _backend(request) != "dynalite_server"
    assert answers == [native, native]
    assert again.native_expiry() is native  # asked with DescribeTimeToLive by a fresh instance
    decisions = [r.getMessage() for r in caplog.records if "ticks table" in r.getMessage()]
    assert len(decisions) == 2  # once per instance
    assert (
        "DynamoDB deletes expired ticks" if native else "expire_ticks deletes expired ticks"
    ) in decisions[0]
    assert dynamo_repo.native_expiry() is native


def test_memory_never_expires_by_itself(memory_repo):
    assert memory_repo.native_expiry() is False


def test_ticks_get_a_ttl_of_their_minute_end_plus_the_retention(dynamo_repo):
    with_retention = DynamoTickRepository(
        table_prefix=dynamo_repo.ticks_table.removesuffix("ticks"),
        region="us-east-1",
        endpoint_url=dynamo_repo.client.meta.endpoint_url,
        retention_days=30,
    )
    with_retention.put_many([tick("BTCUSD", T0)])
    dynamo_repo.put_many([tick("ETHUSD", T0)])

    def stored(pair: str) -> dict:
        key = {"series": {"S": f"{EXCHANGE}#{pair}"}, "minute": {"N": str(T0_MS)}}
        return dynamo_repo.client.get_item(TableName=dynamo_repo.ticks_table, Key=key)["Item"]

    assert stored("BTCUSD")["ttl"] == {"N": str(T0_MS // 1000 + 60 + 30 * 86_400)}
    assert "ttl" not in stored("ETHUSD")
    assert with_retention.latest(exchange=EXCHANGE, pair="BTCUSD") == tick("BTCUSD", T0)


# --- data version -----------------------------------------------------------------------------


def test_the_data_version_counts_every_bump_per_exchange(repo):
    assert repo.data_version(exchange=EXCHANGE) == 0

    repo.data_version_bump(exchange=EXCHANGE)
    repo.data_version_bump(exchange=EXCHANGE)

    assert repo.data_version(exchange=EXCHANGE) == 2
    assert repo.data_version(exchange="other") == 0


def test_concurrent_data_version_bumps_are_all_counted(repo):
    import threading

    threads = [
        threading.Thread(target=repo.data_version_bump, kwargs={"exchange": EXCHANGE}) for _ in range(8)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert repo.data_version(exchange=EXCHANGE) == 8


# --- hour candles (per pair) ------------------------------------------------------------------


def hour_candle(hour_ms: int, close: str = "7240.9", volume: str | None = "17.85069232", count: int = 60):
    return HourCandle(
        hour_ms=hour_ms,
        open=Decimal("7240.04860029"),
        high=Decimal("7255.5"),
        low=Decimal("0.00007181"),
        close=Decimal(close),
        volume=Decimal(volume) if volume is not None else None,
        count=count,
        first_ms=hour_ms,
        last_ms=hour_ms + (count - 1) * MINUTE_MS,
    )


def test_hour_candles_round_trip_exactly_across_a_day_boundary(repo):
    day_ms = T0_MS - T0_MS % (24 * HOUR_MS) + 24 * HOUR_MS
    candles = [hour_candle(day_ms + k * HOUR_MS, close=f"72{k + 10}.5") for k in range(-2, 3)]
    candles[1] = hour_candle(candles[1].hour_ms, volume=None, count=1)
    repo.put_hour_candles(exchange=EXCHANGE, pair="BTCUSD", candles=candles)

    found = repo.hour_candles_between(
        exchange=EXCHANGE, pair="BTCUSD", start_ms=day_ms - 2 * HOUR_MS, end_ms=day_ms + 3 * HOUR_MS
    )

    assert found == candles
    assert (
        repo.hour_candles_between(
            exchange=EXCHANGE, pair="BTCUSD", start_ms=day_ms - HOUR_MS + 1, end_ms=day_ms + HOUR_MS
        )
        == candles[2:3]
    )


def test_hour_candles_replace_the_same_hour_and_keep_the_others_of_its_day(repo):
    repo.put_hour_candles(
        exchange=EXCHANGE, pair="BTCUSD", candles=[hour_candle(T0_MS), hour_candle(T0_MS + HOUR_MS)]
    )

    repo.put_hour_candles(exchange=EXCHANGE, pair="BTCUSD", candles=[hour_candle(T0_MS, close="1", count=61)])

    assert repo.hour_candles_between(
        exchange=EXCHANGE, pair="BTCUSD", start_ms=T0_MS, end_ms=T0_MS + 2 * HOUR_MS
    ) == [hour_candle(T0_MS, close="1", count=61), hour_candle(T0_MS + HOUR_MS)]


@pytest.mark.parametrize("pair", ["BTCUSD", "AAVE:USD"])
def test_hour_candles_are_per_exchange_and_pair(repo, pair):
    repo.put_hour_candles(exchange=EXCHANGE, pair=pair, candles=[hour_candle(T0_MS)])
    repo.put_hour_candles(exchange=EXCHANGE, pair="ETHUSD", candles=[hour_candle(T0_MS, close="130")])
    repo.put_hour_candles(exchange="other", pair=pair, candles=[hour_candle(T0_MS, close="1")])

    found = repo.hour_candles_between(exchange=EXCHANGE, pair=pair, start_ms=T0_MS, end_ms=T0_MS + HOUR_MS)

    assert found == [hour_candle(T0_MS)]
    assert repo.hour_candles_between(exchange=EXCHANGE, pair=pair, start_ms=T0_MS, end_ms=T0_MS) == []
    assert repo.hour_candles_between(exchange=EXCHANGE, pair="XRPUSD", start_ms=0, end_ms=T0_MS * 2) == []


def test_hour_candles_are_not_rollups_snapshots_or_ticks(repo):
    repo.put_hour_candles(exchange=EXCHANGE, pair="BTCUSD", candles=[hour_candle(T0_MS)])

    assert repo.rollups_between(exchange=EXCHANGE, start_ms=T0_MS - HOUR_MS, end_ms=T0_MS + HOUR_MS) == []
    assert repo.snapshots_between(exchange=EXCHANGE, start_ms=T0_MS - HOUR_MS, end_ms=T0_MS + HOUR_MS) == []
    assert repo.first(exchange=EXCHANGE, pair="BTCUSD") is None
