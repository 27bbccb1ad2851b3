"""The alert evaluation benchmark behind `manage.py bench_alerts` (not a test: it prints figures)."""

from __future__ import annotations

import math
import time
from collections import Counter
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from django.contrib.auth import get_user_model
from django.db import connection, transaction
from django.test import override_settings

from alerts.evaluation import alert_rules_evaluate
from alerts.models import AlertRule, NotificationChannel
from prices.domain import EXCHANGE_BITFINEX, MINUTE, Tick, TickSource
from prices.repository import TickRepository
from prices.services import StoreMode, history_store, minutes_store
from prices.signals import prices_receivers_only

SEED_MINUTES = 70
# (condition, parameters) cycled over the rules: every condition, several windows, confirmation
# and a ladder.
RULE_MIX: list[dict[str, Any]] = [
    {"condition": "price_above", "threshold": Decimal("100.5")},
    {"condition": "price_below", "threshold": Decimal("99.5")},
    {"condition": "crosses_above", "threshold": Decimal("100")},
    {"condition": "crosses_below", "threshold": Decimal("100")},
    {"condition": "pct_change", "percent": Decimal("1"), "window_minutes": 5, "direction": "either"},
    {"condition": "pct_change", "percent": Decimal("2"), "window_minutes": 30, "direction": "up"},
    {"condition": "pct_change", "percent": Decimal("2"), "window_minutes": 60, "direction": "down"},
    {"condition": "spike", "multiplier": Decimal("3"), "window_minutes": 60},
    {"condition": "volatility_above", "percent": Decimal("0.5"), "window_minutes": 60},
    {"condition": "no_data", "window_minutes": 10},
    {"condition": "zscore", "multiplier": Decimal("3"), "window_minutes": 5, "direction": "either"},
    {"condition": "zscore", "multiplier": Decimal("4"), "window_minutes": 15, "direction": "up"},
    {
        "condition": "volatility_rank",
        "top_n": 10,
        "metric": "volatility",
        "rank_event": "enters",
        "dwell_minutes": 5,
    },
    {
        "condition": "volatility_rank",
        "top_n": 50,
        "metric": "relative_std",
        "rank_event": "leaves",
        "dwell_minutes": 15,
    },
    {"condition": "price_above", "threshold": Decimal("100.2"), "confirm_minutes": 3},
    {
        "condition": "pct_change",
        "percent": Decimal("0.5"),
        "window_minutes": 10,
        "direction": "either",
        "ladder": True,
    },
]


class _RollbackError(Exception):
    """Raised to roll the benchmark's rules and events back."""


@dataclass
class BenchRun:
    """One evaluated minute: wall and CPU time (ms), DB queries, store requests, its summary line."""

    minute: datetime
    elapsed_ms: float
    cpu_ms: float
    db_queries: int
    store_requests: int
    summary: str


@dataclass
class BenchResult:
    """The seeding time and the evaluation runs (cold: new rules; warm: the next minute)."""

    pairs: int
    rules: int
    seed_s: float
    runs: list[BenchRun] = field(default_factory=list)


def bench_pairs(count: int) -> list[str]:
    """Synthetic pair names in Bitfinex's BASE:QUOTE form (BN000:USD …)."""
    return [f"BN{i:03d}:USD" for i in range(count)]


def _seed_ticks(pairs: list[str], end: datetime) -> list[Tick]:
    ticks = []
    for p, pair in enumerate(pairs):
        for i in range(SEED_MINUTES):
            minute = end - (SEED_MINUTES - i) * MINUTE
            # A smooth hourly wave between 99 and 101, phase-shifted per pair: each minute a few
            # percent of the pairs cross a given level, as in a calm market.
            price = (Decimal(100) + Decimal(math.sin(2 * math.pi * (i + p) / 60))).quantize(Decimal("0.0001"))
            ticks.append(Tick(EXCHANGE_BITFINEX, pair, minute, price, TickSource.CANDLE))
    return ticks


class _RequestCounter:
    """Counts store requests: botocore API calls for DynamoDB, repository reads otherwise."""

    def __init__(self, repo: TickRepository) -> None:
        self.count = 0
        client = getattr(repo, "client", None)
        if client is not None:
            client.meta.events.register("before-call.dynamodb.*", self._on_call)
        else:
            for name in ("snapshots_between", "rollups_between", "latest_prices", "between"):
                method = getattr(repo, name)
                setattr(repo, name, self._wrap(method))

    def _on_call(self, **kwargs: Any) -> None:
        self.count += 1

    def _wrap(self, method):
        def counted(*args, **kwargs):
            self.count += 1
            return method(*args, **kwargs)

        return counted


def _poll_store(repo: TickRepository, ticks: list[Tick]) -> None:
    """Store one minute's ticks as the minute poll does (a ticker snapshot, live windows)."""
    polled = [replace(t, source=TickSource.TICKER) for t in ticks]
    with prices_receivers_only():
        minutes_store(
            exchange=EXCHANGE_BITFINEX, ticks=polled, repo=repo, mode=StoreMode.POLL, sender=alerts_benchmark
        )


class _QueryCounter:
    """Counts DB queries (a connection.execute_wrapper): unlike CaptureQueriesContext it does not
    format every query's SQL and parameters, which the timed code would pay for."""

    def __init__(self) -> None:
        self.count = 0

    def __call__(self, execute, sql, params, many, context):
        self.count += 1
        return execute(sql, params, many, context)


def _rules_create(names: list[str], rules: int, *, created_at: datetime) -> None:
    """`rules` enabled rules cycling over RULE_MIX and the pairs, each with one webhook channel."""
    user, _ = get_user_model().objects.get_or_create(username="bench-alerts")
    channel = NotificationChannel.objects.create(
        owner=user, kind="webhook", target="http://127.0.0.1:9/bench", verified=True
    )
    objs = [
        AlertRule(
            owner=user,
            name=f"bench {i}",
            pair=names[i % len(names)],
            **RULE_MIX[(i // len(names)) % len(RULE_MIX)],
        )
        for i in range(rules)
    ]
    created = AlertRule.objects.bulk_create(objs, batch_size=500)
    # The rules exist since the seeded history began (a rule judges no earlier minute).
    AlertRule.objects.filter(pk__in=[r.pk for r in created]).update(created_at=created_at)
    through = AlertRule.channels.through
    through.objects.bulk_create(
        [through(alertrule_id=r.pk, notificationchannel_id=channel.pk) for r in created],
        batch_size=1000,
    )


def alerts_benchmark(
    *, pairs: int, rules: int, repo: TickRepository, end: datetime | None = None, progress=None
) -> BenchResult:
    """Seed `pairs` pairs × 70 minutes of prices into `repo` and `rules` enabled rules (with a webhook
    channel each) in the database, evaluate two consecutive minutes, and roll the database back.

    The 68 minutes before the evaluated ones are stored as history; each evaluated minute is
    stored as the minute poll stores it (folded into its hour's rollup, live windows published)
    just before it is evaluated, untimed, so evaluation reads what it reads in production.
    Nothing is sent: deliveries are created but their enqueueing is discarded with the rollback.
    The seed ticks and rule instances are dropped before timing: a worker holds no such objects,
    and every full garbage collection inside the timed evaluation would walk them.
    """
    end = (end or datetime.now(UTC)).replace(second=0, microsecond=0)
    names = bench_pairs(pairs)
    evaluated = (end - 2 * MINUTE, end - MINUTE)
    ticks = _seed_ticks(names, end)
    polled = {minute: [t for t in ticks if t.minute == minute] for minute in evaluated}
    started = time.perf_counter()
    with prices_receivers_only():  # no evaluation task for the throw-away ticks
        history_store(ticks=[t for t in ticks if t.minute < evaluated[0]], repo=repo)
    del ticks
    result = BenchResult(pairs=pairs, rules=rules, seed_s=time.perf_counter() - started)
    counter = _RequestCounter(repo)
    try:
        with transaction.atomic():
            _rules_create(names, rules, created_at=end - SEED_MINUTES * MINUTE)
            for minute in evaluated:
                _poll_store(repo, polled.pop(minute))
                counter.count = 0
                queries = _QueryCounter()
                # As in production (DEBUG off): Django does not keep every query's SQL and
                # parameters, which `make run`'s DEBUG=true would add to the timed evaluation.
                with override_settings(DEBUG=False), connection.execute_wrapper(queries):
                    t0, c0 = time.perf_counter(), time.process_time()
                    summary = alert_rules_evaluate(minute=minute, now=minute + MINUTE, repo=repo)
                    elapsed, cpu = (time.perf_counter() - t0) * 1000, (time.process_time() - c0) * 1000
                result.runs.append(
                    BenchRun(minute, elapsed, cpu, queries.count, counter.count, summary.line())
                )
            raise _RollbackError
    except _RollbackError:
        pass
    return result


def conditions_mix(rules: int, pairs: int) -> Counter[str]:
    """How many rules of each condition a benchmark of this size creates."""
    return Counter(RULE_MIX[(i // pairs) % len(RULE_MIX)]["condition"] for i in range(rules))
