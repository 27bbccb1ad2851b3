"""manage.py ensure_tables: create the DynamoDB tables if missing (idempotent)."""

from django.core.management.base import BaseCommand, CommandError

from prices.repository import RepositoryError, get_tick_repository


class Command(BaseCommand):
    help = "Create the DynamoDB tables (on-demand billing) if they do not exist yet. Safe to rerun."

    def handle(self, *args, **options):
        try:
            created = get_tick_repository().ensure_tables()
        except RepositoryError as exc:
            raise CommandError(str(exc)) from exc
        if created:
            self.stdout.write(self.style.SUCCESS(f"Created tables: {', '.join(created)}"))
        else:
            self.stdout.write("Tables already exist; nothing to do.")
