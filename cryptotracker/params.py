"""Request parameters of every API and dashboard view: parsing, BadParameterError and iso_z.

The one home of query-parameter parsing (style guide §10, "Shared web helpers"): the price
API, the alerts API and the dashboards all read `choice`, `pairs`, `exchange`, integer and
datetime parameters (and pair and market names of a path) here, and every datetime leaves the
project as `iso_z`.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Collection, Iterable, Mapping
from datetime import UTC, date, datetime, timedelta
from typing import Any

from rest_framework import status
from rest_framework.exceptions import APIException
from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.pagination import PageNumberPagination

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# Every datetime parameter must lie in [DATETIME_MIN, DATETIME_MAX): far enough from Python's
# datetime limits that windows (7 d) and rounding (1 min) can never overflow, and wide enough
# for any price history (Bitfinex opened in 2012).
DATETIME_MIN = _EPOCH
DATETIME_MAX = datetime(2100, 1, 1, tzinfo=UTC)
_DATE_ONLY = re.compile(r"^\d{4}-\d{2}-\d{2}$")
# plotly.js writes axis values as "2019-12-31 06:12:33.5": a space between date and time.
_SPACE_SEPARATED = re.compile(r"^(\d{4}-\d{2}-\d{2}) (\d)")
# The dashboards' date/time control and people write "2019-12-31 12:00 UTC" or "… 12:00Z":
# a date and time without an offset, followed by a name of UTC.
_DATE_TIME = r"\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?"
_NAMED_UTC = re.compile(rf"^({_DATE_TIME})\s*(?:UTC|Z)$", re.IGNORECASE)
# Any other zone name after the time ("… EST", "… Europe/Paris") is refused, not guessed.
_NAMED_ZONE = re.compile(rf"^{_DATE_TIME}\s+[A-Za-z][A-Za-z0-9_/+-]*$")
# "…T00:00:00 01:00": an offset whose unencoded '+' a query string turned into a space.
_OFFSET_AS_SPACE = re.compile(rf"^{_DATE_TIME} \d")


class BadParameterError(APIException):
    """HTTP 400 naming the request parameter that is wrong (`parameter`) and why (`message`).

    An APIException, so that every API view answers it in the API's error shape; the
    dashboards catch it and answer 400 their own way.
    """

    status_code = status.HTTP_400_BAD_REQUEST
    default_code = "invalid_parameter"

    def __init__(self, parameter: str, message: str) -> None:
        self.parameter = parameter
        self.message = message
        super().__init__(detail={parameter: [message]})

    def __str__(self) -> str:
        return f"{self.parameter}: {self.message}"


def iso_z(value: datetime | int | None) -> str | None:
    """An aware datetime (or ms since the epoch) as ISO 8601 UTC with Z, None for None.

    Seconds precision ('2019-12-31T00:00:00Z'); milliseconds only when not zero.
    """
    if value is None:
        return None
    if isinstance(value, int):
        value = _EPOCH + timedelta(milliseconds=value)
    elif value.tzinfo is not UTC:
        value = value.astimezone(UTC)
    text = value.isoformat(timespec="milliseconds" if value.microsecond else "seconds")
    return text.replace("+00:00", "Z")


def iso_z_ms(ms: int) -> str:
    """`iso_z` of ms since the epoch, ~3× faster for whole seconds (a history page formats 1,440)."""
    if ms % 1000:
        return iso_z(ms)
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ms // 1000))


DATETIME_HELP = (
    "ISO 8601, e.g. 2019-12-31T00:00:00Z; any offset (send + as %2B); without an offset the "
    "time is read as UTC; a bare date is its midnight UTC. The dashboards' form "
    "2019-12-31 12:00, optionally followed by UTC or Z, is UTC too; other zone names are refused."
)


def datetime_param(name: str, raw: str | None, *, default: datetime | None = None) -> datetime | None:
    """An ISO 8601 datetime as aware UTC; `default` when absent or empty.

    Z or any offset is honoured; a time without an offset is read as UTC; a bare date
    (2019-12-31) is its midnight UTC; plotly's "2019-12-31 06:12:33.5" and the date/time
    control's "2019-12-31 12:00", "2019-12-31 12:00 UTC" and "2019-12-31 12:00Z" are accepted.
    Raises BadParameterError naming `name` for anything else (a zone named other than UTC,
    an offset whose '+' arrived as a space: encode it as %2B) and outside
    [DATETIME_MIN, DATETIME_MAX).
    """
    if raw is None or raw.strip() == "":
        return default
    text = raw.strip()
    named_utc = _NAMED_UTC.match(text)
    if named_utc:
        text = named_utc.group(1)
    text = _SPACE_SEPARATED.sub(r"\1T\2", text)
    if " " in text:
        if _NAMED_ZONE.match(text):
            raise BadParameterError(
                name,
                f"{raw!r} names a time zone other than UTC; give the time in UTC "
                "(2019-12-31 12:00 UTC, 2019-12-31T12:00:00Z) or with an offset (+01:00, sent as %2B)",
            )
        hint = (
            "; a '+' in an offset must be sent as %2B"
            if _OFFSET_AS_SPACE.match(text)
            else " such as 2019-12-31T00:00:00Z"
        )
        raise BadParameterError(name, f"{raw!r} is not an ISO 8601 datetime{hint}")
    try:
        if _DATE_ONLY.match(text):
            value = datetime.combine(date.fromisoformat(text), datetime.min.time(), tzinfo=UTC)
        else:
            value = datetime.fromisoformat(text)
    except ValueError:
        raise BadParameterError(
            name, f"{raw!r} is not an ISO 8601 datetime such as 2019-12-31T00:00:00Z"
        ) from None
    try:
        value = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    except OverflowError:  # 0001-01-01T00:00:00+01:00 is before datetime.min in UTC
        value = None
    if value is None or not DATETIME_MIN <= value < DATETIME_MAX:
        raise BadParameterError(
            name,
            f"{raw!r} is out of range; use a time from {iso_z(DATETIME_MIN)} to before {iso_z(DATETIME_MAX)}",
        )
    return value


def int_param(name: str, raw: str | None, *, default: int, minimum: int, maximum: int) -> int:
    """An integer in [minimum, maximum]; `default` when absent or empty; else BadParameterError."""
    if raw is None or raw.strip() == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise BadParameterError(name, f"{raw!r} is not an integer") from None
    if not minimum <= value <= maximum:
        raise BadParameterError(name, f"must be between {minimum} and {maximum}, got {value}")
    return value


def choice_param(
    params: Mapping[str, Any], name: str, choices: Collection[str], default: str, *, strict: bool = True
) -> str:
    """`params[name]` if it is one of `choices`, `default` when absent or empty.

    Any other value raises BadParameterError (`strict`, the API and the page scripts' data
    endpoints) or falls back to `default` (pages a person typed an address for).
    """
    raw = params.get(name) or default
    if raw in choices:
        return raw
    if strict:
        raise BadParameterError(name, f"{raw!r} is not one of {', '.join(choices)}")
    return default


def pairs_param(params: Any, name: str = "pairs", *, tracked: Iterable[str] | None = None) -> list[str]:
    """Pair names of `?pairs=BTCUSD,ETHUSD` and/or repeated `?pairs=`, upper-cased, in order, once each.

    `params` is a QueryDict (request.GET, request.query_params). With `tracked`, a name not in
    it raises BadParameterError listing the unknown ones.
    """
    values = params.getlist(name) if hasattr(params, "getlist") else [params.get(name) or ""]
    names = list(dict.fromkeys(p.strip().upper() for v in values for p in v.split(",") if p.strip()))
    if tracked is not None:
        known = set(tracked)
        unknown = [p for p in names if p not in known]
        if unknown:
            raise BadParameterError(name, f"unknown pairs: {', '.join(unknown)}")
    return names


EXCHANGE_ALL = "all"
EXCHANGE_HELP = (
    "A configured exchange (see /api/v1/exchanges/); default bitfinex. Pair names are that "
    "exchange's own market ids (BTCUSD on Bitfinex, BTCUSDT on Binance, XBTUSD on Kraken, "
    "BTC-USD on Coinbase)."
)


def exchange_param(params: Mapping[str, Any], name: str = "exchange", *, allow_all: bool = False) -> str:
    """The configured exchange named by `params[name]` (default bitfinex), lower-cased.

    With `allow_all`, EXCHANGE_ALL ("all") is accepted too. Anything else raises
    BadParameterError naming the configured exchanges.
    """
    from prices.domain import EXCHANGE_BITFINEX
    from prices.exchanges import configured_exchanges

    raw = (params.get(name) or "").strip().lower() or EXCHANGE_BITFINEX
    names = [config.name for config in configured_exchanges()]
    if raw in names or (allow_all and raw == EXCHANGE_ALL):
        return raw
    choices = ", ".join([*names, EXCHANGE_ALL] if allow_all else names)
    raise BadParameterError(name, f"{raw!r} is not a configured exchange; configured are {choices}")


# A pair name of an exchange other than Bitfinex: its own market id, e.g. BTCUSDT, XBTUSD, BTC-USD.
_EXCHANGE_PAIR = re.compile(r"^[A-Z0-9]{2,20}([-:/][A-Z0-9]{2,20})?$")
# A normalised market in a path: BASE-QUOTE with the common asset codes (BTC-USD, ETH-USDT).
_MARKET = re.compile(r"^([A-Z0-9]{1,20})-([A-Z0-9]{1,20})$")


def pair_name(exchange: str, raw: str, *, tracked: Callable[[], Collection[str]] | None = None) -> str | None:
    """`raw` if it can be a pair name of `exchange`, else None (the caller answers 404).

    Bitfinex names are checked exactly as `Pair.parse` does (BTCUSD, AAVE:USD); another
    exchange's name must match a conservative pattern (upper-case letters and digits, one
    optional - : or / separator) or be one of `tracked()` (read only when the pattern fails).
    """
    from prices.domain import EXCHANGE_BITFINEX, InvalidPairError, Pair

    if exchange == EXCHANGE_BITFINEX:
        try:
            return Pair.parse(raw).name
        except InvalidPairError:
            return None
    if _EXCHANGE_PAIR.match(raw) or (tracked is not None and raw in tracked()):
        return raw
    return None


def market_name(raw: str) -> tuple[str, str] | None:
    """(base, quote) of a market name such as "BTC-USD" (case-insensitive), None if malformed."""
    match = _MARKET.match(raw.strip().upper())
    return (match.group(1), match.group(2)) if match else None


class PageNumberParamPagination(PageNumberPagination):
    """DRF's ?page=&page_size= paging, with a bad or past-the-end `page` a 400 naming `page`.

    (DRF answers 404 for both; a page number is a parameter like any other.)
    """

    def get_page_number(self, request: Any, paginator: Any) -> Any:
        raw = request.query_params.get(self.page_query_param) or 1
        if raw in self.last_page_strings:
            return paginator.num_pages
        try:
            number = int(raw)
        except (TypeError, ValueError):
            raise BadParameterError(self.page_query_param, f"{raw!r} is not a page number") from None
        if number < 1 or number > max(paginator.num_pages, 1):
            raise BadParameterError(
                self.page_query_param,
                f"page {number} does not exist; pages are 1 to {max(paginator.num_pages, 1)}",
            )
        return number


class FormatParamNegotiation(DefaultContentNegotiation):
    """DRF's content negotiation, with an unknown `?format=` a 400 naming `format` (DRF: 404)."""

    def filter_renderers(self, renderers: list[Any], format: str) -> list[Any]:  # noqa: A002 - DRF's name
        matching = [renderer for renderer in renderers if renderer.format == format]
        if not matching:
            known = ", ".join(dict.fromkeys(renderer.format for renderer in renderers))
            raise BadParameterError(
                self.settings.URL_FORMAT_OVERRIDE or "format", f"{format!r} is not one of {known}"
            )
        return matching
