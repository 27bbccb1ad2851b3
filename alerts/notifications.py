"""Notification channels' adapters: message rendering, email (Django mail), webhooks (JSON POST), Apprise.

The only module of alerts that imports the email framework and Apprise; HTTP goes through
alerts.outbound (the guarded path). Adapters raise NotificationError (never a library exception);
`permanent=True` means retrying the same message cannot help (a 4xx answer, a refused address).
"""

from __future__ import annotations

import logging
import smtplib
import socket
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, Protocol

import apprise
from django.conf import settings
from django.core import signing
from django.core.mail import EmailMultiAlternatives
from django.template.loader import render_to_string
from django.urls import reverse

from alerts import outbound
from alerts.models import AlertEvent, AlertRule, NotificationChannel, rule_market
from alerts.rules import Condition, State, TriggerMode
from cryptotracker.params import iso_z
from prices.domain import decimal_str

logger = logging.getLogger(__name__)

USER_AGENT = "cryptotracker-alerts/1.0"
VERIFY_SALT = "alerts.channel-verify"
VERIFY_MAX_AGE_S = 7 * 24 * 3600


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
    """A rendered notification: subject/title, plain text and HTML bodies, webhook JSON payload.

    `level` is info, success, warning or failure (Apprise's notification type).
    """

    subject: str
    text: str
    html: str
    payload: dict[str, Any]
    level: str = "info"


def utc_text(value: datetime | None) -> str:
    """A time for people: '2024-01-01 12:01 UTC' (seconds only when not zero)."""
    if value is None:
        return "n/a"
    value = value.astimezone(UTC)
    return value.strftime("%Y-%m-%d %H:%M:%S UTC" if value.second else "%Y-%m-%d %H:%M UTC")


def number_text(value: Decimal | int | None) -> str:
    """A number for people: thousands separators, no exponent, no trailing zeros ('70,112.5')."""
    if value is None:
        return "n/a"
    text = format(Decimal(value), ",f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text in ("", "-0") else text


def _num(value) -> str | None:
    return decimal_str(value) if value is not None else None


def _pair_label(exchange: str, pair: str) -> tuple[str, str]:
    market = rule_market(exchange, pair)
    if market is None:
        return pair, ""
    return f"{market.base}/{market.quote}", market.quote


def _percent(value: Decimal) -> str:
    return number_text(Decimal(value).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP))


@dataclass(frozen=True, slots=True)
class _Facts:
    """What a headline may say about an event: its rule, values and the pair's quote currency."""

    rule: AlertRule
    observed: Decimal | None
    reference: Decimal | None
    quote: str

    def price(self, value: Decimal | None) -> str:
        return f"{number_text(value)} {self.quote}".strip() if value is not None else "n/a"

    @property
    def now(self) -> str:
        return f" — now {self.price(self.observed)}" if self.observed is not None else ""

    @property
    def window(self) -> str:
        return f"{self.rule.window_minutes} min"


def _pct_change(f: _Facts) -> str:
    span = "since the last alert" if f.rule.ladder and f.rule.anchor_price is not None else f"in {f.window}"
    if f.observed is None or not f.reference:
        return f"moved over {f.window}{f.now}"
    change = (f.observed - f.reference) / f.reference * 100
    return f"moved {'+' if change >= 0 else '−'}{_percent(abs(change))} % {span}{f.now}"


def _zscore(f: _Facts) -> str:
    sigmas = f"{number_text(abs(f.observed).quantize(Decimal('0.1')))} σ" if f.observed is not None else "n/a"
    way = "up" if f.observed is not None and f.observed > 0 else "down"
    return f"moved {way} {sigmas} of its typical {f.window} move (threshold {number_text(f.reference)} σ)"


def _rank(f: _Facts) -> str:
    where = f"#{number_text(f.observed)}" if f.observed is not None else "unranked"
    verb = "entered" if f.rule.rank_event == "enters" else "left"
    return f"{verb} the top {number_text(f.reference)} by 24 h {f.rule.metric} (now {where})"


def _spike(f: _Facts) -> str:
    if f.observed is None or not f.reference:
        return f"spiked{f.now}"
    factor = _percent(f.observed / f.reference)
    return f"spiked to {factor}× its {f.rule.window_minutes}-min average of {f.price(f.reference)}{f.now}"


def _volatility_text(value: Decimal | None) -> str:
    return f"{_percent(value)} %" if value is not None else "n/a"


# Per condition: the headline when it fires (after the pair's name) and the unit of its values.
_FIRING: dict[str, Callable[[_Facts], str]] = {
    Condition.PRICE_ABOVE: lambda f: f"is above {f.price(f.rule.threshold)}{f.now}",
    Condition.PRICE_BELOW: lambda f: f"is below {f.price(f.rule.threshold)}{f.now}",
    Condition.CROSSES_ABOVE: lambda f: f"crossed above {f.price(f.rule.threshold)}{f.now}",
    Condition.CROSSES_BELOW: lambda f: f"crossed below {f.price(f.rule.threshold)}{f.now}",
    Condition.PCT_CHANGE: _pct_change,
    Condition.SPIKE: _spike,
    Condition.VOLATILITY_ABOVE: lambda f: (
        f"volatility {_volatility_text(f.observed)} over {f.window} is above {number_text(f.reference)} %"
    ),
    Condition.NO_DATA: lambda f: (
        f"has had no prices for {number_text(f.observed)} min (limit {number_text(f.reference)} min)"
    ),
    Condition.ZSCORE: _zscore,
    Condition.VOLATILITY_RANK: _rank,
}
_RECOVERED: dict[str, Callable[[_Facts], str]] = {
    Condition.VOLATILITY_ABOVE: lambda f: f"volatility back to normal ({_volatility_text(f.observed)})",
    Condition.NO_DATA: lambda f: "has prices again",
}
_UNITS: dict[str, Callable[[_Facts, Decimal | None], str]] = {
    Condition.VOLATILITY_ABOVE: lambda f, v: _volatility_text(v),
    Condition.NO_DATA: lambda f, v: f"{number_text(v)} min",
    Condition.ZSCORE: lambda f, v: f"{number_text(v)} σ" if v is not None else "n/a",
    Condition.VOLATILITY_RANK: lambda f, v: f"#{number_text(v)}" if v is not None else "unranked",
}


def _headline(facts: _Facts, state: str) -> str:
    condition = facts.rule.condition
    if state == State.NO_DATA.value:
        return "has no fresh prices: the rule waits for data"
    if state == State.NORMAL.value:
        return _RECOVERED.get(condition, lambda f: f"is back to normal{f.now}")(facts)
    return _FIRING.get(condition, lambda f: f"is firing{f.now}")(facts)


_LEVELS = {State.FIRING.value: "warning", State.NO_DATA.value: "failure", State.NORMAL.value: "success"}


def _duration(seconds: int) -> str:
    days, hours = seconds // 86400, seconds // 3600
    if days:
        return f"{days} day" + ("s" if days != 1 else "")
    return f"{hours} hour" + ("s" if hours != 1 else "")


def message_render(event: AlertEvent, *, test: bool = False) -> Message:
    """Render an event (saved or not) of its rule into a Message; links use SITE_URL.

    The subject leads with what fired: 'BTC/USD crossed above 70,000 USD — now 70,112.5 USD'.
    Prices carry the quote currency and thousands separators, times are UTC with the zone named.
    Every body links the pair page and the rule, then `message_links` (one-click actions).
    """
    rule: AlertRule = event.rule
    site = settings.SITE_URL
    rule_path = (
        reverse("alerts_web:rule-detail", args=[rule.pk]) if rule.pk else reverse("alerts_web:rule-list")
    )
    links = message_links(rule, test=test)
    pair_label, quote = _pair_label(rule.exchange, rule.pair)
    facts = _Facts(rule=rule, observed=event.observed_value, reference=event.reference_value, quote=quote)
    title = f"{pair_label} {_headline(facts, event.new_state)}"
    unit = _UNITS.get(rule.condition, _Facts.price)
    context = {
        "rule": rule,
        "event": event,
        "test": test,
        "title": title,
        "pair_label": pair_label,
        "condition": Condition(rule.condition).label,
        "mode": TriggerMode(rule.trigger_mode).label,
        "observed": unit(facts, event.observed_value),
        "reference": unit(facts, event.reference_value),
        "minute": utc_text(event.minute),
        "dashboard_url": f"{site}{reverse('dashboards:pair', args=[rule.pair])}",
        "rule_url": f"{site}{rule_path}",
        "links": links,
        "links_expire": _duration(settings.ALERTS_ACTION_LINK_MAX_AGE_S),
    }
    subject = " ".join(render_to_string("alerts/email/rule_triggered_subject.txt", context).split())
    payload = {
        "text": f"{subject}\n{event.message}\n{context['dashboard_url']}",
        "test": test,
        "title": title,
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
            "minute": iso_z(event.minute),
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
        level="info" if test else _LEVELS[event.new_state],
    )


_SEVERITY = ("info", "success", "warning", "failure")


def digest_render(channel: NotificationChannel, events: list[AlertEvent]) -> Message:
    """One message carrying every event held during `channel`'s quiet hours, oldest first: each
    event rendered by `message_render`, under one subject; the webhook payload lists their payloads."""
    messages = [message_render(event) for event in events]
    hours = channel.quiet_hours
    count = f"{len(messages)} alert" + ("s" if len(messages) != 1 else "")
    subject = f"Digest: {count} during quiet hours ({hours})"
    intro = f"{count} arrived during the quiet hours of this channel ({hours}), oldest first."
    rule = "\n" + "-" * 60 + "\n\n"
    text = intro + rule + rule.join(f"{m.subject}\n\n{m.text}" for m in messages)
    html = f"<p>{intro}</p>" + "".join(f"<hr>{m.html}" for m in messages)
    payload = {
        "text": "\n".join([subject, *(m.subject for m in messages)]),
        "digest": {"quiet_hours": hours, "count": len(messages)},
        "alerts": [m.payload for m in messages],
    }
    level = max((m.level for m in messages), key=_SEVERITY.index, default="info")
    return Message(subject=subject, text=text, html=html, payload=payload, level=level)


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


def verification_token(channel: NotificationChannel) -> str:
    """The signed token of a channel's verification link (names the channel and its target)."""
    return signing.dumps({"channel": channel.pk, "target": channel.target}, salt=VERIFY_SALT)


def verification_render(channel: NotificationChannel) -> Message:
    """The 'confirm this address' email of an email channel, with its link (valid VERIFY_MAX_AGE_S)."""
    link = f"{settings.SITE_URL}{reverse('alerts:channel-verify')}?token={verification_token(channel)}"
    context = {"channel": channel, "owner": channel.owner, "link": link, "days": VERIFY_MAX_AGE_S // 86400}
    subject = " ".join(render_to_string("alerts/email/channel_verify_subject.txt", context).split())
    text = render_to_string("alerts/email/channel_verify_body.txt", context)
    return Message(subject=subject, text=text, html="", payload={"text": text})


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


# Apprise services we accept: HTTP(S) services reached through requests, so that the outbound
# guard sees every connection. Local ones (desktop, syslog), SMTP (use an email channel) and
# raw-socket ones are refused.
APPRISE_SCHEMES = frozenset(
    {
        *("slack", "discord", "tgram", "pover", "pbul", "pagerduty", "opsgenie", "sns"),
        *("workflow", "workflows"),  # Microsoft Teams (Power Automate workflows)
        *("ntfy", "ntfys", "gotify", "gotifys", "matrix", "matrixs", "mmost", "mmosts"),
        *("rocket", "rockets", "signal", "signals", "apprise", "apprises"),
        *("json", "jsons", "xml", "xmls", "form", "forms"),
    }
)
# Of those, the services whose host is part of the URL the user gives (self-hosted): the host is
# resolved and checked at creation too (every service's connections are checked at send).
APPRISE_USER_HOST_SCHEMES = frozenset(
    APPRISE_SCHEMES - {"slack", "discord", "tgram", "pover", "pbul"} - {"pagerduty", "opsgenie", "sns"}
)
_APPRISE_GENERIC = frozenset({"json", "jsons", "xml", "xmls", "form", "forms"})
# Modes in which a user-host service talks to its vendor's fixed host (ntfy.sh, t2bot.io).
_APPRISE_VENDOR_MODES = frozenset({"cloud", "t2bot"})
_APPRISE_TYPES = {
    "info": apprise.NotifyType.INFO,
    "success": apprise.NotifyType.SUCCESS,
    "warning": apprise.NotifyType.WARNING,
    "failure": apprise.NotifyType.FAILURE,
}


def _apprise_scheme(url: str) -> str:
    return url.split("://", 1)[0].lower() if "://" in url else ""


def _apprise_plugin(url: str) -> Any:
    """Apprise's plugin for `url`; raises NotificationError (permanent) for a URL we cannot use."""
    scheme = _apprise_scheme(url)
    if scheme not in APPRISE_SCHEMES:
        raise NotificationError(
            f"unsupported Apprise service {scheme or url!r}; supported: {', '.join(sorted(APPRISE_SCHEMES))}",
            permanent=True,
        )
    plugin = apprise.Apprise.instantiate(url, suppress_exceptions=True)
    if plugin is None:
        raise NotificationError(
            f"Apprise cannot use this {scheme}:// URL (see its documentation)", permanent=True
        )
    return plugin


def apprise_url_check(url: str) -> None:
    """Check an Apprise URL at creation with Apprise's own parser, and the host of self-hosted
    services with the outbound guard; raises NotificationError (permanent) saying why."""
    plugin = _apprise_plugin(url)
    host = getattr(plugin, "host", "") or ""
    if (
        _apprise_scheme(url) in APPRISE_USER_HOST_SCHEMES
        and host
        and plugin_mode(plugin) not in _APPRISE_VENDOR_MODES
    ):
        port = getattr(plugin, "port", None) or (443 if getattr(plugin, "secure", False) else 80)
        try:
            outbound.addresses_check(host, port, 0, socket.SOCK_STREAM)
        except outbound.OutboundRefusedError as exc:
            raise NotificationError(f"this address is not allowed: {exc.message}", permanent=True) from None


def plugin_mode(plugin: Any) -> str:
    mode = getattr(plugin, "mode", "") or ""
    return str(getattr(mode, "value", mode))


def target_masked(kind: str, target: str) -> str:
    """A channel target fit to show after creation: Apprise URLs with their secrets masked by Apprise."""
    if kind != NotificationChannel.Kind.APPRISE:
        return target
    try:
        masked = _apprise_plugin(target).url(privacy=True).split("?", 1)[0]
    except NotificationError:
        return f"{_apprise_scheme(target) or 'apprise'}://…"
    scheme, _, rest = masked.partition("://")
    if scheme in _APPRISE_GENERIC and "/" in rest.strip("/"):
        # Apprise masks no path of a generic POST, and paths often hold the hook's secret.
        return f"{scheme}://{rest.split('/', 1)[0]}/…"
    return masked


class AppriseNotifier:
    """Sends title and plain text through Apprise, every connection inside the outbound guard."""

    def send(self, *, target: str, message: Message) -> SendReport:
        """Notify the service of `target`; a refused address, a 3xx or a 4xx (but 408/429) is permanent.

        Apprise reports only success or failure; the HTTP status comes from the guard.
        """
        plugin = _apprise_plugin(target)
        name = _apprise_scheme(target)
        # Our retries (with backoff and audit) replace Apprise's; our timeout bounds every request.
        plugin.retry = 0
        plugin.socket_connect_timeout = plugin.socket_read_timeout = settings.ALERTS_WEBHOOK_TIMEOUT_S
        with outbound.guarded() as guard:
            try:
                ok = plugin.notify(
                    body=message.text, title=message.subject, notify_type=_APPRISE_TYPES[message.level]
                )
            except Exception:  # a plugin bug must not escape as a library exception
                logger.exception("apprise %s raised", name)
                ok = False
        status, elapsed_ms = guard.status, guard.elapsed_ms
        if guard.refusal:
            raise NotificationError(f"apprise {name} refused: {guard.refusal}", permanent=True)
        if ok and (status is None or status < 300):
            return SendReport(status=status, elapsed_ms=elapsed_ms)
        if status is None:
            raise NotificationError(f"apprise {name}: the service could not be reached")
        if 300 <= status < 400:
            text, permanent = f"answered HTTP {status} (redirects are not followed)", True
        else:
            text, permanent = f"answered HTTP {status}", 400 <= status < 500 and status not in (408, 429)
        raise NotificationError(
            f"apprise {name} {text}", permanent=permanent, status=status, elapsed_ms=elapsed_ms
        )


def notifier_for(kind: str) -> Notifier:
    """The notifier of a channel kind; raises NotificationError (permanent) for an unknown kind."""
    if kind == NotificationChannel.Kind.EMAIL:
        return EmailNotifier()
    if kind == NotificationChannel.Kind.WEBHOOK:
        return WebhookNotifier()
    if kind == NotificationChannel.Kind.APPRISE:
        return AppriseNotifier()
    raise NotificationError(f"unknown channel kind {kind!r}", permanent=True)
