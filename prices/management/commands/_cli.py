"""Shared helpers of the prices commands: datetime options and progress bars."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

from django.core.management.base import CommandError
from tqdm import tqdm


def parse_cli_datetime(raw: str | None, option: str) -> datetime | None:
    """An ISO 8601 option value as aware UTC (naive means UTC); None when absent.

    Raises CommandError with one readable line naming the option.
    """
    if not raw:
        return None
    try:
        value = datetime.fromisoformat(raw)
    except ValueError:
        raise CommandError(
            f"{option} {raw!r} is not an ISO 8601 datetime such as 2019-12-31T00:00:00Z"
        ) from None
    return (value if value.tzinfo else value.replace(tzinfo=UTC)).astimezone(UTC)


@contextmanager
def progress_bar(
    *, total: int | None, unit: str, desc: str, verbosity: int
) -> Iterator[Callable[[int], None]]:
    """Yield an `advance(n)` callable drawing a tqdm bar on stderr (silent at verbosity 0)."""
    bar = tqdm(total=total, unit=unit, desc=desc, file=sys.stderr, disable=verbosity == 0, dynamic_ncols=True)
    try:
        yield bar.update
    finally:
        bar.close()
