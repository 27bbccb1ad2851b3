"""Alerts API: thin views over alerts.services / alerts.evaluation; every object is scoped to its owner."""

from __future__ import annotations

from typing import Any

from django.db.models import Prefetch
from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_field
from rest_framework import serializers, status
from rest_framework.authentication import SessionAuthentication, TokenAuthentication
from rest_framework.exceptions import Throttled, ValidationError
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from alerts import services
from alerts.backtest import alert_rule_backtest, backtest_max_days
from alerts.models import TARGET_MAX_LENGTH, AlertEvent, AlertRule, Delivery, NotificationChannel
from alerts.notifications import target_masked
from alerts.rules import (
    CONDITIONS,
    FIELDS,
    MAX_WINDOW_MINUTES,
    Condition,
    Field,
    ParamType,
    TriggerMode,
    conditions_describe,
)
from alerts.throttling import BacktestRateThrottle
from cryptotracker.api_errors import ServiceUnavailableError
from cryptotracker.params import BadParameterError, PageNumberParamPagination, int_param
from prices.api.fields import DecimalStringField, UtcDateTimeField
from prices.domain import EXCHANGE_BITFINEX
from prices.repository import RepositoryError


class Pagination(PageNumberParamPagination):
    """?page=N&page_size=M (default 50, at most 200); body {count, next, previous, results}."""

    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 200


class AlertsApiView(APIView):
    """Base: token or session authentication, login required, store outages as 503, service errors as 400."""

    authentication_classes = [TokenAuthentication, SessionAuthentication]
    permission_classes = [IsAuthenticated]

    def handle_exception(self, exc: Exception) -> Response:
        if isinstance(exc, RepositoryError):
            exc = ServiceUnavailableError()
        elif isinstance(exc, services.AlertValidationError):
            exc = ValidationError(exc.errors)
        elif isinstance(exc, services.ChannelRateLimitError):
            exc = Throttled(wait=exc.retry_after_s, detail=exc.message)
        return super().handle_exception(exc)

    def paginated(self, queryset, serializer_class) -> Response:
        paginator = Pagination()
        page = paginator.paginate_queryset(queryset, self.request, view=self)
        return paginator.get_paginated_response(serializer_class(page, many=True).data)


# --- rules ------------------------------------------------------------------------------


def _output_field(field: Field) -> serializers.Field:
    if field.type is ParamType.DECIMAL:
        return DecimalStringField()
    if field.type is ParamType.INTEGER:
        return serializers.IntegerField(allow_null=True)
    if field.type is ParamType.BOOLEAN:
        return serializers.BooleanField()
    return serializers.CharField(allow_null=True)


RuleParamsOutputSerializer = type(
    "RuleParamsOutputSerializer",
    (serializers.Serializer,),
    {name: _output_field(field) for name, field in FIELDS.items()},
)


class RuleOutputSerializer(RuleParamsOutputSerializer):
    """An alert rule as returned by the API (decimals as exact strings, times ISO 8601 UTC with Z)."""

    id = serializers.IntegerField()
    name = serializers.CharField()
    exchange = serializers.CharField()
    pair = serializers.CharField()
    condition = serializers.CharField()
    trigger_mode = serializers.CharField()
    cooldown_minutes = serializers.IntegerField()
    confirm_minutes = serializers.IntegerField()
    confirm_exchange = serializers.BooleanField()
    expires_at = UtcDateTimeField()
    enabled = serializers.BooleanField()
    channels = serializers.SerializerMethodField()
    state = serializers.CharField()
    state_changed_at = UtcDateTimeField()
    last_evaluated_minute = UtcDateTimeField()
    last_notified_minute = UtcDateTimeField()
    created_at = UtcDateTimeField()
    updated_at = UtcDateTimeField()

    def get_channels(self, rule: AlertRule) -> list[int]:
        return sorted(channel.pk for channel in rule.channels.all())


def _parameter_field(field: Field) -> serializers.Field:
    """The input field of one parameter: its type only; which values a condition accepts is
    checked by alerts.services with the condition registry (one validator for API and admin)."""
    if field.type is ParamType.DECIMAL:
        return serializers.DecimalField(
            max_digits=field.max_digits, decimal_places=field.decimal_places, required=False, allow_null=True
        )
    if field.type is ParamType.INTEGER:
        return serializers.IntegerField(required=False, allow_null=True, min_value=1, max_value=2**31 - 1)
    if field.type is ParamType.BOOLEAN:
        return serializers.BooleanField(default=field.default)
    choices = sorted(
        {
            value
            for kind in CONDITIONS.values()
            for p in kind.params
            if p.name == field.name
            for value, _ in p.choices
        }
    )
    if field.default is not None:
        return serializers.ChoiceField(choices=choices, default=field.default)
    return serializers.ChoiceField(choices=choices, required=False, allow_null=True)


# The condition's parameters, one input field per alerts.rules.FIELDS entry.
RuleParamsSerializer = type(
    "RuleParamsSerializer",
    (serializers.Serializer,),
    {name: _parameter_field(field) for name, field in FIELDS.items()},
)


class RuleInputSerializer(RuleParamsSerializer):
    """Accepted rule fields; the condition's parameters (alerts.rules.FIELDS) are checked against the
    condition by alerts.services."""

    name = serializers.CharField(max_length=100)
    exchange = serializers.ChoiceField(
        choices=[EXCHANGE_BITFINEX],
        default=EXCHANGE_BITFINEX,
        help_text="A configured exchange (PRICES_EXCHANGES); the pair is that exchange's own id.",
    )
    pair = serializers.CharField(max_length=32)
    condition = serializers.ChoiceField(choices=[c.value for c in Condition])
    trigger_mode = serializers.ChoiceField(
        choices=[m.value for m in TriggerMode], default=TriggerMode.REARM.value
    )
    cooldown_minutes = serializers.IntegerField(min_value=0, max_value=7 * 1440, default=60)
    confirm_minutes = serializers.IntegerField(min_value=1, max_value=MAX_WINDOW_MINUTES, default=1)
    confirm_exchange = serializers.BooleanField(
        default=False,
        help_text="Fire only when the condition also holds on another configured exchange listing the "
        "pair's market (that exchange's newest price, within the staleness limit).",
    )
    expires_at = serializers.DateTimeField(required=False, allow_null=True)
    enabled = serializers.BooleanField(default=True)
    # Ids beyond a 64-bit integer are not ids: SQLite cannot even compare them.
    channels = serializers.ListField(
        child=serializers.IntegerField(min_value=1, max_value=2**63 - 1), required=False, default=list
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # The configured exchanges, read when the request is (settings can differ per process).
        self.fields["exchange"].choices = [value for value, _ in services.rule_exchange_choices()]


class ConditionOutputSerializer(serializers.Serializer):
    """A condition of the registry and its parameters (labels, help, units, allowed values)."""

    class ParamSerializer(serializers.Serializer):
        name = serializers.CharField()
        type = serializers.ChoiceField(choices=[t.value for t in ParamType])
        label = serializers.CharField()
        help = serializers.CharField()
        unit = serializers.CharField()
        required = serializers.BooleanField()
        default = serializers.JSONField(allow_null=True)
        minimum = serializers.JSONField(allow_null=True)
        maximum = serializers.JSONField(allow_null=True)
        exclusive_minimum = serializers.BooleanField()
        decimal_places = serializers.IntegerField(allow_null=True)
        choices = serializers.ListField(child=serializers.DictField())

    condition = serializers.CharField()
    label = serializers.CharField()
    description = serializers.CharField()
    params = ParamSerializer(many=True)


class AlertConditionListApi(AlertsApiView):
    """GET: every alert condition with its parameters, as the forms and the validator know them."""

    @extend_schema(responses=ConditionOutputSerializer(many=True), operation_id="alerts_conditions_list")
    def get(self, request: Request) -> Response:
        return Response(ConditionOutputSerializer(conditions_describe(), many=True).data)


def _rules_of(user):
    return AlertRule.objects.filter(owner=user).prefetch_related(
        Prefetch("channels", queryset=NotificationChannel.objects.only("id"))
    )


class AlertRuleListApi(AlertsApiView):
    """GET: the user's rules (paginated). POST: create a rule."""

    @extend_schema(responses=RuleOutputSerializer(many=True), operation_id="alerts_rules_list")
    def get(self, request: Request) -> Response:
        return self.paginated(_rules_of(request.user).order_by("id"), RuleOutputSerializer)

    @extend_schema(
        request=RuleInputSerializer, responses={201: RuleOutputSerializer}, operation_id="alerts_rules_create"
    )
    def post(self, request: Request) -> Response:
        serializer = RuleInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = dict(serializer.validated_data)
        data["channels"] = services.channels_of(owner=request.user, ids=data.get("channels", []))
        rule = services.alert_rule_create(owner=request.user, **data)
        return Response(RuleOutputSerializer(rule).data, status=status.HTTP_201_CREATED)


class AlertRuleDetailApi(AlertsApiView):
    """GET, PATCH (partial), PUT (full) or DELETE one of the user's rules; another user's is a 404."""

    def _rule(self, request: Request, rule_id: int) -> AlertRule:
        return get_object_or_404(_rules_of(request.user), pk=rule_id)

    @extend_schema(responses=RuleOutputSerializer, operation_id="alerts_rules_retrieve")
    def get(self, request: Request, rule_id: int) -> Response:
        return Response(RuleOutputSerializer(self._rule(request, rule_id)).data)

    def _update(self, request: Request, rule_id: int, *, partial: bool) -> Response:
        rule = self._rule(request, rule_id)
        serializer = RuleInputSerializer(data=request.data, partial=partial)
        serializer.is_valid(raise_exception=True)
        data = dict(serializer.validated_data)
        if "channels" in data:
            data["channels"] = services.channels_of(owner=request.user, ids=data["channels"])
        rule = services.alert_rule_update(rule=rule, data=data)
        return Response(RuleOutputSerializer(self._rule(request, rule.pk)).data)

    @extend_schema(
        request=RuleInputSerializer,
        responses=RuleOutputSerializer,
        operation_id="alerts_rules_partial_update",
    )
    def patch(self, request: Request, rule_id: int) -> Response:
        return self._update(request, rule_id, partial=True)

    @extend_schema(
        request=RuleInputSerializer, responses=RuleOutputSerializer, operation_id="alerts_rules_update"
    )
    def put(self, request: Request, rule_id: int) -> Response:
        return self._update(request, rule_id, partial=False)

    @extend_schema(responses={204: None}, operation_id="alerts_rules_destroy")
    def delete(self, request: Request, rule_id: int) -> Response:
        self._rule(request, rule_id).delete()
        return Response(status=status.HTTP_204_NO_CONTENT)


class BacktestOutputSerializer(serializers.Serializer):
    """When the rule would have notified over the replayed span, and how often per UTC day."""

    class NotificationSerializer(serializers.Serializer):
        minute = UtcDateTimeField()
        state = serializers.CharField()
        observed_value = DecimalStringField(source="observed")
        reference_value = DecimalStringField(source="reference")
        message = serializers.CharField()

    rule = serializers.IntegerField()
    start = UtcDateTimeField()
    end = UtcDateTimeField()
    minutes = serializers.IntegerField()
    transitions = serializers.IntegerField()
    no_data_minutes = serializers.IntegerField()
    notifications_count = serializers.IntegerField()
    per_day = serializers.ListField(child=serializers.DictField())
    notifications = NotificationSerializer(many=True)


class AlertRuleBacktestApi(AlertsApiView):
    """POST /rules/{id}/backtest/?days=7: replay the rule over stored history; sends and records nothing.

    Rate limited per user by ALERTS_BACKTEST_RATE on top of the API's rate (429 `throttled`).
    """

    throttle_classes = [*AlertsApiView.throttle_classes, BacktestRateThrottle]

    @extend_schema(
        request=None,
        parameters=[
            OpenApiParameter(
                "days", int, description="Days of history to replay (1–30, volatility_rank 1–7; default 7)."
            )
        ],
        responses=BacktestOutputSerializer,
        operation_id="alerts_rules_backtest",
    )
    def post(self, request: Request, rule_id: int) -> Response:
        rule = get_object_or_404(AlertRule, owner=request.user, pk=rule_id)
        maximum = backtest_max_days(rule=rule)
        days = int_param("days", request.query_params.get("days"), default=7, minimum=1, maximum=maximum)
        result = alert_rule_backtest(rule=rule, days=days)
        body: dict[str, Any] = {
            "rule": rule.pk,
            "start": result.start,
            "end": result.end,
            "minutes": result.minutes,
            "transitions": result.transitions,
            "no_data_minutes": result.no_data_minutes,
            "notifications_count": len(result.notifications),
            "per_day": [
                {"date": day.isoformat(), "notifications": n} for day, n in sorted(result.per_day.items())
            ],
            "notifications": result.notifications,
        }
        return Response(BacktestOutputSerializer(body).data)


# --- channels ---------------------------------------------------------------------------


@extend_schema_field(OpenApiTypes.STR)
class MaskedTargetField(serializers.Field):
    """A channel or delivery target as shown after creation: Apprise URLs with secrets masked."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(source="*", read_only=True, **kwargs)

    def to_representation(self, value: NotificationChannel | Delivery) -> str:
        return target_masked(value.kind, value.target)


class ChannelOutputSerializer(serializers.Serializer):
    """A notification channel; `verification` is not_needed (webhook and Apprise channels have no
    verification step), else an email channel's: verified, or pending, sent, failed (the
    verification email's state)."""

    id = serializers.IntegerField()
    name = serializers.CharField()
    kind = serializers.CharField()
    target = MaskedTargetField()
    verified = serializers.BooleanField()
    verification = serializers.SerializerMethodField()
    quiet_start = serializers.TimeField(format="%H:%M", allow_null=True)
    quiet_end = serializers.TimeField(format="%H:%M", allow_null=True)
    quiet_timezone = serializers.CharField()
    created_at = UtcDateTimeField()

    def get_verification(self, channel: NotificationChannel) -> str:
        if channel.kind != NotificationChannel.Kind.EMAIL:
            return "not_needed"
        if channel.verified:
            return "verified"
        return channel.verification_status or "not_needed"


class ChannelInputSerializer(serializers.Serializer):
    """Accepted channel fields; the target is validated against the kind by alerts.services."""

    name = serializers.CharField(max_length=100, required=False, allow_blank=True, default="")
    kind = serializers.ChoiceField(choices=NotificationChannel.Kind.choices)
    target = serializers.CharField(max_length=TARGET_MAX_LENGTH)
    quiet_start = serializers.TimeField(
        required=False, allow_null=True, help_text="Quiet hours start, local HH:MM (with quiet_end)."
    )
    quiet_end = serializers.TimeField(
        required=False, allow_null=True, help_text="Quiet hours end, local HH:MM: the digest is sent then."
    )
    quiet_timezone = serializers.CharField(
        required=False, max_length=64, help_text="IANA time zone of the quiet hours (default UTC)."
    )


class ChannelListApi(AlertsApiView):
    """GET: the user's channels (paginated). POST: add one (another person's email address gets a
    queued verification email; the answer does not wait for it)."""

    @extend_schema(responses=ChannelOutputSerializer(many=True), operation_id="alerts_channels_list")
    def get(self, request: Request) -> Response:
        return self.paginated(
            NotificationChannel.objects.filter(owner=request.user).order_by("id"), ChannelOutputSerializer
        )

    @extend_schema(
        request=ChannelInputSerializer,
        responses={201: ChannelOutputSerializer},
        operation_id="alerts_channels_create",
    )
    def post(self, request: Request) -> Response:
        serializer = ChannelInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        channel = services.channel_create(owner=request.user, **serializer.validated_data)
        return Response(ChannelOutputSerializer(channel).data, status=status.HTTP_201_CREATED)


class ChannelDetailApi(AlertsApiView):
    """GET, PATCH or DELETE one of the user's channels; another user's is a 404."""

    def _channel(self, request: Request, channel_id: int) -> NotificationChannel:
        return get_object_or_404(NotificationChannel, owner=request.user, pk=channel_id)

    @extend_schema(responses=ChannelOutputSerializer, operation_id="alerts_channels_retrieve")
    def get(self, request: Request, channel_id: int) -> Response:
        return Response(ChannelOutputSerializer(self._channel(request, channel_id)).data)

    @extend_schema(
        request=ChannelInputSerializer,
        responses=ChannelOutputSerializer,
        operation_id="alerts_channels_update",
    )
    def patch(self, request: Request, channel_id: int) -> Response:
        channel = self._channel(request, channel_id)
        serializer = ChannelInputSerializer(data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        channel = services.channel_update(channel=channel, data=dict(serializer.validated_data))
        return Response(ChannelOutputSerializer(channel).data)

    @extend_schema(responses={204: None}, operation_id="alerts_channels_destroy")
    def delete(self, request: Request, channel_id: int) -> Response:
        self._channel(request, channel_id).delete()
        return Response(status=status.HTTP_204_NO_CONTENT)


class ChannelVerificationResendApi(AlertsApiView):
    """POST: queue the verification email of an unverified email channel again (202; hourly cap: 429)."""

    @extend_schema(
        request=None, responses={202: ChannelOutputSerializer}, operation_id="alerts_channels_resend"
    )
    def post(self, request: Request, channel_id: int) -> Response:
        channel = get_object_or_404(NotificationChannel, owner=request.user, pk=channel_id)
        services.channel_verification_resend(channel=channel)
        return Response(ChannelOutputSerializer(channel).data, status=status.HTTP_202_ACCEPTED)


class ChannelVerifyApi(APIView):
    """GET ?token=…: the link emailed to a new email channel; marks it verified."""

    authentication_classes: list = []
    permission_classes = [AllowAny]

    @extend_schema(
        parameters=[OpenApiParameter("token", str, required=True)],
        responses=ChannelOutputSerializer,
        operation_id="alerts_channels_verify",
    )
    def get(self, request: Request) -> Response:
        token = request.query_params.get("token") or ""
        try:
            channel = services.channel_verify(token=token)
        except services.ChannelVerificationError as exc:
            raise BadParameterError("token", str(exc)) from None
        return Response({"id": channel.pk, "target": channel.target, "verified": channel.verified})


# --- events -----------------------------------------------------------------------------


class EventOutputSerializer(serializers.Serializer):
    """An alert event (a state change of a rule) with its deliveries."""

    class DeliverySerializer(serializers.Serializer):
        id = serializers.IntegerField()
        channel = serializers.IntegerField(source="channel_id", allow_null=True)
        kind = serializers.CharField()
        target = MaskedTargetField()
        status = serializers.CharField()
        attempts = serializers.IntegerField()
        last_error = serializers.CharField()
        next_attempt_at = UtcDateTimeField()
        sent_at = UtcDateTimeField()

    id = serializers.IntegerField()
    rule = serializers.IntegerField(source="rule_id")
    rule_name = serializers.CharField(source="rule.name")
    pair = serializers.CharField(source="rule.pair")
    minute = UtcDateTimeField()
    old_state = serializers.CharField()
    new_state = serializers.CharField()
    observed_value = DecimalStringField()
    reference_value = DecimalStringField()
    message = serializers.CharField()
    notify = serializers.BooleanField()
    suppressed = serializers.CharField()
    created_at = UtcDateTimeField()
    deliveries = DeliverySerializer(many=True)


def _events_of(user):
    return (
        AlertEvent.objects.filter(rule__owner=user)
        .select_related("rule")
        .prefetch_related(Prefetch("deliveries", queryset=Delivery.objects.order_by("id")))
    )


class AlertEventListApi(AlertsApiView):
    """GET: the user's alert history, newest first (paginated); ?rule=ID filters."""

    @extend_schema(
        parameters=[OpenApiParameter("rule", int, description="Only this rule's events.")],
        responses=EventOutputSerializer(many=True),
        operation_id="alerts_events_list",
    )
    def get(self, request: Request) -> Response:
        events = _events_of(request.user).order_by("-minute", "-id")
        rule = request.query_params.get("rule")
        if rule:
            rule_id = int_param("rule", rule, default=0, minimum=1, maximum=2**62)
            events = events.filter(rule_id=rule_id)
        return self.paginated(events, EventOutputSerializer)


class AlertEventDetailApi(AlertsApiView):
    """GET one of the user's events; another user's is a 404."""

    @extend_schema(responses=EventOutputSerializer, operation_id="alerts_events_retrieve")
    def get(self, request: Request, event_id: int) -> Response:
        return Response(EventOutputSerializer(get_object_or_404(_events_of(request.user), pk=event_id)).data)
