"""Quiet hours of a notification channel: a daily local time range in an IANA time zone (pure)."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo, available_timezones


@lru_cache(maxsize=1)
def _zone_names() -> frozenset[str]:
    # A name check, not ZoneInfo(name): a folder such as "Europe" would raise IsADirectoryError.
    return frozenset(available_timezones())


def quiet_hours_errors(*, start: time | None, end: time | None, timezone: str) -> dict[str, str]:
    """Validation errors by field (quiet_start, quiet_end, quiet_timezone); empty when valid.

    Both times or neither (no quiet hours); they must differ; the time zone must be an IANA
    name such as Europe/Paris or UTC.
    """
    errors: dict[str, str] = {}
    if (start is None) != (end is None):
        errors["quiet_end" if end is None else "quiet_start"] = (
            "set both quiet_start and quiet_end, or neither"
        )
    elif start is not None and start == end:
        errors["quiet_end"] = "must differ from quiet_start"
    if timezone not in _zone_names():
        errors["quiet_timezone"] = f"unknown time zone {timezone!r}: use an IANA name such as Europe/Paris"
    return errors


def quiet_until(*, now: datetime, start: time | None, end: time | None, timezone: str) -> datetime | None:
    """When the quiet period containing `now` (aware) ends, as an aware UTC datetime; None when
    `now` is outside quiet hours or none are set.

    The range is [start, end) in local time and may wrap midnight (22:00–07:00). Local times
    that a DST change skips or repeats resolve as zoneinfo does (the earlier offset).
    """
    if start is None or end is None or start == end:
        return None
    zone = ZoneInfo(timezone)
    local = now.astimezone(zone)
    clock = local.time().replace(tzinfo=None)
    if start < end:
        if not start <= clock < end:
            return None
        day = local.date()
    elif clock >= start:
        day = local.date() + timedelta(days=1)
    elif clock < end:
        day = local.date()
    else:
        return None
    return datetime.combine(day, end, tzinfo=zone).astimezone(UTC)
