"""Forms of the alerts pages: the rule form (its parameter fields, labels and help come from the
condition registry in alerts.rules, their widgets from the model) and the channel form.

The forms only parse input; whether a rule is valid is decided by
alerts.services.alert_rule_input_errors, the check the API and the admin use too.
"""

from __future__ import annotations

import json
import re
from typing import Any

from django import forms

from alerts import services
from alerts.models import TARGET_MAX_LENGTH, AlertRule, NotificationChannel
from alerts.rules import CONDITIONS, FIELDS, Condition, ParamType, TriggerMode, param_conditions
from prices.domain import EXCHANGE_BITFINEX


def parameter_texts(name: str) -> dict[str, dict[str, str]]:
    """Per condition using parameter `name`: its label, help and unit from the registry (the page
    script relabels the field when the condition changes)."""
    texts = {}
    for condition in Condition:
        param = CONDITIONS[condition].param(name)
        if param is not None:
            texts[condition.value] = {"label": param.label, "help": param.help, "unit": param.unit}
    return texts


def integer_bounds(name: str) -> dict[str, int]:
    """The HTML min/max of integer parameter `name`: the widest range the registry allows over the
    conditions using it (window_minutes: 1–1440), so the browser never refuses what the services
    accept; a condition's narrower range (spike's window from 2) is still checked on save."""
    lows, highs = [], []
    for condition in Condition:
        param = CONDITIONS[condition].param(name)
        if param is None:
            continue
        if param.choices:
            values = [value for value, _ in param.choices]
            lows.append(min(values))
            highs.append(max(values))
        else:
            low = param.minimum
            lows.append(None if low is None else low + 1 if param.exclusive_minimum else low)
            highs.append(param.maximum)
    bounds = {}
    if lows and None not in lows:
        bounds["min"] = int(min(lows))
    if highs and None not in highs:
        bounds["max"] = int(max(highs))
    return bounds


def message_for_people(message: str) -> str:
    """A validation message as a page shows it: condition codes become their labels and the first
    letter is capital ("required for pct_change" → "Required for “% change”")."""
    for condition in sorted(Condition, key=lambda c: -len(c.value)):  # longest first: no partial names
        message = re.sub(rf"\b{condition.value}\b", f"“{CONDITIONS[condition].label}”", message)
    return message[:1].upper() + message[1:]


class RuleForm(forms.Form):
    """Name, pair, condition and its parameters, trigger mode, cooldown, expiry, channels, enabled.

    Parameters the chosen condition does not use are dropped in `clean` (the page hides them;
    without JavaScript they stay visible, labelled with the conditions that use them).
    `rule_data()` is what alerts.services.alert_rule_create / alert_rule_update take.
    """

    name = forms.CharField(
        max_length=100, required=False, help_text="Optional: named after the pair and condition if empty."
    )
    exchange = forms.ChoiceField(
        initial=EXCHANGE_BITFINEX, required=False, help_text="Where the pair's prices come from."
    )
    pair = forms.CharField(
        max_length=32,
        help_text="A tracked pair in the exchange's own id: BTCUSD on Bitfinex, BTCUSDT on Binance, "
        "XXBTZUSD on Kraken, BTC-USD on Coinbase; for the median, a market such as BTC-USD.",
    )
    condition = forms.ChoiceField(choices=[(c.value, CONDITIONS[c].label) for c in Condition])
    trigger_mode = forms.ChoiceField(
        label="Notify",
        choices=[(m.value, m.label.capitalize()) for m in TriggerMode],
        initial=TriggerMode.REARM.value,
    )
    cooldown_minutes = forms.IntegerField(
        label="Cooldown (minutes)",
        min_value=0,
        max_value=7 * 1440,
        initial=60,
        help_text="At least this long between two notifications.",
    )
    confirm_minutes = forms.IntegerField(
        label="Confirm (minutes)",
        min_value=1,
        max_value=1440,
        initial=1,
        required=False,
        help_text="Fire only after the condition held this many consecutive minutes (1: at once).",
    )
    confirm_exchange = forms.BooleanField(
        label="Confirm on another exchange",
        required=False,
        help_text="Fire only when the condition also holds on another exchange listing the same market.",
    )
    expires_at = forms.DateTimeField(
        label="Expires (UTC)",
        required=False,
        help_text="Optional: the rule stops at this time.",
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
    )
    channels = forms.ModelMultipleChoiceField(
        queryset=NotificationChannel.objects.none(),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="Where notifications go.",
    )
    enabled = forms.BooleanField(required=False, initial=True)

    def __init__(self, *args: Any, owner, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["channels"].queryset = NotificationChannel.objects.filter(owner=owner).order_by("id")
        exchanges = services.rule_exchange_choices()
        self.fields["exchange"].choices = exchanges
        if len(exchanges) == 1:  # nothing to choose, nothing to confirm on: not shown
            self.fields["exchange"].widget = forms.HiddenInput()
            self.fields["confirm_exchange"].widget = forms.HiddenInput()
        self.fields["pair"].widget.attrs.update(
            {
                "list": f"pair-options-{self._exchange_shown()}",
                "autocomplete": "off",
                "spellcheck": "false",
                "placeholder": "e.g. BTCUSD",
            }
        )
        users = param_conditions()
        for name in FIELDS:
            field = AlertRule._meta.get_field(name).formfield(required=False)
            texts = parameter_texts(name)
            first = next(iter(texts.values()), {"label": name, "help": "", "unit": ""})
            field.label, field.help_text = first["label"], first["help"]
            if isinstance(field, forms.TypedChoiceField):
                field.choices = [c for c in field.choices if c[0] != ""]
            if FIELDS[name].type == ParamType.INTEGER:
                field.widget.attrs.update(integer_bounds(name))
            field.widget.attrs["data-conditions"] = " ".join(users[name])
            field.widget.attrs["data-texts"] = json.dumps(texts)
            self.fields[name] = field
        # Show the parameters right after the condition.
        self.order_fields(["name", "exchange", "pair", "condition", *FIELDS])

    def _exchange_shown(self) -> str:
        """The exchange the form shows: the submitted one, else the initial one, else bitfinex."""
        if self.is_bound:
            return str(self.data.get("exchange") or EXCHANGE_BITFINEX)
        return str(self.initial.get("exchange") or EXCHANGE_BITFINEX)

    def parameter_fields(self) -> list[forms.BoundField]:
        """The bound parameter fields, in registry order (the template lays them out together)."""
        return [self[name] for name in FIELDS]

    def clean_exchange(self) -> str:
        return self.cleaned_data.get("exchange") or EXCHANGE_BITFINEX  # not posted: the default

    def clean_pair(self) -> str:
        pair = self.cleaned_data["pair"].strip()
        # Exchanges' own ids are upper case (BTCUSD, BTCUSDT, XBTUSDT, BTC-USD).
        return pair.upper()

    def clean(self) -> dict[str, Any]:
        cleaned = self.cleaned_data = services.rule_input_unused_cleared(super().clean())
        condition = cleaned.get("condition")
        if not cleaned.get("name") and cleaned.get("pair") and condition:
            cleaned["name"] = f"{cleaned['pair']} {Condition(condition).label}"
        return cleaned

    def rule_data(self) -> dict[str, Any]:
        """The cleaned input as keyword arguments of the rule services (channels as instances)."""
        data = dict(self.cleaned_data)
        data["channels"] = list(data["channels"])
        data["confirm_minutes"] = data.get("confirm_minutes") or 1
        if not data.get("direction"):
            data.pop("direction", None)
        return data

    def add_service_errors(self, errors: dict[str, str]) -> None:
        """Attach a service's field → message errors to the fields (others to the form)."""
        for field, message in errors.items():
            self.add_error(field if field in self.fields else None, message_for_people(message))


class ChannelForm(forms.Form):
    """A channel's kind, target and optional name; the target is checked by alerts.services."""

    kind = forms.ChoiceField(choices=NotificationChannel.Kind.choices)
    target = forms.CharField(
        max_length=TARGET_MAX_LENGTH,
        help_text="An email address, a webhook URL, or an Apprise URL such as ntfy://my-topic.",
    )
    name = forms.CharField(max_length=100, required=False)
    quiet_start = forms.TimeField(
        label="Quiet from",
        required=False,
        widget=forms.TimeInput(attrs={"type": "time"}, format="%H:%M"),
        help_text="Optional daily quiet hours (local time): alerts are held, then sent as one digest.",
    )
    quiet_end = forms.TimeField(
        label="Quiet until", required=False, widget=forms.TimeInput(attrs={"type": "time"}, format="%H:%M")
    )
    quiet_timezone = forms.CharField(
        label="Time zone", max_length=64, required=False, initial="UTC", help_text="e.g. Europe/Paris."
    )

    def clean_quiet_timezone(self) -> str:
        return self.cleaned_data.get("quiet_timezone") or "UTC"
