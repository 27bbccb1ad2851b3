"""Admin for alerts: rules (filters, enable/disable, test notification), channels, events with deliveries."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from alerts import services
from alerts.deliveries import deliveries_retry
from alerts.evaluation import rule_spec
from alerts.models import AlertEvent, AlertRule, Delivery, NotificationChannel
from alerts.rules import CONDITIONS, FIELDS


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
    """Checks the parameters against the condition, as the API does."""

    class Meta:
        model = AlertRule
        fields = "__all__"

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for name in FIELDS:
            if name in self.fields:
                self.fields[name].help_text = _param_help(name)

    def clean(self):
        cleaned = super().clean()
        if not self.errors:
            probe = AlertRule(**{k: cleaned.get(k) for k in services.SPEC_FIELDS})
            for field, message in rule_spec(probe).errors().items():
                self.add_error(field, message)
        return cleaned


@admin.register(AlertRule)
class AlertRuleAdmin(admin.ModelAdmin):
    form = AlertRuleForm
    list_display = (
        "name",
        "owner",
        "pair",
        "condition",
        "trigger_mode",
        "enabled",
        "state",
        "state_changed_at",
        "last_evaluated_minute",
    )
    list_filter = ("state", "enabled", "condition", "trigger_mode", "pair", "owner")
    search_fields = ("name", "pair", "owner__username", "owner__email")
    list_select_related = ("owner",)
    filter_horizontal = ("channels",)
    readonly_fields = (
        "state",
        "state_changed_at",
        "armed",
        "last_evaluated_minute",
        "last_notified_minute",
        "created_at",
        "updated_at",
    )
    fieldsets = (
        (None, {"fields": ("owner", "name", "exchange", "pair", "enabled", "expires_at")}),
        (
            "Condition",
            {"fields": ("condition", *FIELDS)},
        ),
        ("Notifications", {"fields": ("trigger_mode", "cooldown_minutes", "channels")}),
        ("State", {"fields": readonly_fields}),
    )
    actions = ("enable_rules", "disable_rules", "send_test_notification")

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
        for rule in queryset:
            results = services.alert_rule_test_notify(rule=rule)
            if not results:
                self.message_user(request, f"{rule.name}: the rule has no channels.", messages.WARNING)
            for result in results:
                if result.error:
                    self.message_user(
                        request, f"{rule.name} → {result.channel}: {result.error}", messages.ERROR
                    )
                else:
                    self.message_user(request, f"{rule.name} → {result.channel}: sent.", messages.SUCCESS)


@admin.register(NotificationChannel)
class NotificationChannelAdmin(admin.ModelAdmin):
    list_display = ("__str__", "owner", "kind", "target", "verified", "created_at")
    list_filter = ("kind", "verified", "owner")
    search_fields = ("name", "target", "owner__username")
    list_select_related = ("owner",)


class DeliveryInline(admin.TabularInline):
    model = Delivery
    extra = 0
    can_delete = False
    fields = ("kind", "target", "status", "attempts", "last_error", "next_attempt_at", "sent_at", "log")
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
