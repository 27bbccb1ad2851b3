"""What people do to a rule (mute, unmute, enable, disable, re-arm), recorded on its history, and
the signed, expiring one-click links in notifications that do the same without signing in."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.core import signing
from django.db import transaction
from django.urls import reverse

from alerts import services
from alerts.models import AlertRule, AlertRuleAction
from alerts.rules import State
from prices import selectors
from prices.repository import TickRepository

LINK_SALT = "alerts.rule-action"
Action = AlertRuleAction.Action
Via = AlertRuleAction.Via


class ActionLinkError(ValueError):
    """A one-click link that is malformed, expired, or names no rule."""


@dataclass(frozen=True, slots=True)
class LinkAction:
    """One action a notification link offers: its key, button label and what it does."""

    key: str
    label: str
    description: str


# The actions of a notification's links, in the order the message lists them.
LINK_ACTIONS = {
    "mute_1h": LinkAction(
        "mute_1h", "Mute for 1 hour", "No notifications for the next hour; evaluation goes on."
    ),
    "mute_24h": LinkAction(
        "mute_24h", "Mute for 24 hours", "No notifications for the next 24 hours; evaluation goes on."
    ),
    "disable": LinkAction(
        "disable", "Disable the rule", "The rule stops being evaluated until you enable it."
    ),
    "rearm": LinkAction(
        "rearm",
        "Re-arm at the current price",
        "A price rule's threshold moves to the pair's last price; the rule starts again from normal.",
    ),
}
MUTE_DURATIONS = {"mute_1h": timedelta(hours=1), "mute_24h": timedelta(hours=24)}


def _record(rule: AlertRule, action: str, *, via: str, actor, now: datetime, detail: str = "") -> None:
    AlertRuleAction.objects.create(
        rule=rule,
        action=action,
        via=via,
        actor=actor if getattr(actor, "pk", None) else None,
        detail=detail,
        at=now,
    )


def _utc(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%MZ")


@transaction.atomic
def alert_rule_mute(
    *, rule: AlertRule, duration: timedelta, via: str, actor=None, now: datetime | None = None
) -> AlertRule:
    """Mute notifications of `rule` for `duration` from `now` (wall clock, UTC); evaluation goes on."""
    now = now or datetime.now(UTC)
    rule.muted_until = now + duration
    rule.save(update_fields=["muted_until", "updated_at"])
    _record(rule, Action.MUTE, via=via, actor=actor, now=now, detail=f"until {_utc(rule.muted_until)}")
    return rule


@transaction.atomic
def alert_rule_unmute(*, rule: AlertRule, via: str, actor=None, now: datetime | None = None) -> AlertRule:
    """End a mute at once."""
    now = now or datetime.now(UTC)
    rule.muted_until = None
    rule.save(update_fields=["muted_until", "updated_at"])
    _record(rule, Action.UNMUTE, via=via, actor=actor, now=now)
    return rule


@transaction.atomic
def alert_rule_enable(
    *, rule: AlertRule, enabled: bool, via: str, actor=None, now: datetime | None = None
) -> AlertRule:
    """Enable (re-armed, restarting at the next minute) or disable a rule, recorded on its history."""
    now = now or datetime.now(UTC)
    services.alert_rules_set_enabled(rules=AlertRule.objects.filter(pk=rule.pk), enabled=enabled)
    _record(rule, Action.ENABLE if enabled else Action.DISABLE, via=via, actor=actor, now=now)
    rule.refresh_from_db()
    return rule


@transaction.atomic
def alert_rule_rearm(
    *, rule: AlertRule, via: str, actor=None, now: datetime | None = None, repo: TickRepository | None = None
) -> AlertRule:
    """Re-arm `rule` at the pair's last price: a rule with a threshold gets the last price as its
    threshold; every rule goes back to normal and armed, unmuted. Raises
    services.AlertValidationError (e.g. the pair has no price any more) or RepositoryError."""
    now = now or datetime.now(UTC)
    data: dict = {}
    detail = "state back to normal"
    if rule.threshold is not None:
        last = selectors.pair_get(pair=rule.pair, exchange=rule.exchange, repo=repo).last_price
        data["threshold"] = last
        detail = f"threshold {rule.threshold.normalize():f} → {last.normalize():f}"
    rule = services.alert_rule_update(rule=rule, data=data, repo=repo)
    AlertRule.objects.filter(pk=rule.pk).update(
        state=State.NORMAL.value,
        armed=True,
        state_changed_at=None,
        muted_until=None,
        last_evaluated_minute=None,
    )
    rule.refresh_from_db()
    _record(rule, Action.REARM, via=via, actor=actor, now=now, detail=detail)
    return rule


# --- one-click links ------------------------------------------------------------------------


def action_link_token(*, rule: AlertRule, action: str) -> str:
    """A signed token naming the rule and one of LINK_ACTIONS (checked by action_link_read)."""
    if action not in LINK_ACTIONS:
        raise ValueError(f"unknown link action {action!r}")
    return signing.dumps({"rule": rule.pk, "action": action}, salt=LINK_SALT, compress=True)


def action_links(*, rule: AlertRule) -> list[tuple[str, str, str]]:
    """(key, label, absolute URL) of every one-click action on `rule`, for a notification (SITE_URL)."""
    return [
        (
            key,
            item.label,
            settings.SITE_URL + reverse("alerts_web:action", args=[action_link_token(rule=rule, action=key)]),
        )
        for key, item in LINK_ACTIONS.items()
    ]


def action_link_read(*, token: str) -> tuple[AlertRule, LinkAction]:
    """The rule and action of a link; raises ActionLinkError when it is bad, expired
    (after ALERTS_ACTION_LINK_MAX_AGE_S) or its rule was deleted."""
    try:
        data = signing.loads(token, salt=LINK_SALT, max_age=settings.ALERTS_ACTION_LINK_MAX_AGE_S)
    except signing.SignatureExpired:
        raise ActionLinkError("This link has expired. Sign in to change the rule.") from None
    except signing.BadSignature:
        raise ActionLinkError("This link is not valid: was it copied completely?") from None
    action = LINK_ACTIONS.get(data.get("action"))
    rule = AlertRule.objects.filter(pk=data.get("rule")).first()
    if action is None or rule is None:
        raise ActionLinkError("The rule of this link no longer exists.")
    return rule, action


def action_link_apply(
    *, token: str, now: datetime | None = None, repo: TickRepository | None = None
) -> AlertRule:
    """Do what a link says (recorded on the rule's history as via a link); raises ActionLinkError,
    services.AlertValidationError or RepositoryError."""
    rule, action = action_link_read(token=token)
    if action.key in MUTE_DURATIONS:
        return alert_rule_mute(rule=rule, duration=MUTE_DURATIONS[action.key], via=Via.LINK, now=now)
    if action.key == "disable":
        return alert_rule_enable(rule=rule, enabled=False, via=Via.LINK, now=now)
    return alert_rule_rearm(rule=rule, via=Via.LINK, now=now, repo=repo)
