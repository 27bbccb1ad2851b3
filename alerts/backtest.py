"""Backtests: replay a rule over stored history with the evaluation's checks, sending nothing."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal

from django.conf import settings

from alerts.evaluation import rule_spec
from alerts.models import AlertRule
from alerts.rules import (
    Aggregate,
    Condition,
    PriceSeries,
    RuleMemory,
    RuleSpec,
    State,
    TriggerMode,
    condition_check,
    rule_step,
)
from prices import selectors
from prices.domain import MINUTE, minute_floor
from prices.repository import TickRepository

BACKTEST_MAX_DAYS = 30
# A rank backtest ranks every pair at every minute from minute prices: bounded tighter.
RANK_BACKTEST_MAX_DAYS = 7


def backtest_max_days(*, rule: AlertRule) -> int:
    """The longest backtest of `rule` in days (volatility_rank rules rank every pair each minute)."""
    return RANK_BACKTEST_MAX_DAYS if rule.condition == Condition.VOLATILITY_RANK else BACKTEST_MAX_DAYS


class _SeriesRanking:
    """The ranking of prices.selectors.pairs_rank computed from every pair's minute prices.

    Same order: pairs under the coverage floor last, then undefined metrics, then the metric
    descending, ties by name.
    """

    def __init__(self, series: dict[str, PriceSeries], aggregate: Aggregate) -> None:
        self.series, self.aggregate = series, aggregate

    def __call__(self, minute: datetime) -> dict[str, int]:
        window, metric = self.aggregate.window_minutes, self.aggregate.rank_by
        end = minute + MINUTE
        start = end - window * MINUTE
        rows = []
        for pair, series in self.series.items():
            low = series.count(start, end) / window < selectors.COVERAGE_FLOOR
            value = {
                "relative_std": series.relative_std,
                "std": series.std,
                "volatility": series.volatility,
            }[metric](start, end)
            rows.append((low, value is None, -(value or 0.0), pair))
        rows.sort()
        return {row[3]: rank for rank, row in enumerate(rows, start=1)}


@dataclass(frozen=True, slots=True)
class BacktestNotification:
    """A notification the rule would have sent: evaluated minute, new state, deciding values, message."""

    minute: datetime
    state: str
    observed: Decimal | None
    reference: Decimal | None
    message: str


@dataclass
class BacktestResult:
    """A rule replayed over [start, end): notifications, per-UTC-day counts, state changes, coverage."""

    start: datetime
    end: datetime
    minutes: int
    transitions: int = 0
    no_data_minutes: int = 0
    notifications: list[BacktestNotification] = field(default_factory=list)
    per_day: dict[date, int] = field(default_factory=dict)


def alert_rule_backtest(
    *, rule: AlertRule, days: int, end: datetime | None = None, repo: TickRepository | None = None
) -> BacktestResult:
    """Replay `rule` over the `days` days of stored minutes ending at `end` (default: newest data).

    Starts from a fresh memory (normal, armed) at `start` or the pair's first stored minute if
    later, applies the same checks and trigger logic as
    evaluation, and sends and records nothing. Aggregates (volatility_above's statistics,
    zscore's 24 h volatility, volatility_rank's ranking of every pair) are computed from the
    minute series with the rollups' definitions. Raises ValueError for days outside 1..30
    (1..7 for volatility_rank).
    """
    maximum = backtest_max_days(rule=rule)
    if not 1 <= days <= maximum:
        raise ValueError(f"days must be between 1 and {maximum}")
    stale = settings.ALERTS_STALE_MINUTES
    end = minute_floor(end or selectors.window_end_default(exchange=rule.exchange, repo=repo))
    start = end - timedelta(days=days)
    spec = rule_spec(rule)
    aggregate = spec.kind.aggregate(spec)
    minutes = days * 1440
    # Aggregates are computed from the minute series here: read their window too.
    span = minutes + spec.lookback_minutes(stale) + (aggregate.window_minutes if aggregate else 0)
    ranked = aggregate is not None and aggregate.rank_by is not None
    raw = selectors.recent_prices(
        end=end, minutes=span, pairs=None if ranked else [rule.pair], exchange=rule.exchange, repo=repo
    )
    series = PriceSeries(raw.get(rule.pair, []))
    ranking = (
        _SeriesRanking({pair: PriceSeries(points) for pair, points in raw.items()}, aggregate)
        if ranked
        else None
    )
    result = BacktestResult(start=start, end=end, minutes=minutes)
    day = start.date()
    while day <= (end - MINUTE).date():
        result.per_day[day] = 0
        day += timedelta(days=1)
    _replay(rule, spec, series, ranking, result, stale=stale)
    return result


def _replay(
    rule: AlertRule,
    spec: RuleSpec,
    series: PriceSeries,
    ranking: _SeriesRanking | None,
    result: BacktestResult,
    *,
    stale: int,
) -> None:
    memory = RuleMemory()
    mode = TriggerMode(rule.trigger_mode)
    cooldown = timedelta(minutes=rule.cooldown_minutes)
    confirm = spec.confirm_minutes(rule.confirm_minutes)
    # Minutes before the pair's first stored price are not "data stopped": the replay starts there.
    current = max(result.start, series.minutes[0]) if series.minutes else result.end
    while current < result.end and memory.enabled:
        check = condition_check(
            spec,
            series,
            current,
            pair=rule.pair,
            stale_minutes=stale,
            anchor=memory.anchor_price,
            ranks=ranking(current) if ranking is not None else None,
        )
        memory, transition = rule_step(memory, check, current, mode=mode, cooldown=cooldown, confirm=confirm)
        if check.state is State.NO_DATA:
            result.no_data_minutes += 1
        if transition is not None:
            result.transitions += 1
            if transition.notify:
                seen = transition.check or check
                result.notifications.append(
                    BacktestNotification(
                        current, transition.new_state.value, seen.observed, seen.reference, seen.message
                    )
                )
                day = current.date()
                result.per_day[day] = result.per_day.get(day, 0) + 1
        current += MINUTE
