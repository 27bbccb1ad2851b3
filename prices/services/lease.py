"""The poll lease: at most one poll of an exchange at a time, and one per minute, across all hosts.

The lease is one row per exchange in the relational database (prices.models.PollLease), which
every web and cluster host already shares (PostgreSQL in production; django-q2's schedules live
there too). It is taken with one conditional UPDATE (compare-and-set on the row's `minute` and
`expires_at`), atomic on PostgreSQL and SQLite alike, and given back when the poll ends. A
worker killed mid-poll never gives it back: the lease then expires on its own after `ttl`,
which is just longer than the longest a django-q2 task can live (its timeout plus the guard's
3 s), and shorter than the minute until the next poll.
"""

from __future__ import annotations

import logging
import os
import socket
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.db import IntegrityError
from django.db.models import F

from prices.domain import MINUTE, minute_of_observation
from prices.models import PollLease
from prices.services.ingest import IngestSummary, ticks_ingest
from prices.sources.base import TickerSource

logger = logging.getLogger(__name__)

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class PollRefused:
    """Why a poll did not get the lease: `reason` is "running" or "minute_taken"."""

    reason: str
    owner: str
    minute: datetime | None

    def line(self) -> str:
        """One human-readable line for the task's result and the log."""
        minute = self.minute.strftime("%Y-%m-%dT%H:%MZ") if self.minute else "-"
        if self.reason == "running":
            return f"skipped: another poll ({self.owner}) holds the lease, for minute {minute}"
        return f"skipped: minute {minute} was already polled"


def ticks_poll(*, source: TickerSource, ttl: timedelta | None = None) -> IngestSummary | PollRefused:
    """One polling cycle (ticks_ingest) holding the exchange's poll lease; PollRefused, without a
    request to the exchange, when another poll runs or this minute was already polled.

    `ttl` defaults to poll_lease_ttl(). Raises what poll_lease_acquire raises (database errors).
    """
    now, owner = datetime.now(UTC), lease_owner()
    refused = poll_lease_acquire(
        exchange=source.exchange,
        minute=minute_of_observation(now),
        now=now,
        ttl=ttl or poll_lease_ttl(),
        owner=owner,
    )
    if refused is not None:
        logger.warning("ingest %s %s", source.exchange, refused.line())
        return refused
    try:
        summary = ticks_ingest(source=source)
    finally:
        poll_lease_release(exchange=source.exchange, owner=owner, now=datetime.now(UTC))
    poll_outcome_record(exchange=source.exchange, summary=summary, now=datetime.now(UTC))
    return summary


def poll_outcome_record(*, exchange: str, summary: IngestSummary, now: datetime) -> None:
    """Count the exchange's failed polls in a row (reset by a poll that stores or finds its
    minute stored) and keep the last error's line and the last success (aware UTC)."""
    if summary.ok:
        PollLease.objects.filter(exchange=exchange).update(failures=0, last_error="", last_success_at=now)
    else:
        PollLease.objects.filter(exchange=exchange).update(
            failures=F("failures") + 1, last_error=(summary.error or summary.status)[:300]
        )


def poll_lease_ttl() -> timedelta:
    """The task timeout plus the 3 s django-q2's guard allows before it kills a worker."""
    return timedelta(seconds=settings.Q_CLUSTER["timeout"] + 3)


def lease_owner() -> str:
    """A name for this process's lease: host, pid and a random part."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def poll_lease_acquire(
    *, exchange: str, minute: datetime, now: datetime, ttl: timedelta, owner: str
) -> PollRefused | None:
    """Take the exchange's poll lease for the poll of `minute` (aware UTC); None when taken.

    Refused (a PollRefused saying why) while another poll holds an unexpired lease, or when a
    poll for `minute` or a later minute already took it. When minutes between the previous
    poll's and this one were never polled, they are recorded as the lease's down span.
    """
    lease = _lease(exchange)
    if lease.expires_at > now:
        return PollRefused("running", lease.owner, lease.minute)
    if lease.minute is not None and lease.minute >= minute:
        return PollRefused("minute_taken", lease.owner, lease.minute)
    changes: dict[str, object] = {"owner": owner, "expires_at": now + ttl, "minute": minute}
    if lease.minute is not None and minute - lease.minute > MINUTE:
        changes.update(down_from=lease.minute + MINUTE, down_until=minute - MINUTE)
    # Compare-and-set: only if nobody took the lease since it was read.
    taken = PollLease.objects.filter(
        exchange=exchange, expires_at=lease.expires_at, minute=lease.minute, owner=lease.owner
    ).update(**changes)
    if not taken:
        fresh = _lease(exchange)
        return PollRefused("running" if fresh.expires_at > now else "minute_taken", fresh.owner, fresh.minute)
    return None


def poll_lease_release(*, exchange: str, owner: str, now: datetime) -> None:
    """Give the lease back (only if `owner` still holds it); the minute stays taken."""
    PollLease.objects.filter(exchange=exchange, owner=owner, expires_at__gt=now).update(expires_at=now)


def _lease(exchange: str) -> PollLease:
    try:
        lease, _ = PollLease.objects.get_or_create(exchange=exchange, defaults={"expires_at": _EPOCH})
    except IntegrityError:  # created concurrently
        lease = PollLease.objects.get(exchange=exchange)
    return lease
