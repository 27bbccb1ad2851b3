"""Periodic tasks of the alerts app, installed by `manage.py ensure_schedules`."""

from __future__ import annotations

from cryptotracker.scheduling import ScheduleSpec

SCHEDULES = [
    # Safety net: evaluation normally runs right after each minute's ingestion (ticks_stored).
    ScheduleSpec(func="alerts.tasks.evaluate_alert_rules", minutes=1),
    # Failed deliveries come back here after their backoff; also reclaims those of dead senders.
    ScheduleSpec(func="alerts.tasks.retry_due_deliveries", minutes=1),
]
