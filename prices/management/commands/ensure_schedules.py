"""manage.py ensure_schedules: install every app's django-q2 schedules (idempotent)."""

from django.core.management.base import BaseCommand

from cryptotracker.scheduling import schedules_ensure, schedules_prune


class Command(BaseCommand):
    help = (
        "Create or update the django-q2 schedules declared in <app>/schedules.py, and remove those "
        "of its functions no longer declared (e.g. an exchange left PRICES_EXCHANGES). Safe to rerun."
    )

    def handle(self, *args, **options):
        results = schedules_ensure()
        for name, created in results:
            self.stdout.write(f"{'created' if created else 'up to date'}: {name}")
        for name in schedules_prune():
            self.stdout.write(f"removed (no longer declared): {name}")
        self.stdout.write(self.style.SUCCESS(f"{len(results)} schedules ensured"))
