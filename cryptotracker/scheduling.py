"""Idempotent installation of django-q2 schedules declared by apps in `<app>/schedules.py`."""

from __future__ import annotations

import importlib
import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.apps import apps
from django_q.models import Schedule

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ScheduleSpec:
    """A periodic task: dotted `func` called with positional `args` (strings), run every `minutes`.

    The schedule's name is `func`, or `func:arg,…` when it has arguments
    (`prices.tasks.fetch_prices:kraken`), so one function can have one schedule per argument.
    """

    func: str
    minutes: int = 1
    args: tuple[str, ...] = ()

    @property
    def name(self) -> str:
        """Schedules are named after their dotted function (and arguments)."""
        return f"{self.func}:{','.join(self.args)}" if self.args else self.func

    @property
    def args_text(self) -> str | None:
        """The args as django-q2 stores them (Python literals, "'kraken'"), None without any."""
        return ", ".join(repr(arg) for arg in self.args) or None


def declared_schedules() -> list[ScheduleSpec]:
    """Every ScheduleSpec listed in SCHEDULES of an installed app's `schedules` module.

    SCHEDULES may be a callable returning the list (schedules that follow settings).
    """
    specs: list[ScheduleSpec] = []
    for config in apps.get_app_configs():
        try:
            module = importlib.import_module(f"{config.name}.schedules")
        except ModuleNotFoundError as exc:
            if exc.name != f"{config.name}.schedules":
                raise
            continue
        declared = getattr(module, "SCHEDULES", [])
        specs.extend(declared() if callable(declared) else declared)
    return specs


def schedules_ensure(*, now: datetime | None = None) -> list[tuple[str, bool]]:
    """Create or update one Schedule row per declared spec; returns (name, created) pairs.

    Every schedule is then realigned (schedules_realign): runs start at the start of a minute.
    Schedules no longer declared are removed by `schedules_prune`.
    """
    now = now or datetime.now(UTC)
    results = []
    for spec in declared_schedules():
        fields = {
            "func": spec.func,
            "args": spec.args_text,
            "schedule_type": Schedule.MINUTES,
            "minutes": spec.minutes,
            "repeats": -1,
        }
        schedule, created = Schedule.objects.update_or_create(
            name=spec.name, defaults=fields, create_defaults={**fields, "next_run": _next_minute(now)}
        )
        results.append((schedule.name, created))
    schedules_realign(now=now)
    return results


def schedules_prune() -> list[str]:
    """Delete the schedules of declared task functions whose name is no longer declared; returns names.

    An exchange removed from PRICES_EXCHANGES leaves `prices.tasks.fetch_prices:<exchange>`
    (and its gap repair and reconciliation) behind, which would fail every run. Only
    schedules of functions some app still declares are touched: one an operator added for
    any other function stays.
    """
    declared = declared_schedules()
    names = {spec.name for spec in declared}
    stale = Schedule.objects.filter(func__in={spec.func for spec in declared}).exclude(name__in=names)
    removed = sorted(stale.values_list("name", flat=True))
    stale.delete()
    for name in removed:
        logger.info("schedule %s removed: no longer declared (see its app's schedules.py)", name)
    return removed


def schedules_realign(*, now: datetime | None = None) -> list[str]:
    """Move each declared schedule's next_run to the next minute start where it is off; returns names.

    A next_run more than one interval in the past (the cluster was down: django-q2 would run
    it at once, then again at the next boundary of its old phase) or more than one interval
    ahead moves to the next minute start. One that is merely off the minute start (an old
    offset, e.g. :31, which makes every run late) moves back to its own minute start, so a run
    that is due stays due. Aligned, current ones are left alone.
    """
    now = now or datetime.now(UTC)
    moved = []
    for spec in declared_schedules():
        interval = timedelta(minutes=spec.minutes)
        schedule = Schedule.objects.filter(name=spec.name).first()
        if schedule is None or schedule.next_run is None:
            continue
        next_run = schedule.next_run
        if next_run < now - interval or next_run > now + interval:
            realigned = _next_minute(now)
        else:
            realigned = next_run.replace(second=0, microsecond=0)
        if realigned != next_run:
            Schedule.objects.filter(pk=schedule.pk, next_run=next_run).update(next_run=realigned)
            moved.append(spec.name)
    return moved


def schedules_realign_on_spawn(sender: object, proc_name: str = "", **kwargs: object) -> None:
    """django-q2's post_spawn receiver: realign the schedules whenever a cluster starts a worker.

    Never raises: a worker must start even when the database is briefly unavailable.
    """
    try:
        moved = schedules_realign()
    except Exception:
        logger.exception("could not realign the schedules at the start of %s", proc_name or "a worker")
        return
    if moved:
        logger.info("schedules realigned to the next minute start: %s", ", ".join(moved))


def _next_minute(now: datetime) -> datetime:
    return now.replace(second=0, microsecond=0) + timedelta(minutes=1)
