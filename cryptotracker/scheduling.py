"""Idempotent installation of django-q2 schedules declared by apps in `<app>/schedules.py`."""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.apps import apps
from django_q.models import Schedule


@dataclass(frozen=True, slots=True)
class ScheduleSpec:
    """A periodic task: dotted `func`, run every `minutes`; the schedule's name is `func`."""

    func: str
    minutes: int = 1

    @property
    def name(self) -> str:
        """Schedules are named after their dotted function."""
        return self.func


def declared_schedules() -> list[ScheduleSpec]:
    """Every ScheduleSpec listed in SCHEDULES of an installed app's `schedules` module."""
    specs: list[ScheduleSpec] = []
    for config in apps.get_app_configs():
        try:
            module = importlib.import_module(f"{config.name}.schedules")
        except ModuleNotFoundError as exc:
            if exc.name != f"{config.name}.schedules":
                raise
            continue
        specs.extend(getattr(module, "SCHEDULES", []))
    return specs


def schedules_ensure(*, now: datetime | None = None) -> list[tuple[str, bool]]:
    """Create or update one Schedule row per declared spec; returns (name, created) pairs.

    The first run is aligned on the next minute boundary, so runs start a few seconds
    after each minute begins. Existing rows keep their next_run.
    """
    now = now or datetime.now(UTC)
    next_minute = now.replace(second=0, microsecond=0) + timedelta(minutes=1)
    results = []
    for spec in declared_schedules():
        schedule, created = Schedule.objects.update_or_create(
            name=spec.name,
            defaults={
                "func": spec.func,
                "schedule_type": Schedule.MINUTES,
                "minutes": spec.minutes,
                "repeats": -1,
            },
            create_defaults={
                "func": spec.func,
                "schedule_type": Schedule.MINUTES,
                "minutes": spec.minutes,
                "repeats": -1,
                "next_run": next_minute,
            },
        )
        results.append((schedule.name, created))
    return results
