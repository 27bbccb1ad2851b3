"""Notification channels' adapters: message rendering, email (Django mail) and webhooks (HTTP JSON POST).

The only module of alerts that imports the email framework; HTTP goes through alerts.outbound
(the guarded path). Adapters raise NotificationError (never a library exception);
`permanent=True` means retrying the same message cannot help (a 4xx answer, a refused address).
"""

from __future__ import annotations

import logging
import smtplib
from dataclasses import dataclass
from typing import Any, Protocol

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.template.loader import render_to_string
from django.urls import reverse

from alerts import outbound
from alerts.models import AlertEvent, AlertRule, NotificationChannel
from alerts.rules import Condition, State, TriggerMode
from prices.domain import decimal_str

logger = logging.getLogger(__name__)

USER_AGENT = "cryptotracker-alerts/1.0"


class NotificationError(Exception):
    """Sending failed; `permanent` when a retry cannot succeed; HTTP status and elapsed ms when known."""

    def __init__(
        self,
        message: str,
        *,
        permanent: bool = False,
        status: int | None = None,
        elapsed_ms: int | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.permanent = permanent
        self.status = status
        self.elapsed_ms = elapsed_ms


@dataclass(frozen=True, slots=True)
class SendReport:
    """What a successful send can tell: the HTTP status and elapsed milliseconds (None for email)."""

    status: int | None = None
    elapsed_ms: int | None = None


@dataclass(frozen=True, slots=True)
class Message:
    """A rendered notification: email subject, plain text and HTML bodies, webhook JSON payload."""

    subject: str
    text: str
    html: str
    payload: dict[str, Any]


def _utc(value) -> str | None:
    return value.strftime("%Y-%m-%dT%H:%M:%SZ") if value else None


def _num(value) -> str | None:
    return decimal_str(value) if value is not None else None


def _duration(seconds: int) -> str:
    days, hours = seconds // 86400, seconds // 3600
    if days:
        return f"{days} day" + ("s" if days != 1 else "")
    return f"{hours} hour" + ("s" if hours != 1 else "")


def message_render(event: AlertEvent, *, test: bool = False) -> Message:
    """Render an event (saved or not) of its rule into a Message; links use SITE_URL."""
    rule: AlertRule = event.rule
    site = settings.SITE_URL
    rule_path = (
        reverse("alerts_web:rule-detail", args=[rule.pk]) if rule.pk else reverse("alerts_web:rule-list")
    )
    links = message_links(rule, test=test)
    context = {
        "rule": rule,
        "event": event,
        "test": test,
        "condition": Condition(rule.condition).label,
        "mode": TriggerMode(rule.trigger_mode).label,
        "headline": {
            State.FIRING.value: "is firing",
            State.NO_DATA.value: "has no fresh data",
            State.NORMAL.value: "is back to normal",
        }[event.new_state],
        "observed": _num(event.observed_value) or "n/a",
        "reference": _num(event.reference_value) or "n/a",
        "minute": _utc(event.minute),
        "dashboard_url": f"{site}/pairs/{rule.pair}/",
        "rule_url": f"{site}{rule_path}",
        "links": links,
        "links_expire": _duration(settings.ALERTS_ACTION_LINK_MAX_AGE_S),
    }
    subject = " ".join(render_to_string("alerts/email/rule_triggered_subject.txt", context).split())
    payload = {
        "text": f"{subject}\n{event.message}\n{context['dashboard_url']}",
        "test": test,
        "rule": {
            "id": rule.pk,
            "name": rule.name,
            "exchange": rule.exchange,
            "pair": rule.pair,
            "condition": rule.condition,
            "trigger_mode": rule.trigger_mode,
        },
        "event": {
            "id": event.pk,
            "minute": context["minute"],
            "old_state": event.old_state,
            "new_state": event.new_state,
            "observed_value": _num(event.observed_value),
            "reference_value": _num(event.reference_value),
            "message": event.message,
        },
        "links": {
            "dashboard": context["dashboard_url"],
            "rule": context["rule_url"],
            **{link.key: link.url for link in links},
        },
    }
    return Message(
        subject=subject,
        text=render_to_string("alerts/email/rule_triggered_body.txt", context),
        html=render_to_string("alerts/email/rule_triggered_body.html", context),
        payload=payload,
    )


@dataclass(frozen=True, slots=True)
class MessageLink:
    """A link of a message's link section: key (webhook `links` field), label, absolute URL."""

    key: str
    label: str
    url: str


def message_links(rule: AlertRule, *, test: bool = False) -> list[MessageLink]:
    """The links every message of `rule` ends with, after the pair and rule pages: the one-click
    actions (mute 1 h/24 h, disable, re-arm; signed, expiring). A test or unsaved rule has none."""
    if test or not rule.pk:
        return []
    from alerts.actions import action_links  # actions imports services, which imports this module

    return [MessageLink(key, label, url) for key, label, url in action_links(rule=rule)]


class Notifier(Protocol):
    """Sends one rendered message to one target; raises NotificationError."""

    def send(self, *, target: str, message: Message) -> SendReport | None:
        """Deliver `message` to `target` (an address or URL)."""
        ...


class EmailNotifier:
    """Sends through Django's configured email backend (EMAIL_URL / EMAIL_* settings)."""

    def send(self, *, target: str, message: Message) -> None:
        """One multipart (text + HTML) email from ALERTS_FROM_EMAIL to `target`."""
        email_send(to=target, subject=message.subject, text=message.text, html=message.html)


def email_send(*, to: str, subject: str, text: str, html: str | None = None) -> None:
    """Send one email from ALERTS_FROM_EMAIL; raises NotificationError (permanent for refused recipients)."""
    email = EmailMultiAlternatives(subject=subject, body=text, from_email=settings.ALERTS_FROM_EMAIL, to=[to])
    if html:
        email.attach_alternative(html, "text/html")
    try:
        sent = email.send(fail_silently=False)
    except smtplib.SMTPRecipientsRefused as exc:
        raise NotificationError(f"recipient refused: {exc.recipients}", permanent=True) from exc
    except (smtplib.SMTPException, OSError) as exc:
        raise NotificationError(f"email to {to} failed: {exc.__class__.__name__}: {exc}") from exc
    if sent != 1:
        raise NotificationError(f"email to {to} was not accepted by the backend")


class WebhookNotifier:
    """POSTs the JSON payload (Slack-compatible `text` plus structured fields) through alerts.outbound."""

    def __init__(self, *, timeout_s: float | None = None) -> None:
        self.timeout_s = timeout_s if timeout_s is not None else settings.ALERTS_WEBHOOK_TIMEOUT_S

    def send(self, *, target: str, message: Message) -> SendReport:
        """POST to `target`; 2xx is success, 3xx and 4xx (except 408/429) and refused addresses
        permanent, anything else retryable. The answer's body is never read or stored."""
        try:
            response = outbound.post_json(
                target, payload=message.payload, timeout_s=self.timeout_s, user_agent=USER_AGENT
            )
        except outbound.OutboundRefusedError as exc:
            raise NotificationError(f"webhook refused: {exc.message}", permanent=True) from None
        except outbound.OutboundError as exc:
            raise NotificationError(
                f"webhook {exc.message}",
                permanent=exc.permanent,
                status=exc.status,
                elapsed_ms=exc.elapsed_ms,
            ) from None
        return SendReport(status=response.status, elapsed_ms=response.elapsed_ms)


def notifier_for(kind: str) -> Notifier:
    """The notifier of a channel kind; raises NotificationError (permanent) for an unknown kind."""
    if kind == NotificationChannel.Kind.EMAIL:
        return EmailNotifier()
    if kind == NotificationChannel.Kind.WEBHOOK:
        return WebhookNotifier()
    raise NotificationError(f"unknown channel kind {kind!r}", permanent=True)
