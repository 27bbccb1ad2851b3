"""Contract of the sharded all-pairs items: tails, live windows, item sizes, the layout migration.

Runs on InMemoryTickRepository (where the contract is the same) and on DynamoTickRepository
against moto (in process and as a server) and dynalite; see test_tick_repository.py.
"""

from __future__ import annotations

import json
from decimal import Decimal

from prices.domain import HOUR_MS, MINUTE_MS
from prices.repository.base import LatestPrice
from prices.repository.dynamodb import DynamoTickRepository
from prices.repository.dynamodb_items import item_size, segment_to_item, shard_of
from prices.rollups import BlockRollup, HourRollup, HourTails, LiveWindow, MinuteSnapshot
from prices.statistics import Moments, Segment, WindowStats, segment_of
from tests.contract.test_tick_repository import EXCHANGE, T0_MS

H0 = T0_MS - T0_MS % HOUR_MS


def wide_segment(pair_index: int, hour_ms: int = H0) -> Segment:
    """A segment with every field at full width (17-digit float moments), like a real hour."""
    base = Decimal(7240) + Decimal(pair_index) / 7
    return Segment(
        prices=Moments(n=60, offset=0.12345678901234567 + pair_index / 7, m2=12.345678901234567, shift=7240),
        minimum=base - Decimal("1.2345"),
        maximum=base + Decimal("1.2345"),
        first_ms=hour_ms,
        first=base,
        last_ms=hour_ms + 59 * MINUTE_MS,
        last=base + Decimal("0.5"),
        returns=Moments(n=59, offset=2.1234567890123457e-07, m2=1.2345678901234568e-05),
    )


def stats_of(prices: list[str], expected: int = 60) -> WindowStats:
    points = [(H0 + i * MINUTE_MS, Decimal(p)) for i, p in enumerate(prices)]
    return WindowStats.of(segment_of(points), expected=expected)


def test_live_windows_round_trip_per_pair_and_subset(repo):
    assert repo.get_live(exchange=EXCHANGE, window_minutes=60) is None
    stats = {"BTCUSD": stats_of(["7240.1", "7241.25", "7239"]), "AAVE:USD": stats_of(["0.00007181"])}
    repo.put_live(LiveWindow(EXCHANGE, 60, H0 + 3 * MINUTE_MS, stats))

    live = repo.get_live(exchange=EXCHANGE, window_minutes=60)
    assert (live.window_minutes, live.end_ms) == (60, H0 + 3 * MINUTE_MS)
    assert live.stats == stats  # floats through repr, Decimals through their plain strings
    assert repo.get_live(exchange=EXCHANGE, window_minutes=60, pairs=["AAVE:USD"]).stats == {
        "AAVE:USD": stats["AAVE:USD"]
    }
    assert repo.get_live(exchange=EXCHANGE, window_minutes=1440) is None
    single = repo.get_live(exchange=EXCHANGE, window_minutes=60, pairs=["AAVE:USD"]).stats["AAVE:USD"]
    assert (single.std, single.volatility, single.count, single.expected) == (None, None, 1, 60)


def test_live_windows_round_trip_their_idle_pairs_per_subset(repo):
    stats = {"BTCUSD": stats_of(["7240.1", "7241.25"])}
    repo.put_live(LiveWindow(EXCHANGE, 60, H0 + 2 * MINUTE_MS, stats))
    unpublished = repo.get_live(exchange=EXCHANGE, window_minutes=60)
    idle = frozenset({"XRPUSD", "AAVE:USD", "ETHUSD"})
    repo.put_live(LiveWindow(EXCHANGE, 60, H0 + 2 * MINUTE_MS, stats, idle=idle))

    live = repo.get_live(exchange=EXCHANGE, window_minutes=60)
    subset = repo.get_live(exchange=EXCHANGE, window_minutes=60, pairs=["AAVE:USD", "BTCUSD"])

    assert unpublished.idle is None
    assert (live.stats, live.idle) == (stats, idle)
    assert (subset.stats, subset.idle) == (stats, frozenset({"AAVE:USD"}))


def test_live_statistics_of_every_width_round_trip_exactly(repo):
    wide = WindowStats.of(wide_segment(3), expected=1440)
    empty = WindowStats.of(None, expected=1440)
    stats = {"BTCUSD": wide, "TESTBTC:TESTUSD": empty, "XRPUSD": stats_of(["0.00007181", "0.0000719"], 1440)}
    repo.put_live(LiveWindow(EXCHANGE, 1440, H0 + 23 * HOUR_MS + MINUTE_MS, stats))

    live = repo.get_live(exchange=EXCHANGE, window_minutes=1440)

    assert live.stats == stats
    assert live.stats["BTCUSD"].first_ms == H0 and live.stats["BTCUSD"].last_ms == H0 + 59 * MINUTE_MS


def test_live_items_of_the_earlier_per_pair_format_read_as_not_published(dynamo_repo):
    # Before the `stats` String, each pair was an attribute of its own; the next poll rewrites
    # the items, and until then readers compute the window instead.
    for shard in range(dynamo_repo.shards):
        item = dynamo_repo._live_key(EXCHANGE, 60, shard)
        item.update({"end": {"N": str(H0 + MINUTE_MS)}, "shards": {"N": str(dynamo_repo.shards)}})
        item["BTCUSD"] = {"S": "1|1716523200000|7240.1|1716523200000|7240.1|7240.1|7240.1|7240.1|0|0.0|||||"}
        dynamo_repo.client.put_item(TableName=dynamo_repo.aggregates_table, Item=item)

    assert dynamo_repo.get_live(exchange=EXCHANGE, window_minutes=60) is None


def test_tracked_pairs_are_the_names_of_both_registries(repo):
    repo.update_latest(exchange=EXCHANGE, prices={"BTCUSD": LatestPrice(T0_MS, Decimal("7000"))})
    repo.update_polled(exchange=EXCHANGE, prices={"AAVE:USD": LatestPrice(T0_MS, Decimal("101.5"))})

    assert (
        repo.tracked_pairs(exchange=EXCHANGE)
        == {"BTCUSD", "AAVE:USD"}
        == set(repo.latest_prices(exchange=EXCHANGE))
    )
    assert repo.tracked_pairs(exchange="other") == set()


def test_the_polls_registry_update_returns_the_tracked_pairs_of_both_registries(repo):
    repo.update_latest(exchange=EXCHANGE, prices={"BTCUSD": LatestPrice(T0_MS, Decimal("7000"))})
    repo.update_polled(exchange=EXCHANGE, prices={"ETHUSD": LatestPrice(T0_MS, Decimal("130"))})

    tracked = repo.update_polled(exchange=EXCHANGE, prices={"AAVE:USD": LatestPrice(T0_MS, Decimal("101.5"))})

    assert tracked == {"BTCUSD", "ETHUSD", "AAVE:USD"} == repo.tracked_pairs(exchange=EXCHANGE)
    assert repo.update_polled(exchange="other", prices={}) == set()


def test_the_polls_registry_is_one_entries_string_per_shard_and_reads_back_exact(dynamo_repo):
    prices = {"BTCUSD": Decimal("7240.1"), "AAVE:USD": Decimal("0.00007181"), "ETHUSD": Decimal("130")}

    dynamo_repo.update_polled(exchange=EXCHANGE, prices={p: LatestPrice(T0_MS, v) for p, v in prices.items()})

    items = dynamo_repo._batch_get([dynamo_repo._polled_key(EXCHANGE, s) for s in range(dynamo_repo.shards)])
    assert all(set(item) == {"pk", "sk", "shards", "entries"} for item in items)
    lines = sorted(line for item in items for line in item["entries"]["S"].split("\n"))
    assert lines == [f"AAVE:USD|{T0_MS}|0.00007181", f"BTCUSD|{T0_MS}|7240.1", f"ETHUSD|{T0_MS}|130"]
    assert dynamo_repo.latest_prices(exchange=EXCHANGE) == {
        p: LatestPrice(T0_MS, v) for p, v in prices.items()
    }


def test_a_polls_registry_shard_of_the_earlier_per_pair_format_is_read_and_converted(dynamo_repo):
    shard = shard_of("BTCUSD", dynamo_repo.shards)
    other = next(p for p in (f"P{i}USD" for i in range(100)) if shard_of(p, dynamo_repo.shards) == shard)
    item = {**dynamo_repo._polled_key(EXCHANGE, shard), "shards": {"N": str(dynamo_repo.shards)}}
    item["BTCUSD"] = {"M": {"m": {"N": str(T0_MS)}, "p": {"N": "7240.1"}}}
    item[other] = {"M": {"m": {"N": str(T0_MS + MINUTE_MS)}, "p": {"N": "2.5"}}}
    dynamo_repo.client.put_item(TableName=dynamo_repo.aggregates_table, Item=item)
    assert dynamo_repo.tracked_pairs(exchange=EXCHANGE) == {"BTCUSD", other}

    tracked = dynamo_repo.update_polled(
        exchange=EXCHANGE,
        prices={
            "BTCUSD": LatestPrice(T0_MS + MINUTE_MS, Decimal("7241")),
            other: LatestPrice(T0_MS, Decimal("9")),
        },
    )

    assert tracked == {"BTCUSD", other}
    (stored,) = dynamo_repo._batch_get([dynamo_repo._polled_key(EXCHANGE, shard)])
    assert set(stored) == {"pk", "sk", "shards", "entries"}
    assert dynamo_repo.latest_prices(exchange=EXCHANGE) == {
        "BTCUSD": LatestPrice(T0_MS + MINUTE_MS, Decimal("7241")),
        other: LatestPrice(T0_MS + MINUTE_MS, Decimal("2.5")),  # the stored entry is newer
    }


def test_migrate_layout_moves_the_polls_registry_to_another_shard_count(dynamo_repo):
    prefix = dynamo_repo.ticks_table.removesuffix("ticks")
    endpoint = dynamo_repo.client.meta.endpoint_url
    four = DynamoTickRepository(table_prefix=prefix, region="us-east-1", endpoint_url=endpoint, shards=4)
    pairs = {f"P{i}USD": LatestPrice(T0_MS + i * MINUTE_MS, Decimal(i + 1) / 8) for i in range(30)}
    four.update_polled(exchange=EXCHANGE, prices=pairs)

    seven = DynamoTickRepository(table_prefix=prefix, region="us-east-1", endpoint_url=endpoint, shards=7)
    assert seven.migrate_layout() == {"polled": 1}

    assert seven.latest_prices(exchange=EXCHANGE) == pairs
    items = seven._batch_get([seven._polled_key(EXCHANGE, s) for s in range(7)])
    assert len(items) == 7 and all("entries" in item for item in items)
    assert seven.migrate_layout() == {}


def test_tails_round_trip_and_a_slot_reused_by_a_later_hour_forgets_the_earlier_one(repo):
    tails = HourTails(
        EXCHANGE,
        H0,
        {1: {"BTCUSD": wide_segment(0), "ETHUSD": wide_segment(1)}, 59: {"BTCUSD": wide_segment(2)}},
    )
    assert repo.get_tail(exchange=EXCHANGE, hour_ms=H0, offset=1) is None
    repo.put_tails(tails)

    assert repo.get_tail(exchange=EXCHANGE, hour_ms=H0, offset=1) == tails.offsets[1]
    assert repo.get_tail(exchange=EXCHANGE, hour_ms=H0, offset=59, pairs=["BTCUSD"]) == tails.offsets[59]
    assert repo.get_tail(exchange=EXCHANGE, hour_ms=H0, offset=30) == {}  # stored, no pair from there

    later = H0 + 26 * HOUR_MS  # the same slot of the 26-hour ring
    repo.put_tails(HourTails(EXCHANGE, later, {}))
    assert repo.get_tail(exchange=EXCHANGE, hour_ms=H0, offset=1) is None
    assert repo.get_tail(exchange=EXCHANGE, hour_ms=later, offset=1) == {}
    repo.delete_tails(exchange=EXCHANGE, hours_ms=[H0, later])
    assert repo.get_tail(exchange=EXCHANGE, hour_ms=later, offset=1) is None


def test_get_rollup_reads_one_hour_of_every_shard_or_of_the_pairs_asked(repo):
    segments = {f"P{i}USD": wide_segment(i) for i in range(40)}
    assert repo.get_rollup(exchange=EXCHANGE, hour_ms=H0) is None
    repo.put_rollup(HourRollup(EXCHANGE, H0, segments))

    assert repo.get_rollup(exchange=EXCHANGE, hour_ms=H0).segments == segments
    assert repo.get_rollup(exchange=EXCHANGE, hour_ms=H0, pairs=["P3USD"]).segments == {
        "P3USD": segments["P3USD"]
    }


def test_a_snapshot_spread_over_shards_reads_back_whole_with_its_head(repo):
    prices = {f"P{i}USD": Decimal(f"{100 + i}.5") for i in range(50)}
    assert repo.claim_snapshot(MinuteSnapshot(EXCHANGE, T0_MS, prices, "ticker", pending=True)) is True
    assert repo.claim_snapshot(MinuteSnapshot(EXCHANGE, T0_MS, {"P1USD": Decimal(1)}, "ticker")) is False

    stored = repo.get_snapshot(exchange=EXCHANGE, minute_ms=T0_MS)
    assert (stored.prices, stored.pending, stored.source) == (prices, True, "ticker")
    repo.complete_snapshot(exchange=EXCHANGE, minute_ms=T0_MS)
    (again,) = repo.snapshots_between(
        exchange=EXCHANGE, start_ms=T0_MS, end_ms=T0_MS + MINUTE_MS, pairs=["P7USD"]
    )
    assert (again.prices, again.pending) == ({"P7USD": Decimal("107.5")}, False)


def test_a_minute_merged_from_candles_in_any_shard_makes_a_later_claim_fail(repo):
    later = T0_MS + MINUTE_MS
    repo.merge_snapshot(MinuteSnapshot(EXCHANGE, later, {"P9USD": Decimal("9")}, "candle"))

    assert repo.claim_snapshot(MinuteSnapshot(EXCHANGE, later, {"P1USD": Decimal("1")}, "ticker")) is False
    assert repo.get_snapshot(exchange=EXCHANGE, minute_ms=later).source == "candle"


def _written_items(repo: DynamoTickRepository) -> list[dict]:
    """Every item a PutItem or BatchWriteItem sends (the request bodies, as DynamoDB receives them)."""
    items: list[dict] = []

    def record(params, model, **_):
        body = json.loads(params["body"])
        if model.name == "PutItem":
            items.append(body["Item"])
        for requests in body.get("RequestItems", {}).values():
            items.extend(r["PutRequest"]["Item"] for r in requests if "PutRequest" in r)

    repo.client.meta.events.register("before-call.dynamodb", record)
    return items


def test_at_10000_pairs_no_aggregate_item_written_exceeds_100_kb(dynamo_repo):
    pairs = [f"T{i:05d}:TESTUSD" for i in range(10_000)]  # longer names than any real Bitfinex pair
    written = _written_items(dynamo_repo)
    prices = {p: Decimal("7240.04860029") + i for i, p in enumerate(pairs)}
    segments = {p: wide_segment(i) for i, p in enumerate(pairs)}

    assert dynamo_repo.claim_snapshot(MinuteSnapshot(EXCHANGE, T0_MS, prices, "ticker", pending=True))
    dynamo_repo.put_rollup(HourRollup(EXCHANGE, H0, segments))
    dynamo_repo.put_block(BlockRollup(EXCHANGE, H0 + 23 * HOUR_MS, segments))
    dynamo_repo.put_tails(HourTails(EXCHANGE, H0, {1: segments}))
    stats = WindowStats.of(wide_segment(0), expected=1440)
    dynamo_repo.put_live(LiveWindow(EXCHANGE, 1440, T0_MS + MINUTE_MS, dict.fromkeys(pairs, stats)))
    dynamo_repo.update_latest(exchange=EXCHANGE, prices={p: LatestPrice(T0_MS, prices[p]) for p in pairs})
    gaps = {p: [H0 + m * MINUTE_MS for m in range(60)] for p in pairs[:2_000]}  # every minute of an hour
    dynamo_repo.add_known_gaps(exchange=EXCHANGE, minutes=gaps)

    aggregates = [i for i in written if "pk" in i]
    kinds = {i["pk"]["S"].split("#")[1] for i in aggregates}
    assert kinds == {"1m", "1h", "23h", "tail", "live", "latest"}
    largest = max(item_size(i) for i in aggregates)
    assert largest <= 100_000, f"largest aggregate item {largest:,} bytes"
    # A shard holds ~1/32 of the pairs, so the largest rollup shard is far below the limit.
    assert largest >= 10_000  # the size rule counts what it should (not vacuously small)
    live_items = [i for i in aggregates if i["pk"]["S"].split("#")[1] == "live"]
    assert len(live_items) == 32 and max(item_size(i) for i in live_items) <= 100_000
    assert sum(i["stats"]["S"].count("\n") + 1 for i in live_items) == 10_000  # one line per pair
    gap_items = dynamo_repo.client.query(
        TableName=dynamo_repo.aggregates_table,
        KeyConditionExpression="pk = :pk",
        ExpressionAttributeValues={":pk": {"S": f"{EXCHANGE}#gaps#{H0_MONTH}#{shard_of(pairs[0], 32)}"}},
    )["Items"]
    assert max(item_size(i) for i in gap_items) <= 100_000

    assert len(dynamo_repo.latest_prices(exchange=EXCHANGE)) == 10_000
    assert dynamo_repo.get_rollup(exchange=EXCHANGE, hour_ms=H0).segments == segments
    assert len(dynamo_repo.get_snapshot(exchange=EXCHANGE, minute_ms=T0_MS).prices) == 10_000
    assert len(dynamo_repo.known_gaps_between(exchange=EXCHANGE, start_ms=H0, end_ms=H0 + HOUR_MS)) == 2_000


H0_MONTH = "2024-05"


def test_old_unsharded_items_are_converted_by_migrate_layout(dynamo_repo):
    client, table = dynamo_repo.client, dynamo_repo.aggregates_table
    btc = segment_to_item(wide_segment(0))
    old = [
        {"pk": {"S": f"{EXCHANGE}#1m#2024-05-01"}, "sk": {"N": str(T0_MS)}, "src": {"S": "ticker"},
         "prices": {"S": "BTCUSD=7240.1;AAVE:USD=0.00007181"}, "ETHUSD": {"N": "3000.5"}},
        {"pk": {"S": f"{EXCHANGE}#1h#2024-05"}, "sk": {"N": str(H0)}, "values": {"N": "60"}, "BTCUSD": btc},
        {"pk": {"S": f"{EXCHANGE}#gaps#2024-05"}, "sk": {"N": str(H0)},
         "BTCUSD": {"NS": [str(H0 + MINUTE_MS)]}},
        {"pk": {"S": f"{EXCHANGE}#23h#2024-05"}, "sk": {"N": str(H0)}, "BTCUSD": btc},
        {"pk": {"S": f"{EXCHANGE}#latest"}, "sk": {"N": "0"}, "version": {"N": "7"},
         "BTCUSD": {"M": {"m": {"N": str(T0_MS)}, "p": {"N": "7240.1"}}}},
    ]  # fmt: skip
    for item in old:
        client.put_item(TableName=table, Item=item)
    assert dynamo_repo.latest_prices(exchange=EXCHANGE) == {}  # the sharded layout does not read them

    counts = dynamo_repo.migrate_layout()

    assert counts == {"1m": 1, "1h": 1, "gaps": 1, "23h": 1, "latest": 1}
    snapshot = dynamo_repo.get_snapshot(exchange=EXCHANGE, minute_ms=T0_MS)
    assert snapshot.prices == {
        "BTCUSD": Decimal("7240.1"),
        "AAVE:USD": Decimal("0.00007181"),
        "ETHUSD": Decimal("3000.5"),
    }
    assert dynamo_repo.get_rollup(exchange=EXCHANGE, hour_ms=H0).segments == {"BTCUSD": wide_segment(0)}
    known = dynamo_repo.known_gaps_between(exchange=EXCHANGE, start_ms=H0, end_ms=H0 + HOUR_MS)
    assert known == {"BTCUSD": {H0 + MINUTE_MS}}
    assert dynamo_repo.latest_prices(exchange=EXCHANGE) == {"BTCUSD": LatestPrice(T0_MS, Decimal("7240.1"))}
    assert dynamo_repo.get_block(exchange=EXCHANGE, end_ms=H0) is None  # dropped: ingestion rebuilds it
    pks = {i["pk"]["S"] for i in client.scan(TableName=table)["Items"]}
    assert not {i["pk"]["S"] for i in old} & pks
    assert dynamo_repo.migrate_layout() == {}  # nothing left to convert


def test_migrate_layout_moves_items_to_another_shard_count(dynamo_repo):
    prefix = dynamo_repo.ticks_table.removesuffix("ticks")
    endpoint = dynamo_repo.client.meta.endpoint_url
    four = DynamoTickRepository(table_prefix=prefix, region="us-east-1", endpoint_url=endpoint, shards=4)
    pairs = {f"P{i}USD": Decimal(i + 1) for i in range(30)}
    four.claim_snapshot(MinuteSnapshot(EXCHANGE, T0_MS, pairs, "ticker"))
    four.put_rollup(HourRollup(EXCHANGE, H0, {p: wide_segment(i) for i, p in enumerate(pairs)}))
    four.update_latest(exchange=EXCHANGE, prices={p: LatestPrice(T0_MS, v) for p, v in pairs.items()})

    seven = DynamoTickRepository(table_prefix=prefix, region="us-east-1", endpoint_url=endpoint, shards=7)
    assert seven.migrate_layout() == {"1m": 1, "1h": 1, "latest": 1}

    assert seven.get_snapshot(exchange=EXCHANGE, minute_ms=T0_MS).prices == pairs
    assert set(seven.get_rollup(exchange=EXCHANGE, hour_ms=H0).segments) == set(pairs)
    assert set(seven.latest_prices(exchange=EXCHANGE)) == set(pairs)
    assert seven.get_snapshot(
        exchange=EXCHANGE,
        minute_ms=T0_MS,
    ).prices["P3USD"] == Decimal(4)


def test_the_polls_registry_and_the_history_registry_merge_newest_first(repo):
    late, early = T0_MS + MINUTE_MS, T0_MS
    repo.update_latest(
        exchange=EXCHANGE,
        prices={"BTCUSD": LatestPrice(early, Decimal("7000")), "ETHUSD": LatestPrice(late, Decimal("130"))},
    )
    repo.update_polled(
        exchange=EXCHANGE,
        prices={"BTCUSD": LatestPrice(late, Decimal("7001")), "ETHUSD": LatestPrice(early, Decimal("129"))},
    )
    repo.update_polled(exchange=EXCHANGE, prices={"LTCUSD": LatestPrice(T0_MS, Decimal("40"))})

    assert repo.latest_prices(exchange=EXCHANGE) == {
        "BTCUSD": LatestPrice(T0_MS + MINUTE_MS, Decimal("7001")),
        "ETHUSD": LatestPrice(T0_MS + MINUTE_MS, Decimal("130")),
        "LTCUSD": LatestPrice(T0_MS, Decimal("40")),
    }


def test_a_replacing_rollup_write_stores_every_shard_whatever_is_there(repo):
    big = HourRollup(EXCHANGE, H0, {"BTCUSD": wide_segment(0)})
    small = HourRollup(EXCHANGE, H0, {"BTCUSD": segment_of([(H0, Decimal("1"))])})
    repo.put_rollup(big)

    assert repo.put_rollup(small) is False
    assert repo.put_rollup(small, replace=True) is True
    assert repo.get_rollup(exchange=EXCHANGE, hour_ms=H0).segments == small.segments
