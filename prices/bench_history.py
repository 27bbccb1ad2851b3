"""History figures of `bench_api`: one pair's 24 h of ticks and 30 days at 1 h, time and items read.

Tooling, not production code: it seeds one extra pair with `days` of 1-minute candles the
way history stores them (ticks, hour rollups, hour candles; no minute snapshots, which
history reads never touch) and measures the history API on it through `measure`, the
benchmark's timer and DynamoDB call counter.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from prices.domain import EXCHANGE_BITFINEX, HOUR_MS, MINUTE, Tick, TickSource, to_ms
from prices.ohlc import hour_candles_of
from prices.repository import LatestPrice, TickRepository
from prices.rollups import MinuteSnapshot, rollup_from_snapshots

BENCH_PAIR = "HISTBENCH:USD"
Measure = Callable[[str, int, Callable[[], object]], dict[str, Any]]


def _candles(start: datetime, minutes: int, seed: int) -> list[Tick]:
    rng = random.Random(seed)
    price = 7240.0
    ticks = []
    for i in range(minutes):
        open_ = price
        price *= math.exp(rng.gauss(0, 0.0008))
        high, low = max(open_, price) * 1.0002, min(open_, price) * 0.9998
        ticks.append(
            Tick(
                EXCHANGE_BITFINEX,
                BENCH_PAIR,
                start + i * MINUTE,
                Decimal(f"{price:.5g}"),
                source=TickSource.CANDLE,
                open=Decimal(f"{open_:.5g}"),
                high=Decimal(f"{high:.5g}"),
                low=Decimal(f"{low:.5g}"),
                volume=Decimal(f"{rng.uniform(0.01, 20):.8f}"),
            )
        )
    return ticks


def history_seed(*, repo: TickRepository, end: datetime, days: int, seed: int = 1) -> int:
    """Store `days` of 1-minute candles of BENCH_PAIR ending at `end` (a minute start); returns ticks."""
    ticks = _candles(end - timedelta(days=days), days * 1440, seed)
    repo.put_many(ticks)
    for offset in range(0, len(ticks), 60):
        hour = ticks[offset : offset + 60]
        snapshots = [MinuteSnapshot(EXCHANGE_BITFINEX, t.minute_ms, {t.pair: t.last_price}) for t in hour]
        hour_ms = to_ms(hour[0].minute) - to_ms(hour[0].minute) % HOUR_MS
        repo.put_rollup(
            rollup_from_snapshots(exchange=EXCHANGE_BITFINEX, hour_ms=hour_ms, snapshots=snapshots)
        )
    repo.put_hour_candles(exchange=EXCHANGE_BITFINEX, pair=BENCH_PAIR, candles=hour_candles_of(ticks))
    newest = ticks[-1]
    repo.update_latest(
        exchange=EXCHANGE_BITFINEX, prices={BENCH_PAIR: LatestPrice(newest.minute_ms, newest.last_price)}
    )
    return len(ticks)


def history_figures(
    *,
    repo: TickRepository,
    client: Any,
    measure: Measure,
    end: datetime,
    repeat: int,
    days: int = 30,
    write: Callable[[str], object] = print,
) -> list[tuple[str, bool]]:
    """Seed BENCH_PAIR and measure history 24 h (1m) and `days` at 1 h; returns (target line, met).

    `end` must be a minute start; the range ends there (a mid-hour end would make the edges
    partial hours, read as ticks, as a live request's are). `client` is a django.test.Client.
    """
    started = time.monotonic()
    seeded = history_seed(repo=repo, end=end, days=days)
    write(
        f"Seeded {seeded:,} candle ticks of {BENCH_PAIR} ({days} days) in {time.monotonic() - started:.1f} s"
    )
    pair = BENCH_PAIR.replace(":", "%3A")
    stamp = f"{end:%Y-%m-%dT%H:%M:%SZ}"
    day_url = f"/api/v1/pairs/{pair}/history/?end={stamp}"
    since = f"{end - timedelta(days=days):%Y-%m-%dT%H:%M:%SZ}"
    long_url = f"/api/v1/pairs/{pair}/history/?start={since}&end={stamp}&interval=1h"
    rows = {}
    for name, url in (("day", day_url), ("long", long_url)):
        body = client.get(url).json()
        assert body["next"] is None, url  # one page each: the figures are per page
        rows[name] = body["count"]

    day = measure(f"history 24h via API ({rows['day']:,} rows)", repeat, lambda: _ok(client, day_url))
    long = measure(
        f"history {days}d at 1h via API ({rows['long']:,} rows)", repeat, lambda: _ok(client, long_url)
    )
    return [
        (f"history 24h p50 ≤ 25 ms: {day['p50']:.1f} ms", day["p50"] <= 25),
        (
            f"history 24h items read ≤ rows + 1 = {rows['day'] + 1:,}: {day['items']:,}",
            day["items"] <= rows["day"] + 1,
        ),
        (f"history {days}d at 1h ≤ 1,000 items read: {long['items']:,}", long["items"] <= 1_000),
    ]


def _ok(client: Any, url: str) -> None:
    # The server's time is measured; decoding the body is the client's (checked once above).
    response = client.get(url)
    assert response.status_code == 200, response.content[:200]
