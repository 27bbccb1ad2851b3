"""The alerts pages for every signed-in user: rules, events, channels, the backtest preview, and the
one-click action links of notifications. Thin views over alerts.services, alerts.actions and
alerts.backtest; every object is looked up with `owner=request.user`, so another user's is a 404.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db.models import OuterRef, Prefetch, Subquery
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from alerts import actions, services
from alerts.backtest import alert_rule_backtest
from alerts.models import AlertEvent, AlertRule, Delivery, NotificationChannel, rule_market
from alerts.rules import CONDITIONS, Condition, ParamType
from alerts.throttling import BacktestRateThrottle
from alerts.web import figures
from alerts.web.forms import ChannelForm, RuleForm, message_for_people
from prices import selectors
from prices.domain import decimal_str
from prices.exchanges import configured_exchanges
from prices.repository import RepositoryError
from prices.selectors_markets import MarketPrices, market_indexes, markets_shared

PREVIEW_DAYS = 7
EVENTS_PAGE = 100
QUOTE_UNIT = "quote currency"  # the registry's unit of prices (alerts.rules.conditions)
Via = actions.Via


def _store_errors(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """The dashboards' 503 page when the price store is unreachable."""

    @functools.wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        try:
            return view(request, *args, **kwargs)
        except RepositoryError:
            return render(request, "dashboards/unavailable.html", status=503)

    return wrapper


def _now() -> datetime:
    return datetime.now(UTC)


def _own_rule(request: HttpRequest, rule_id: int) -> AlertRule:
    return get_object_or_404(AlertRule, owner=request.user, pk=rule_id)


# --- rules ------------------------------------------------------------------------------


def _rules_with_last_event(user):
    last = AlertEvent.objects.filter(rule=OuterRef("pk")).order_by("-minute", "-id")
    return (
        AlertRule.objects.filter(owner=user)
        .annotate(
            last_event_minute=Subquery(last.values("minute")[:1]),
            last_event_state=Subquery(last.values("new_state")[:1]),
            last_event_message=Subquery(last.values("message")[:1]),
        )
        .prefetch_related(Prefetch("channels", queryset=NotificationChannel.objects.order_by("id")))
        .order_by("pair", "id")
    )


@login_required
@require_GET
def rule_list(request: HttpRequest) -> HttpResponse:
    """`/alerts/`: the user's rules with their state, last event and channels."""
    now = _now()
    rules = list(_rules_with_last_event(request.user))
    for rule in rules:
        rule.shown_state = rule.display_state(now)
        rule.condition_label = CONDITIONS[Condition(rule.condition)].label
        rule.parameters = _parameters(rule)
    context = {"nav": "alerts", "tab": "rules", "rules": rules, "now": now}
    return render(request, "alerts/rule_list.html", context)


def _pair_options() -> list[tuple[str, list[selectors.PairSummary]]]:
    """Per configured exchange (name), its tracked pairs for the form's suggestions."""
    options = []
    for config in configured_exchanges():
        try:
            options.append((config.name, selectors.pairs_list(exchange=config.name)))
        except RepositoryError:
            options.append((config.name, []))
    return options


def _market_options() -> list[MarketPrices]:
    """The markets two or more configured exchanges list (a median rule's pairs)."""
    if len(configured_exchanges()) < 2:
        return []
    try:
        return markets_shared(indexes=market_indexes())
    except RepositoryError:
        return []


def _plain(value: Any) -> Any:
    """A stored Decimal as a person writes it (101700.000000000000 -> "101700"), never in exponent form."""
    if isinstance(value, Decimal):
        return format(value.normalize(), "f")
    return value


def _initial_of(rule: AlertRule) -> dict[str, Any]:
    initial = {
        name: getattr(rule, name)
        for name in (
            "name",
            "exchange",
            "pair",
            "condition",
            "trigger_mode",
            "cooldown_minutes",
            "confirm_minutes",
            "confirm_exchange",
            "expires_at",
            "enabled",
        )
    }
    for param in CONDITIONS[Condition(rule.condition)].params:
        initial[param.name] = _plain(getattr(rule, param.name))
    initial["channels"] = list(rule.channels.values_list("pk", flat=True))
    return initial


def _form_page(
    request: HttpRequest, form: RuleForm, *, rule: AlertRule | None, preview: dict | None = None
) -> HttpResponse:
    pairs = _pair_options()
    context = {
        "nav": "alerts",
        "tab": "rules",
        "form": form,
        "rule": rule,
        "pair_options": pairs,
        "market_options": _market_options(),
        "preview": preview,
        "preview_days": PREVIEW_DAYS,
        "preview_url": reverse("alerts_web:rule-preview"),
        # A duplicate's form is the create form: it must post to the create URL, not back to /duplicate/.
        "form_action": reverse("alerts_web:rule-edit", args=[rule.pk])
        if rule is not None
        else reverse("alerts_web:rule-create"),
    }
    return render(request, "alerts/rule_form.html", context, status=400 if form.errors else 200)


def _save(request: HttpRequest, form: RuleForm, rule: AlertRule | None) -> HttpResponse | None:
    """Create or update through the services; None (errors attached to the form) if invalid."""
    data = form.rule_data()
    try:
        if rule is None:
            rule = services.alert_rule_create(owner=request.user, **data)
            messages.success(request, f"Alert “{rule.name}” created.")
        else:
            rule = services.alert_rule_update(rule=rule, data=data)
            messages.success(request, f"Alert “{rule.name}” saved.")
    except services.AlertValidationError as exc:
        form.add_service_errors(exc.errors)
        return None
    return redirect("alerts_web:rule-detail", rule.pk)


def _rule_form(request: HttpRequest, *, rule: AlertRule | None, initial: dict[str, Any]) -> HttpResponse:
    if request.method == "POST":
        form = RuleForm(request.POST, owner=request.user)
        if form.is_valid():
            if "preview" in request.POST:
                return _form_page(request, form, rule=rule, preview=_preview(request, form))
            response = _save(request, form, rule)
            if response is not None:
                return response
        return _form_page(request, form, rule=rule)
    return _form_page(request, RuleForm(initial=initial, owner=request.user), rule=rule)


@login_required
@require_http_methods(["GET", "POST"])
@_store_errors
def rule_create(request: HttpRequest) -> HttpResponse:
    """`/alerts/new/?pair=BTCUSD&threshold=7200[&exchange=kraken]`: the form, prefilled from the query."""
    initial: dict[str, Any] = {"condition": Condition.CROSSES_ABOVE.value, "enabled": True}
    for name in ("exchange", "pair", "condition", "threshold"):
        if request.GET.get(name):
            initial[name] = request.GET[name]
    return _rule_form(request, rule=None, initial=initial)


@login_required
@require_http_methods(["GET", "POST"])
@_store_errors
def rule_edit(request: HttpRequest, rule_id: int) -> HttpResponse:
    """`/alerts/<id>/edit/`: the rule form for one of the user's rules."""
    rule = _own_rule(request, rule_id)
    return _rule_form(request, rule=rule, initial=_initial_of(rule))


@login_required
@require_GET
@_store_errors
def rule_duplicate(request: HttpRequest, rule_id: int) -> HttpResponse:
    """`/alerts/<id>/duplicate/`: a new-rule form holding a copy of the rule."""
    rule = _own_rule(request, rule_id)
    initial = {**_initial_of(rule), "name": f"Copy of {rule.name}"[:100]}
    return _form_page(request, RuleForm(initial=initial, owner=request.user), rule=None)


def _unit(unit: str, rule: AlertRule) -> str:
    """A parameter's unit as the reader knows it: the pair's quote currency by name."""
    if unit != QUOTE_UNIT:
        return unit
    market = rule_market(rule.exchange, rule.pair)
    return market.quote if market is not None else unit


def _parameters(rule: AlertRule) -> list[tuple[Any, Any, str]]:
    """(registry Param, value, unit) of each parameter the rule's condition uses; a boolean's
    value is its words when on (the ladder: "re-anchors after each firing"), None when off."""
    kind = CONDITIONS[Condition(rule.condition)]
    return [
        (param, _shown(param, getattr(rule, param.name)), _unit(param.unit, rule)) for param in kind.params
    ]


def _shown(param: Any, value: Any) -> Any:
    if param.field.type != ParamType.BOOLEAN:
        return value
    return param.on_text if value else None


@login_required
@require_GET
def rule_detail(request: HttpRequest, rule_id: int) -> HttpResponse:
    """`/alerts/<id>/`: one rule, its parameters, recent events and its history of actions."""
    rule = _own_rule(request, rule_id)
    now = _now()
    context = {
        "nav": "alerts",
        "tab": "rules",
        "rule": rule,
        "shown_state": rule.display_state(now),
        "condition_label": CONDITIONS[Condition(rule.condition)].label,
        "parameters": _parameters(rule),
        "channels": list(rule.channels.order_by("id")),
        "events": list(rule.events.prefetch_related("deliveries")[:10]),
        "history": list(rule.actions.select_related("actor")[:20]),
        "now": now,
    }
    return render(request, "alerts/rule_detail.html", context)


@login_required
@require_POST
@_store_errors
def rule_act(request: HttpRequest, rule_id: int) -> HttpResponse:
    """POST `action=enable|disable|mute_1h|mute_24h|unmute|rearm` from the rule pages."""
    rule = _own_rule(request, rule_id)
    action = request.POST.get("action", "")
    common = {"rule": rule, "via": Via.WEB, "actor": request.user}
    try:
        if action in ("enable", "disable"):
            actions.alert_rule_enable(enabled=action == "enable", **common)
        elif action in actions.MUTE_DURATIONS:
            actions.alert_rule_mute(duration=actions.MUTE_DURATIONS[action], **common)
        elif action == "unmute":
            actions.alert_rule_unmute(**common)
        elif action == "rearm":
            actions.alert_rule_rearm(**common)
        else:
            return HttpResponse("Unknown action", status=400)
    except services.AlertValidationError as exc:
        messages.error(request, "; ".join(exc.errors.values()))
    else:
        messages.success(request, f"“{rule.name}”: {action.replace('_', ' ')} done.")
    target = request.POST.get("next", "")
    if not url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}):
        target = reverse("alerts_web:rule-detail", args=[rule.pk])
    return redirect(target)


@login_required
@require_http_methods(["GET", "POST"])
def rule_delete(request: HttpRequest, rule_id: int) -> HttpResponse:
    """`/alerts/<id>/delete/`: GET asks, POST deletes the rule with its events."""
    rule = _own_rule(request, rule_id)
    if request.method == "POST":
        rule.delete()
        messages.success(request, f"Alert “{rule.name}” deleted.")
        return redirect("alerts_web:rule-list")
    return render(request, "alerts/rule_delete.html", {"nav": "alerts", "tab": "rules", "rule": rule})


# --- backtest preview -------------------------------------------------------------------


def _preview_errors(form: RuleForm, errors: dict[str, str]) -> dict[str, Any]:
    def label(name: str) -> str:
        return str(form[name].label) if name in form.fields else name

    return {"errors": {label(name): message_for_people(message) for name, message in errors.items()}}


def _preview(request: HttpRequest, form: RuleForm) -> dict[str, Any]:
    """The backtest of the form's unsaved rule over the last PREVIEW_DAYS days, with its chart.

    Returns {"errors": {field label: message}} when the input is invalid (the same check as saving),
    or {"errors": ..., "throttled": seconds} beyond ALERTS_BACKTEST_RATE.
    """
    data = form.rule_data()
    errors = services.alert_rule_input_errors(data=data)
    if errors:
        return _preview_errors(form, errors)
    throttle = BacktestRateThrottle()
    if not throttle.allow_request(request, None):
        wait = max(1, round(throttle.wait() or 1))
        return {
            "errors": {"Preview": f"Too many previews in a short time; try again in {wait} s."},
            "throttled": wait,
        }
    probe = AlertRule(**{k: v for k, v in data.items() if k != "channels"})
    result = alert_rule_backtest(rule=probe, days=PREVIEW_DAYS)
    points = selectors.recent_prices(
        end=result.end, minutes=result.minutes, pairs=[probe.pair], exchange=probe.exchange
    ).get(probe.pair, [])
    summary = selectors.pair_get(pair=probe.pair, exchange=probe.exchange)
    fig = figures.backtest_figure(pair=summary.pair, points=points, result=result, threshold=probe.threshold)
    return {
        "result": result,
        "count": len(result.notifications),
        "per_day": sorted(result.per_day.items()),
        "notifications": result.notifications[-20:],
        "figure": figures.figure_json(fig),
        "pair": summary.pair,
    }


@login_required
@require_POST
@_store_errors
def rule_preview(request: HttpRequest) -> HttpResponse:
    """POST the rule form: the backtest preview as an HTML fragment (the form page swaps it in)."""
    form = RuleForm(request.POST, owner=request.user)
    preview = (
        _preview(request, form)
        if form.is_valid()
        else _preview_errors(form, {k: " ".join(v) for k, v in form.errors.items()})
    )
    html = render_to_string(
        "alerts/_preview.html", {"preview": preview, "preview_days": PREVIEW_DAYS}, request=request
    )
    if "throttled" in preview:
        response = HttpResponse(html, status=429)
        response["Retry-After"] = str(preview["throttled"])
        return response
    return HttpResponse(html, status=400 if "errors" in preview else 200)


# --- pair page helpers ------------------------------------------------------------------


@require_GET
def pair_thresholds(request: HttpRequest, pair: str) -> JsonResponse:
    """`/alerts/pairs/<pair>/thresholds.json`: the signed-in user's enabled rule thresholds on the
    pair ({"thresholds": [{"rule", "name", "condition", "threshold", "url"}]}; empty when signed out)."""
    rows = []
    if request.user.is_authenticated:
        rules = AlertRule.objects.filter(
            owner=request.user, pair=pair.upper(), enabled=True, threshold__isnull=False
        ).order_by("threshold")
        rows = [
            {
                "rule": rule.pk,
                "name": rule.name,
                "condition": rule.condition,
                "threshold": decimal_str(rule.threshold),
                "url": reverse("alerts_web:rule-detail", args=[rule.pk]),
            }
            for rule in rules
        ]
    return JsonResponse({"pair": pair.upper(), "thresholds": rows})


# --- events -----------------------------------------------------------------------------


@login_required
@require_GET
def event_list(request: HttpRequest) -> HttpResponse:
    """`/alerts/events/?rule=<id>`: what fired, when, the price and each delivery's status."""
    rules = list(AlertRule.objects.filter(owner=request.user).order_by("name").only("id", "name", "pair"))
    events = AlertEvent.objects.filter(rule__owner=request.user).select_related("rule")
    selected = None
    raw = request.GET.get("rule") or ""
    if raw:
        if not raw.isdigit():
            raise Http404("No such rule")
        selected = get_object_or_404(AlertRule, owner=request.user, pk=int(raw))
        events = events.filter(rule=selected)
    events = list(
        events.prefetch_related(Prefetch("deliveries", queryset=Delivery.objects.order_by("id")))[
            :EVENTS_PAGE
        ]
    )
    context = {
        "nav": "alerts",
        "tab": "events",
        "events": events,
        "rules": rules,
        "selected": selected,
        "limit": EVENTS_PAGE,
    }
    return render(request, "alerts/event_list.html", context)


# --- channels ---------------------------------------------------------------------------


@login_required
@require_http_methods(["GET", "POST"])
def channel_list(request: HttpRequest) -> HttpResponse:
    """`/alerts/channels/`: the user's channels with verification status; POST adds one."""
    form = ChannelForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            channel = services.channel_create(owner=request.user, **form.cleaned_data)
        except services.AlertValidationError as exc:
            for field, message in exc.errors.items():
                form.add_error(field if field in form.fields else None, message)
        except services.ChannelRateLimitError as exc:
            form.add_error("target", exc.message)
        else:
            note = "" if channel.verified else " A confirmation link is on its way to it."
            messages.success(request, f"Channel “{channel}” added.{note}")
            return redirect("alerts_web:channel-list")
    channels = NotificationChannel.objects.filter(owner=request.user).order_by("id")
    context = {"nav": "alerts", "tab": "channels", "channels": channels, "form": form}
    return render(request, "alerts/channel_list.html", context, status=400 if form.errors else 200)


@login_required
@require_POST
def channel_act(request: HttpRequest, channel_id: int) -> HttpResponse:
    """POST `action=test|verify|delete` on one of the user's channels."""
    channel = get_object_or_404(NotificationChannel, owner=request.user, pk=channel_id)
    action = request.POST.get("action")
    if action == "delete":
        channel.delete()
        messages.success(request, f"Channel “{channel}” deleted.")
    elif action == "verify":
        if channel.verified:
            messages.info(request, f"“{channel}” is already verified.")
        else:
            try:
                services.channel_verification_resend(channel=channel)
            except services.ChannelRateLimitError as exc:
                messages.error(request, f"“{channel}”: {exc.message}")
            else:
                messages.success(request, f"A new confirmation link is on its way to {channel.target}.")
    elif action == "test":
        delivery = services.channel_test_notify(channel=channel, requested_by=request.user)
        if delivery.status == delivery.Status.SKIPPED:
            messages.error(request, f"Test to “{channel}” not sent: {delivery.last_error}")
        else:
            messages.success(request, f"Test notification to “{channel}” queued: it is sent within a minute.")
    else:
        return HttpResponse("Unknown action", status=400)
    return redirect("alerts_web:channel-list")


# --- one-click links --------------------------------------------------------------------


@require_http_methods(["GET", "POST"])
@_store_errors
def action_link(request: HttpRequest, token: str) -> HttpResponse:
    """`/alerts/act/<token>/` (from a notification, no sign-in): GET asks for confirmation, only
    POST changes the rule (mail scanners follow links)."""
    try:
        rule, action = actions.action_link_read(token=token)
    except actions.ActionLinkError as exc:
        return render(request, "alerts/action_link.html", {"error": str(exc)}, status=400)
    context: dict[str, Any] = {"rule": rule, "action": action, "token": token}
    if request.method == "POST":
        try:
            context["rule"] = actions.action_link_apply(token=token)
            context["done"] = True
        except services.AlertValidationError as exc:
            context["error"] = "; ".join(exc.errors.values())
    context["shown_state"] = context["rule"].display_state(_now())
    return render(request, "alerts/action_link.html", context)
