"""Vocabulary of alert rules: conditions, states, trigger modes, parameter specs, checks, price series."""

from __future__ import annotations

import math
from bisect import bisect_left, bisect_right
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from prices.domain import MINUTE, decimal_str

MAX_WINDOW_MINUTES = 1440
VALUE_QUANTUM = Decimal("0.000000000001")  # 12 decimal places, as stored on events


class Condition(StrEnum):
    """What a rule checks at each evaluated minute (each has an entry in alerts.rules.CONDITIONS)."""

    PRICE_ABOVE = "price_above"
    PRICE_BELOW = "price_below"
    CROSSES_ABOVE = "crosses_above"
    CROSSES_BELOW = "crosses_below"
    PCT_CHANGE = "pct_change"
    SPIKE = "spike"
    VOLATILITY_ABOVE = "volatility_above"
    NO_DATA = "no_data"
    ZSCORE = "zscore"
    VOLATILITY_RANK = "volatility_rank"

    @property
    def label(self) -> str:
        """Human name, e.g. 'crosses below'."""
        return self.value.replace("_", " ")


class TriggerMode(StrEnum):
    """When a firing rule notifies: once (then disable), on re-arm, or every evaluation."""

    ONCE = "once"
    REARM = "rearm"
    EVERY = "every"

    @property
    def label(self) -> str:
        """Human name."""
        return {
            "once": "once, then disable",
            "rearm": "again after the condition was false",
            "every": "every minute",
        }[self.value]


class State(StrEnum):
    """A rule's state: condition false, condition true, or the pair's data is stale."""

    NORMAL = "normal"
    FIRING = "firing"
    NO_DATA = "no_data"


class Direction(StrEnum):
    """Direction of a move (pct_change)."""

    UP = "up"
    DOWN = "down"
    EITHER = "either"


class ParamType(StrEnum):
    """How a parameter is stored and entered."""

    DECIMAL = "decimal"
    INTEGER = "integer"
    CHOICE = "choice"
    BOOLEAN = "boolean"


class RankEvent(StrEnum):
    """volatility_rank: fire when the pair enters the top N, or when it leaves it."""

    ENTERS = "enters"
    LEAVES = "leaves"


RANK_METRICS = ("relative_std", "std", "volatility")  # as prices.selectors.RANK_METRICS


@dataclass(frozen=True, slots=True)
class Field:
    """A parameter column of AlertRule / attribute of RuleSpec: its type, storage digits and default.

    A condition that does not use a field requires it to hold `default` (None: left empty).
    """

    name: str
    type: ParamType
    max_digits: int | None = None
    decimal_places: int | None = None
    default: Any = None


# Every parameter field, in form order. The API serializer, the admin form and the model read them.
FIELDS: dict[str, Field] = {
    f.name: f
    for f in (
        Field("threshold", ParamType.DECIMAL, max_digits=30, decimal_places=12),
        Field("percent", ParamType.DECIMAL, max_digits=12, decimal_places=6),
        Field("window_minutes", ParamType.INTEGER),
        Field("multiplier", ParamType.DECIMAL, max_digits=12, decimal_places=6),
        Field("direction", ParamType.CHOICE, default=Direction.EITHER.value),
        Field("ladder", ParamType.BOOLEAN, default=False),
        Field("top_n", ParamType.INTEGER),
        Field("metric", ParamType.CHOICE),
        Field("rank_event", ParamType.CHOICE),
        Field("dwell_minutes", ParamType.INTEGER),
    )
}


@dataclass(frozen=True, slots=True)
class Param:
    """One parameter of one condition: field, human label and help, unit, and its allowed values.

    `minimum`/`maximum` bound numbers (`exclusive_minimum`: strictly greater); `choices` lists the
    allowed values with labels (integers with fixed values use it too). `required=False`
    parameters fall back to the field's default. `on_text`: how pages show a boolean that is on
    (off is shown as "no", or left out of one-line summaries).
    """

    name: str
    label: str
    help: str
    unit: str = ""
    minimum: Decimal | int | None = None
    maximum: Decimal | int | None = None
    exclusive_minimum: bool = False
    choices: tuple[tuple[Any, str], ...] = ()
    required: bool = True
    on_text: str = "yes"

    @property
    def field(self) -> Field:
        """The stored field this parameter fills."""
        return FIELDS[self.name]

    def error(self, value: Any) -> str | None:
        """Why `value` (already of the field's type, not None) is not allowed here, or None."""
        if self.choices:
            allowed = [choice for choice, _ in self.choices]
            if value not in allowed:
                return f"must be one of {', '.join(map(str, allowed))}"
            return None
        low, high = self.minimum, self.maximum
        if low is not None and high is not None and not self.exclusive_minimum:
            if not low <= value <= high:
                return f"must be between {low} and {high}"
            return None
        if low is not None and (value <= low if self.exclusive_minimum else value < low):
            return f"must be greater than {low}" if self.exclusive_minimum else f"must be at least {low}"
        if high is not None and value > high:
            return f"must be at most {high}"
        return None

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready description (for the API's condition list and the browser forms)."""
        field = self.field
        return {
            "name": self.name,
            "type": field.type.value,
            "label": self.label,
            "help": self.help,
            "unit": self.unit,
            "required": self.required,
            "default": field.default,
            "minimum": _json_number(self.minimum),
            "maximum": _json_number(self.maximum),
            "exclusive_minimum": self.exclusive_minimum,
            "decimal_places": field.decimal_places,
            "choices": [{"value": value, "label": label} for value, label in self.choices],
        }


def _json_number(value: Decimal | int | None) -> str | int | None:
    return str(value) if isinstance(value, Decimal) else value


DIRECTION_PARAM = Param(
    "direction",
    "Direction",
    "Which way the move must go.",
    choices=(("up", "up"), ("down", "down"), ("either", "either way")),
    required=False,
)


@dataclass(frozen=True, slots=True)
class Check:
    """The outcome of a condition at one minute: target state, deciding values, human message.

    `observed` and `reference` are, by condition: price_*/crosses_*: last price / threshold;
    pct_change: last price / price `window` minutes earlier; spike: last price / mean of the
    window before it; volatility_above: relative std in % / threshold %; no_data: minutes
    since the last tick (None if none loaded) / window; zscore: the move in σ (typical moves)
    / k; volatility_rank: the pair's rank (None if unranked) / N. For NO_DATA (stale data):
    the last price seen (or None) / the staleness limit in minutes. `anchor`: the price a
    ladder rule re-anchors at when this check fires (None: no ladder).
    """

    state: State
    observed: Decimal | None
    reference: Decimal | None
    message: str
    anchor: Decimal | None = None


class PriceSeries:
    """One pair's (minute, price) points, oldest first, with O(log n) lookups and O(1) window sums."""

    def __init__(self, points: Sequence[tuple[datetime, Decimal]]) -> None:
        self.minutes = [minute for minute, _ in points]
        self.prices = [price for _, price in points]
        # Prefix sums are built on first use: evaluation reads most windows' statistics from
        # the stored aggregates, so most series never need them.
        self._sums: list[Decimal] | None = None
        self._fsums: list[float] | None = None
        self._returns: bool | None = None

    def latest(self, at: datetime) -> tuple[datetime, Decimal] | None:
        """The newest point with minute ≤ `at`, or None."""
        index = bisect_right(self.minutes, at) - 1
        return (self.minutes[index], self.prices[index]) if index >= 0 else None

    def _range(self, start: datetime, end: datetime) -> tuple[int, int]:
        return bisect_left(self.minutes, start), bisect_left(self.minutes, end)

    def mean(self, start: datetime, end: datetime) -> tuple[Decimal | None, int]:
        """(mean price, number of points) over points with start ≤ minute < end; mean None if empty."""
        lo, hi = self._range(start, end)
        count = hi - lo
        if count == 0:
            return None, 0
        if self._sums is None:
            self._sums = [Decimal(0)]
            for price in self.prices:
                self._sums.append(self._sums[-1] + price)
        return (self._sums[hi] - self._sums[lo]) / count, count

    def relative_std(self, start: datetime, end: datetime) -> float | None:
        """Sample standard deviation / mean of the prices in [start, end); None with < 2 points."""
        lo, hi = self._range(start, end)
        n = hi - lo
        if n < 2:
            return None
        total, squares = self._moments(lo, hi)
        variance = max(squares - total * total / n, 0.0) / (n - 1)
        mean = total / n + self._shift
        return math.sqrt(variance) / mean if mean else None

    def std(self, start: datetime, end: datetime) -> float | None:
        """Sample standard deviation of the prices in [start, end); None with < 2 points."""
        lo, hi = self._range(start, end)
        n = hi - lo
        if n < 2:
            return None
        total, squares = self._moments(lo, hi)
        return math.sqrt(max(squares - total * total / n, 0.0) / (n - 1))

    def _moments(self, lo: int, hi: int) -> tuple[float, float]:
        # Float sums of (price − first) and its square give O(1) window variances; the shift
        # keeps the squares small, so no precision is lost for minute prices.
        if self._fsums is None:
            self._shift = float(self.prices[0]) if self.prices else 0.0
            self._fsums, self._fsquares = [0.0], [0.0]
            for price in self.prices:
                shifted = float(price) - self._shift
                self._fsums.append(self._fsums[-1] + shifted)
                self._fsquares.append(self._fsquares[-1] + shifted * shifted)
        return self._fsums[hi] - self._fsums[lo], self._fsquares[hi] - self._fsquares[lo]

    def count(self, start: datetime, end: datetime) -> int:
        """Number of points with start ≤ minute < end."""
        lo, hi = self._range(start, end)
        return hi - lo

    def volatility(self, start: datetime, end: datetime) -> float | None:
        """Sample std of the 1-minute log returns between adjacent minutes both in [start, end),
        as prices.statistics computes it; None with fewer than two returns."""
        if self._returns is None:
            self._index_returns()
        lo, hi = self._range(start, end)
        if hi - lo < 2:
            return None
        # Returns ending at points lo + 1 … hi − 1 have both their points inside the window.
        n = self._rcounts[hi] - self._rcounts[lo + 1]
        if n < 2:
            return None
        total = self._rsums[hi] - self._rsums[lo + 1]
        squares = self._rsquares[hi] - self._rsquares[lo + 1]
        return math.sqrt(max(squares - total * total / n, 0.0) / (n - 1))

    def _index_returns(self) -> None:
        # Prefix sums: entry k covers the returns ending at points 1 … k − 1 (float64, as the
        # rollups compute log returns).
        self._returns = True
        self._rcounts, self._rsums, self._rsquares = [0, 0], [0.0, 0.0], [0.0, 0.0]
        for i in range(1, len(self.prices)):
            r, c = 0.0, 0
            if self.minutes[i] - self.minutes[i - 1] == MINUTE:
                r, c = math.log(float(self.prices[i] / self.prices[i - 1])), 1
            self._rcounts.append(self._rcounts[-1] + c)
            self._rsums.append(self._rsums[-1] + r)
            self._rsquares.append(self._rsquares[-1] + r * r)


def fmt(value: Decimal | None) -> str:
    """A decimal as its exact plain string ('none' for None)."""
    return "none" if value is None else (decimal_str(value) or "0")


def hhmm(minute: datetime) -> str:
    """A minute as 2019-12-31T14:47Z."""
    return minute.strftime("%Y-%m-%dT%H:%MZ")


def quantize(value: Decimal) -> Decimal:
    """A value rounded to the 12 decimal places stored on events."""
    return value.quantize(VALUE_QUANTUM)


def state_of(holds: bool) -> State:
    """FIRING when the condition holds, else NORMAL."""
    return State.FIRING if holds else State.NORMAL
