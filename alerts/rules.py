"""Alert conditions and the rule state machine: pure functions over minute prices (no ORM, no I/O).

A price series is one pair's (minute, last price) points, oldest first, as returned by
`prices.selectors.recent_prices`: the point for minute M is the last price at the end of M.
Evaluating a rule at minute M means: `condition_check` decides the rule's target state from
the series up to M (FIRING, NORMAL, or NO_DATA when the pair's data is stale), then
`rule_step` applies the trigger mode and cooldown to the rule's memory and says whether the
change is recorded and notified. Both are deterministic; evaluation, backtests and tests
share them.
"""

from __future__ import annotations

import math
from bisect import bisect_left, bisect_right
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from decimal import Decimal
from enum import StrEnum

from prices.domain import MINUTE, decimal_str
from prices.statistics import WindowStats

MAX_WINDOW_MINUTES = 1440
VOLATILITY_WINDOWS = (60, 360, 1440)
VALUE_QUANTUM = Decimal("0.000000000001")  # 12 decimal places, as stored on events


class Condition(StrEnum):
    """What a rule checks at each evaluated minute."""

    PRICE_ABOVE = "price_above"
    PRICE_BELOW = "price_below"
    CROSSES_ABOVE = "crosses_above"
    CROSSES_BELOW = "crosses_below"
    PCT_CHANGE = "pct_change"
    SPIKE = "spike"
    VOLATILITY_ABOVE = "volatility_above"
    NO_DATA = "no_data"

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
    """pct_change direction."""

    UP = "up"
    DOWN = "down"
    EITHER = "either"


PARAMETERS = ("threshold", "percent", "window_minutes", "multiplier")
REQUIRED: dict[Condition, tuple[str, ...]] = {
    Condition.PRICE_ABOVE: ("threshold",),
    Condition.PRICE_BELOW: ("threshold",),
    Condition.CROSSES_ABOVE: ("threshold",),
    Condition.CROSSES_BELOW: ("threshold",),
    Condition.PCT_CHANGE: ("percent", "window_minutes"),
    Condition.SPIKE: ("multiplier", "window_minutes"),
    Condition.VOLATILITY_ABOVE: ("percent", "window_minutes"),
    Condition.NO_DATA: ("window_minutes",),
}


@dataclass(frozen=True, slots=True)
class RuleSpec:
    """A condition and its parameters.

    `threshold`: price in quote currency (price_*/crosses_*). `percent`: move in % for
    pct_change, relative standard deviation in % for volatility_above. `window_minutes`:
    the look-back N. `multiplier`: K for spike. `direction`: pct_change only.
    """

    condition: Condition
    threshold: Decimal | None = None
    percent: Decimal | None = None
    window_minutes: int | None = None
    multiplier: Decimal | None = None
    direction: Direction = Direction.EITHER

    def errors(self) -> dict[str, str]:
        """Validation errors by field name (empty when valid): required, unused and out-of-range values."""
        errors: dict[str, str] = {}
        required = REQUIRED[self.condition]
        for name in PARAMETERS:
            value = getattr(self, name)
            if name in required and value is None:
                errors[name] = f"required for {self.condition.value}"
            elif name not in required and value is not None:
                errors[name] = f"not used by {self.condition.value}; leave it empty"
        if errors:
            return errors
        if self.threshold is not None and self.threshold <= 0:
            errors["threshold"] = "must be greater than 0"
        if self.percent is not None and self.percent <= 0:
            errors["percent"] = "must be greater than 0"
        if self.multiplier is not None and self.multiplier <= 1:
            errors["multiplier"] = "must be greater than 1"
        window = self.window_minutes
        if window is not None:
            if self.condition is Condition.VOLATILITY_ABOVE and window not in VOLATILITY_WINDOWS:
                errors["window_minutes"] = f"must be one of {', '.join(map(str, VOLATILITY_WINDOWS))}"
            elif self.condition is Condition.SPIKE and not 2 <= window <= MAX_WINDOW_MINUTES:
                errors["window_minutes"] = f"must be between 2 and {MAX_WINDOW_MINUTES}"
            elif not 1 <= window <= MAX_WINDOW_MINUTES:
                errors["window_minutes"] = f"must be between 1 and {MAX_WINDOW_MINUTES}"
        if self.direction != Direction.EITHER and self.condition is not Condition.PCT_CHANGE:
            errors["direction"] = "only pct_change has a direction"
        return errors

    def lookback_minutes(self, stale_minutes: int) -> int:
        """Minutes of prices before the evaluated minute that `condition_check` may read."""
        window = self.window_minutes or 0
        extra = {
            Condition.PCT_CHANGE: window + stale_minutes,
            Condition.SPIKE: window,
            Condition.NO_DATA: window,
            Condition.CROSSES_ABOVE: 1,
            Condition.CROSSES_BELOW: 1,
        }.get(self.condition, 0)
        return max(stale_minutes, extra) + 1


class PriceSeries:
    """One pair's (minute, price) points, oldest first, with O(log n) lookups and O(1) window sums."""

    def __init__(self, points: Sequence[tuple[datetime, Decimal]]) -> None:
        self.minutes = [minute for minute, _ in points]
        self.prices = [price for _, price in points]
        self._sums = [Decimal(0)]
        # Float sums of (price − first) and its square give O(1) window variances; the shift
        # keeps the squares small, so no precision is lost for minute prices.
        self._shift = float(self.prices[0]) if self.prices else 0.0
        self._fsums = [0.0]
        self._fsquares = [0.0]
        for price in self.prices:
            self._sums.append(self._sums[-1] + price)
            shifted = float(price) - self._shift
            self._fsums.append(self._fsums[-1] + shifted)
            self._fsquares.append(self._fsquares[-1] + shifted * shifted)

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
        return (self._sums[hi] - self._sums[lo]) / count, count

    def relative_std(self, start: datetime, end: datetime) -> float | None:
        """Sample standard deviation / mean of the prices in [start, end); None with < 2 points."""
        lo, hi = self._range(start, end)
        n = hi - lo
        if n < 2:
            return None
        total = self._fsums[hi] - self._fsums[lo]
        squares = self._fsquares[hi] - self._fsquares[lo]
        variance = max(squares - total * total / n, 0.0) / (n - 1)
        mean = total / n + self._shift
        return math.sqrt(variance) / mean if mean else None


@dataclass(frozen=True, slots=True)
class Check:
    """The outcome of a condition at one minute: target state, deciding values, human message.

    `observed` and `reference` are, by condition: price_*/crosses_*: last price / threshold;
    pct_change: last price / price `window` minutes earlier; spike: last price / mean of the
    window before it; volatility_above: relative std in % / threshold %; no_data: minutes
    since the last tick (None if none loaded) / window. For NO_DATA (stale data): the last
    price seen (or None) / the staleness limit in minutes.
    """

    state: State
    observed: Decimal | None
    reference: Decimal | None
    message: str


def _fmt(value: Decimal | None) -> str:
    return "none" if value is None else (decimal_str(value) or "0")


def _hhmm(minute: datetime) -> str:
    return minute.strftime("%Y-%m-%dT%H:%MZ")


def _quantize(value: Decimal) -> Decimal:
    return value.quantize(VALUE_QUANTUM)


def condition_check(
    spec: RuleSpec,
    series: PriceSeries,
    minute: datetime,
    *,
    pair: str,
    stale_minutes: int,
    stats: WindowStats | None = None,
) -> Check:
    """Decide a rule's target state at `minute` (aware UTC minute start) from the pair's prices.

    Every condition except no_data first requires a tick within the `stale_minutes` minutes
    ending at `minute`, else the result is NO_DATA. volatility_above reads `stats` (the
    pair's WindowStats over [minute − window + 1, minute + 1)); when None it computes them
    from `series`. Never raises for missing data: too little history means NORMAL.
    """
    latest = series.latest(minute)
    if spec.condition is Condition.NO_DATA:
        window = spec.window_minutes or 0
        since = None if latest is None else Decimal((minute - latest[0]) // MINUTE)
        if latest is None or latest[0] <= minute - window * MINUTE:
            last = "no tick loaded" if latest is None else f"last tick {_hhmm(latest[0])}"
            return Check(State.FIRING, since, Decimal(window), f"{pair}: no tick for {window} min ({last})")
        return Check(State.NORMAL, since, Decimal(window), f"{pair}: last tick {_hhmm(latest[0])}")

    if latest is None or latest[0] <= minute - stale_minutes * MINUTE:
        seen = f"last tick {_hhmm(latest[0])}" if latest else "no recent tick"
        return Check(
            State.NO_DATA,
            latest[1] if latest else None,
            Decimal(stale_minutes),
            f"{pair}: no fresh data ({seen}; stale after {stale_minutes} min)",
        )
    at, price = latest
    threshold = spec.threshold

    if spec.condition in (Condition.PRICE_ABOVE, Condition.PRICE_BELOW):
        above = spec.condition is Condition.PRICE_ABOVE
        holds = price > threshold if above else price < threshold
        relation = ("above" if above else "below") if holds else ("not above" if above else "not below")
        return Check(
            _state(holds),
            price,
            threshold,
            f"{pair} last price {_fmt(price)} is {relation} {_fmt(threshold)}",
        )

    if spec.condition in (Condition.CROSSES_ABOVE, Condition.CROSSES_BELOW):
        above = spec.condition is Condition.CROSSES_ABOVE
        word = "above" if above else "below"
        previous = series.latest(at - MINUTE)
        if at != minute or previous is None:
            return Check(
                State.NORMAL, price, threshold, f"{pair}: no new tick to compare with {_fmt(threshold)}"
            )
        before = previous[1]
        holds = before <= threshold < price if above else before >= threshold > price
        verb = f"crossed {word}" if holds else f"did not cross {word}"
        return Check(
            _state(holds),
            price,
            threshold,
            f"{pair} last price {_fmt(price)} {verb} {_fmt(threshold)} (was {_fmt(before)})",
        )

    window = spec.window_minutes or 0
    if spec.condition is Condition.PCT_CHANGE:
        start = minute - window * MINUTE
        reference = series.latest(start)
        if reference is None or reference[0] <= start - stale_minutes * MINUTE:
            return Check(State.NORMAL, price, None, f"{pair}: not enough history for a {window} min change")
        ref_price = reference[1]
        change = (price - ref_price) * 100 / ref_price
        percent = spec.percent
        holds = {
            Direction.UP: change >= percent,
            Direction.DOWN: change <= -percent,
            Direction.EITHER: abs(change) >= percent,
        }[spec.direction]
        verb = "rose" if change > 0 else "fell" if change < 0 else "did not move"
        return Check(
            _state(holds),
            price,
            ref_price,
            f"{pair} {verb} {abs(change):.3f} % in {window} min: {_fmt(price)} now vs {_fmt(ref_price)} "
            f"at {_hhmm(reference[0])} (threshold {spec.direction.value} {_fmt(percent)} %)",
        )

    if spec.condition is Condition.SPIKE:
        mean, count = series.mean(minute - window * MINUTE, at)
        if mean is None:
            return Check(
                State.NORMAL, price, None, f"{pair}: no prices in the {window} min before {_hhmm(at)}"
            )
        mean = _quantize(mean)
        ratio = price / mean
        holds = price >= spec.multiplier * mean
        return Check(
            _state(holds),
            price,
            mean,
            f"{pair} last price {_fmt(price)} is {ratio:.3f} × its {window} min average {_fmt(mean)} "
            f"(threshold {_fmt(spec.multiplier)} ×)",
        )

    if spec.condition is Condition.VOLATILITY_ABOVE:
        end = minute + MINUTE
        relative = (
            stats.relative_std if stats is not None else series.relative_std(end - window * MINUTE, end)
        )
        if relative is None:
            return Check(
                State.NORMAL, None, spec.percent, f"{pair}: not enough prices for {window} min volatility"
            )
        observed = _quantize(Decimal(repr(relative * 100)))
        holds = observed > spec.percent
        relation = "above" if holds else "not above"
        return Check(
            _state(holds),
            observed,
            spec.percent,
            f"{pair} {window} min relative std {observed:.4f} % is {relation} {_fmt(spec.percent)} %",
        )

    raise ValueError(f"unknown condition {spec.condition!r}")


def _state(holds: bool) -> State:
    return State.FIRING if holds else State.NORMAL


@dataclass(frozen=True, slots=True)
class RuleMemory:
    """What evaluation remembers between minutes: state, re-arm flag, last firing notification, enabled."""

    state: State = State.NORMAL
    armed: bool = True
    last_notified_minute: datetime | None = None
    enabled: bool = True
    state_changed_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class Transition:
    """A change to record as an event: states, whether to notify, why not (cooldown, not_rearmed)."""

    old_state: State
    new_state: State
    notify: bool
    suppressed: str = ""


def rule_step(
    memory: RuleMemory, check: Check, minute: datetime, *, mode: TriggerMode, cooldown: timedelta
) -> tuple[RuleMemory, Transition | None]:
    """Apply one minute's check to a rule's memory; returns (new memory, transition to record or None).

    A transition is recorded for every state change and, in `every` mode, for each repeated
    notification while firing. Entering FIRING notifies: `once` — the first time, then the
    rule is disabled; `rearm` — only if the condition was NORMAL since the last firing and the
    cooldown has passed since the last notification; `every` — whenever the cooldown has
    passed. Entering NO_DATA always notifies (data stopped). Recoveries are recorded, not sent.
    """
    old, new = memory.state, check.state
    armed = True if new is State.NORMAL else memory.armed
    cooled = memory.last_notified_minute is None or minute - memory.last_notified_minute >= cooldown
    notify = False
    suppressed = ""
    record = new is not old
    if new is State.FIRING:
        if mode is TriggerMode.ONCE:
            notify = old is not State.FIRING
        elif mode is TriggerMode.REARM:
            if old is not State.FIRING:
                if not memory.armed:
                    suppressed = "not_rearmed"
                elif not cooled:
                    suppressed = "cooldown"
                else:
                    notify = True
                armed = False
        elif cooled:
            notify = record = True
        elif old is not State.FIRING:
            suppressed = "cooldown"
    elif new is State.NO_DATA:
        notify = old is not State.NO_DATA
    updated = replace(
        memory,
        state=new,
        armed=armed,
        state_changed_at=minute if new is not old else memory.state_changed_at,
        last_notified_minute=minute if notify and new is State.FIRING else memory.last_notified_minute,
        enabled=memory.enabled and not (notify and mode is TriggerMode.ONCE and new is State.FIRING),
    )
    if not record:
        return updated, None
    return updated, Transition(old_state=old, new_state=new, notify=notify, suppressed=suppressed)
