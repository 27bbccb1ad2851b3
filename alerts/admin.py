"""Admin for alerts: rules (filters, actions, history), channels, events, deliveries."""

from __future__ import annotations

from datetime import UTC, datetime

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from alerts import services
from alerts.deliveries import deliveries_retry
from alerts.models import AlertEvent, AlertRule, AlertRuleAction, Delivery, NotificationChannel
from alerts.notifications import target_masked
from alerts.quiet_hours import quiet_hours_errors
from alerts.rules import CONDITIONS, FIELDS, param_conditions
from alerts.web.forms import message_for_people
from prices.repository import RepositoryError


def _param_help(name: str) -> str:
    """Which conditions use a parameter field, with their label, unit and help (from the registry)."""
    uses = []
    for kind in CONDITIONS.values():
        param = kind.param(name)
        if param is not None:
            unit = f" ({param.unit})" if param.unit else ""
            uses.append(f"{kind.condition.value}: {param.label}{unit}. {param.help}")
    return " · ".join(uses) or "Not used by any condition."


class AlertRuleForm(forms.ModelForm):
    """Validated by alerts.services.alert_rule_input_errors, as the API and the web forms are
    (unknown pair, parameters against the condition); parameters the chosen condition does not
    use are hidden by alerts/admin_rule_form.js and dropped here."""

    class Meta:
        model = AlertRule
        fields = "__all__"
        help_texts = {"expires_at": "UTC."}

    class Media:
        js = ("alerts/admin_rule_form.js",)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if "confirm_minutes" in self.fields:  # optional: 1 (no confirmation) when left empty
            self.fields["confirm_minutes"].required = False
        users = param_conditions()
        for name in FIELDS:
            if name in self.fields:
                self.fields[name].help_text = _param_help(name)
                self.fields[name].widget.attrs["data-conditions"] = " ".join(users[name])

    def clean_confirm_minutes(self) -> int:
        return self.cleaned_data.get("confirm_minutes") or 1

    def clean(self):
        cleaned = services.rule_input_unused_cleared(super().clean())
        self.cleaned_data = cleaned
        if not self.errors:
            try:
                errors = services.alert_rule_input_errors(data=cleaned)
            except RepositoryError:
                errors = {"pair": "the price store is unavailable: the pair cannot be checked now"}
            for field, message in errors.items():
                self.add_error(field if field in self.fields else None, message_for_people(message))
        return cleaned


def _utc(value) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC") if value else "—"


class AlertRuleActionInline(admin.TabularInline):
    """The rule's history: mutes, enables, disables, re-arms (read-only)."""

    model = AlertRuleAction
    extra = 0
    can_delete = False
    fields = ("at", "action", "via", "actor", "detail")
    readonly_fields = fields
    verbose_name_plural = "history"

    def has_add_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


@admin.register(AlertRule)
class AlertRuleAdmin(admin.ModelAdmin):
    form = AlertRuleForm
    list_display = (
        "name",
        "owner",
        "exchange",
        "pair",
        "condition",
        "threshold",
        "trigger_mode",
        "enabled",
        "shown_state",
        "state_changed",
        "last_evaluated",
    )
    list_filter = ("state", "enabled", "exchange", "condition", "trigger_mode", "pair", "owner")
    search_fields = ("name", "pair", "owner__username", "owner__email")
    list_select_related = ("owner",)
    filter_horizontal = ("channels",)
    inlines = (AlertRuleActionInline,)
    readonly_fields = (
        "state",
        "state_changed",
        "armed",
        "last_evaluated",
        "last_notified",
        "created",
        "updated",
        "held_minutes",
        "anchor_price",
    )
    fieldsets = (
        (None, {"fields": ("owner", "name", "exchange", "pair", "enabled", "expires_at", "muted_until")}),
        (
            "Condition",
            {"fields": ("condition", *FIELDS)},
        ),
        (
            "Notifications",
            {
                "fields": (
                    "trigger_mode",
                    "cooldown_minutes",
                    "confirm_minutes",
                    "confirm_exchange",
                    "channels",
                )
            },
        ),
        ("State", {"fields": readonly_fields}),
    )
    actions = ("enable_rules", "disable_rules", "send_test_notification")

    @admin.display(description="state", ordering="state")
    def shown_state(self, rule: AlertRule) -> str:
        return rule.display_state(datetime.now(UTC))

    @admin.display(description="state changed (UTC)", ordering="state_changed_at")
    def state_changed(self, rule: AlertRule) -> str:
        return _utc(rule.state_changed_at)

    @admin.display(description="last evaluated minute (UTC)", ordering="last_evaluated_minute")
    def last_evaluated(self, rule: AlertRule) -> str:
        return _utc(rule.last_evaluated_minute)

    @admin.display(description="last notified minute (UTC)")
    def last_notified(self, rule: AlertRule) -> str:
        return _utc(rule.last_notified_minute)

    @admin.display(description="created (UTC)")
    def created(self, rule: AlertRule) -> str:
        return _utc(rule.created_at)

    @admin.display(description="updated (UTC)")
    def updated(self, rule: AlertRule) -> str:
        return _utc(rule.updated_at)

    @admin.action(description="Enable selected rules")
    def enable_rules(self, request: HttpRequest, queryset: QuerySet[AlertRule]) -> None:
        changed = services.alert_rules_set_enabled(rules=queryset, enabled=True)
        self.message_user(request, f"Enabled {changed} rule(s).", messages.SUCCESS)

    @admin.action(description="Disable selected rules")
    def disable_rules(self, request: HttpRequest, queryset: QuerySet[AlertRule]) -> None:
        changed = services.alert_rules_set_enabled(rules=queryset, enabled=False)
        self.message_user(request, f"Disabled {changed} rule(s).", messages.SUCCESS)

    @admin.action(description="Send a test notification to the rules' channels")
    def send_test_notification(self, request: HttpRequest, queryset: QuerySet[AlertRule]) -> None:
        # Queued like any delivery (retried, audited under Deliveries); never sent inside this request.
        for rule in queryset:
            deliveries = services.alert_rule_test_notify(rule=rule, requested_by=request.user)
            if not deliveries:
                self.message_user(request, f"{rule.name}: the rule has no channels.", messages.WARNING)
            for delivery in deliveries:
                if delivery.status == Delivery.Status.SKIPPED:
                    self.message_user(
                        request, f"{rule.name} → {delivery.channel}: {delivery.last_error}", messages.ERROR
                    )
                else:
                    self.message_user(
                        request,
                        f"{rule.name} → {delivery.channel}: test queued (delivery {delivery.pk}).",
                        messages.SUCCESS,
                    )


QUIET_FIELDS = ("quiet_start", "quiet_end", "quiet_timezone")


class NotificationChannelForm(forms.ModelForm):
    """Validates the target and the quiet hours as the API does (address checks, Apprise's parser)."""

    class Meta:
        model = NotificationChannel
        fields = ("owner", "name", "kind", "target", "verified", *QUIET_FIELDS)

    def clean(self):
        cleaned = super().clean()
        for field, message in quiet_hours_errors(
            start=cleaned.get("quiet_start"),
            end=cleaned.get("quiet_end"),
            timezone=cleaned.get("quiet_timezone") or "UTC",
        ).items():
            if field in self.fields and field not in self.errors:
                self.add_error(field, message)
        kind, target = cleaned.get("kind"), cleaned.get("target")
        changed = self.instance.pk is None or {"kind", "target"} & set(self.changed_data)
        if kind and target and changed:
            try:
                services.channel_target_validate(kind=kind, target=target)
            except services.AlertValidationError as exc:
                for field, message in exc.errors.items():
                    self.add_error(field if field in self.fields else None, message)
        return cleaned


class MaskedTargetMixin:
    @admin.display(description="target")
    def shown_target(self, obj: NotificationChannel | Delivery) -> str:
        return target_masked(obj.kind, obj.target)


@admin.register(NotificationChannel)
class NotificationChannelAdmin(MaskedTargetMixin, admin.ModelAdmin):
    form = NotificationChannelForm
    list_display = (
        "__str__",
        "owner",
        "kind",
        "shown_target",
        "verified",
        "verification_status",
        "created_at",
    )
    list_filter = ("kind", "verified", "verification_status", "owner")
    search_fields = ("name", "owner__username")
    list_select_related = ("owner",)
    actions = ("resend_verification",)

    def get_fields(self, request: HttpRequest, obj: NotificationChannel | None = None):
        # An Apprise URL is a secret: after creation it is shown masked, never in an input.
        apprise = obj is not None and obj.kind == NotificationChannel.Kind.APPRISE
        target = "shown_target" if apprise else "target"
        return (
            "owner",
            "name",
            "kind",
            target,
            "verified",
            *QUIET_FIELDS,
            "verification_status",
            "created_at",
        )

    def get_readonly_fields(self, request: HttpRequest, obj: NotificationChannel | None = None):
        if obj is not None and obj.kind == NotificationChannel.Kind.APPRISE:
            return ("kind", "shown_target", "verification_status", "created_at")
        return ("verification_status", "created_at")

    @admin.action(description="Send the verification email again")
    def resend_verification(self, request: HttpRequest, queryset: QuerySet[NotificationChannel]) -> None:
        queued = 0
        for channel in queryset.filter(kind=NotificationChannel.Kind.EMAIL, verified=False):
            try:
                services.channel_verification_resend(channel=channel)
                queued += 1
            except services.ChannelRateLimitError as exc:
                self.message_user(request, f"{channel}: {exc.message}", messages.ERROR)
        self.message_user(request, f"{queued} verification email(s) queued.", messages.SUCCESS)


DELIVERY_FIELDS = (
    "kind",
    "shown_target",
    "status",
    "attempts",
    "last_error",
    "next_attempt_at",
    "sent_at",
    "log",
)


class DeliveryInline(MaskedTargetMixin, admin.TabularInline):
    model = Delivery
    extra = 0
    can_delete = False
    fields = DELIVERY_FIELDS
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


@admin.register(AlertEvent)
class AlertEventAdmin(admin.ModelAdmin):
    list_display = (
        "minute",
        "rule",
        "old_state",
        "new_state",
        "observed_value",
        "reference_value",
        "notify",
        "suppressed",
    )
    list_filter = ("new_state", "notify", "rule__pair", "rule__owner")
    search_fields = ("rule__name", "rule__pair", "message")
    list_select_related = ("rule",)
    date_hierarchy = "minute"
    inlines = (DeliveryInline,)
    readonly_fields = (
        "rule",
        "minute",
        "old_state",
        "new_state",
        "observed_value",
        "reference_value",
        "message",
        "notify",
        "suppressed",
        "created_at",
    )
    actions = ("retry_failed_deliveries",)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    @admin.action(description="Retry the failed deliveries of selected events")
    def retry_failed_deliveries(self, request: HttpRequest, queryset: QuerySet[AlertEvent]) -> None:
        ids = Delivery.objects.filter(event__in=queryset).values_list("pk", flat=True)
        changed = deliveries_retry(delivery_ids=ids)
        self.message_user(
            request, f"{changed} deliveries queued for retry (sent within a minute).", messages.SUCCESS
        )


@admin.register(Delivery)
class DeliveryAdmin(MaskedTargetMixin, admin.ModelAdmin):
    """Every delivery: alerts, verification emails and test notifications (read-only, retry action)."""

    list_display = ("id", "purpose", "kind", "shown_target", "status", "attempts", "created_at", "sent_at")
    list_filter = ("purpose", "status", "kind")
    list_select_related = ("channel",)
    fields = ("purpose", "event", "rule", "channel", "requested_by", *DELIVERY_FIELDS, "created_at")
    readonly_fields = fields
    actions = ("retry",)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    @admin.action(description="Retry the selected failed deliveries")
    def retry(self, request: HttpRequest, queryset: QuerySet[Delivery]) -> None:
        changed = deliveries_retry(delivery_ids=queryset.values_list("pk", flat=True))
        self.message_user(
            request, f"{changed} deliveries queued for retry (sent within a minute).", messages.SUCCESS
        )
