"""suspects_flag (prices/services/guard.py): one polled minute flagged against the other exchanges."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from prices.domain import MINUTE, MINUTE_MS, Tick, to_ms
from prices.repository import LatestPrice
from prices.rollups import LiveWindow
from prices.services.guard import suspects_flag
from prices.statistics import WindowStats, point_segment
from tests.realdata import closes

T0 = datetime(2019, 12, 31, 1, 0, tzinfo=UTC)
REAL = [price for _, price in closes("BTCUSD", "19-12-31")[:60]]  # the real first hour of 2019-12-31


def poll(prices: dict[str, Decimal], minute: datetime = T0) -> list[Tick]:
    return [Tick(exchange="bitfinex", pair=pair, minute=minute, last_price=p) for pair, p in prices.items()]


@pytest.fixture
def two_exchanges(settings, db):
    """Coinbase configured beside Bitfinex (its BTC-USD is Bitfinex's BTCUSD: both BTC-USD)."""
    settings.PRICES_EXCHANGES = ["bitfinex", "coinbase"]
    settings.PRICES_SUSPECT_MULTIPLE = 10.0
    settings.PRICES_SUSPECT_FLOOR_PCT = 2.0


class Reads:
    """Counts the repository reads of the guard."""

    def __init__(self, repo) -> None:
        self.repo, self.calls = repo, []

    def __getattr__(self, name):
        self.calls.append(name)
        return getattr(self.repo, name)


def test_with_one_exchange_configured_nothing_is_read_and_nothing_flagged(memory_repo, settings):
    settings.PRICES_EXCHANGES = ["bitfinex"]
    reads = Reads(memory_repo)
    ticks = poll({"BTCUSD": Decimal("1000000")})

    assert suspects_flag(exchange="bitfinex", ticks=ticks, repo=reads) == ticks
    assert reads.calls == []


def test_a_price_beyond_the_floor_from_the_other_exchanges_median_is_flagged(memory_repo, two_exchanges):
    reference = REAL[-1]
    memory_repo.update_polled(
        exchange="coinbase",
        prices={
            "BTC-USD": LatestPrice(to_ms(T0), reference),
            "ETH-USD": LatestPrice(to_ms(T0) - 10 * MINUTE_MS, Decimal("130")),  # too old to compare
        },
    )
    ticks = poll({"BTCUSD": reference * Decimal("1.03"), "ETHUSD": Decimal("200"), "LTCUSD": Decimal("40")})

    flagged = suspects_flag(exchange="bitfinex", ticks=ticks, repo=memory_repo)

    assert {t.pair: t.suspect for t in flagged} == {"BTCUSD": True, "ETHUSD": False, "LTCUSD": False}
    assert [t.last_price for t in flagged] == [t.last_price for t in ticks]  # stored all the same


def test_the_pairs_own_real_volatility_widens_the_tolerance_beyond_the_floor(
    memory_repo, two_exchanges, settings
):
    settings.PRICES_SUSPECT_FLOOR_PCT = 0.0  # the volatility alone decides
    segment = point_segment(to_ms(T0) - 60 * MINUTE_MS, REAL[0])
    for i, price in enumerate(REAL[1:], start=1):
        segment = segment.extended(to_ms(T0) - (60 - i) * MINUTE_MS, price)
    stats = WindowStats.of(segment, expected=60)
    memory_repo.put_live(LiveWindow("bitfinex", 60, to_ms(T0), {"BTCUSD": stats, "ETHUSD": stats}))
    returns = [math.log(float(b / a)) for a, b in zip(REAL, REAL[1:], strict=False)]
    mean = sum(returns) / len(returns)
    vol = math.sqrt(sum((r - mean) ** 2 for r in returns) / (len(returns) - 1))
    assert stats.volatility == pytest.approx(vol, rel=1e-9)
    memory_repo.update_polled(exchange="coinbase", prices={"BTC-USD": LatestPrice(to_ms(T0), REAL[-1])})
    memory_repo.update_polled(exchange="coinbase", prices={"ETH-USD": LatestPrice(to_ms(T0), REAL[-1])})
    ticks = poll(
        {
            "BTCUSD": REAL[-1] * Decimal(math.exp(10.5 * vol)),
            "ETHUSD": REAL[-1] * Decimal(math.exp(9.5 * vol)),
        },
        minute=T0 + timedelta(minutes=0),
    )

    flagged = suspects_flag(exchange="bitfinex", ticks=ticks, repo=memory_repo)

    assert {t.pair: t.suspect for t in flagged} == {"BTCUSD": True, "ETHUSD": False}
    assert timedelta(minutes=1) == MINUTE


def test_a_poll_stores_a_suspect_price_flagged_and_counts_it_like_any_other(memory_repo, two_exchanges):
    from prices.services import ticks_ingest
    from prices.sources.base import TickerBatch, TickerRow
    from prices.sources.fake import FakeTickerSource

    memory_repo.update_polled(exchange="coinbase", prices={"BTC-USD": LatestPrice(to_ms(T0), REAL[-1])})
    far = REAL[-1] * 2
    batch = TickerBatch(
        rows=[TickerRow(pair="BTCUSD", last_price=far), TickerRow(pair="ETHUSD", last_price=Decimal(130))]
    )

    summary = ticks_ingest(
        source=FakeTickerSource([batch]), repo=memory_repo, now=lambda: T0 + MINUTE + timedelta(seconds=5)
    )

    assert summary.status == "stored"
    [btc] = memory_repo.between(exchange="bitfinex", pair="BTCUSD", start=T0, end=T0 + MINUTE)
    [eth] = memory_repo.between(exchange="bitfinex", pair="ETHUSD", start=T0, end=T0 + MINUTE)
    assert (btc.last_price, btc.suspect, eth.suspect) == (far, True, False)
    assert memory_repo.get_snapshot(exchange="bitfinex", minute_ms=to_ms(T0)).prices["BTCUSD"] == far
