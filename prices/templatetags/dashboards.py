"""Template filters and tags of the dashboards: prices, percentages, UTC times, navigation."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from urllib.parse import urlencode

from django import template
from django.templatetags.static import static
from django.urls import reverse
from django.utils import timezone
from django.utils.timesince import timesince

from cryptotracker.params import iso_z as _iso_z
from prices.dashboards.staticfiles import plotly_js_path
from prices.domain import EXCHANGE_BITFINEX, decimal_str

register = template.Library()

DASH = "—"
PRICE_DIGITS = 5  # significant digits of Bitfinex prices
MINUS = "\u2212"


@register.filter
def price(value: Decimal | float | None) -> str:
    """A price with thousands separators and the digits it was stored with: 7,240.0486."""
    if value is None:
        return DASH
    if isinstance(value, float):
        return number(value)
    text = format(value, ",f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text.replace("-", MINUS)


@register.filter
def exact(value: Decimal | None) -> str:
    """A price as the API writes it: the exact stored decimal in plain notation ("60020", not "6.002E+4")."""
    return decimal_str(value) if value is not None else ""


@register.filter
def signed_price(value: Decimal | None, reference: Decimal | None = None) -> str:
    """A price change with an explicit sign: +12.5, −0.31.

    With `reference` (a price of the pair), rounded to the pair's precision: Bitfinex quotes
    five significant digits, so a change of 7,208.3 − 7,240.0486 reads −31.7, not −31.74860029.
    """
    if value is None:
        return DASH
    if reference:
        places = max(0, PRICE_DIGITS - 1 - math.floor(math.log10(abs(reference))))
        value = value.quantize(Decimal(1).scaleb(-places))
    return ("+" if value > 0 else "") + price(value)


@register.filter
def intcomma_int(value: int | None) -> str:
    """An integer with thousands separators: 1365 → '1,365'."""
    return DASH if value is None else f"{value:,}"


@register.filter
def number(value: float | None, digits: int = 7) -> str:
    """A float with `digits` significant digits and thousands separators (mean, std)."""
    if value is None or not math.isfinite(value):
        return DASH
    if value == 0:
        return "0"
    decimals = max(0, digits - 1 - math.floor(math.log10(abs(value))))
    text = f"{value:,.{decimals}f}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text.replace("-", MINUS)


@register.filter
def percent(value: float | None, decimals: int = 1) -> str:
    """A fraction as a percentage: 0.948 → '94.8 %'."""
    if value is None or not math.isfinite(value):
        return DASH
    return f"{value * 100:,.{decimals}f} %"


@register.filter
def ratio_percent(value: float | None) -> str:
    """A small ratio (relative std) as a percentage with 3 significant digits: 0.004731 → '0.473 %'."""
    if value is None or not math.isfinite(value):
        return DASH
    return f"{number(value * 100, 3)} %"


@register.filter
def signed_percent(value: float | None, decimals: int = 2) -> str:
    """A percentage with an explicit sign: +1.23 %, −0.40 % (value already in percent)."""
    if value is None or not math.isfinite(value):
        return DASH
    text = f"{abs(value):,.{decimals}f} %"
    if round(value, decimals) > 0:
        return "+" + text
    if round(value, decimals) < 0:
        return MINUS + text
    return text


@register.filter
def direction(value: float | Decimal | None) -> str:
    """'up', 'down' or 'flat' for a signed change (CSS class of coloured numbers)."""
    if value is None or value == 0:
        return "flat"
    return "up" if value > 0 else "down"


@register.filter
def utc(value: datetime | None) -> str:
    """An aware datetime as '2019-12-31 23:59 UTC'."""
    if value is None:
        return DASH
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


@register.filter
def ago(value: timedelta | None) -> str:
    """An age in words: 'just now' under a minute, else '3 minutes ago', '2 hours, 5 minutes ago'."""
    if value is None:
        return DASH
    if value < timedelta(minutes=1):
        return "just now"
    return f"{timesince(timezone.now() - value)} ago"


@register.filter
def utc_input(value: datetime | None) -> str:
    """An aware datetime as the date/time control's UTC value, 2019-12-31 23:59 (what `?end=` reads)."""
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M") if value is not None else ""


@register.filter
def iso_z(value: datetime | None) -> str:
    """An aware datetime as ISO 8601 with Z, for <time datetime=…>."""
    return _iso_z(value) if value is not None else ""


@register.simple_tag
def plotly_js_url() -> str:
    """The URL of plotly.js, served from the installed plotly package (never a CDN)."""
    return static(plotly_js_path())


@register.simple_tag
def pair_url(pair: str, exchange: str = "") -> str:
    """The pair page of `pair` on `exchange`: "/pairs/BTC-USD/?exchange=coinbase" (Bitfinex: no query)."""
    url = reverse("dashboards:pair", args=[pair])
    return url if exchange in ("", EXCHANGE_BITFINEX) else f"{url}?{urlencode({'exchange': exchange})}"
