"""Backtests: replay a rule over stored history with the evaluation's checks, sending nothing."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal

from django.conf import settings

from alerts.evaluation import rule_spec
from alerts.models import AlertRule
from alerts.rules import PriceSeries, RuleMemory, State, TriggerMode, condition_check, rule_step
from prices import selectors
from prices.domain import MINUTE, minute_floor
from prices.repository import TickRepository

BACKTEST_MAX_DAYS = 30


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
    evaluation, and sends and records nothing. volatility_above is computed from the minute
    series (same definition as the rollups). Raises ValueError for days outside 1..30.
    """
    if not 1 <= days <= BACKTEST_MAX_DAYS:
        raise ValueError(f"days must be between 1 and {BACKTEST_MAX_DAYS}")
    stale = settings.ALERTS_STALE_MINUTES
    end = minute_floor(end or selectors.window_end_default(exchange=rule.exchange, repo=repo))
    start = end - timedelta(days=days)
    spec = rule_spec(rule)
    minutes = days * 1440
    raw = selectors.recent_prices(
        end=end,
        minutes=minutes + spec.lookback_minutes(stale),
        pairs=[rule.pair],
        exchange=rule.exchange,
        repo=repo,
    )
    series = PriceSeries(raw.get(rule.pair, []))
    result = BacktestResult(start=start, end=end, minutes=minutes)
    day = start.date()
    while day <= (end - MINUTE).date():
        result.per_day[day] = 0
        day += timedelta(days=1)
    memory = RuleMemory()
    mode = TriggerMode(rule.trigger_mode)
    cooldown = timedelta(minutes=rule.cooldown_minutes)
    # Minutes before the pair's first stored price are not "data stopped": the replay starts there.
    current = max(start, series.minutes[0]) if series.minutes else end
    while current < end and memory.enabled:
        check = condition_check(spec, series, current, pair=rule.pair, stale_minutes=stale)
        memory, transition = rule_step(memory, check, current, mode=mode, cooldown=cooldown)
        if check.state is State.NO_DATA:
            result.no_data_minutes += 1
        if transition is not None:
            result.transitions += 1
            if transition.notify:
                result.notifications.append(
                    BacktestNotification(
                        current, transition.new_state.value, check.observed, check.reference, check.message
                    )
                )
                day = current.date()
                result.per_day[day] = result.per_day.get(day, 0) + 1
        current += MINUTE
    return result
