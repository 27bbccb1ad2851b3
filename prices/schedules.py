"""Periodic tasks of the prices app, installed by `manage.py ensure_schedules`.

Each exchange of PRICES_EXCHANGES has its own poll, gap repair and pair-list reconciliation
schedules, so one exchange's slow or failing run never delays another's. Bitfinex's keep
their historical names (no argument); the others are named `<func>:<exchange>`.
"""

from __future__ import annotations

from django.conf import settings

from cryptotracker.scheduling import ScheduleSpec
from prices.domain import EXCHANGE_BITFINEX


def SCHEDULES() -> list[ScheduleSpec]:  # noqa: N802 - the name declared_schedules looks for
    """The schedules of every configured exchange, then the exchange-independent ones."""
    specs = []
    for exchange in settings.PRICES_EXCHANGES:
        args = () if exchange == EXCHANGE_BITFINEX else (exchange,)
        specs += [
            # Every minute: one request for all tickers, stored as the minute before the one it runs in.
            ScheduleSpec(func="prices.tasks.fetch_prices", minutes=1, args=args),
            # Missing minutes (downtime, failed polls, dead workers) filled from candles, within
            # the exchange's rate limits: at most PRICES_GAP_MAX_REQUESTS candle requests per run.
            ScheduleSpec(func="prices.tasks.repair_gaps", minutes=2, args=args),
            # The exchange's own pair list: pairs that left it are delisted (no longer
            # expected), pairs that came back resume; markets' base/quote recorded.
            ScheduleSpec(func="prices.tasks.reconcile_pairs", minutes=10, args=args),
        ]
    # Ticks past PRICES_RETENTION_DAYS, where the DynamoDB endpoint has no TTL (dynalite).
    specs.append(ScheduleSpec(func="prices.tasks.expire_ticks", minutes=60))
    return specs
