"""manage.py ensure_schedules: install every app's django-q2 schedules (idempotent)."""

from django.core.management.base import BaseCommand

from cryptotracker.scheduling import schedules_ensure


class Command(BaseCommand):
    help = "Create or update the django-q2 schedules declared in <app>/schedules.py. Safe to rerun."

    def handle(self, *args, **options):
        results = schedules_ensure()
        for name, created in results:
            self.stdout.write(f"{'created' if created else 'up to date'}: {name}")
        self.stdout.write(self.style.SUCCESS(f"{len(results)} schedules ensured"))
