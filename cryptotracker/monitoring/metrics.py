"""Prometheus metrics: what services record about ingestion and alerting, and their exposition.

Polling cycles, evaluations and deliveries run in django-q2 worker processes, not in the web
process that serves /metrics. With PROMETHEUS_MULTIPROC_DIR set, prometheus_client writes every
process's values to files in that directory and the exposition merges them, so one directory
per host, shared by gunicorn and qcluster (and emptied when the host's services start), makes
the web's /metrics count the cluster's work on that host; django-q2 marks the files of workers
it replaces. A host that runs only qcluster serves its directory with `manage.py serve_metrics`.
Without the variable (tests, a single process) values live in this process.

Deliveries by status are not counted here but read from the database at scrape time: they are
state shared by all hosts, and a counter could not say how many are waiting now.
"""

from __future__ import annotations

import hmac
import ipaddress
import logging
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.db import DatabaseError
from django.db.models import Count
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector

from prices.domain import EXCHANGE_BITFINEX

if TYPE_CHECKING:
    from alerts.evaluation import EvaluationSummary
    from prices.services.ingest import IngestSummary

logger = logging.getLogger(__name__)

REGISTRY = CollectorRegistry()

FETCH_CYCLES = Counter(
    "cryptotracker_fetch_cycles",
    "Polling cycles by outcome: stored, duplicate (the minute was already stored) or failed.",
    ["exchange", "status"],
    registry=REGISTRY,
)
TICKS_STORED = Counter(
    "cryptotracker_ticks_stored", "Ticks stored by polling cycles.", ["exchange"], registry=REGISTRY
)
ROWS_SKIPPED = Counter(
    "cryptotracker_rows_skipped",
    "Exchange rows or ticks not stored by polling cycles, by reason.",
    ["exchange", "reason"],
    registry=REGISTRY,
)
CYCLE_DURATION = Histogram(
    "cryptotracker_fetch_cycle_duration_seconds",
    "Wall time of a polling cycle (request, parse, store).",
    ["exchange"],
    # A cycle has the minute to finish; the task times out at 55 s.
    buckets=(0.1, 0.25, 0.5, 1, 2, 5, 10, 20, 30, 45, 60),
    registry=REGISTRY,
)
ALERT_EVALUATIONS = Counter(
    "cryptotracker_alert_evaluations",
    "Alert evaluation runs by outcome: evaluated, idle (no rule due) or failed (price store down).",
    ["status"],
    registry=REGISTRY,
)
RULE_EVALUATIONS = Counter(
    "cryptotracker_alert_rule_evaluations",
    "Rule-minutes evaluated (a rule catching up on 3 minutes counts 3).",
    registry=REGISTRY,
)
RULE_ERRORS = Counter(
    "cryptotracker_alert_rule_errors",
    "Rules whose evaluation raised (logged with the rule id).",
    registry=REGISTRY,
)
ALERT_EVENTS = Counter(
    "cryptotracker_alert_events", "Alert events recorded (rule state changes).", registry=REGISTRY
)
DELIVERY_ATTEMPTS = Counter(
    "cryptotracker_alert_delivery_attempts",
    "Delivery attempts by channel kind and result: sent, retrying (failed, will retry) or failed (for good).",
    ["kind", "status"],
    registry=REGISTRY,
)

# Series that exist before their first event, so that rate() and alerts see a 0, not nothing.
for _status in ("stored", "duplicate", "failed"):
    FETCH_CYCLES.labels(EXCHANGE_BITFINEX, _status)
TICKS_STORED.labels(EXCHANGE_BITFINEX)
for _status in ("evaluated", "idle", "failed"):
    ALERT_EVALUATIONS.labels(_status)


# --- recording (called by services) ------------------------------------------------------


def fetch_cycle_record(summary: IngestSummary) -> None:
    """Count one polling cycle: its outcome, ticks stored, rows skipped by reason, its duration."""
    FETCH_CYCLES.labels(summary.exchange, summary.status).inc()
    TICKS_STORED.labels(summary.exchange).inc(summary.stored)
    for reason, count in summary.skipped.items():
        ROWS_SKIPPED.labels(summary.exchange, reason).inc(count)
    CYCLE_DURATION.labels(summary.exchange).observe(summary.elapsed_ms / 1000)


def alert_evaluation_record(summary: EvaluationSummary) -> None:
    """Count one finished evaluation run: its status, rule-minutes, rule errors and events."""
    ALERT_EVALUATIONS.labels(summary.status).inc()
    RULE_EVALUATIONS.inc(summary.rule_minutes)
    RULE_ERRORS.inc(summary.errors)
    ALERT_EVENTS.inc(summary.events)


def alert_evaluation_failure_record() -> None:
    """Count an evaluation run that could not read prices (nothing was recorded)."""
    ALERT_EVALUATIONS.labels("failed").inc()


def delivery_attempt_record(*, kind: str, status: str) -> None:
    """Count one delivery attempt of a channel kind (email, webhook) and the status it left."""
    DELIVERY_ATTEMPTS.labels(kind, status).inc()


# --- exposition ---------------------------------------------------------------------------


class _Forward:
    """A collector yielding another registry's metrics (this process's values, no multiprocess)."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry

    def collect(self) -> Iterator[Metric]:
        yield from self.registry.collect()


class _DeliveriesByStatus:
    """cryptotracker_alert_deliveries{status}: deliveries in each status now (one GROUP BY)."""

    def collect(self) -> Iterator[Metric]:
        from alerts.models import Delivery

        try:
            counts = dict(Delivery.objects.order_by().values_list("status").annotate(n=Count("pk")))
        except DatabaseError as exc:  # the counters are still worth a scrape; /readyz reports the database
            logger.warning("metrics: cannot count deliveries: %s", exc)
            return
        family = GaugeMetricFamily(
            "cryptotracker_alert_deliveries",
            "Alert deliveries by current status (the same on every web instance: aggregate with max).",
            labels=["status"],
        )
        for status in Delivery.Status.values:
            family.add_metric([status], counts.get(status, 0))
        yield family


def metrics_exposition(*, include_database: bool = True) -> tuple[bytes, str]:
    """The Prometheus text exposition and its content type.

    Counters come from PROMETHEUS_MULTIPROC_DIR when it is set, else from this process;
    `include_database` adds the gauges read from the relational database.
    """
    registry = CollectorRegistry(auto_describe=False)
    if settings.PROMETHEUS_MULTIPROC_DIR:
        MultiProcessCollector(registry, path=settings.PROMETHEUS_MULTIPROC_DIR)
    else:
        registry.register(_Forward(REGISTRY))
    if include_database:
        registry.register(_DeliveriesByStatus())
    return generate_latest(registry), CONTENT_TYPE_LATEST


def metrics_access(*, authorization: str, remote_addr: str) -> int | None:
    """None when a scrape may read the metrics, else the HTTP status refusing it.

    403 when METRICS_ALLOWED_NETWORKS is set and does not contain `remote_addr`; 401 when
    METRICS_TOKEN is set and `authorization` is not "Bearer <token>".
    """
    networks = settings.METRICS_ALLOWED_NETWORKS
    if networks:
        try:
            address = ipaddress.ip_address(remote_addr)
        except ValueError:
            return 403
        if address.version == 6 and address.ipv4_mapped:  # "::ffff:10.0.0.5" from a dual-stack bind
            address = address.ipv4_mapped
        if not any(address in network for network in networks):
            return 403
    token = settings.METRICS_TOKEN
    if token and not hmac.compare_digest(authorization.encode(), f"Bearer {token}".encode()):
        return 401
    return None


def metrics_wsgi_app(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
    """WSGI app of `serve_metrics`: GET /metrics on a host that runs only qcluster (no database gauges)."""
    if environ.get("PATH_INFO") != "/metrics" or environ.get("REQUEST_METHOD") not in ("GET", "HEAD"):
        start_response("404 Not Found", [("Content-Type", "text/plain")])
        return [b"not found: GET /metrics\n"]
    refused = metrics_access(
        authorization=environ.get("HTTP_AUTHORIZATION", ""), remote_addr=environ.get("REMOTE_ADDR", "")
    )
    if refused == 401:
        start_response("401 Unauthorized", [("Content-Type", "text/plain"), ("WWW-Authenticate", "Bearer")])
        return [b"a bearer token (METRICS_TOKEN) is required\n"]
    if refused == 403:
        start_response("403 Forbidden", [("Content-Type", "text/plain")])
        return [b"this address may not read the metrics (METRICS_ALLOWED_NETWORKS)\n"]
    body, content_type = metrics_exposition(include_database=False)
    start_response("200 OK", [("Content-Type", content_type), ("Cache-Control", "no-store")])
    return [body]
