"""Writes on alert rules and notification channels: validation, create/update, enable, verify, test sends."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from django.conf import settings
from django.core import signing
from django.core.exceptions import ValidationError
from django.core.validators import EmailValidator, URLValidator
from django.db import transaction
from django.db.models import QuerySet
from django.urls import reverse

from alerts import outbound
from alerts.evaluation import rule_spec
from alerts.models import AlertEvent, AlertRule, NotificationChannel
from alerts.notifications import NotificationError, email_send, message_render, notifier_for
from alerts.rules import FIELDS, Condition, Direction, RuleSpec, State, TriggerMode
from prices import selectors
from prices.domain import EXCHANGE_BITFINEX, minute_floor
from prices.repository import TickRepository

VERIFY_SALT = "alerts.channel-verify"
VERIFY_MAX_AGE_S = 7 * 24 * 3600
logger = logging.getLogger(__name__)
SPEC_FIELDS = ("condition", *FIELDS)  # what a rule's condition is made of (see alerts.rules.FIELDS)


class AlertValidationError(ValueError):
    """Invalid input; `errors` maps field names to messages."""

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))
        self.errors = errors


class ChannelVerificationError(ValueError):
    """A verification token that is malformed, expired, or names no channel."""


def alert_rule_errors(
    *,
    exchange: str,
    pair: str,
    spec: RuleSpec,
    trigger_mode: str = TriggerMode.REARM.value,
    repo: TickRepository | None = None,
) -> dict[str, str]:
    """Validation errors of a rule's pair and parameters (empty when valid); reads the pair registry.

    Raises prices.repository.RepositoryError when the price store is unreachable.
    """
    errors = spec.errors()
    if trigger_mode not in {m.value for m in TriggerMode}:
        errors["trigger_mode"] = f"must be one of {', '.join(m.value for m in TriggerMode)}"
    try:
        selectors.pair_get(pair=pair, exchange=exchange, repo=repo)
    except selectors.PairNotFoundError:
        errors["pair"] = f"unknown pair {pair!r} on {exchange}: no prices are stored for it"
    return errors


def _spec_of(data: dict[str, Any]) -> RuleSpec:
    """The RuleSpec of `condition` plus parameter fields (missing ones take their defaults)."""
    try:
        condition = Condition(data["condition"])
    except ValueError:
        raise AlertValidationError(
            {"condition": f"must be one of {', '.join(c.value for c in Condition)}"}
        ) from None
    values = {
        name: field.default if data.get(name) is None else data.get(name) for name, field in FIELDS.items()
    }
    try:
        values["direction"] = Direction(values["direction"])
    except ValueError:
        raise AlertValidationError({"direction": "must be up, down or either"}) from None
    return RuleSpec(condition=condition, **values)


def alert_rule_input_errors(*, data: dict[str, Any], repo: TickRepository | None = None) -> dict[str, str]:
    """Validation errors (field → message, empty when valid) of a rule's input as create/update take it:
    `exchange` (default bitfinex), `pair`, `condition`, its parameters and `trigger_mode`.

    The one check the API, the admin and the web forms share. Raises RepositoryError when the
    price store is unreachable.
    """
    try:
        spec = _spec_of(data)
    except AlertValidationError as exc:
        return exc.errors
    return alert_rule_errors(
        exchange=data.get("exchange") or EXCHANGE_BITFINEX,
        pair=data.get("pair") or "",
        spec=spec,
        trigger_mode=data.get("trigger_mode") or TriggerMode.REARM.value,
        repo=repo,
    )


def _check_channels(owner, channels: Sequence[NotificationChannel]) -> None:
    if any(channel.owner_id != owner.pk for channel in channels):
        raise AlertValidationError({"channels": "unknown channel"})


@transaction.atomic
def alert_rule_create(
    *,
    owner,
    name: str,
    pair: str,
    condition: str,
    exchange: str = EXCHANGE_BITFINEX,
    trigger_mode: str = TriggerMode.REARM.value,
    cooldown_minutes: int = 60,
    confirm_minutes: int = 1,
    expires_at: datetime | None = None,
    enabled: bool = True,
    channels: Sequence[NotificationChannel] = (),
    repo: TickRepository | None = None,
    **params: Any,
) -> AlertRule:
    """Validate and create a rule owned by `owner`; raises AlertValidationError (field → message).

    `params` are the condition's parameters, by the field names of alerts.rules.FIELDS
    (threshold, percent, window_minutes, …); unused ones stay empty. `confirm_minutes`: the
    condition must hold that many consecutive minutes before the rule fires. An unknown name
    is a TypeError.
    """
    unknown = set(params) - set(FIELDS)
    if unknown:
        raise TypeError(f"unknown rule parameters: {', '.join(sorted(unknown))}")
    spec = _spec_of({"condition": condition, **params})
    errors = alert_rule_errors(exchange=exchange, pair=pair, spec=spec, trigger_mode=trigger_mode, repo=repo)
    if errors:
        raise AlertValidationError(errors)
    _check_channels(owner, channels)
    rule = AlertRule.objects.create(
        owner=owner,
        name=name,
        exchange=exchange,
        pair=pair,
        trigger_mode=trigger_mode,
        cooldown_minutes=cooldown_minutes,
        confirm_minutes=confirm_minutes,
        expires_at=expires_at,
        enabled=enabled,
        condition=spec.condition.value,
        **{name: spec.value(name) for name in FIELDS},
    )
    rule.channels.set(channels)
    return rule


@transaction.atomic
def alert_rule_update(
    *, rule: AlertRule, data: dict[str, Any], repo: TickRepository | None = None
) -> AlertRule:
    """Apply a partial update (same fields as alert_rule_create); raises AlertValidationError.

    Changing the condition, its parameters or the pair resets the rule to normal and re-armed;
    re-enabling a rule makes it start again at the next evaluated minute (no catch-up).
    """
    data = dict(data)
    channels = data.pop("channels", None)
    merged = {name: data.get(name, getattr(rule, name)) for name in SPEC_FIELDS}
    spec = _spec_of(merged)
    exchange = data.get("exchange", rule.exchange)
    pair = data.get("pair", rule.pair)
    trigger_mode = data.get("trigger_mode", rule.trigger_mode)
    errors = alert_rule_errors(exchange=exchange, pair=pair, spec=spec, trigger_mode=trigger_mode, repo=repo)
    if errors:
        raise AlertValidationError(errors)
    if channels is not None:
        _check_channels(rule.owner, channels)
    spec_changed = spec != rule_spec(rule) or pair != rule.pair or exchange != rule.exchange
    re_enabled = data.get("enabled") is True and not rule.enabled
    for name, value in data.items():
        setattr(rule, name, value)
    if spec_changed:
        rule.state, rule.armed, rule.state_changed_at = State.NORMAL.value, True, None
        rule.held_minutes, rule.anchor_price = 0, None
    if re_enabled or spec_changed:
        rule.last_evaluated_minute = None
    rule.save()
    if channels is not None:
        rule.channels.set(channels)
    return rule


def alert_rules_set_enabled(*, rules: QuerySet[AlertRule], enabled: bool) -> int:
    """Enable or disable rules; enabling re-arms them and restarts them at the next minute. Returns rows."""
    if enabled:
        return rules.filter(enabled=False).update(enabled=True, armed=True, last_evaluated_minute=None)
    return rules.filter(enabled=True).update(enabled=False)


@dataclass(frozen=True, slots=True)
class TestSendResult:
    """The outcome of a test notification on one channel: error text or None."""

    channel: NotificationChannel
    error: str | None


def alert_rule_test_notify(*, rule: AlertRule, now: datetime | None = None) -> list[TestSendResult]:
    """Send a test notification of `rule` to each of its channels now, synchronously; records nothing."""
    now = now or datetime.now(UTC)
    event = AlertEvent(
        rule=rule,
        minute=minute_floor(now),
        old_state=rule.state,
        new_state=State.FIRING.value,
        message=f"{rule.name}: test notification for {rule.pair} ({Condition(rule.condition).label})",
    )
    message = message_render(event, test=True)
    results = []
    for channel in rule.channels.all():
        if not channel.can_send:
            results.append(TestSendResult(channel, "email channel not verified"))
            continue
        try:
            notifier_for(channel.kind).send(target=channel.target, message=message)
            results.append(TestSendResult(channel, None))
        except NotificationError as exc:
            results.append(TestSendResult(channel, exc.message))
    return results


def channel_test_notify(*, channel: NotificationChannel, now: datetime | None = None) -> str | None:
    """Send a test notification to one channel now; returns the error text, None when sent."""
    if not channel.can_send:
        return "email channel not verified"
    now = now or datetime.now(UTC)
    probe = AlertRule(
        pk=None, name="Test", pair="BTCUSD", condition=Condition.PRICE_ABOVE.value, owner=channel.owner
    )
    event = AlertEvent(
        rule=probe,
        minute=minute_floor(now),
        old_state=State.NORMAL.value,
        new_state=State.FIRING.value,
        message=f"Test notification for the channel {channel}",
    )
    try:
        notifier_for(channel.kind).send(target=channel.target, message=message_render(event, test=True))
    except NotificationError as exc:
        return exc.message
    return None


# --- channels ---------------------------------------------------------------------------


def _validate_target(kind: str, target: str) -> None:
    try:
        if kind == NotificationChannel.Kind.EMAIL:
            EmailValidator()(target)
        elif kind == NotificationChannel.Kind.WEBHOOK:
            URLValidator(schemes=["http", "https"])(target)
            outbound.url_check(target)
        else:
            raise AlertValidationError({"kind": "must be email or webhook"})
    except ValidationError:
        raise AlertValidationError({"target": f"not a valid {kind} target"}) from None
    except outbound.OutboundRefusedError as exc:
        raise AlertValidationError({"target": f"this address is not allowed: {exc.message}"}) from None


def channel_create(*, owner, kind: str, target: str, name: str = "") -> NotificationChannel:
    """Create a channel; an email channel is verified at once only if it is the owner's own address,
    otherwise a verification link is emailed to it. Raises AlertValidationError."""
    _validate_target(kind, target)
    if NotificationChannel.objects.filter(owner=owner, kind=kind, target=target).exists():
        raise AlertValidationError({"target": "you already have this channel"})
    own_address = bool(owner.email) and target.lower() == owner.email.lower()
    verified = kind == NotificationChannel.Kind.WEBHOOK or own_address
    channel = NotificationChannel.objects.create(
        owner=owner, kind=kind, target=target, name=name, verified=verified
    )
    if not verified:
        transaction.on_commit(lambda: channel_verification_send(channel=channel))
    return channel


def channel_update(*, channel: NotificationChannel, data: dict[str, Any]) -> NotificationChannel:
    """Rename or retarget a channel; a new email target needs verifying again. Raises AlertValidationError."""
    kind = data.get("kind", channel.kind)
    target = data.get("target", channel.target)
    retargeted = kind != channel.kind or target != channel.target
    if retargeted:
        _validate_target(kind, target)
        if (
            NotificationChannel.objects.filter(owner=channel.owner, kind=kind, target=target)
            .exclude(pk=channel.pk)
            .exists()
        ):
            raise AlertValidationError({"target": "you already have this channel"})
    for name, value in data.items():
        setattr(channel, name, value)
    if retargeted:
        own = bool(channel.owner.email) and target.lower() == channel.owner.email.lower()
        channel.verified = kind == NotificationChannel.Kind.WEBHOOK or own
    channel.save()
    if retargeted and not channel.verified:
        transaction.on_commit(lambda: channel_verification_send(channel=channel))
    return channel


def channel_verification_send(*, channel: NotificationChannel) -> None:
    """Email the channel's address a signed link that marks it verified (valid 7 days).

    Best effort: a failure is left for the owner to retry (re-save the channel).
    """
    token = signing.dumps({"channel": channel.pk, "target": channel.target}, salt=VERIFY_SALT)
    link = f"{settings.SITE_URL}{reverse('alerts:channel-verify')}?token={token}"
    try:
        email_send(
            to=channel.target,
            subject="[cryptotracker] Confirm this address for price alerts",
            text=(
                f"{channel.owner} added {channel.target} as a notification channel for price alerts.\n\n"
                f"Open this link within 7 days to confirm it:\n{link}\n\n"
                "If this was not you, ignore this email."
            ),
        )
    except NotificationError as exc:
        logger.warning("verification email for channel %s not sent: %s", channel.pk, exc.message)


def channel_verify(*, token: str) -> NotificationChannel:
    """Mark the channel named by a verification token verified; raises ChannelVerificationError."""
    try:
        data = signing.loads(token, salt=VERIFY_SALT, max_age=VERIFY_MAX_AGE_S)
    except signing.SignatureExpired:
        raise ChannelVerificationError("this verification link has expired") from None
    except signing.BadSignature:
        raise ChannelVerificationError("invalid verification link") from None
    channel = NotificationChannel.objects.filter(pk=data.get("channel"), target=data.get("target")).first()
    if channel is None:
        raise ChannelVerificationError("the channel of this link no longer exists")
    if not channel.verified:
        channel.verified = True
        channel.save(update_fields=["verified"])
    return channel


def channels_of(*, owner, ids: Iterable[int]) -> list[NotificationChannel]:
    """The owner's channels with these ids; raises AlertValidationError if any is not theirs."""
    wanted = set(ids)
    channels = list(NotificationChannel.objects.filter(owner=owner, pk__in=wanted))
    if len(channels) != len(wanted):
        raise AlertValidationError({"channels": "unknown channel"})
    return channels
