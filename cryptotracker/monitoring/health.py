"""Readiness: one check per dependency (database, DynamoDB, broker, scheduler), price freshness, exchanges.

Each check returns a JSON-able dict with `ok`. A failing check reports only the class of the
error (the message, which may name hosts, users or AWS accounts, goes to the log), because
the report is served to anyone who can reach /readyz.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import connection
from django_q.brokers import get_broker
from django_q.models import Schedule
from django_q.status import Stat

from cryptotracker.params import iso_z
from prices import selectors

logger = logging.getLogger(__name__)

Check = dict[str, Any]


@dataclass(frozen=True)
class Readiness:
    """The checks by name; ready when every one is ok."""

    checks: dict[str, Check]

    @property
    def ok(self) -> bool:
        """True when every check passed."""
        return all(check["ok"] for check in self.checks.values())

    def as_json(self) -> dict[str, Any]:
        """{"status": "ready" | "not_ready", "checks": {...}}."""
        return {"status": "ready" if self.ok else "not_ready", "checks": self.checks}


def readiness_check(*, now: datetime | None = None) -> Readiness:
    """Run every check once (no retries; DynamoDB with READINESS_TIMEOUT_S) and collect the results."""
    now = now or datetime.now(UTC)
    checks = {
        "database": _guarded("database", database_check),
        "broker": _guarded("broker", broker_check),
        "scheduler": _guarded("scheduler", lambda: scheduler_check(now=now)),
    }
    checks.update(prices_checks(now=now))
    checks["exchanges"] = _guarded("exchanges", exchanges_check)
    return Readiness(checks=checks)


def _guarded(name: str, check: Callable[[], Check]) -> Check:
    try:
        return check()
    except Exception as exc:
        return _failed(name, exc)


def _failed(name: str, exc: Exception) -> Check:
    logger.warning("readiness: %s check failed: %s: %s", name, type(exc).__name__, exc)
    cause = exc.__cause__ if exc.__cause__ is not None else exc
    return {"ok": False, "error": type(cause).__name__}


def database_check() -> Check:
    """A trivial query on the default database."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()
    return {"ok": True, "vendor": connection.vendor}


def broker_check() -> Check:
    """django-q2's broker answers (Redis PING; the ORM broker counts its queue) and its backlog."""
    broker = get_broker()
    if not broker.ping():
        return {"ok": False, "error": "no answer"}
    return {"ok": True, "broker": type(broker).__name__.lower(), "queued": broker.queue_size()}


def scheduler_check(*, now: datetime) -> Check:
    """The cluster's heartbeat: no repeating schedule is overdue by more than READINESS_SCHEDULE_GRACE_S.

    Every running cluster looks for due schedules every 30 s and moves their `next_run` on, so
    a schedule long past its `next_run` means no cluster is running, whatever the broker.
    `clusters` counts the clusters alive now where the broker keeps their stats (Redis; with
    the ORM broker they sit in each process's local cache, out of this process's sight: null).
    """
    grace = timedelta(seconds=settings.READINESS_SCHEDULE_GRACE_S)
    schedules = list(Schedule.objects.exclude(repeats=0).values_list("name", "next_run"))
    overdue = sorted(name for name, next_run in schedules if next_run is None or next_run < now - grace)
    check: Check = {"ok": bool(schedules) and not overdue, "schedules": len(schedules), "overdue": overdue}
    if not schedules:
        check["error"] = "no schedules: run manage.py ensure_schedules"
    check["clusters"] = _clusters_alive()
    return check


def _clusters_alive() -> int | None:
    if "redis" not in settings.Q_CLUSTER:
        return None
    try:
        return len(Stat.get_all())
    except Exception as exc:  # the broker check reports Redis being down
        logger.warning("readiness: cannot read cluster stats: %s", exc)
        return None


# Failed polls in a row before readiness names an exchange failing: one can be a blip.
EXCHANGE_FAILURES_NOT_READY = 2


def exchanges_check() -> Check:
    """Each configured exchange's polls: `failing` names those whose last
    EXCHANGE_FAILURES_NOT_READY polls or more failed (PollLease failure accounting)."""
    from prices.exchanges import configured_exchanges
    from prices.models import PollLease

    names = [config.name for config in configured_exchanges()]
    leases = {lease.exchange: lease for lease in PollLease.objects.filter(exchange__in=names)}
    exchanges: dict[str, Check] = {}
    for name in names:
        lease = leases.get(name)
        failures = lease.failures if lease is not None else 0
        exchanges[name] = {
            "ok": failures < EXCHANGE_FAILURES_NOT_READY,
            "failures_in_a_row": failures,
            "last_success": iso_z(lease.last_success_at)
            if lease is not None and lease.last_success_at
            else None,
        }
    failing = [name for name, check in exchanges.items() if not check["ok"]]
    check: Check = {"ok": not failing, "failing": failing, "exchanges": exchanges}
    if failing:
        check["error"] = "failing: " + ", ".join(failing)
    return check


def prices_checks(*, now: datetime) -> dict[str, Check]:
    """`dynamodb` (the pair registry can be read) and `freshness` (the newest tick is recent), one read."""
    stale_after = timedelta(seconds=settings.READINESS_STALE_AFTER_S)
    try:
        delisted = [pair for pair, s in selectors.pair_states().items() if s.status == "delisted"]
    except Exception as exc:  # the database check reports the database
        logger.warning("readiness: cannot read the delisted pairs: %s", exc)
        delisted = []
    try:
        freshness = selectors.pairs_freshness(
            now=now, stale_after=stale_after, timeout_s=settings.READINESS_TIMEOUT_S, delisted=delisted
        )
    except Exception as exc:
        return {
            "dynamodb": _failed("dynamodb", exc),
            "freshness": {"ok": False, "error": "unknown: DynamoDB is unavailable"},
        }
    newest, age_s = freshness.newest_minute, freshness.newest_age_s
    check: Check = {
        "ok": age_s is not None and age_s <= stale_after.total_seconds(),
        "newest_minute": iso_z(newest),
        "newest_age_s": round(age_s) if age_s is not None else None,
        "stale_after_s": round(stale_after.total_seconds()),
        "pairs": freshness.pairs,
        "stale_pairs": freshness.stale_pairs,
        "delisted_pairs": freshness.delisted_pairs,
    }
    if newest is None:
        check["error"] = "no tick stored yet"
    return {"dynamodb": {"ok": True}, "freshness": check}
