"""Query-parameter parsing for the price API: ISO 8601 datetimes and bounded integers."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime

from cryptotracker.api_errors import BadParameterError

_DATE_ONLY = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def parse_datetime_param(name: str, raw: str | None, *, default: datetime | None = None) -> datetime | None:
    """An ISO 8601 datetime with Z or an offset (any offset), as aware UTC.

    A bare date (2019-12-31) means its midnight UTC. Raises BadParameterError naming `name`
    for anything else, including a naive time and an offset whose '+' arrived unencoded
    (a space): encode it as %2B.
    """
    if raw is None or raw == "":
        return default
    text = raw
    if _DATE_ONLY.match(text):
        return datetime.combine(date.fromisoformat(text), datetime.min.time(), tzinfo=UTC)
    if " " in text:
        raise BadParameterError(
            name, f"{raw!r} is not an ISO 8601 datetime; a '+' in an offset must be sent as %2B"
        )
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise BadParameterError(
            name, f"{raw!r} is not an ISO 8601 datetime such as 2019-12-31T00:00:00Z"
        ) from None
    if value.tzinfo is None:
        raise BadParameterError(name, f"{raw!r} has no time zone; add Z or an offset such as %2B01:00")
    return value.astimezone(UTC)


def parse_int_param(name: str, raw: str | None, *, default: int, minimum: int, maximum: int) -> int:
    """An integer in [minimum, maximum]; raises BadParameterError naming `name`."""
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise BadParameterError(name, f"{raw!r} is not an integer") from None
    if not minimum <= value <= maximum:
        raise BadParameterError(name, f"must be between {minimum} and {maximum}, got {value}")
    return value


def format_utc(value: datetime | None) -> str | None:
    """An aware datetime as ISO 8601 UTC with a Z suffix (milliseconds dropped when zero)."""
    if value is None:
        return None
    if value.tzinfo is not UTC:
        value = value.astimezone(UTC)
    text = value.isoformat(timespec="milliseconds" if value.microsecond else "seconds")
    return text.replace("+00:00", "Z")
