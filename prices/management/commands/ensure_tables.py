"""manage.py ensure_tables: create the DynamoDB tables if missing (idempotent)."""

from django.core.management.base import BaseCommand

from prices.management.commands._cli import repository_errors
from prices.repository import get_tick_repository


class Command(BaseCommand):
    help = "Create the DynamoDB tables (on-demand billing) if they do not exist yet. Safe to rerun."

    def handle(self, *args, **options):
        with repository_errors():
            created = get_tick_repository().ensure_tables()
        if created:
            self.stdout.write(self.style.SUCCESS(f"Created tables: {', '.join(created)}"))
        else:
            self.stdout.write("Tables already exist; nothing to do.")
