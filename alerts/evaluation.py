"""Evaluation of alert rules per minute and trigger bookkeeping; backtests over stored history."""

from __future__ import annotations

import itertools
import logging
import operator
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, make_dataclass, replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from functools import lru_cache

from django.conf import settings
from django.db import transaction
from django.db.models import Q

from alerts.models import MEDIAN_EXCHANGE, AlertEvent, AlertRule, Delivery, NotificationChannel
from alerts.rules import (
    FIELDS,
    Aggregate,
    Check,
    Condition,
    Direction,
    PriceSeries,
    RuleMemory,
    RuleSpec,
    State,
    Transition,
    TriggerMode,
    condition_check,
    rule_step,
)
from alerts.rules.base import fmt
from cryptotracker.collector import collector_paused
from cryptotracker.monitoring.metrics import alert_evaluation_failure_record, alert_evaluation_record
from cryptotracker.params import iso_z
from prices import selectors
from prices.domain import MINUTE, minute_floor
from prices.exchanges import market_of
from prices.guard import median
from prices.repository import TickRepository
from prices.selectors_markets import market_indexes
from prices.statistics import WindowStats

logger = logging.getLogger(__name__)

DELIVERY_TASK_CHUNK = 50
ID_CHUNK = 2000


class EvaluationError(Exception):
    """An evaluation could not run (the price store failed); nothing was recorded."""


def rule_spec(rule: AlertRule | _RuleRow) -> RuleSpec:
    """The pure RuleSpec of a rule (model instance or row); raises ValueError for unknown choices."""
    return _spec(rule.condition, _params_of(rule))


_params_of = operator.attrgetter(*FIELDS)  # the parameter fields' values as a tuple


@lru_cache(maxsize=4096)
def _spec(condition: str, values: tuple) -> RuleSpec:
    # Many rules share a spec: build each once (10,000 rules evaluated per minute).
    params = dict(zip(FIELDS, values, strict=True))
    params["direction"] = Direction(params["direction"])
    params["ladder"] = bool(params["ladder"])
    return RuleSpec(condition=Condition(condition), **params)


def rule_memory(rule: AlertRule | _RuleRow) -> RuleMemory:
    """The pure RuleMemory of a rule (model instance or row); raises KeyError for an unknown state."""
    return RuleMemory(
        state=_STATES[rule.state],
        armed=rule.armed,
        last_notified_minute=rule.last_notified_minute,
        enabled=rule.enabled,
        state_changed_at=rule.state_changed_at,
        held_minutes=rule.held_minutes,
        anchor_price=rule.anchor_price,
    )


# Enum members by stored value: a dict lookup costs a tenth of calling the enum, per rule.
_STATES = {s.value: s for s in State}
_MODES = {m.value: m for m in TriggerMode}


@dataclass(frozen=True, slots=True)
class _Plan:
    """What evaluation derives from a rule's settings (many rules share them: built once each)."""

    spec: RuleSpec
    spec_key: int  # one per distinct spec: cheaper to hash than the spec's Decimals
    mode: TriggerMode
    cooldown: timedelta
    confirm: int
    lookback: int
    aggregate: Aggregate | None


# A rule's settings as a tuple: the key of its plan.
_plan_of = operator.attrgetter("condition", *FIELDS, "trigger_mode", "cooldown_minutes", "confirm_minutes")


@lru_cache(maxsize=4096)
def _plan(rule_settings: tuple, stale: int) -> _Plan:
    """The plan of a rule's settings (`_plan_of`); raises ValueError/KeyError for unknown choices."""
    condition, *values, mode, cooldown, confirm = rule_settings
    spec = _spec(condition, tuple(values))
    return _Plan(
        spec=spec,
        spec_key=_spec_key(spec),
        mode=_MODES[mode],
        cooldown=timedelta(minutes=cooldown),
        confirm=spec.confirm_minutes(confirm),
        lookback=spec.lookback_minutes(stale),
        aggregate=spec.kind.aggregate(spec),
    )


@lru_cache(maxsize=4096)
def _spec_key(spec: RuleSpec) -> int:
    # Never reused: after an eviction an equal spec gets a new key, and merely shares fewer checks.
    return next(_spec_keys)


_spec_keys = itertools.count()


@dataclass
class EvaluationSummary:
    """What one evaluation did: rules and rule-minutes evaluated, events, deliveries, errors.

    `status` is "evaluated", "idle" (no rule needed this minute) or "waiting" (no poll has taken
    the minute yet, after our own downtime).
    """

    minute: datetime
    status: str = "evaluated"
    rules: int = 0
    rule_minutes: int = 0
    events: int = 0
    deliveries: int = 0
    errors: int = 0
    states: Counter[str] = field(default_factory=Counter)
    elapsed_ms: int = 0

    def line(self) -> str:
        """One human-readable line, as logged by the task and printed by the command."""
        states = ", ".join(f"{s} {n}" for s, n in sorted(self.states.items())) or "none"
        return (
            f"minute {self.minute:%Y-%m-%dT%H:%MZ}: {self.status}, {self.rules} rules "
            f"({self.rule_minutes} rule-minutes), {self.events} events, {self.deliveries} deliveries, "
            f"{self.errors} errors; states {states}; {self.elapsed_ms} ms"
        )


@dataclass
class _Inputs:
    """Prices loaded once for a batch of rules: series per pair, volatility stats on demand."""

    exchange: str
    series: dict[str, PriceSeries]
    repo: TickRepository | None
    pairs_by_window: dict[int, list[str]]
    polls: selectors.PollProgress = field(default_factory=selectors.PollProgress)
    stats: dict[tuple[int, datetime], dict[str, WindowStats]] = field(default_factory=dict)
    rankings: dict[tuple[str, int, datetime], dict[str, int]] = field(default_factory=dict)
    ranked_windows: frozenset[int] = frozenset()
    checks: dict[tuple, Check] = field(default_factory=dict)

    def check(self, plan: _Plan, minute: datetime, pair: str, *, stale: int, anchor: Decimal | None) -> Check:
        """condition_check of the plan's spec on `pair` at `minute`, computed once per distinct
        input: rules with the same condition and parameters on a pair share it (it is pure)."""
        key = (plan.spec_key, pair, minute, anchor)
        check = self.checks.get(key)
        if check is None:
            check = self.checks[key] = condition_check(
                plan.spec,
                self.series[pair],
                minute,
                pair=pair,
                stale_minutes=stale,
                anchor=anchor,
                **self.aggregates(plan.aggregate, minute, pair),
            )
        return check

    def ranks(self, metric: str, window: int, minute: datetime) -> dict[str, int]:
        """Rank per pair of the exchange's ranking by `metric` over the `window` minutes ending
        with `minute` (prices.selectors.pairs_rank over one pairs_stats read per window and minute)."""
        key = (metric, window, minute)
        if key not in self.rankings:
            entries = selectors.pairs_rank(
                window_minutes=window,
                end=minute + MINUTE,
                metric=metric,
                exchange=self.exchange,
                repo=self.repo,
                stats=self._stats(window, minute),
            )
            self.rankings[key] = {entry.pair.name: entry.rank for entry in entries}
        return self.rankings[key]

    def aggregates(self, aggregate: Aggregate | None, minute: datetime, pair: str) -> dict[str, object]:
        """The keyword arguments of condition_check that carry `aggregate` for `pair` at `minute`."""
        if aggregate is None:
            return {}
        if aggregate.rank_by is not None:
            return {"ranks": self.ranks(aggregate.rank_by, aggregate.window_minutes, minute)}
        return {"stats": self.window_stats(aggregate.window_minutes, minute, pair)}

    def window_stats(self, window: int, minute: datetime, pair: str) -> WindowStats:
        """The pair's WindowStats of the `window` minutes ending with `minute` (one read per
        window and minute for all pairs); empty stats when the pair has no data there."""
        return self._stats(window, minute).get(pair) or WindowStats.of(None, expected=window)

    def _stats(self, window: int, minute: datetime) -> dict[str, WindowStats]:
        key = (window, minute)
        if key not in self.stats:
            # A window that is also ranked is read for every pair, once, and serves both.
            ranked = window in self.ranked_windows
            self.stats[key] = selectors.pairs_stats(
                window_minutes=window,
                end=minute + MINUTE,
                pairs=None if ranked else self.pairs_by_window[window],
                exchange=self.exchange,
                repo=self.repo,
            )
        return self.stats[key]


# The columns evaluation needs, read without building model instances (10,000s per minute):
# bookkeeping, the condition's parameter fields (alerts.rules.FIELDS), then the rule's memory
# (`enabled` is not read: due rules are enabled). Then what evaluation derives: the plan, the
# first minute to evaluate and the memory as loaded.
_RuleRow = make_dataclass(
    "_RuleRow",
    [
        ("pk", int),
        ("name", str),
        ("exchange", str),
        ("pair", str),
        ("condition", str),
        *((name, object) for name in FIELDS),
        ("trigger_mode", str),
        ("cooldown_minutes", int),
        ("confirm_minutes", int),
        ("confirm_exchange", bool),
        ("state", str),
        ("armed", bool),
        ("state_changed_at", object),
        ("last_evaluated_minute", object),
        ("last_notified_minute", object),
        ("held_minutes", int),
        ("anchor_price", object),
        ("muted_until", object),
        ("enabled", bool, field(default=True)),
        ("plan", object, field(default=None)),
        ("first", object, field(default=None)),
        ("memory", object, field(default=None)),
        ("siblings", object, field(default=())),
    ],
    slots=True,
)


_ROW_FIELDS = _RuleRow.__slots__[: _RuleRow.__slots__.index("enabled")]


def _first_minute(last_evaluated: datetime | None, minute: datetime, earliest: datetime) -> datetime:
    """The first minute a rule evaluates up to `minute`: the one after its last evaluated minute,
    but no earlier than `earliest` (catch-up is bounded)."""
    return minute if last_evaluated is None else max(last_evaluated + MINUTE, earliest)


def _due_rules(minute: datetime, exchange: str | None = None):
    # A rule judges no minute before the one it was created in: that minute's price (at its
    # end) is the first one the rule could have seen.
    rules = AlertRule.objects.all() if exchange is None else AlertRule.objects.filter(exchange=exchange)
    return rules.filter(
        Q(last_evaluated_minute__isnull=True) | Q(last_evaluated_minute__lt=minute),
        Q(expires_at__isnull=True) | Q(expires_at__gt=minute),
        enabled=True,
        created_at__lt=minute + MINUTE,
    )


def _load_inputs(
    rules: list[_RuleRow],
    minute: datetime,
    *,
    exchange: str,
    stale: int,
    catch_up: int,
    repo: TickRepository | None,
) -> _Inputs:
    """One recent_prices call covering every rule's look-back; stats are fetched per window lazily."""
    pairs, span, pairs_by_window, ranked_windows = _look_back(rules, minute, stale=stale, catch_up=catch_up)
    raw = selectors.recent_prices(
        end=minute + MINUTE, minutes=span, pairs=sorted(pairs), exchange=exchange, repo=repo
    )
    return _Inputs(
        exchange=exchange,
        series={pair: PriceSeries(raw.get(pair, [])) for pair in pairs},
        repo=repo,
        pairs_by_window={w: sorted(p) for w, p in pairs_by_window.items()},
        ranked_windows=frozenset(ranked_windows),
        polls=selectors.poll_progress(exchange=exchange),
    )


def _look_back(
    rules: list[_RuleRow], minute: datetime, *, stale: int, catch_up: int
) -> tuple[set[str], int, dict[int, set[str]], set[int]]:
    """Set each rule's first minute and plan; return the rules' pairs, the minutes of prices they
    read up to `minute` (span), the pairs per statistics window and the ranked windows."""
    span = 1
    pairs: set[str] = set()
    pairs_by_window: dict[int, set[str]] = defaultdict(set)
    ranked_windows: set[int] = set()
    earliest = minute - (catch_up - 1) * MINUTE
    for rule in rules:
        pairs.add(rule.pair)
        first = rule.first = _first_minute(rule.last_evaluated_minute, minute, earliest)
        try:
            plan = rule.plan = _plan(_plan_of(rule), stale)
        except (ValueError, TypeError, KeyError):  # a malformed row fails alone, in _evaluate_rule
            rule.plan = None
            continue
        span = max(span, (minute - first) // MINUTE + plan.lookback)
        aggregate = plan.aggregate
        if aggregate is not None and aggregate.rank_by is None:
            pairs_by_window[aggregate.window_minutes].add(rule.pair)
        elif aggregate is not None:
            ranked_windows.add(aggregate.window_minutes)
    return pairs, span, pairs_by_window, ranked_windows


def _median_inputs(
    rules: list[_RuleRow],
    minute: datetime,
    *,
    stale: int,
    catch_up: int,
    repo: TickRepository | None,
) -> _Inputs:
    """The series of median rules: per market (the rule's pair, "BTC-USD") and minute, the
    median of the prices of the configured exchanges listing it that minute (exact Decimal).

    One recent_prices call per listing exchange, over the rules' look-back. A minute no
    listing exchange has a price for is absent from the series, as a missing tick is.
    """
    markets, span, _, _ = _look_back(rules, minute, stale=stale, catch_up=catch_up)
    listings: dict[str, dict[str, str]] = defaultdict(dict)  # exchange → pair → market
    for exchange, index in market_indexes(repo=repo).items():
        for market in markets:
            for pair, _, _ in index.get(market, ()):
                listings[exchange][pair] = market
    by_minute: dict[str, dict[datetime, list[Decimal]]] = {market: defaultdict(list) for market in markets}
    for exchange, pairs in listings.items():
        raw = selectors.recent_prices(
            end=minute + MINUTE, minutes=span, pairs=sorted(pairs), exchange=exchange, repo=repo
        )
        for pair, points in raw.items():
            for at, price in points:
                by_minute[pairs[pair]][at].append(price)
    series = {
        market: PriceSeries(sorted((at, median(prices)) for at, prices in minutes.items()))
        for market, minutes in by_minute.items()
    }
    return _Inputs(exchange=MEDIAN_EXCHANGE, series=series, repo=repo, pairs_by_window={})


@dataclass(frozen=True, slots=True)
class _Recorded:
    rule: _RuleRow
    minute: datetime
    check: Check
    transition: Transition


def _evaluate_rule(
    rule: _RuleRow,
    minute: datetime,
    inputs: _Inputs,
    *,
    stale: int,
    recorded: list[_Recorded],
    others: Mapping[str, _Inputs] | None = None,
) -> RuleMemory:
    """Step the rule over its due minutes (from `rule.first`), appending its events to `recorded`;
    returns its new memory (`rule.memory` itself when nothing changed). `others`: the inputs of
    the other exchanges, which a rule with `confirm_exchange` reads its siblings from."""
    plan = rule.plan or _plan(_plan_of(rule), stale)  # a malformed row raises here
    memory = rule.memory = rule_memory(rule)
    spec, mode, cooldown, confirm = plan.spec, plan.mode, plan.cooldown, plan.confirm
    current = rule.first
    while current <= minute and memory.enabled:
        check = inputs.check(plan, current, rule.pair, stale=stale, anchor=memory.anchor_price)
        if rule.confirm_exchange and check.state is State.FIRING:
            check = _confirmed(check, plan, current, rule, others or {}, stale=stale)
        if _missing_by_our_downtime(spec, check, current, inputs.polls):
            current += MINUTE
            continue
        memory, transition = rule_step(memory, check, current, mode=mode, cooldown=cooldown, confirm=confirm)
        if transition is not None:
            recorded.append(_Recorded(rule, current, transition.check or check, transition))
        current += MINUTE
    return memory


def _confirmed(
    check: Check, plan: _Plan, minute: datetime, rule: _RuleRow, others: Mapping[str, _Inputs], *, stale: int
) -> Check:
    """A firing `check`, confirmed by the same condition firing on a sibling (the same market on
    another configured exchange, `rule.siblings`) at `minute`; else the rule's state stays normal.

    A sibling's check uses its own newest price within the staleness limit, so an exchange whose
    minute is stored a little later still confirms; its ladder anchor is not the rule's (None).
    """
    for exchange, pair in rule.siblings:
        sibling = others.get(exchange)
        if sibling is None or pair not in sibling.series:
            continue
        other = sibling.check(plan, minute, pair, stale=stale, anchor=None)
        if other.state is State.FIRING:
            seen = "" if other.observed is None else f" at {fmt(other.observed)}"
            return replace(check, message=f"{check.message}; confirmed on {exchange} {pair}{seen}")
    where = ", ".join(f"{exchange} {pair}" for exchange, pair in rule.siblings) or "no other exchange"
    return Check(
        State.NORMAL, check.observed, check.reference, f"{check.message}, but not confirmed on {where}"
    )


def _missing_by_our_downtime(
    spec: RuleSpec, check: Check, minute: datetime, polls: selectors.PollProgress
) -> bool:
    """True when `check` reports missing data for a minute no poll took (our cluster was down).

    Such a minute says nothing about the exchange: it is passed over, the rule keeping its
    state, unless gap repair has filled it by the time it is evaluated.
    """
    missing = check.state is State.NO_DATA or spec.condition is Condition.NO_DATA
    return missing and polls.was_down(minute)


def alert_rules_evaluate(
    *,
    minute: datetime,
    now: datetime | None = None,
    defer_missing: bool = False,
    repo: TickRepository | None = None,
    enqueue: Callable[[list[int]], None] | None = None,
    exchange: str | None = None,
) -> EvaluationSummary:
    """Evaluate every enabled, unexpired rule at `minute` (aware UTC; floored to the minute);
    with `exchange`, only that exchange's rules: the minute its poll stored (another
    exchange's rules wait for their own exchange's minute, or the safety-net schedule).

    Each rule is evaluated for every minute after its last evaluated one, up to `minute`
    (at most ALERTS_CATCH_UP_MINUTES of them, in order). Rules are locked for the write
    (select_for_update; BEGIN IMMEDIATE on SQLite), so concurrent or repeated evaluations
    of a minute record each state change once; the (rule, minute) unique constraint backs
    this up. Prices are read with one recent_prices call (plus one pairs_stats call per
    aggregate window and minute), whatever the number of rules per pair. A rule whose
    evaluation raises is logged, counted in `errors` and skipped; the others go on.
    With `defer_missing` (the safety-net schedule), a minute with no stored tick for any
    rule's pair that ended less than ALERTS_INGEST_GRACE_S before `now` is left for later
    and the newest minute past that grace is evaluated instead. After our own downtime, a
    minute without ticks that no poll has taken yet is not judged at all (status "waiting":
    the first poll, or gap repair, stores it and evaluates it), and minutes no poll took
    while the cluster was down never move a rule to no_data.
    `enqueue(delivery_ids)` runs after commit for the deliveries created (default: one
    django-q2 task per chunk). Raises EvaluationError if the price store fails.
    """
    started = time.monotonic()
    with collector_paused():
        summary = _minute_evaluate(
            minute_floor(minute),
            now or datetime.now(UTC),
            defer_missing=defer_missing,
            repo=repo,
            enqueue=enqueue,
            exchange=exchange,
        )
    return _finish(summary, started)


def _minute_evaluate(
    minute: datetime,
    now: datetime,
    *,
    defer_missing: bool,
    repo: TickRepository | None,
    enqueue: Callable[[list[int]], None] | None,
    exchange: str | None = None,
) -> EvaluationSummary:
    """alert_rules_evaluate's work, in one function so its rows and checks are freed on return."""
    stale = settings.ALERTS_STALE_MINUTES
    catch_up = settings.ALERTS_CATCH_UP_MINUTES
    with transaction.atomic():
        # Lock the due rules first (a second evaluator of this minute waits here, then finds
        # them evaluated); prices are read while holding the lock.
        rules = _rules_load(minute, exchange)
        inputs = _inputs_for(rules, minute, stale=stale, catch_up=catch_up, repo=repo) if rules else {}
        grace = timedelta(seconds=settings.ALERTS_INGEST_GRACE_S)
        if rules and defer_missing and not _any_stored(inputs, minute) and now < minute + MINUTE + grace:
            # The minute's ticks may still be on their way: judge the newest minute past its
            # grace instead (when ingestion has stopped, that is where rules go to no_data).
            fallback = minute_floor(now - MINUTE - grace)
            logger.info(
                "alerts minute %s: no ticks yet, evaluating %s (past its grace) instead",
                iso_z(minute),
                iso_z(fallback),
            )
            minute = fallback
            due = set(_due_rules(minute, exchange).values_list("pk", flat=True))
            rules = [rule for rule in rules if rule.pk in due]
            inputs = _inputs_for(rules, minute, stale=stale, catch_up=catch_up, repo=repo) if rules else {}
        summary = EvaluationSummary(minute=minute)
        if not rules:
            summary.status = "idle"
            return summary
        if not _any_stored(inputs, minute) and any(i.polls.awaits_poll(minute) for i in inputs.values()):
            summary.status = "waiting"
            return summary
        evaluated, memories, recorded = _rules_evaluate(rules, minute, inputs, summary, stale=stale)
        delivery_ids = _results_persist(evaluated, memories, recorded, minute, summary, now=now)
        if delivery_ids:
            send = enqueue or _enqueue_deliveries
            transaction.on_commit(lambda: send(delivery_ids))
    return summary


def _rules_load(minute: datetime, exchange: str | None = None) -> list[_RuleRow]:
    """The rules due at `minute` (of `exchange`, or all), locked, as rows (ordered by id so
    lockers never deadlock)."""
    rows = _due_rules(minute, exchange).select_for_update().order_by("pk").values_list(*_ROW_FIELDS)
    return [_RuleRow(*row) for row in rows]


def _any_stored(inputs: dict[str, _Inputs], minute: datetime) -> bool:
    return any(minute in series.minutes for i in inputs.values() for series in i.series.values())


def _rules_evaluate(
    rules: list[_RuleRow],
    minute: datetime,
    inputs: dict[str, _Inputs],
    summary: EvaluationSummary,
    *,
    stale: int,
) -> tuple[list[int], list[tuple[_RuleRow, RuleMemory]], list[_Recorded]]:
    """Evaluate each rule over its due minutes (pure but for logging); a failing rule is counted
    in `summary.errors` and still marked evaluated. Returns (evaluated ids, the new memories of
    the rules whose memory changed, events)."""
    evaluated: list[int] = []
    changed: list[tuple[_RuleRow, RuleMemory]] = []
    recorded: list[_Recorded] = []
    states: Counter[State] = Counter()
    rule_minutes = 0
    for rule in rules:
        evaluated.append(rule.pk)
        mark = len(recorded)
        try:
            memory = _evaluate_rule(
                rule, minute, inputs[rule.exchange], stale=stale, recorded=recorded, others=inputs
            )
        except Exception:
            del recorded[mark:]  # a failing rule records nothing
            logger.exception(
                "alert rule %s (%s) failed to evaluate at %s", rule.pk, rule.condition, iso_z(minute)
            )
            summary.errors += 1
            continue
        rule_minutes += (minute - rule.first) // MINUTE + 1
        states[memory.state] += 1
        if memory is not rule.memory:
            changed.append((rule, memory))
    summary.rule_minutes += rule_minutes
    for state, count in states.items():
        summary.states[state.value] += count
    summary.rules = len(evaluated)
    return evaluated, changed, recorded


def _results_persist(
    evaluated: list[int],
    memories: list[tuple[_RuleRow, RuleMemory]],
    recorded: list[_Recorded],
    minute: datetime,
    summary: EvaluationSummary,
    *,
    now: datetime,
) -> list[int]:
    """Insert events and deliveries, save the rules' new memories; returns the pending delivery ids."""
    delivery_ids = _record(recorded, summary, now=now)
    changes: dict[tuple, list[int]] = defaultdict(list)
    for rule, memory in memories:
        changed = _changed_fields(rule, memory)
        if changed:
            changes[tuple(sorted(changed.items()))].append(rule.pk)
    # One UPDATE per distinct set of new values (few: they share the evaluated minutes),
    # then the bookkeeping every evaluated rule gets.
    for fields, ids in changes.items():
        for ids_filter in _ids_filters(ids):
            AlertRule.objects.filter(ids_filter).update(**dict(fields))
    for ids_filter in _ids_filters(evaluated):
        AlertRule.objects.filter(ids_filter).update(last_evaluated_minute=minute)
    return delivery_ids


ID_RANGES = 100  # BETWEEN terms OR'ed in one query (SQLite limits an expression's depth to 1,000)


def _ids_filters(ids: list[int]) -> list[Q]:
    """Filters that together select exactly `ids`: each run of consecutive ids is one BETWEEN
    (due rules are mostly consecutive: 10,000 ids are then a few ranges, not 10,000 parameters),
    the lone ones an IN list; at most ID_RANGES ranges and ID_CHUNK lone ids per filter."""
    runs: list[tuple[int, int]] = []
    for pk in sorted(ids):
        if runs and pk <= runs[-1][1] + 1:
            runs[-1] = (runs[-1][0], max(pk, runs[-1][1]))
        else:
            runs.append((pk, pk))
    ranges = [Q(pk__range=run) for run in runs if run[0] != run[1]]
    lone = [first for first, last in runs if first == last]
    filters = []
    while ranges or lone:
        batch = [*ranges[:ID_RANGES], *([Q(pk__in=lone[:ID_CHUNK])] if lone else [])]
        ranges, lone = ranges[ID_RANGES:], lone[ID_CHUNK:]
        combined = batch[0]
        for term in batch[1:]:
            combined |= term
        filters.append(combined)
    return filters


def _inputs_for(
    rules: list[_RuleRow], minute: datetime, *, stale: int, catch_up: int, repo: TickRepository | None
) -> dict[str, _Inputs]:
    by_exchange: dict[str, list[_RuleRow]] = defaultdict(list)
    for rule in rules:
        by_exchange[rule.exchange].append(rule)
    try:
        _siblings_add(rules, by_exchange, repo=repo)
        return {
            exchange: _median_inputs(group, minute, stale=stale, catch_up=catch_up, repo=repo)
            if exchange == MEDIAN_EXCHANGE
            else _load_inputs(group, minute, exchange=exchange, stale=stale, catch_up=catch_up, repo=repo)
            for exchange, group in by_exchange.items()
        }
    except Exception as exc:  # RepositoryError, or a store misconfiguration
        alert_evaluation_failure_record()
        raise EvaluationError(f"cannot read prices for minute {minute:%Y-%m-%dT%H:%MZ}: {exc}") from exc


def _siblings_add(
    rules: list[_RuleRow], by_exchange: dict[str, list[_RuleRow]], *, repo: TickRepository | None
) -> None:
    """Set `siblings` of each rule with `confirm_exchange`: its market's pairs on the other
    configured exchanges (the cached market indexes); a shadow copy of the rule per sibling joins
    that exchange's group, so its prices are loaded with the same look-back (never evaluated)."""
    confirming = [rule for rule in rules if rule.confirm_exchange]
    if not confirming:
        return
    indexes = market_indexes(repo=repo)
    for rule in confirming:
        market = market_of(rule.exchange, rule.pair)
        if market is None:
            continue
        rule.siblings = tuple(
            (exchange, pair)
            for exchange, index in indexes.items()
            if exchange != rule.exchange
            for pair, _, _ in index.get(market.name, ())
        )
        for exchange, pair in rule.siblings:
            by_exchange[exchange].append(replace(rule, exchange=exchange, pair=pair, siblings=()))


def _changed_fields(rule: _RuleRow, memory: RuleMemory) -> dict[str, object]:
    """The rule fields whose value `memory` changes, with their new values."""
    new = {
        "state": memory.state.value,
        "armed": memory.armed,
        "last_notified_minute": memory.last_notified_minute,
        "enabled": memory.enabled,
        "state_changed_at": memory.state_changed_at,
        "held_minutes": memory.held_minutes,
        "anchor_price": memory.anchor_price,
    }
    return {name: value for name, value in new.items() if getattr(rule, name) != value}


def _record(recorded: list[_Recorded], summary: EvaluationSummary, *, now: datetime) -> list[int]:
    """Insert the events and, for notifying ones, one Delivery per channel (see `_delivery`)."""
    if not recorded:
        return []
    events = AlertEvent.objects.bulk_create(
        [
            AlertEvent(
                rule_id=item.rule.pk,
                minute=item.minute,
                old_state=item.transition.old_state.value,
                new_state=item.transition.new_state.value,
                observed_value=item.check.observed,
                reference_value=item.check.reference,
                message=f"{item.rule.name}: {item.check.message}",
                notify=item.transition.notify and not _muted(item.rule, now),
                suppressed="muted"
                if item.transition.notify and _muted(item.rule, now)
                else item.transition.suppressed,
            )
            for item in recorded
        ]
    )
    summary.events = len(events)
    notifying = [event for event in events if event.notify]
    if not notifying:
        return []
    channels = _channels_by_rule({event.rule_id for event in notifying})
    quiet = {c.pk: c.quiet_until(now) for cs in channels.values() for c in cs}
    deliveries = [
        _delivery(event, channel, now=now, quiet_until=quiet[channel.pk])
        for event in notifying
        for channel in channels.get(event.rule_id, [])
    ]
    created = Delivery.objects.bulk_create(deliveries)
    summary.deliveries = len(created)
    return [d.pk for d in created if d.status == Delivery.Status.PENDING]


def _delivery(
    event: AlertEvent, channel: NotificationChannel, *, now: datetime, quiet_until: datetime | None
) -> Delivery:
    """An event's delivery on a channel: pending, skipped (unverified email), or held for the
    digest at the end of the channel's quiet hours (never dropped)."""
    if not channel.can_send:
        status, error, due = Delivery.Status.SKIPPED, "email channel not verified", None
    elif quiet_until is not None:
        status, error, due = Delivery.Status.HELD, "", quiet_until
    else:
        status, error, due = Delivery.Status.PENDING, "", now
    return Delivery(
        event_id=event.pk,
        channel_id=channel.pk,
        kind=channel.kind,
        target=channel.target,
        status=status,
        last_error=error,
        next_attempt_at=due,
    )


def _muted(rule: _RuleRow, now: datetime) -> bool:
    """Muted by its owner (wall clock, unlike the evaluated minutes): recorded, not sent."""
    return rule.muted_until is not None and rule.muted_until > now


def _channels_by_rule(rule_ids: Iterable[int]) -> dict[int, list[NotificationChannel]]:
    """Channels per rule id, one query; rules share few channels, so each is built once."""
    through = AlertRule.channels.through
    rows = through.objects.filter(alertrule_id__in=list(rule_ids)).values_list(
        "alertrule_id", "notificationchannel_id"
    )
    by_rule: dict[int, list[int]] = defaultdict(list)
    for rule_id, channel_id in rows:
        by_rule[rule_id].append(channel_id)
    wanted = {channel_id for ids in by_rule.values() for channel_id in ids}
    channels = {c.pk: c for c in NotificationChannel.objects.filter(pk__in=wanted)}
    return {rule_id: [channels[i] for i in ids] for rule_id, ids in by_rule.items()}


def _enqueue_deliveries(delivery_ids: list[int]) -> None:
    from django_q.tasks import async_task

    for offset in range(0, len(delivery_ids), DELIVERY_TASK_CHUNK):
        async_task("alerts.tasks.send_deliveries", delivery_ids[offset : offset + DELIVERY_TASK_CHUNK])


def _finish(summary: EvaluationSummary, started: float) -> EvaluationSummary:
    summary.elapsed_ms = round((time.monotonic() - started) * 1000)
    log = logger.error if summary.errors else logger.info
    log("alerts %s", summary.line())
    alert_evaluation_record(summary)
    return summary
