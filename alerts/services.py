"""Writes on alert rules and notification channels: validation, create/update, enable, verify, test sends."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, time, timedelta
from typing import Any

from django.conf import settings
from django.core import signing
from django.core.exceptions import ValidationError
from django.core.validators import EmailValidator, URLValidator
from django.db import transaction
from django.db.models import QuerySet

from alerts import outbound
from alerts.deliveries import deliveries_enqueue
from alerts.evaluation import rule_spec
from alerts.models import MEDIAN_EXCHANGE, AlertRule, Delivery, NotificationChannel
from alerts.notifications import VERIFY_MAX_AGE_S, VERIFY_SALT, NotificationError, apprise_url_check
from alerts.quiet_hours import quiet_hours_errors
from alerts.rules import CONDITIONS, FIELDS, Condition, Direction, RuleSpec, State, TriggerMode
from prices import selectors
from prices.domain import EXCHANGE_BITFINEX
from prices.exchanges import configured_exchanges, market_of
from prices.repository import TickRepository
from prices.selectors_markets import market_indexes

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
    confirm_exchange: bool = False,
    repo: TickRepository | None = None,
) -> dict[str, str]:
    """Validation errors of a rule's pair and parameters (empty when valid); reads the pair registry
    (and, with `confirm_exchange`, the market indexes: another configured exchange must list the
    pair's market).

    Raises prices.repository.RepositoryError when the price store is unreachable.
    """
    errors = spec.errors()
    if trigger_mode not in {m.value for m in TriggerMode}:
        errors["trigger_mode"] = f"must be one of {', '.join(m.value for m in TriggerMode)}"
    if exchange == MEDIAN_EXCHANGE:
        return errors | _median_rule_errors(pair, spec, confirm_exchange=confirm_exchange, repo=repo)
    try:
        selectors.pair_get(pair=pair, exchange=exchange, repo=repo)
    except selectors.PairNotFoundError:
        errors["pair"] = f"unknown pair {pair!r} on {exchange}: no prices are stored for it"
    if confirm_exchange and "pair" not in errors:
        market = market_of(exchange, pair)
        listed = [
            other
            for other, index in market_indexes(repo=repo).items()
            if other != exchange and market is not None and index.get(market.name)
        ]
        if not listed:
            shown = market.name if market is not None else pair
            errors["confirm_exchange"] = f"no other configured exchange lists {shown}: nothing could confirm"
    return errors


def rule_exchange_choices() -> list[tuple[str, str]]:
    """(value, label) of what a rule's `exchange` may be: each configured exchange, and with two
    or more, the median across them (MEDIAN_EXCHANGE)."""
    configs = configured_exchanges()
    choices = [(config.name, config.label) for config in configs]
    if len(configs) > 1:
        choices.append((MEDIAN_EXCHANGE, "Median across exchanges"))
    return choices


def _raise_rule_errors(**kwargs: Any) -> None:
    """alert_rule_errors, raised as AlertValidationError when there are any (create and update)."""
    errors = alert_rule_errors(**kwargs)
    if errors:
        raise AlertValidationError(errors)


def _median_rule_errors(
    market: str, spec: RuleSpec, *, confirm_exchange: bool, repo: TickRepository | None
) -> dict[str, str]:
    """A median rule's own checks: a market two configured exchanges list, no window statistics."""
    errors: dict[str, str] = {}
    listed = [exchange for exchange, index in market_indexes(repo=repo).items() if index.get(market)]
    if len(listed) < 2:
        where = f"only {listed[0]} lists" if listed else "no configured exchange lists"
        errors["pair"] = f"a median needs a market (BASE-QUOTE) on two exchanges; {where} {market!r}"
    if CONDITIONS[spec.condition].aggregate(spec) is not None:
        errors["condition"] = "reads one exchange's window statistics: choose an exchange, not the median"
    if confirm_exchange:
        errors["confirm_exchange"] = "a median already spans the exchanges"
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


def rule_input_unused_cleared(data: dict[str, Any]) -> dict[str, Any]:
    """`data` with every parameter its condition does not use set to the field's default (what a
    form holds in fields hidden for the chosen condition); an unknown condition leaves it as is."""
    try:
        kind = CONDITIONS[Condition(data.get("condition"))]
    except ValueError:
        return data
    return {**data, **{name: field.default for name, field in FIELDS.items() if kind.param(name) is None}}


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
    confirm_exchange: bool = False,
    expires_at: datetime | None = None,
    enabled: bool = True,
    channels: Sequence[NotificationChannel] = (),
    repo: TickRepository | None = None,
    **params: Any,
) -> AlertRule:
    """Validate and create a rule owned by `owner`; raises AlertValidationError (field → message).

    `params` are the condition's parameters, by the field names of alerts.rules.FIELDS
    (threshold, percent, window_minutes, …); unused ones stay empty. `confirm_minutes`: the
    condition must hold that many consecutive minutes before the rule fires; `confirm_exchange`:
    it must also hold on another configured exchange listing the market. An unknown name is a
    TypeError.
    """
    unknown = set(params) - set(FIELDS)
    if unknown:
        raise TypeError(f"unknown rule parameters: {', '.join(sorted(unknown))}")
    spec = _spec_of({"condition": condition, **params})
    _raise_rule_errors(
        exchange=exchange,
        pair=pair,
        spec=spec,
        trigger_mode=trigger_mode,
        confirm_exchange=confirm_exchange,
        repo=repo,
    )
    _check_channels(owner, channels)
    rule = AlertRule.objects.create(
        owner=owner,
        name=name,
        exchange=exchange,
        pair=pair,
        trigger_mode=trigger_mode,
        cooldown_minutes=cooldown_minutes,
        confirm_minutes=confirm_minutes,
        confirm_exchange=confirm_exchange,
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
    confirm_exchange = data.get("confirm_exchange", rule.confirm_exchange)
    _raise_rule_errors(
        exchange=exchange,
        pair=pair,
        spec=spec,
        trigger_mode=trigger_mode,
        confirm_exchange=confirm_exchange,
        repo=repo,
    )
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


def _test_deliveries(
    channels: Iterable[NotificationChannel], *, rule: AlertRule | None, requested_by, now: datetime
) -> list[Delivery]:
    deliveries = [
        Delivery(
            purpose=Delivery.Purpose.TEST,
            rule=rule,
            requested_by=requested_by,
            channel=channel,
            kind=channel.kind,
            target=channel.target,
            status=Delivery.Status.PENDING if channel.can_send else Delivery.Status.SKIPPED,
            last_error="" if channel.can_send else "email channel not verified",
            next_attempt_at=now if channel.can_send else None,
        )
        for channel in channels
    ]
    created = Delivery.objects.bulk_create(deliveries)
    deliveries_enqueue([d.pk for d in created if d.status == Delivery.Status.PENDING])
    return created


def alert_rule_test_notify(
    *, rule: AlertRule, requested_by=None, now: datetime | None = None
) -> list[Delivery]:
    """Queue a test notification of `rule` to each of its channels (sent by a worker, never here).

    Returns the deliveries: pending, or skipped for an unverified email channel.
    """
    return _test_deliveries(
        rule.channels.all(), rule=rule, requested_by=requested_by, now=now or datetime.now(UTC)
    )


def channel_test_notify(
    *, channel: NotificationChannel, requested_by=None, now: datetime | None = None
) -> Delivery:
    """Queue a test notification to one channel (a sample BTCUSD alert; sent by a worker, never here).

    Returns the delivery: pending, or skipped (with `last_error`) for an unverified email channel.
    """
    (delivery,) = _test_deliveries(
        [channel], rule=None, requested_by=requested_by, now=now or datetime.now(UTC)
    )
    return delivery


# --- channels ---------------------------------------------------------------------------


class ChannelRateLimitError(Exception):
    """Too many unverified channels created within the hour; `retry_after_s` until the next is allowed."""

    def __init__(self, message: str, *, retry_after_s: int) -> None:
        super().__init__(message)
        self.message = message
        self.retry_after_s = retry_after_s


def _validate_target(kind: str, target: str) -> None:
    try:
        if kind == NotificationChannel.Kind.EMAIL:
            EmailValidator()(target)
        elif kind == NotificationChannel.Kind.WEBHOOK:
            URLValidator(schemes=["http", "https"])(target)
            outbound.url_check(target)
        elif kind == NotificationChannel.Kind.APPRISE:
            apprise_url_check(target)
        else:
            raise AlertValidationError({"kind": "must be email, webhook or apprise"})
    except ValidationError:
        raise AlertValidationError({"target": f"not a valid {kind} target"}) from None
    except outbound.OutboundRefusedError as exc:
        raise AlertValidationError({"target": f"this address is not allowed: {exc.message}"}) from None
    except NotificationError as exc:
        raise AlertValidationError({"target": exc.message}) from None


def channel_target_validate(*, kind: str, target: str) -> None:
    """Check a channel target for its kind (addresses, outbound guard, Apprise's parser); raises
    AlertValidationError naming `target` (or `kind`)."""
    _validate_target(kind, target)


def _needs_verification(owner, kind: str, target: str) -> bool:
    own_address = bool(owner.email) and target.lower() == owner.email.lower()
    return kind == NotificationChannel.Kind.EMAIL and not own_address


def _verification_allowed(owner, now: datetime) -> None:
    # Counted on the verification deliveries the owner asked for: deleting a channel does not reset it.
    limit = settings.ALERTS_UNVERIFIED_CHANNELS_PER_HOUR
    recent = list(
        Delivery.objects.filter(
            purpose=Delivery.Purpose.VERIFICATION, requested_by=owner, created_at__gt=now - timedelta(hours=1)
        )
        .order_by("created_at")
        .values_list("created_at", flat=True)[:limit]
    )
    if len(recent) >= limit:
        retry_after = max(int((recent[0] + timedelta(hours=1) - now).total_seconds()) + 1, 1)
        raise ChannelRateLimitError(
            f"at most {limit} channels needing verification per hour; try again later",
            retry_after_s=retry_after,
        )


def _verification_queue(channel: NotificationChannel, now: datetime) -> None:
    channel.verified = False
    channel.verification_status = NotificationChannel.Verification.PENDING
    channel.save(update_fields=["verified", "verification_status"])
    delivery = Delivery.objects.create(
        purpose=Delivery.Purpose.VERIFICATION,
        requested_by=channel.owner,
        channel=channel,
        kind=NotificationChannel.Kind.EMAIL,
        target=channel.target,
        next_attempt_at=now,
    )
    deliveries_enqueue([delivery.pk])


@transaction.atomic
def _validate_quiet_hours(start: time | None, end: time | None, timezone: str) -> None:
    errors = quiet_hours_errors(start=start, end=end, timezone=timezone)
    if errors:
        raise AlertValidationError(errors)


def channel_create(
    *,
    owner,
    kind: str,
    target: str,
    name: str = "",
    quiet_start: time | None = None,
    quiet_end: time | None = None,
    quiet_timezone: str = "UTC",
    now: datetime | None = None,
) -> NotificationChannel:
    """Create a channel; an email channel is verified at once only if it is the owner's own address,
    otherwise a verification email is queued (at most ALERTS_UNVERIFIED_CHANNELS_PER_HOUR an hour).

    `quiet_start`/`quiet_end` (local times in `quiet_timezone`, an IANA name): alerts created in
    that daily range are held and sent as one digest when it ends. Raises AlertValidationError
    (bad or refused target, bad quiet hours) or ChannelRateLimitError.
    """
    now = now or datetime.now(UTC)
    _validate_quiet_hours(quiet_start, quiet_end, quiet_timezone)
    _validate_target(kind, target)
    if NotificationChannel.objects.filter(owner=owner, kind=kind, target=target).exists():
        raise AlertValidationError({"target": "you already have this channel"})
    needs_verification = _needs_verification(owner, kind, target)
    if needs_verification:
        _verification_allowed(owner, now)
    channel = NotificationChannel.objects.create(
        owner=owner,
        kind=kind,
        target=target,
        name=name,
        verified=not needs_verification,
        quiet_start=quiet_start,
        quiet_end=quiet_end,
        quiet_timezone=quiet_timezone,
    )
    if needs_verification:
        _verification_queue(channel, now)
    return channel


@transaction.atomic
def channel_update(
    *, channel: NotificationChannel, data: dict[str, Any], now: datetime | None = None
) -> NotificationChannel:
    """Rename, retarget or re-time (quiet hours) a channel; a new email target needs verifying again
    (queued, as at creation).

    Raises AlertValidationError or ChannelRateLimitError.
    """
    now = now or datetime.now(UTC)
    _validate_quiet_hours(
        data.get("quiet_start", channel.quiet_start),
        data.get("quiet_end", channel.quiet_end),
        data.get("quiet_timezone", channel.quiet_timezone),
    )
    kind = data.get("kind", channel.kind)
    target = data.get("target", channel.target)
    retargeted = kind != channel.kind or target != channel.target
    needs_verification = retargeted and _needs_verification(channel.owner, kind, target)
    if retargeted:
        _validate_target(kind, target)
        if (
            NotificationChannel.objects.filter(owner=channel.owner, kind=kind, target=target)
            .exclude(pk=channel.pk)
            .exists()
        ):
            raise AlertValidationError({"target": "you already have this channel"})
        if needs_verification:
            _verification_allowed(channel.owner, now)
    for name, value in data.items():
        setattr(channel, name, value)
    if retargeted and not needs_verification:
        channel.verified, channel.verification_status = True, NotificationChannel.Verification.NONE
    channel.save()
    if needs_verification:
        _verification_queue(channel, now)
    return channel


def channel_verification_resend(*, channel: NotificationChannel, now: datetime | None = None) -> None:
    """Queue the verification email of an unverified email channel again; raises ChannelRateLimitError."""
    now = now or datetime.now(UTC)
    if channel.verified or channel.kind != NotificationChannel.Kind.EMAIL:
        return
    _verification_allowed(channel.owner, now)
    with transaction.atomic():
        _verification_queue(channel, now)


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
