"""Builders for alerts tests: hand-made minute price sequences and real 2019-12-31 BTCUSD closes."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

from prices.domain import EXCHANGE_BITFINEX, MINUTE, Tick, TickSource, from_ms

T0 = datetime(2024, 1, 1, 12, 0, tzinfo=UTC)
HISTORY = Path(__file__).resolve().parent.parent / "fixtures" / "history" / "zombie3000"


def points(prices: Sequence[str | int | None], *, start: datetime = T0) -> list[tuple[datetime, Decimal]]:
    """(minute, price) points one minute apart from `start`; None leaves that minute without a tick."""
    return [(start + i * MINUTE, Decimal(str(p))) for i, p in enumerate(prices) if p is not None]


def minute(i: int, *, start: datetime = T0) -> datetime:
    """The i-th minute after `start`."""
    return start + i * MINUTE


def ticks(pair: str, prices: Sequence[str | int | None], *, start: datetime = T0) -> list[Tick]:
    """Candle-like ticks of one pair from a hand-made sequence (None = no tick that minute)."""
    return [
        Tick(exchange=EXCHANGE_BITFINEX, pair=pair, minute=m, last_price=p, source=TickSource.CANDLE)
        for m, p in points(prices, start=start)
    ]


def btcusd_closes(day: str = "19-12-31") -> list[tuple[datetime, Decimal]]:
    """The real BTCUSD 1-minute closes (MTS, CLOSE) of a day in tests/fixtures/history, oldest first."""
    folder = HISTORY / "BTCUSD" / "Candles_1m" / "2019" / "raw" / "12"
    rows: list[list] = []
    for path in sorted(folder.glob(f"{day}_*.json")):
        rows.extend(json.loads(path.read_text(), parse_float=Decimal, parse_int=Decimal))
    return [(from_ms(int(row[0])), row[2]) for row in rows]


def channel_send(event, *, kind: str, url: str, now: datetime):
    """Send `event` once to a verified channel of `kind` at `url`, stored directly (as if DNS had
    changed since creation); the delivery as it was left."""
    from alerts.deliveries import delivery_send
    from alerts.models import Delivery, NotificationChannel

    channel = NotificationChannel.objects.create(owner=event.rule.owner, kind=kind, target=url, verified=True)
    delivery = Delivery.objects.create(
        event=event, channel=channel, kind=kind, target=url, next_attempt_at=now
    )
    delivery_send(delivery_id=delivery.pk, now=now)
    delivery.refresh_from_db()
    return delivery
