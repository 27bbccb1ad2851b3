"""Deliveries (alerts, verification emails, tests): claim, send, record the attempt, schedule the retry."""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from django.conf import settings
from django.db import transaction
from django.db.models import F, Q

from alerts.models import AlertEvent, AlertRule, Delivery, NotificationChannel
from alerts.notifications import (
    Message,
    NotificationError,
    Notifier,
    SendReport,
    digest_render,
    message_render,
    notifier_for,
    target_masked,
    verification_render,
)
from alerts.rules import Condition, State
from cryptotracker.monitoring.metrics import delivery_attempt_record
from cryptotracker.params import iso_z
from prices.domain import minute_floor

logger = logging.getLogger(__name__)

# A sender holds a claimed delivery this long; one that died is retried after it.
SEND_LEASE = timedelta(minutes=5)
DUE_BATCH = 500


def retry_delay(attempts: int) -> timedelta:
    """Backoff after the `attempts`-th failed attempt: BACKOFF_S × 2^(attempts−1), capped at BACKOFF_MAX_S."""
    seconds = settings.ALERTS_DELIVERY_BACKOFF_S * 2 ** max(attempts - 1, 0)
    return timedelta(seconds=min(seconds, settings.ALERTS_DELIVERY_BACKOFF_MAX_S))


def _due(now: datetime) -> Q:
    return Q(
        status__in=[Delivery.Status.PENDING, Delivery.Status.RETRYING, Delivery.Status.SENDING],
        next_attempt_at__lte=now,
    )


def delivery_send(
    *,
    delivery_id: int,
    now: datetime | None = None,
    notifier_factory: Callable[[str], Notifier] = notifier_for,
) -> str:
    """Send one due delivery if this caller wins its claim; returns the resulting status or "not_due".

    The claim is a conditional UPDATE (due status and next_attempt_at ≤ now → sending, lease
    SEND_LEASE, attempts + 1), so concurrent callers send each delivery at most once. A
    failure is recorded (error, log entry) and retried after `retry_delay(attempts)`, or
    marked failed after ALERTS_DELIVERY_MAX_ATTEMPTS attempts or a permanent error.
    """
    now = now or datetime.now(UTC)
    claimed = Delivery.objects.filter(_due(now), pk=delivery_id).update(
        status=Delivery.Status.SENDING, attempts=F("attempts") + 1, next_attempt_at=now + SEND_LEASE
    )
    if not claimed:
        return "not_due"
    delivery = Delivery.objects.select_related("event__rule", "rule", "channel__owner").get(pk=delivery_id)
    error: NotificationError | None = None
    report: SendReport | None = None
    try:
        message = delivery_message(delivery, now=now)
        report = notifier_factory(delivery.kind).send(target=delivery.target, message=message)
    except NotificationError as exc:
        error = exc
    except Exception as exc:  # a template or programming error must not leave the row in `sending`
        logger.exception("delivery %s raised unexpectedly", delivery_id)
        error = NotificationError(f"{exc.__class__.__name__}: {exc}")
    attempt = {"at": iso_z(now.replace(microsecond=0)), "error": error.message if error else None}
    source = error or report
    if source is not None and source.status is not None:
        attempt.update(status=source.status, elapsed_ms=source.elapsed_ms)
    log = [*delivery.log, attempt]
    if error is None:
        status, fields = Delivery.Status.SENT, {"sent_at": now, "next_attempt_at": None, "last_error": ""}
        logger.info(
            "delivery %s sent to %s %s (attempt %s)",
            delivery_id,
            delivery.kind,
            target_masked(delivery.kind, delivery.target),
            delivery.attempts,
        )
    elif error.permanent or delivery.attempts >= settings.ALERTS_DELIVERY_MAX_ATTEMPTS:
        status, fields = Delivery.Status.FAILED, {"next_attempt_at": None, "last_error": error.message}
        logger.error(
            "delivery %s failed for good after %s attempts: %s", delivery_id, delivery.attempts, error.message
        )
    else:
        retry_at = now + retry_delay(delivery.attempts)
        status, fields = Delivery.Status.RETRYING, {"next_attempt_at": retry_at, "last_error": error.message}
        logger.warning(
            "delivery %s attempt %s failed, retry at %s: %s",
            delivery_id,
            delivery.attempts,
            iso_z(retry_at),
            error.message,
        )
    Delivery.objects.filter(pk=delivery_id, status=Delivery.Status.SENDING).update(
        status=status, log=log, **fields
    )
    if delivery.purpose == Delivery.Purpose.VERIFICATION and delivery.channel_id:
        _verification_status_record(delivery.channel_id, status)
    delivery_attempt_record(kind=delivery.kind, status=status)
    return status


_VERIFICATION_STATUS = {
    Delivery.Status.SENT: NotificationChannel.Verification.SENT,
    Delivery.Status.FAILED: NotificationChannel.Verification.FAILED,
}


def _verification_status_record(channel_id: int, status: str) -> None:
    # A retrying verification email stays "pending"; a verified channel keeps its status.
    if status in _VERIFICATION_STATUS:
        NotificationChannel.objects.filter(pk=channel_id, verified=False).update(
            verification_status=_VERIFICATION_STATUS[status]
        )


def sample_event(*, rule: AlertRule, now: datetime) -> AlertEvent:
    """An unsaved firing event of `rule` at the minute of `now`, for test notifications."""
    return AlertEvent(
        rule=rule,
        minute=minute_floor(now),
        old_state=rule.state,
        new_state=State.FIRING.value,
        observed_value=rule.threshold,
        reference_value=rule.threshold,
        message=f"{rule.name}: test notification for {rule.pair} ({Condition(rule.condition).label})",
    )


def delivery_message(delivery: Delivery, *, now: datetime) -> Message:
    """The message a delivery sends: its event's, its channel's verification email, or a test of its rule.

    Raises NotificationError (permanent) when what it refers to was deleted.
    """
    if delivery.purpose == Delivery.Purpose.VERIFICATION:
        if delivery.channel is None or delivery.channel.target != delivery.target:
            raise NotificationError("the channel was deleted or changed", permanent=True)
        return verification_render(delivery.channel)
    if delivery.purpose == Delivery.Purpose.DIGEST:
        if delivery.channel is None:
            raise NotificationError("the channel was deleted", permanent=True)
        members = delivery.digested.select_related("event__rule").order_by("event__minute", "pk")
        return digest_render(delivery.channel, [member.event for member in members])
    if delivery.purpose == Delivery.Purpose.TEST:
        # Without a rule, a channel's own test: a sample rule (unsaved) shows what alerts look like.
        rule = delivery.rule or AlertRule(
            name="Test",
            pair="BTCUSD",
            condition=Condition.PRICE_ABOVE.value,
            threshold=Decimal("70000"),
            owner_id=delivery.requested_by_id,
        )
        return message_render(sample_event(rule=rule, now=now), test=True)
    return message_render(delivery.event)


def deliveries_send(*, delivery_ids: Iterable[int], now: datetime | None = None) -> Counter[str]:
    """Send each delivery (see delivery_send); returns the count of outcomes by status."""
    outcomes: Counter[str] = Counter()
    for delivery_id in delivery_ids:
        outcomes[delivery_send(delivery_id=delivery_id, now=now)] += 1
    return outcomes


def deliveries_enqueue(delivery_ids: list[int]) -> None:
    """Hand deliveries to django-q2 workers (`alerts.tasks.send_deliveries`) after the transaction commits."""
    if not delivery_ids:
        return
    from django_q.tasks import async_task

    ids = list(delivery_ids)
    transaction.on_commit(lambda: async_task("alerts.tasks.send_deliveries", ids))


def digests_create(*, now: datetime | None = None) -> list[int]:
    """Gather the held deliveries whose quiet hours have ended into one pending digest delivery per
    channel (sent like any delivery, with retries); returns the digests' ids.

    Each channel's held rows are locked while they are gathered, so two callers never put one
    alert in two digests. Held rows of a deleted channel fail (nothing to send to).
    """
    now = now or datetime.now(UTC)
    due = Delivery.objects.filter(status=Delivery.Status.HELD, next_attempt_at__lte=now)
    Delivery.objects.filter(pk__in=due.filter(channel__isnull=True).values("pk")).update(
        status=Delivery.Status.FAILED, next_attempt_at=None, last_error="the channel was deleted"
    )
    digests = []
    for channel_id in sorted(set(due.exclude(channel__isnull=True).values_list("channel_id", flat=True))):
        with transaction.atomic():
            held = list(due.filter(channel_id=channel_id).select_for_update().values_list("pk", flat=True))
            if not held:
                continue  # another caller gathered them
            channel = NotificationChannel.objects.get(pk=channel_id)
            digest = Delivery.objects.create(
                purpose=Delivery.Purpose.DIGEST,
                channel=channel,
                kind=channel.kind,
                target=channel.target,
                status=Delivery.Status.PENDING,
                next_attempt_at=now,
            )
            Delivery.objects.filter(pk__in=held, status=Delivery.Status.HELD).update(
                status=Delivery.Status.DIGESTED, digest=digest, next_attempt_at=None
            )
        logger.info("digest %s of %s held alerts for channel %s", digest.pk, len(held), channel_id)
        digests.append(digest.pk)
    return digests


def deliveries_due(*, now: datetime | None = None, limit: int = DUE_BATCH) -> list[int]:
    """Ids of due deliveries, oldest first: pending, retrying, or sending with an expired lease."""
    now = now or datetime.now(UTC)
    return list(
        Delivery.objects.filter(_due(now))
        .order_by("next_attempt_at", "pk")
        .values_list("pk", flat=True)[:limit]
    )


def deliveries_retry(*, delivery_ids: Iterable[int], now: datetime | None = None) -> int:
    """Make failed (or skipped) deliveries due again now with a fresh attempt budget; returns rows changed."""
    now = now or datetime.now(UTC)
    return Delivery.objects.filter(
        pk__in=list(delivery_ids), status__in=[Delivery.Status.FAILED, Delivery.Status.RETRYING]
    ).update(status=Delivery.Status.PENDING, attempts=0, next_attempt_at=now)
