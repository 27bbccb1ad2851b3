"""The condition registry: one small class per condition with its parameters, validator and check.

A new kind of alert is one `ConditionKind` subclass registered here (plus its tests): the API
serializer, the admin form, the browser forms, evaluation and backtests all read
`CONDITIONS`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, fields
from datetime import datetime
from decimal import Decimal
from typing import Any, ClassVar

from alerts.rules.base import (
    DIRECTION_PARAM,
    FIELDS,
    MAX_WINDOW_MINUTES,
    Check,
    Condition,
    Direction,
    Param,
    PriceSeries,
    RankEvent,
    State,
    fmt,
    hhmm,
    quantize,
    state_of,
)
from prices.domain import MINUTE
from prices.statistics import WindowStats


@dataclass(frozen=True, slots=True)
class RuleSpec:
    """A condition and its parameters (attributes named as in `FIELDS`).

    `threshold`: price in quote currency (price_*/crosses_*). `percent`: move in % for
    pct_change, relative standard deviation in % for volatility_above. `window_minutes`:
    the look-back N (W for zscore). `multiplier`: K for spike, k (in typical moves) for
    zscore. `direction`: pct_change and zscore. `ladder`: pct_change re-anchors at each firing.
    `top_n`, `metric`, `rank_event`, `dwell_minutes`: volatility_rank. Each condition's entry
    in CONDITIONS says which it uses and their ranges.
    """

    condition: Condition
    threshold: Decimal | None = None
    percent: Decimal | None = None
    window_minutes: int | None = None
    multiplier: Decimal | None = None
    direction: Direction = Direction.EITHER
    ladder: bool = False
    top_n: int | None = None
    metric: str | None = None
    rank_event: str | None = None
    dwell_minutes: int | None = None

    @property
    def kind(self) -> ConditionKind:
        """The registry entry of the condition."""
        return CONDITIONS[self.condition]

    def errors(self) -> dict[str, str]:
        """Validation errors by field name (empty when valid): required, unused and out-of-range values."""
        return self.kind.errors(self)

    def lookback_minutes(self, stale_minutes: int) -> int:
        """Minutes of prices before the evaluated minute that `condition_check` may read."""
        return max(stale_minutes, self.kind.lookback(self, stale_minutes)) + 1

    def confirm_minutes(self, rule_minimum: int = 1) -> int:
        """Consecutive minutes the condition must hold before the rule fires (≥ 1): the rule's
        own `confirm_minutes` or what the condition needs (a rank's dwell), whichever is longer."""
        return max(rule_minimum, self.kind.confirm_minutes(self), 1)

    def value(self, name: str) -> Any:
        """A parameter's value as stored (enums as their string value)."""
        value = getattr(self, name)
        return value.value if isinstance(value, Direction) else value


SPEC_PARAMETERS = tuple(f.name for f in fields(RuleSpec) if f.name != "condition")
assert tuple(FIELDS) == SPEC_PARAMETERS, "RuleSpec attributes and FIELDS must agree"


@dataclass(frozen=True, slots=True)
class Aggregate:
    """Aggregated statistics a condition reads at each minute: the pair's WindowStats over the
    `window_minutes` ending with the minute (prices.selectors.pairs_stats), or with `rank_by`
    the exchange's ranking by that metric over that window (prices.selectors.pairs_rank)."""

    window_minutes: int
    rank_by: str | None = None


@dataclass(frozen=True, slots=True)
class CheckInput:
    """What a check reads besides the series: the pair, its fresh newest point, aggregates.

    `stats` is the pair's WindowStats for the condition's `Aggregate` (None: compute from the
    series, as backtests do); `ranks` the ranking's 1-based rank per pair (None: unknown);
    `anchor` a ladder rule's current baseline price (None: not re-anchored yet).
    """

    pair: str
    stale_minutes: int
    at: datetime
    price: Decimal
    stats: WindowStats | None = None
    ranks: Mapping[str, int] | None = None
    anchor: Decimal | None = None


class ConditionKind:
    """One condition: label, description, parameters, and its check.

    Subclasses set `condition`, `label`, `description`, `params` and implement `check`; they
    may override `lookback` (minutes of prices before the evaluated minute the check reads),
    `aggregate` (statistics read from aggregates) and `validate` (checks beyond one
    parameter's range); `evaluate` to skip the common stale-data test.
    """

    condition: ClassVar[Condition]
    label: ClassVar[str]
    description: ClassVar[str]
    params: ClassVar[tuple[Param, ...]] = ()

    def param(self, name: str) -> Param | None:
        """This condition's parameter `name`, or None when it does not use it."""
        return next((p for p in self.params if p.name == name), None)

    def errors(self, spec: RuleSpec) -> dict[str, str]:
        """Required and unused parameters first; then ranges and `validate`."""
        errors: dict[str, str] = {}
        for name, field in FIELDS.items():
            param, value = self.param(name), spec.value(name)
            if param is not None and param.required and value is None:
                errors[name] = f"required for {self.condition.value}"
            elif param is None and value != field.default:
                errors[name] = (
                    f"not used by {self.condition.value}; leave it empty"
                    if field.default is None
                    else f"not used by {self.condition.value}; leave it at {field.default}"
                )
        if errors:
            return errors
        for param in self.params:
            value = spec.value(param.name)
            message = param.error(value) if value is not None else None
            if message:
                errors[param.name] = message
        return errors or self.validate(spec)

    def validate(self, spec: RuleSpec) -> dict[str, str]:
        """Errors beyond single parameters' ranges (by field)."""
        return {}

    def lookback(self, spec: RuleSpec, stale_minutes: int) -> int:
        """Minutes of prices before the evaluated minute the check reads (besides staleness)."""
        return 0

    def aggregate(self, spec: RuleSpec) -> Aggregate | None:
        """The aggregated statistics the check reads, or None."""
        return None

    def confirm_minutes(self, spec: RuleSpec) -> int:
        """Consecutive minutes the condition itself needs to hold before firing (1: none)."""
        return 1

    def evaluate(
        self,
        spec: RuleSpec,
        series: PriceSeries,
        minute: datetime,
        *,
        pair: str,
        stale_minutes: int,
        stats: WindowStats | None = None,
        ranks: Mapping[str, int] | None = None,
        anchor: Decimal | None = None,
    ) -> Check:
        """NO_DATA without a tick in the `stale_minutes` ending at `minute`, else `check`."""
        latest = series.latest(minute)
        if latest is None or latest[0] <= minute - stale_minutes * MINUTE:
            seen = f"last tick {hhmm(latest[0])}" if latest else "no recent tick"
            return Check(
                State.NO_DATA,
                latest[1] if latest else None,
                Decimal(stale_minutes),
                f"{pair}: no fresh data ({seen}; stale after {stale_minutes} min)",
            )
        data = CheckInput(
            pair=pair,
            stale_minutes=stale_minutes,
            at=latest[0],
            price=latest[1],
            stats=stats,
            ranks=ranks,
            anchor=anchor,
        )
        return self.check(spec, series, minute, data)

    def check(self, spec: RuleSpec, series: PriceSeries, minute: datetime, data: CheckInput) -> Check:
        """The target state at `minute` (aware UTC minute start) given fresh data; too little
        history is NORMAL."""
        raise NotImplementedError

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready description of the condition and its parameters."""
        return {
            "condition": self.condition.value,
            "label": self.label,
            "description": self.description,
            "params": [p.as_dict() for p in self.params],
        }


CONDITIONS: dict[Condition, ConditionKind] = {}


def register(cls: type[ConditionKind]) -> type[ConditionKind]:
    """Class decorator: add a condition to the registry (one per Condition)."""
    assert cls.condition not in CONDITIONS, f"{cls.condition} registered twice"
    CONDITIONS[cls.condition] = cls()
    return cls


def _threshold(help_text: str) -> Param:
    return Param(
        "threshold", "Threshold", help_text, unit="quote currency", minimum=Decimal(0), exclusive_minimum=True
    )


def _window(help_text: str, *, minimum: int = 1, label: str = "Window") -> Param:
    return Param(
        "window_minutes", label, help_text, unit="minutes", minimum=minimum, maximum=MAX_WINDOW_MINUTES
    )


class _Level(ConditionKind):
    above: ClassVar[bool]

    def check(self, spec, series, minute, data):
        above, price, threshold = self.above, data.price, spec.threshold
        holds = price > threshold if above else price < threshold
        relation = ("above" if above else "below") if holds else ("not above" if above else "not below")
        return Check(
            state_of(holds),
            price,
            threshold,
            f"{data.pair} last price {fmt(price)} is {relation} {fmt(threshold)}",
        )


@register
class PriceAbove(_Level):
    condition = Condition.PRICE_ABOVE
    label = "Price above"
    description = "The last price is above the threshold."
    params = (_threshold("Fires while the last price is strictly above this price."),)
    above = True


@register
class PriceBelow(_Level):
    condition = Condition.PRICE_BELOW
    label = "Price below"
    description = "The last price is below the threshold."
    params = (_threshold("Fires while the last price is strictly below this price."),)
    above = False


class _Crossing(ConditionKind):
    above: ClassVar[bool]

    def lookback(self, spec, stale_minutes):
        return 1

    def check(self, spec, series, minute, data):
        word = "above" if self.above else "below"
        price, threshold = data.price, spec.threshold
        previous = series.latest(data.at - MINUTE)
        if data.at != minute or previous is None:
            return Check(
                State.NORMAL, price, threshold, f"{data.pair}: no new tick to compare with {fmt(threshold)}"
            )
        before = previous[1]
        holds = before <= threshold < price if self.above else before >= threshold > price
        verb = f"crossed {word}" if holds else f"did not cross {word}"
        return Check(
            state_of(holds),
            price,
            threshold,
            f"{data.pair} last price {fmt(price)} {verb} {fmt(threshold)} (was {fmt(before)})",
        )


@register
class CrossesAbove(_Crossing):
    condition = Condition.CROSSES_ABOVE
    label = "Crosses above"
    description = "The minute's tick is above the threshold and the tick before it was not."
    params = (_threshold("Fires in the minute the price crosses above this price."),)
    above = True


@register
class CrossesBelow(_Crossing):
    condition = Condition.CROSSES_BELOW
    label = "Crosses below"
    description = "The minute's tick is below the threshold and the tick before it was not."
    params = (_threshold("Fires in the minute the price crosses below this price."),)
    above = False


def _holds(direction: Direction, value, limit) -> bool:
    return {
        Direction.UP: value >= limit,
        Direction.DOWN: value <= -limit,
        Direction.EITHER: abs(value) >= limit,
    }[direction]


MOVE_PERCENT = Param(
    "percent",
    "Move",
    "Fires when the price moved at least this much from its value a window earlier.",
    unit="%",
    minimum=Decimal(0),
    exclusive_minimum=True,
)


@register
class PctChange(ConditionKind):
    condition = Condition.PCT_CHANGE
    label = "% change"
    description = (
        "The price moved by at least the percentage within the window; as a ladder, the baseline "
        "then moves to the firing price, so the next alert comes at the next step."
    )
    params = (
        MOVE_PERCENT,
        _window("Compare with the price this many minutes earlier."),
        DIRECTION_PARAM,
        Param(
            "ladder",
            "Ladder",
            "After each firing, measure the move from the firing price (the next ±percent step) "
            "instead of from the price a window earlier.",
            required=False,
            on_text="re-anchors after each firing",
        ),
    )

    def lookback(self, spec, stale_minutes):
        return spec.window_minutes + stale_minutes

    def check(self, spec, series, minute, data):
        window, price, pair = spec.window_minutes, data.price, data.pair
        anchor = data.anchor if spec.ladder else None
        if anchor is not None:
            ref_price, since = anchor, "the last firing"
        else:
            start = minute - window * MINUTE
            reference = series.latest(start)
            if reference is None or reference[0] <= start - data.stale_minutes * MINUTE:
                return Check(
                    State.NORMAL, price, None, f"{pair}: not enough history for a {window} min change"
                )
            ref_price, since = reference[1], f"{hhmm(reference[0])}"
        change = (price - ref_price) * 100 / ref_price
        holds = _holds(spec.direction, change, spec.percent)
        verb = "rose" if change > 0 else "fell" if change < 0 else "did not move"
        span = "since the last firing" if anchor is not None else f"in {window} min"
        return Check(
            state_of(holds),
            price,
            ref_price,
            f"{pair} {verb} {abs(change):.3f} % {span}: {fmt(price)} now vs {fmt(ref_price)} "
            f"at {since} (threshold {spec.direction.value} {fmt(spec.percent)} %)",
            anchor=price if spec.ladder else None,
        )


@register
class Spike(ConditionKind):
    condition = Condition.SPIKE
    label = "Spike"
    description = "The price is at least K times its average over the window before it."
    params = (
        Param(
            "multiplier",
            "K",
            "Fires when the last price is at least K times the average (3 = three times).",
            unit="×",
            minimum=Decimal(1),
            exclusive_minimum=True,
        ),
        _window("Average the ticks of this many minutes before the current one.", minimum=2),
    )

    def lookback(self, spec, stale_minutes):
        return spec.window_minutes

    def check(self, spec, series, minute, data):
        window, price, pair = spec.window_minutes, data.price, data.pair
        mean, _ = series.mean(minute - window * MINUTE, data.at)
        if mean is None:
            return Check(
                State.NORMAL, price, None, f"{pair}: no prices in the {window} min before {hhmm(data.at)}"
            )
        mean = quantize(mean)
        holds = price >= spec.multiplier * mean
        return Check(
            state_of(holds),
            price,
            mean,
            f"{pair} last price {fmt(price)} is {price / mean:.3f} × its {window} min average {fmt(mean)} "
            f"(threshold {fmt(spec.multiplier)} ×)",
        )


VOLATILITY_WINDOWS = (60, 360, 1440)


@register
class VolatilityAbove(ConditionKind):
    condition = Condition.VOLATILITY_ABOVE
    label = "Volatility above"
    description = "The relative standard deviation of the window's minute prices is above the percentage."
    params = (
        Param(
            "percent",
            "Relative std",
            "Fires when the sample standard deviation / mean of the window's prices exceeds this.",
            unit="%",
            minimum=Decimal(0),
            exclusive_minimum=True,
        ),
        Param(
            "window_minutes",
            "Window",
            "The window of the price statistics.",
            unit="minutes",
            choices=tuple((w, {60: "1 h", 360: "6 h", 1440: "24 h"}[w]) for w in VOLATILITY_WINDOWS),
        ),
    )

    def aggregate(self, spec):
        return Aggregate(spec.window_minutes)

    def check(self, spec, series, minute, data):
        window, pair = spec.window_minutes, data.pair
        end = minute + MINUTE
        stats = data.stats
        relative = (
            stats.relative_std if stats is not None else series.relative_std(end - window * MINUTE, end)
        )
        if relative is None:
            return Check(
                State.NORMAL, None, spec.percent, f"{pair}: not enough prices for {window} min volatility"
            )
        observed = quantize(Decimal(repr(relative * 100)))
        holds = observed > spec.percent
        relation = "above" if holds else "not above"
        return Check(
            state_of(holds),
            observed,
            spec.percent,
            f"{pair} {window} min relative std {observed:.4f} % is {relation} {fmt(spec.percent)} %",
        )


@register
class NoData(ConditionKind):
    condition = Condition.NO_DATA
    label = "No data"
    description = "No tick for the pair for the window (data stopped)."
    params = (_window("Fires when the newest tick is this many minutes old or older."),)

    def lookback(self, spec, stale_minutes):
        return spec.window_minutes

    def evaluate(self, spec, series, minute, *, pair, stale_minutes, stats=None, ranks=None, anchor=None):
        # Missing data is this condition, so there is no staleness test first.
        window = spec.window_minutes
        latest = series.latest(minute)
        since = None if latest is None else Decimal((minute - latest[0]) // MINUTE)
        if latest is None or latest[0] <= minute - window * MINUTE:
            last = "no tick loaded" if latest is None else f"last tick {hhmm(latest[0])}"
            return Check(State.FIRING, since, Decimal(window), f"{pair}: no tick for {window} min ({last})")
        return Check(State.NORMAL, since, Decimal(window), f"{pair}: last tick {hhmm(latest[0])}")


ZSCORE_VOLATILITY_WINDOW = 1440  # the stored 24 h volatility of 1-minute log returns


@register
class ZScore(ConditionKind):
    condition = Condition.ZSCORE
    label = "σ-normalised move"
    description = (
        "The move over the window exceeds k times the pair's own typical move of that length: "
        "its 24 h volatility of 1-minute log returns × √window. One k fits BTC and small caps."
    )
    params = (
        Param(
            "multiplier",
            "k",
            "Fires when the move is at least k typical moves (4 = four standard deviations).",
            unit="σ",
            minimum=Decimal(0),
            exclusive_minimum=True,
        ),
        _window("The move is measured from the price this many minutes earlier (W)."),
        DIRECTION_PARAM,
    )

    def lookback(self, spec, stale_minutes):
        return spec.window_minutes + stale_minutes

    def aggregate(self, spec):
        return Aggregate(ZSCORE_VOLATILITY_WINDOW)

    def check(self, spec, series, minute, data):
        window, price, pair = spec.window_minutes, data.price, data.pair
        start = minute - window * MINUTE
        reference = series.latest(start)
        if reference is None or reference[0] <= start - data.stale_minutes * MINUTE:
            return Check(
                State.NORMAL, None, spec.multiplier, f"{pair}: not enough history for a {window} min move"
            )
        end = minute + MINUTE
        if data.stats is not None:
            volatility = data.stats.volatility
        else:
            volatility = series.volatility(end - ZSCORE_VOLATILITY_WINDOW * MINUTE, end)
        if not volatility:
            return Check(State.NORMAL, None, spec.multiplier, f"{pair}: no 24 h volatility to compare with")
        typical = volatility * math.sqrt(window)
        move = math.log(float(price / reference[1]))
        z = quantize(Decimal(repr(move / typical)))
        holds = _holds(spec.direction, z, spec.multiplier)
        return Check(
            state_of(holds),
            z,
            spec.multiplier,
            f"{pair} moved {math.expm1(move) * 100:+.3f} % in {window} min "
            f"({fmt(reference[1])} → {fmt(price)}): {z:+.2f} σ of its typical {window} min move "
            f"{typical * 100:.3f} % "
            f"(threshold {spec.direction.value} {fmt(spec.multiplier)} σ)",
        )


RANK_WINDOW_MINUTES = 1440


@register
class VolatilityRank(ConditionKind):
    condition = Condition.VOLATILITY_RANK
    label = "Volatility rank"
    description = (
        "The pair enters (or leaves) the top N of the exchange's 24 h ranking by a metric, and "
        "stays there (or out) for the minimum dwell, so rank flapping does not fire it."
    )
    params = (
        Param("top_n", "Top N", "The size of the top of the ranking.", minimum=1, maximum=100),
        Param(
            "metric",
            "Metric",
            "The 24 h statistic pairs are ranked by, highest first (as on the overview).",
            choices=(
                ("relative_std", "relative std of prices"),
                ("std", "std of prices"),
                ("volatility", "volatility of 1-minute log returns"),
            ),
        ),
        Param(
            "rank_event",
            "Fires when the pair",
            "Enters the top N, or leaves it.",
            choices=(("enters", "enters the top N"), ("leaves", "leaves the top N")),
        ),
        Param(
            "dwell_minutes",
            "Minimum dwell",
            "The pair must stay in (or out of) the top N this many consecutive minutes.",
            unit="minutes",
            minimum=1,
            maximum=MAX_WINDOW_MINUTES,
        ),
    )

    def aggregate(self, spec):
        return Aggregate(RANK_WINDOW_MINUTES, rank_by=spec.metric)

    def confirm_minutes(self, spec):
        return spec.dwell_minutes or 1

    def check(self, spec, series, minute, data):
        pair, top = data.pair, spec.top_n
        if data.ranks is None:
            return Check(State.NORMAL, None, Decimal(top), f"{pair}: no 24 h ranking available")
        rank = data.ranks.get(pair)
        inside = rank is not None and rank <= top
        holds = inside if spec.rank_event == RankEvent.ENTERS else not inside
        where = f"#{rank}" if rank is not None else "unranked"
        relation = "in" if inside else "outside"
        return Check(
            state_of(holds),
            None if rank is None else Decimal(rank),
            Decimal(top),
            f"{pair} is {where} of the 24 h ranking by {spec.metric}, {relation} the top {top} "
            f"(fires when it {spec.rank_event} it)",
        )


assert set(CONDITIONS) == set(Condition), "every Condition needs a registered ConditionKind"


def condition_check(
    spec: RuleSpec,
    series: PriceSeries,
    minute: datetime,
    *,
    pair: str,
    stale_minutes: int,
    stats: WindowStats | None = None,
    ranks: Mapping[str, int] | None = None,
    anchor: Decimal | None = None,
) -> Check:
    """Decide a rule's target state at `minute` (aware UTC minute start) from the pair's prices.

    Every condition except no_data first requires a tick within the `stale_minutes` minutes
    ending at `minute`, else the result is NO_DATA. `stats` are the pair's WindowStats for
    the condition's `aggregate` (e.g. volatility_above over [minute − window + 1, minute + 1));
    when None they are computed from `series`. `ranks` (rank per pair of the condition's
    ranking) feed volatility_rank; `anchor` is a ladder rule's baseline (RuleMemory). Never
    raises for missing data: too little history means NORMAL.
    """
    return spec.kind.evaluate(
        spec, series, minute, pair=pair, stale_minutes=stale_minutes, stats=stats, ranks=ranks, anchor=anchor
    )


def conditions_describe() -> list[dict[str, Any]]:
    """Every condition with its parameters, JSON-ready, in Condition order."""
    return [CONDITIONS[c].as_dict() for c in Condition]


def param_conditions() -> Mapping[str, list[str]]:
    """For each parameter field, the conditions that use it."""
    return {name: [c.value for c in Condition if CONDITIONS[c].param(name)] for name in FIELDS}
