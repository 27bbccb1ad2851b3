"""manage.py send_alert_notifications: send every due alert delivery now (what the retry schedule does)."""

from __future__ import annotations

from django.core.management.base import BaseCommand

from alerts.deliveries import deliveries_due, deliveries_send


class Command(BaseCommand):
    help = (
        "Send pending and due-for-retry alert deliveries now. Each delivery is claimed, so runs may overlap."
    )

    def handle(self, *args, **options):
        outcomes = deliveries_send(delivery_ids=deliveries_due())
        summary = ", ".join(f"{status} {n}" for status, n in sorted(outcomes.items())) or "nothing due"
        self.stdout.write(f"Deliveries: {summary}")
