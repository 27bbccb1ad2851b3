"""Periodic tasks of the prices app, installed by `manage.py ensure_schedules`."""

from __future__ import annotations

from cryptotracker.scheduling import ScheduleSpec

SCHEDULES = [
    # Every minute: one request for all tickers, stored as the minute before the one it runs in.
    ScheduleSpec(func="prices.tasks.fetch_prices", minutes=1),
]
