"""History pages read what they return: ticks with a Limit, 1h/1d candles from hour rollups."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.core.cache import cache
from rest_framework.test import APIClient

from prices.domain import EXCHANGE_BITFINEX, HOUR_MS, MINUTE, Tick, TickSource, from_ms, hour_floor_ms, to_ms
from prices.ohlc import hour_candles_of, ohlc_aggregate
from prices.repository.dynamodb import DynamoTickRepository
from prices.repository.memory import InMemoryTickRepository
from prices.rollups import MinuteSnapshot, rollup_from_snapshots
from prices.selectors_history import history_page, history_rows
from prices.services import history_store, rollups_rebuild, ticks_ingest
from prices.sources.base import TickerBatch, TickerRow
from prices.sources.fake import FakeTickerSource
from tests.realdata import PAIRS, candle_ticks

DATA_START = datetime(2019, 12, 30, tzinfo=UTC)
DATA_END = datetime(2020, 1, 1, tzinfo=UTC)


class ItemsRead:
    """Counts the items a DynamoDB client's reads return (Query, GetItem, BatchGetItem)."""

    def __init__(self, repo: DynamoTickRepository) -> None:
        self.items = 0
        self.calls: Counter[str] = Counter()
        repo.client.meta.events.register("after-call.dynamodb", self._after)

    def _after(self, parsed, model, **_) -> None:
        self.calls[model.name] += 1
        if model.name in ("Query", "Scan"):
            self.items += len(parsed.get("Items", []))
        elif model.name == "GetItem":
            self.items += 1 if parsed.get("Item") else 0
        elif model.name == "BatchGetItem":
            self.items += sum(len(v) for v in parsed.get("Responses", {}).values())

    def take(self) -> int:
        items, self.items = self.items, 0
        return items


def candle_tick(minute: datetime, price: Decimal, pair: str = "BTCUSD") -> Tick:
    return Tick(
        EXCHANGE_BITFINEX,
        pair,
        minute,
        price,
        source=TickSource.CANDLE,
        open=price - 1,
        high=price + 2,
        low=price - 3,
        volume=Decimal("0.5"),
    )


def walk(minutes: datetime, count: int, base: str = "7240.5") -> list[Tick]:
    return [candle_tick(minutes + i * MINUTE, Decimal(base) + Decimal(i % 37) / 10) for i in range(count)]


# --- ticks: a page of N rows reads at most N + 1 ----------------------------------------------


def test_every_page_of_n_ticks_reads_at_most_n_plus_one_items(mock_aws_repo):
    start = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
    ticks = walk(start, 2_000)
    mock_aws_repo.put_many(ticks)
    read = ItemsRead(mock_aws_repo)
    pages, rows, cursor = [], [], start

    while cursor is not None:
        page = history_page(
            pair="BTCUSD", start=cursor, end=start + timedelta(days=2), page_size=500, repo=mock_aws_repo
        )
        pages.append((len(page.rows), read.take()))
        rows += page.rows
        cursor = page.next_start

    assert rows == ticks
    assert [n for n, _ in pages] == [500, 500, 500, 500]
    assert all(items <= n + 1 for n, items in pages), pages


def test_a_page_of_n_five_minute_candles_reads_at_most_5n_plus_one_ticks(mock_aws_repo):
    start = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
    ticks = walk(start, 600)
    mock_aws_repo.put_many(ticks)
    read = ItemsRead(mock_aws_repo)

    page = history_page(
        pair="BTCUSD", start=start, end=start + 600 * MINUTE, minutes=5, page_size=40, repo=mock_aws_repo
    )

    assert page.rows == ohlc_aggregate(ticks[:200], minutes=5)
    assert page.next_start == start + 200 * MINUTE
    assert read.take() <= 5 * 40 + 1


# --- 1h and 1d candles from hour rollups --------------------------------------------------------

THIRTY_DAYS_START = datetime(2024, 4, 1, 0, 17, tzinfo=UTC)  # mid-hour: both edges are partial
THIRTY_DAYS_END = THIRTY_DAYS_START + timedelta(days=30)


def seed_thirty_days(repo) -> list[Tick]:
    """30 days of one pair: ticks of the two partial edge hours, whole hours as aggregates only.

    A whole hour is stored as the poll and history_store store it (rollup and hour candle);
    its ticks are left out of the store, so a read that fell back to ticks would miss them.
    Returns every tick of the 30 days, stored or not.
    """
    ticks = walk(THIRTY_DAYS_START, 30 * 24 * 60)
    head_end = from_ms(hour_floor_ms(to_ms(THIRTY_DAYS_START)) + HOUR_MS)
    tail_start = from_ms(hour_floor_ms(to_ms(THIRTY_DAYS_END)))
    repo.put_many([t for t in ticks if t.minute < head_end or t.minute >= tail_start])
    whole = [t for t in ticks if head_end <= t.minute < tail_start]
    for offset in range(0, len(whole), 60):  # whole hours: 60 ticks each
        hour = [
            MinuteSnapshot(EXCHANGE_BITFINEX, t.minute_ms, {t.pair: t.last_price})
            for t in whole[offset : offset + 60]
        ]
        repo.put_rollup(
            rollup_from_snapshots(exchange=EXCHANGE_BITFINEX, hour_ms=hour[0].minute_ms, snapshots=hour)
        )
    repo.put_hour_candles(exchange=EXCHANGE_BITFINEX, pair="BTCUSD", candles=hour_candles_of(whole))
    return ticks


@pytest.mark.slow  # ~750 calls to moto in-process
def test_thirty_days_of_hourly_candles_read_at_most_1000_items_and_equal_the_tick_candles(mock_aws_repo):
    ticks = seed_thirty_days(mock_aws_repo)
    read = ItemsRead(mock_aws_repo)

    hourly = history_page(
        pair="BTCUSD",
        start=THIRTY_DAYS_START,
        end=THIRTY_DAYS_END,
        minutes=60,
        page_size=1440,
        repo=mock_aws_repo,
    )
    hourly_items = read.take()
    daily = history_page(
        pair="BTCUSD",
        start=THIRTY_DAYS_START,
        end=THIRTY_DAYS_END,
        minutes=1440,
        page_size=3,
        repo=mock_aws_repo,
    )
    daily_items = read.take()

    assert hourly.rows == ohlc_aggregate(ticks, minutes=60)
    assert len(hourly.rows) == 721 and hourly.next_start is None
    # first and newest tick 2 + head 43 ticks + 719 rollups + 31 days of hour candles + tail 17 ticks
    assert hourly_items <= 1_000, (hourly_items, read.calls)
    assert daily.rows == ohlc_aggregate(ticks, minutes=1440)[:3]
    assert daily.next_start == datetime(2024, 4, 4, tzinfo=UTC)
    # a page of 3 days stops after the first hour of the 4th: first, newest, head, 4 × 24 rollups, 5 days
    assert daily_items <= 2 + 43 + 4 * 24 + 5, daily_items


@pytest.mark.parametrize("minutes", [60, 120, 1440])
@pytest.mark.parametrize(
    "start, end",
    [
        (DATA_START, DATA_END),
        (datetime(2019, 12, 30, 5, 17, tzinfo=UTC), datetime(2019, 12, 31, 22, 43, tzinfo=UTC)),
        (datetime(2019, 12, 31, 23, 1, tzinfo=UTC), datetime(2019, 12, 31, 23, 59, tzinfo=UTC)),
    ],
)
def test_rollup_candles_equal_tick_candles_on_the_real_history(real_history_repo, minutes, start, end):
    for pair in PAIRS:
        ticks = real_history_repo.between(exchange=EXCHANGE_BITFINEX, pair=pair, start=start, end=end)

        rows = list(
            history_rows(
                pair=pair, start=start, end=end, minutes=minutes, page_size=7, repo=real_history_repo
            )
        )

        assert rows == ohlc_aggregate(ticks, minutes=minutes), pair


def test_the_real_history_has_candle_highs_and_volumes_the_rollups_alone_lack(real_history_repo):
    ticks = list(
        real_history_repo.between(exchange=EXCHANGE_BITFINEX, pair="BTCUSD", start=DATA_START, end=DATA_END)
    )

    candles = ohlc_aggregate(ticks, minutes=60)

    # So the equality above needs the stored hour candles: closes alone would not give these.
    assert all(c.volume is not None for c in candles)
    hour_closes = {}
    for t in ticks:
        hour_closes.setdefault(hour_floor_ms(t.minute_ms), []).append(t.last_price)
    assert any(c.high != max(hour_closes[to_ms(c.start)]) for c in candles)


def _poll(repo, minute: datetime, price: str, pair: str = "BTCUSD") -> None:
    source = FakeTickerSource([TickerBatch(rows=[TickerRow(pair=pair, last_price=Decimal(price))])])
    summary = ticks_ingest(source=source, repo=repo, now=lambda: minute + MINUTE + timedelta(seconds=2))
    assert summary.stored == 1, summary.line()


@pytest.mark.django_db
def test_an_hour_of_candles_then_polls_gives_the_tick_candle():
    repo = InMemoryTickRepository()
    hour = datetime(2024, 5, 1, 12, tzinfo=UTC)
    history_store(ticks=walk(hour, 30), repo=repo)
    for i in range(30, 60):
        _poll(repo, hour + i * MINUTE, f"{7300 + i}")

    [candle] = history_page(
        pair="BTCUSD", start=hour, end=hour + timedelta(hours=2), minutes=60, page_size=5, repo=repo
    ).rows

    ticks = repo.between(
        exchange=EXCHANGE_BITFINEX, pair="BTCUSD", start=hour, end=hour + HOUR_MS * MINUTE / 60_000
    )
    assert [candle] == ohlc_aggregate(ticks, minutes=60)
    assert candle.count == 60 and candle.close == Decimal("7359") and candle.volume == Decimal("15")


@pytest.mark.django_db
def test_polls_with_a_gap_filled_from_candles_give_the_tick_candle():
    repo = InMemoryTickRepository()
    hour = datetime(2024, 5, 1, 12, tzinfo=UTC)
    for i in [*range(0, 20), *range(40, 60)]:
        _poll(repo, hour + i * MINUTE, f"{7300 + i}")

    history_store(ticks=walk(hour + 20 * MINUTE, 20, base="7500"), repo=repo)
    [candle] = history_page(
        pair="BTCUSD", start=hour, end=hour + timedelta(hours=1), minutes=60, page_size=5, repo=repo
    ).rows

    ticks = repo.between(exchange=EXCHANGE_BITFINEX, pair="BTCUSD", start=hour, end=hour + timedelta(hours=1))
    assert [candle] == ohlc_aggregate(ticks, minutes=60)
    assert (
        candle.open == Decimal("7300") and candle.high == Decimal("7503.9") and candle.volume == Decimal("10")
    )


def test_rebuilding_rollups_restores_the_hour_candles_of_data_stored_before_them():
    repo = InMemoryTickRepository()
    history_store(ticks=candle_ticks("ETHUSD", "19-12-31"), repo=repo)
    repo.hour_candles.clear()  # data stored by a version that kept no hour candles

    rollups_rebuild(exchange=EXCHANGE_BITFINEX, start=DATA_START, end=DATA_END, repo=repo)

    ticks = repo.between(exchange=EXCHANGE_BITFINEX, pair="ETHUSD", start=DATA_START, end=DATA_END)
    rows = history_page(
        pair="ETHUSD", start=DATA_START, end=DATA_END, minutes=60, page_size=100, repo=repo
    ).rows
    assert rows == ohlc_aggregate(ticks, minutes=60)


# --- a range starts at the first data; no empty pages -----------------------------------------


@pytest.fixture
def api(real_history_repo) -> APIClient:
    cache.clear()
    return APIClient()


@pytest.mark.parametrize(
    "interval, page_size, total", [("1h", 20, 48), ("1d", 1, 2), ("5m", 100, None), ("1m", 1000, None)]
)
def test_a_long_range_before_the_data_starts_at_the_first_data_with_no_empty_page(
    api, interval, page_size, total
):
    url = (
        f"/api/v1/pairs/BTCUSD/history/?start=2018-01-01T00:00:00Z&end=2021-01-01T00:00:00Z"
        f"&interval={interval}&page_size={page_size}"
    )
    pages = []
    while url:
        body = api.get(url).json()
        pages.append(body["results"])
        url = body["next"]

    assert all(len(page) == page_size for page in pages[:-1]) and pages[-1]
    first = pages[0][0]
    assert first.get("start", first.get("minute")) == "2019-12-30T00:00:00Z"
    if total is not None:
        assert sum(len(page) for page in pages) == total


def test_page_size_is_honoured_and_bounded(api):
    url = "/api/v1/pairs/BTCUSD/history/?start=2019-12-30T00:00:00Z&end=2020-01-01T00:00:00Z"

    seven = api.get(url + "&page_size=7").json()
    older_name = api.get(url + "&limit=3").json()
    too_many = api.get(url + "&page_size=10001")

    assert seven["count"] == 7 and seven["next"]
    assert older_name["count"] == 3
    assert too_many.status_code == 400
    assert too_many.json()["error"]["fields"] == {"page_size": ["must be between 1 and 10000, got 10001"]}


@pytest.mark.django_db
def test_a_range_of_centuries_reads_no_more_than_the_pairs_data(mock_aws_repo):
    history_store(ticks=walk(datetime(2024, 5, 1, 12, 0, tzinfo=UTC), 90), repo=mock_aws_repo)
    read = ItemsRead(mock_aws_repo)

    page = history_page(
        pair="BTCUSD",
        start=datetime(1900, 1, 1, tzinfo=UTC),
        end=datetime(9000, 1, 1, tzinfo=UTC),
        minutes=60,
        page_size=100,
        repo=mock_aws_repo,
    )

    assert [c.count for c in page.rows] == [60, 30]
    assert read.calls["Query"] <= 6, read.calls
