"""Alert models: rules, notification channels, the alert history (events) and the delivery audit."""

from __future__ import annotations

from datetime import datetime

from django.conf import settings
from django.db import models

from alerts.quiet_hours import quiet_until
from alerts.rules import RANK_METRICS, Condition, Direction, RankEvent, State, TriggerMode
from prices.domain import EXCHANGE_BITFINEX
from prices.exchanges import Market, market_of

PRICE_DIGITS = {"max_digits": 30, "decimal_places": 12}


TARGET_MAX_LENGTH = 1000


class NotificationChannel(models.Model):
    """Where a user's alerts go: an email address, a webhook URL (JSON POST, Slack-compatible) or an
    Apprise URL (Slack, Discord, Telegram, ntfy… see docs/alerts.md).

    Email channels send only once `verified` (the address is the account's own, or its owner
    followed the verification link); webhooks and Apprise URLs need no verification.
    `verification_status` follows the queued verification email: pending, sent or failed
    (empty when none was needed). An Apprise target is a secret: shown masked after creation.
    """

    class Kind(models.TextChoices):
        EMAIL = "email", "Email"
        WEBHOOK = "webhook", "Webhook (JSON POST)"
        APPRISE = "apprise", "Apprise URL (Slack, Discord, Telegram, ntfy…)"

    class Verification(models.TextChoices):
        NONE = "", "Not needed"
        PENDING = "pending", "Verification email pending"
        SENT = "sent", "Verification email sent"
        FAILED = "failed", "Verification email failed"

    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="alert_channels"
    )
    name = models.CharField(max_length=100, blank=True)
    kind = models.CharField(max_length=16, choices=Kind.choices)
    target = models.CharField(
        max_length=TARGET_MAX_LENGTH, help_text="Email address, https:// URL or Apprise URL."
    )
    verified = models.BooleanField(default=False)
    verification_status = models.CharField(
        max_length=8, choices=Verification.choices, default=Verification.NONE, blank=True
    )
    quiet_start = models.TimeField(
        null=True, blank=True, help_text="Quiet hours start (local time): alerts are held for a digest."
    )
    quiet_end = models.TimeField(
        null=True, blank=True, help_text="Quiet hours end (local time): the digest is sent then."
    )
    quiet_timezone = models.CharField(
        max_length=64, default="UTC", help_text="IANA time zone of the quiet hours."
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(fields=["owner", "kind", "target"], name="alerts_channel_unique_target"),
        ]

    def __str__(self) -> str:
        if self.name:
            return self.name
        if self.kind == self.Kind.APPRISE:
            return f"{self.kind}: {self.target.split(':', 1)[0]}://…"
        return f"{self.kind}: {self.target}"

    @property
    def shown_target(self) -> str:
        """The target as pages show it after creation: an Apprise URL with its secrets masked."""
        from alerts.notifications import target_masked  # notifications imports this module

        return target_masked(self.kind, self.target)

    @property
    def can_send(self) -> bool:
        """False for an unverified email channel."""
        return self.kind != self.Kind.EMAIL or self.verified

    @property
    def quiet_hours(self) -> str:
        """The quiet hours as pages and digests show them ("22:00–07:00 Europe/Paris"); "" if none."""
        if self.quiet_start is None or self.quiet_end is None:
            return ""
        return f"{self.quiet_start:%H:%M}–{self.quiet_end:%H:%M} {self.quiet_timezone}"

    def quiet_until(self, now: datetime) -> datetime | None:
        """The end (aware UTC) of the quiet period `now` falls in, or None (see alerts.quiet_hours)."""
        return quiet_until(now=now, start=self.quiet_start, end=self.quiet_end, timezone=self.quiet_timezone)


# AlertRule.exchange of a rule on the median across the configured exchanges: its pair is then
# a normalised market ("BTC-USD"), its price each minute the median of the listing exchanges'.
MEDIAN_EXCHANGE = "median"


def rule_market(exchange: str, pair: str) -> Market | None:
    """The normalised market of a rule's pair (prices.exchanges); a median rule's pair is one."""
    if exchange == MEDIAN_EXCHANGE:
        base, _, quote = pair.partition("-")
        return Market(base, quote) if base and quote else None
    return market_of(exchange, pair)


class AlertRule(models.Model):
    """A user's alert check on one pair, its parameters, trigger mode and current state.

    Parameters by condition (see alerts.rules.RuleSpec): `threshold` (quote currency) for
    price_above/below and crosses_above/below; `percent` and `window_minutes` (and
    `direction`, `ladder`) for pct_change; `multiplier` and `window_minutes` for spike; `percent`
    (relative std in %) and `window_minutes` for volatility_above; `window_minutes` for
    no_data; `multiplier` (k), `window_minutes` (W) and `direction` for zscore; `top_n`,
    `metric`, `rank_event`, `dwell_minutes` for volatility_rank. `confirm_minutes` applies to
    every condition; `held_minutes` and `anchor_price` are evaluation memory. Bookkeeping times
    (`state_changed_at`, `last_evaluated_minute`, `last_notified_minute`) are evaluated
    minutes (aware UTC minute starts), not wall time.
    """

    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="alert_rules")
    name = models.CharField(max_length=100)
    exchange = models.CharField(max_length=32, default=EXCHANGE_BITFINEX)
    pair = models.CharField(max_length=32, db_index=True)
    condition = models.CharField(max_length=32, choices=[(c.value, c.label) for c in Condition])
    threshold = models.DecimalField(null=True, blank=True, **PRICE_DIGITS)
    percent = models.DecimalField(null=True, blank=True, max_digits=12, decimal_places=6)
    window_minutes = models.PositiveIntegerField(null=True, blank=True)
    multiplier = models.DecimalField(null=True, blank=True, max_digits=12, decimal_places=6)
    direction = models.CharField(
        max_length=8, choices=[(d.value, d.value) for d in Direction], default=Direction.EITHER.value
    )
    ladder = models.BooleanField(default=False, help_text="pct_change: re-anchor at each firing price.")
    top_n = models.PositiveIntegerField(null=True, blank=True)
    metric = models.CharField(max_length=16, null=True, blank=True, choices=[(m, m) for m in RANK_METRICS])
    rank_event = models.CharField(
        max_length=8, null=True, blank=True, choices=[(e.value, e.value) for e in RankEvent]
    )
    dwell_minutes = models.PositiveIntegerField(null=True, blank=True)
    confirm_minutes = models.PositiveIntegerField(
        default=1, help_text="Fire only after the condition held this many consecutive minutes."
    )
    confirm_exchange = models.BooleanField(
        default=False,
        help_text="Fire only when the condition also holds, that minute, on another configured exchange "
        "listing the same market (its newest price, within the staleness limit).",
    )
    trigger_mode = models.CharField(
        max_length=8, choices=[(m.value, m.label) for m in TriggerMode], default=TriggerMode.REARM.value
    )
    cooldown_minutes = models.PositiveIntegerField(
        default=60, help_text="Minimum time between notifications."
    )
    expires_at = models.DateTimeField(null=True, blank=True)
    enabled = models.BooleanField(default=True)
    muted_until = models.DateTimeField(
        null=True, blank=True, help_text="No notifications before this time (UTC); evaluation goes on."
    )
    channels = models.ManyToManyField(NotificationChannel, blank=True, related_name="rules")

    state = models.CharField(
        max_length=8, choices=[(s.value, s.value) for s in State], default=State.NORMAL.value, db_index=True
    )
    state_changed_at = models.DateTimeField(null=True, blank=True)
    armed = models.BooleanField(
        default=True, help_text="rearm mode: the condition was false since the last firing."
    )
    last_evaluated_minute = models.DateTimeField(null=True, blank=True)
    last_notified_minute = models.DateTimeField(null=True, blank=True)
    held_minutes = models.PositiveIntegerField(
        default=0, help_text="Consecutive minutes the condition has held (for confirmation)."
    )
    anchor_price = models.DecimalField(
        null=True, blank=True, help_text="Ladder: the price of the last firing.", **PRICE_DIGITS
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["id"]
        indexes = [models.Index(fields=["enabled", "last_evaluated_minute"], name="alerts_rule_due")]

    def __str__(self) -> str:
        return f"{self.name} ({self.pair} {self.condition})"

    def display_state(self, now) -> str:
        """What a user sees: disabled, muted (until `muted_until`), else the evaluated state."""
        if not self.enabled:
            return "disabled"
        if self.muted_until is not None and self.muted_until > now:
            return "muted"
        return self.state


class AlertRuleAction(models.Model):
    """The rule's history of what people did to it: mute, unmute, disable, enable, re-arm.

    `via` says where (the web pages, a one-click link in a notification, the admin); `actor`
    is the signed-in user, None for a link followed without signing in.
    """

    class Action(models.TextChoices):
        MUTE = "mute", "Muted"
        UNMUTE = "unmute", "Unmuted"
        DISABLE = "disable", "Disabled"
        ENABLE = "enable", "Enabled"
        REARM = "rearm", "Re-armed"

    class Via(models.TextChoices):
        WEB = "web", "web page"
        LINK = "link", "link in a notification"
        ADMIN = "admin", "admin"

    rule = models.ForeignKey(AlertRule, on_delete=models.CASCADE, related_name="actions")
    action = models.CharField(max_length=16, choices=Action.choices)
    via = models.CharField(max_length=8, choices=Via.choices)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    detail = models.CharField(max_length=200, blank=True)
    at = models.DateTimeField()

    class Meta:
        ordering = ["-at", "-id"]

    def __str__(self) -> str:
        return f"{self.rule_id} {self.action} via {self.via}"


class AlertEvent(models.Model):
    """One row per state change of a rule (and per repeated notification in `every` mode).

    `minute` is the evaluated minute; `observed_value` and `reference_value` are the numbers
    that decided it (their meaning per condition is in docs/alerts.md); `notify` says whether
    deliveries were created, `suppressed` why not when the rule fired without notifying.
    """

    rule = models.ForeignKey(AlertRule, on_delete=models.CASCADE, related_name="events")
    minute = models.DateTimeField()
    old_state = models.CharField(max_length=8, choices=[(s.value, s.value) for s in State])
    new_state = models.CharField(max_length=8, choices=[(s.value, s.value) for s in State])
    observed_value = models.DecimalField(null=True, blank=True, **PRICE_DIGITS)
    reference_value = models.DecimalField(null=True, blank=True, **PRICE_DIGITS)
    message = models.TextField()
    notify = models.BooleanField(default=False)
    suppressed = models.CharField(max_length=32, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-minute", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["rule", "minute"], name="alerts_event_unique_rule_minute")
        ]

    def __str__(self) -> str:
        return f"{self.rule_id} {self.minute:%Y-%m-%dT%H:%MZ} {self.old_state}→{self.new_state}"


class Delivery(models.Model):
    """The sending of one message on one channel: status, attempts, errors, next attempt, sent time.

    `purpose` says what is sent: an `alert` (of `event`), a channel's `verification` email, a
    `test` notification of `rule`, or a quiet-hours `digest` of the alert deliveries that point to
    it (`digest`). An alert created in its channel's quiet hours is `held` until
    `next_attempt_at` (the end of the quiet period), then `digested` into one digest delivery.
    `requested_by` is the user whose action queued a
    verification or test (anti-abuse counts survive a deleted channel).

    `log` holds every attempt as {"at": ISO time, "error": text or null}, plus "status" (HTTP
    status code) and "elapsed_ms" for HTTP channels; never an answer's body. While `sending`,
    `next_attempt_at` is the end of the sender's lease: a sender that died is retried after it.
    """

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        SENDING = "sending", "Sending"
        RETRYING = "retrying", "Retrying"
        SENT = "sent", "Sent"
        FAILED = "failed", "Failed"
        SKIPPED = "skipped", "Skipped"
        HELD = "held", "Held for the quiet-hours digest"
        DIGESTED = "digested", "Sent in a digest"

    class Purpose(models.TextChoices):
        ALERT = "alert", "Alert"
        VERIFICATION = "verification", "Channel verification"
        TEST = "test", "Test notification"
        DIGEST = "digest", "Quiet-hours digest"

    purpose = models.CharField(max_length=16, choices=Purpose.choices, default=Purpose.ALERT)
    event = models.ForeignKey(
        AlertEvent, null=True, blank=True, on_delete=models.CASCADE, related_name="deliveries"
    )
    rule = models.ForeignKey(
        AlertRule, null=True, blank=True, on_delete=models.CASCADE, related_name="test_deliveries"
    )
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    channel = models.ForeignKey(
        NotificationChannel, null=True, on_delete=models.SET_NULL, related_name="deliveries"
    )
    digest = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="digested"
    )
    kind = models.CharField(max_length=16, choices=NotificationChannel.Kind.choices)
    target = models.CharField(max_length=TARGET_MAX_LENGTH)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True)
    log = models.JSONField(default=list, blank=True)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["id"]
        verbose_name_plural = "deliveries"
        indexes = [models.Index(fields=["status", "next_attempt_at"], name="alerts_delivery_due")]
        constraints = [
            models.UniqueConstraint(fields=["event", "channel"], name="alerts_delivery_unique_event_channel"),
        ]

    def __str__(self) -> str:
        return f"{self.purpose} #{self.pk} by {self.kind}: {self.status}"  # no target: it may be a secret
