"""manage.py expire_ticks: delete ticks older than PRICES_RETENTION_DAYS now."""

from datetime import UTC, datetime

from django.conf import settings
from django.core.management.base import BaseCommand

from prices.management.commands._cli import repository_errors
from prices.services import ticks_expire


class Command(BaseCommand):
    help = (
        "Delete ticks whose minute ended more than PRICES_RETENTION_DAYS days ago, in batches, until "
        "none is left. Skipped where DynamoDB TTL is enabled, unless --force (which also reaches ticks "
        "written before retention was set, which have no ttl)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--force", action="store_true", help="Delete even where DynamoDB TTL is enabled.")

    def handle(self, *args, **options):
        total = 0
        with repository_errors():
            while True:
                summary = ticks_expire(
                    now=datetime.now(UTC),
                    retention_days=settings.PRICES_RETENTION_DAYS,
                    force=options["force"],
                )
                total += summary.deleted
                if summary.status != "partial":
                    break
                if options["verbosity"]:
                    self.stderr.write(f"… {total} ticks deleted so far")
        if summary.status != "done":
            self.stdout.write(summary.line())
            return
        self.stdout.write(
            f"retention: deleted {total} ticks that ended before {summary.cutoff:%Y-%m-%dT%H:%MZ}"
        )
