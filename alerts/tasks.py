"""django-q2 entry points of the alerts app: evaluate a minute, send deliveries, retry due ones."""

from __future__ import annotations

from datetime import UTC, datetime

from alerts.deliveries import deliveries_due, deliveries_send, digests_create
from alerts.evaluation import alert_rules_evaluate
from prices.domain import minute_of_observation


def evaluate_alert_rules(minute: str | None = None, exchange: str | None = None) -> str:
    """Evaluate enabled rules at `minute` (ISO 8601, UTC); without it, the latest complete minute.

    The ticks_stored receiver passes the ingested minute and its exchange (that exchange's rules
    only); the every-minute schedule passes nothing and acts as a safety net for every exchange
    (it defers a minute whose ticks may still arrive).
    """
    now = datetime.now(UTC)
    if minute is None:
        summary = alert_rules_evaluate(minute=minute_of_observation(now), now=now, defer_missing=True)
    else:
        summary = alert_rules_evaluate(minute=datetime.fromisoformat(minute), now=now, exchange=exchange)
    return summary.line()


def send_deliveries(delivery_ids: list[int]) -> str:
    """Send these deliveries (each claimed once; see alerts.deliveries.delivery_send)."""
    outcomes = deliveries_send(delivery_ids=delivery_ids)
    return ", ".join(f"{status} {n}" for status, n in sorted(outcomes.items())) or "nothing to send"


def retry_due_deliveries() -> str:
    """Every minute: gather the alerts held in quiet hours that ended into digests, then send
    deliveries whose time has come (digests, retries, or ones whose sender died)."""
    digests_create()
    outcomes = deliveries_send(delivery_ids=deliveries_due())
    return ", ".join(f"{status} {n}" for status, n in sorted(outcomes.items())) or "nothing due"
