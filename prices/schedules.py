"""Periodic tasks of the prices app, installed by `manage.py ensure_schedules`."""

from __future__ import annotations

from cryptotracker.scheduling import ScheduleSpec

SCHEDULES = [
    # Every minute: one request for all tickers, stored as the minute before the one it runs in.
    ScheduleSpec(func="prices.tasks.fetch_prices", minutes=1),
    # Missing minutes (downtime, failed polls, dead workers) filled from candles, within the
    # exchange's rate limits: at most PRICES_GAP_MAX_REQUESTS candle requests per run.
    ScheduleSpec(func="prices.tasks.repair_gaps", minutes=2),
    # The exchange's own pair list (pub:list:pair:exchange): pairs that left it are delisted
    # (no longer expected), pairs that came back resume.
    ScheduleSpec(func="prices.tasks.reconcile_pairs", minutes=10),
    # Ticks past PRICES_RETENTION_DAYS, where the DynamoDB endpoint has no TTL (dynalite).
    ScheduleSpec(func="prices.tasks.expire_ticks", minutes=60),
]
