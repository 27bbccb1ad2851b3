"""Signal receivers of the alerts app: evaluate rules when the prices app has stored a minute."""

from __future__ import annotations

import logging
from datetime import datetime

from django.db import transaction

from cryptotracker.params import iso_z

logger = logging.getLogger(__name__)


def on_ticks_stored(sender, *, exchange: str, minutes: list[datetime], **kwargs) -> None:
    """Enqueue the evaluation of the newest stored minute (rules catch up on the ones before it).

    Backfills of old history store minutes that every rule has already passed; their
    evaluation finds nothing to do.
    """
    if not minutes:
        return
    from django_q.tasks import async_task

    minute = max(minutes).isoformat()

    def enqueue() -> None:
        async_task("alerts.tasks.evaluate_alert_rules", minute, exchange)

    # Never let a broker or database failure break ingestion: the safety-net schedule
    # evaluates the minute later.
    try:
        transaction.on_commit(enqueue)
    except Exception:
        logger.exception("alerts: could not enqueue the evaluation of %s %s", exchange, iso_z(max(minutes)))
