"""manage.py evaluate_alert_rules: evaluate every enabled alert rule at one minute (idempotent)."""

from __future__ import annotations

from datetime import UTC, datetime

from django.core.management.base import BaseCommand, CommandError

from alerts.deliveries import deliveries_send
from alerts.evaluation import EvaluationError, alert_rules_evaluate
from prices.domain import minute_of_observation


class Command(BaseCommand):
    help = (
        "Evaluate all enabled alert rules at --minute (ISO 8601 UTC; default: the latest complete minute). "
        "Rules already evaluated at that minute are skipped, so reruns and concurrent runs are safe."
    )

    def add_arguments(self, parser):
        parser.add_argument("--minute", help="Minute to evaluate, e.g. 2019-12-31T17:36:00Z.")
        parser.add_argument(
            "--send-now",
            action="store_true",
            help="Send the new notifications in this process instead of enqueueing django-q2 tasks.",
        )

    def handle(self, *args, **options):
        now = datetime.now(UTC)
        raw = options["minute"]
        try:
            minute = datetime.fromisoformat(raw).astimezone(UTC) if raw else minute_of_observation(now)
        except ValueError:
            raise CommandError(
                f"--minute {raw!r} is not an ISO 8601 datetime such as 2019-12-31T17:36:00Z"
            ) from None
        enqueue = (lambda ids: deliveries_send(delivery_ids=ids)) if options["send_now"] else None
        try:
            summary = alert_rules_evaluate(minute=minute, now=now, defer_missing=raw is None, enqueue=enqueue)
        except EvaluationError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(summary.line())
