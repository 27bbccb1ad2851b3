"""End to end: real 2019-12-31 BTCUSD prices ingested minute by minute into dynalite, rules evaluated
and notifications sent by a real django-q2 cluster (ORM broker, separate processes), emails
received by a real SMTP server (aiosmtpd) on 127.0.0.1.

The cluster is `manage.py qcluster` in a subprocess on the production settings, pointed by
environment variables at the test's database (a file SQLite DB, or PostgreSQL when
DATABASE_URL is set), the test's dynalite tables and the SMTP server. This process ingests
with prices.services.ticks_ingest; the alerts receiver enqueues each minute's evaluation on
the ORM broker (django-q2's Conf is switched from the test settings' sync mode for it).
"""

from __future__ import annotations

import signal
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.db.models import Min
from django_q.conf import Conf
from django_q.models import OrmQ, Schedule

from alerts.models import AlertEvent, AlertRule, Delivery, NotificationChannel
from prices.domain import EXCHANGE_BITFINEX, MINUTE
from prices.services import ticks_ingest
from prices.sources.base import TickerBatch, TickerRow
from tests.alerts.helpers import btcusd_closes
from tests.alerts.processes import PYTHON, ROOT, SmtpSink, free_port, process_env, wait_until

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.timeout(900)]

FIRST = datetime(2019, 12, 31, 0, 0, tzinfo=UTC)
LAST = datetime(2019, 12, 31, 23, 59, tzinfo=UTC)
MAX_LEAD = 10  # minutes the ingestion may run ahead of evaluation (catch-up covers 15)


class ReplaySource:
    """A TickerSource answering with the BTCUSD last price at the end of the minute being replayed."""

    exchange = EXCHANGE_BITFINEX

    def __init__(self) -> None:
        self.closes = dict(btcusd_closes())
        self.minute: datetime | None = None

    def last_price(self, minute: datetime) -> Decimal:
        """The close of `minute`, or of the newest earlier minute with trades (what a ticker reports)."""
        while minute not in self.closes:
            minute -= MINUTE
        return self.closes[minute]

    def fetch_tickers(self) -> TickerBatch:
        return TickerBatch(rows=[TickerRow(pair="BTCUSD", last_price=self.last_price(self.minute))])


@pytest.fixture
def broker_not_sync(monkeypatch) -> None:
    """This process enqueues on the ORM broker like production (the test settings run tasks inline)."""
    monkeypatch.setattr(Conf, "SYNC", False)
    monkeypatch.setattr(Conf, "ORM", "default")


@pytest.fixture
def world(
    transactional_db,
    django_user_model,
    dynalite_server,
    dynamo_repo_factory,
    broker_not_sync,
    alerts_receiver,
):
    """Alice, her verified email channel, a crosses_below and a pct_change rule, empty dynalite tables."""
    repo = dynamo_repo_factory(dynalite_server)
    alice = django_user_model.objects.create_user("alice", email="alice@example.org")
    channel = NotificationChannel.objects.create(
        owner=alice, kind="email", target="alice@example.org", verified=True
    )
    rules = [
        AlertRule.objects.create(
            owner=alice,
            name="BTC under 7200",
            pair="BTCUSD",
            condition="crosses_below",
            threshold=Decimal("7200"),
        ),
        AlertRule.objects.create(
            owner=alice,
            name="BTC drops 1% in 30 min",
            pair="BTCUSD",
            condition="pct_change",
            percent=Decimal("1"),
            window_minutes=30,
            direction="down",
        ),
    ]
    for rule in rules:
        rule.channels.add(channel)
    # The rules exist since before the replayed day (a rule judges no minute before it existed).
    AlertRule.objects.update(created_at=datetime(2019, 1, 1, tzinfo=UTC))
    # Only the delivery retry schedule: the evaluation safety net would judge today's minutes.
    Schedule.objects.create(
        name="alerts.tasks.retry_due_deliveries",
        func="alerts.tasks.retry_due_deliveries",
        schedule_type=Schedule.MINUTES,
        minutes=1,
        repeats=-1,
        next_run=datetime.now(UTC),
    )
    return repo, rules


@contextmanager
def running_cluster(repo, smtp_port: int, log_path, **env_extra: str) -> Iterator[subprocess.Popen]:
    """`manage.py qcluster` (2 workers) in its own session; stopped with TERM, killed if it hangs."""
    env = process_env(
        dynamodb_endpoint=repo.client.meta.endpoint_url,
        table_prefix=repo.ticks_table.removesuffix("ticks"),
        smtp_port=smtp_port,
        **env_extra,
    )
    with log_path.open("w") as log:
        cluster = subprocess.Popen(
            [PYTHON, "manage.py", "qcluster"], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
    try:
        yield cluster
    finally:
        cluster.send_signal(signal.SIGTERM)
        try:
            cluster.wait(timeout=20)
        except subprocess.TimeoutExpired:
            cluster.kill()
            cluster.wait()


def replay(repo, rules, *, first: datetime = FIRST, last: datetime = LAST, timeout_s: float = 180) -> None:
    """Ingest first..last one minute at a time, never more than MAX_LEAD minutes ahead of evaluation.

    `timeout_s` is generous: it is a wait, ended as soon as evaluation catches up, and the
    cluster's first evaluation waits for its workers to start, which on a loaded 2-core CI
    machine once took over 60 s.
    """
    source = ReplaySource()
    minute = first
    while minute <= last:
        source.minute = minute
        summary = ticks_ingest(
            source=source, repo=repo, now=lambda m=minute: m + MINUTE + timedelta(seconds=2)
        )
        assert summary.status == "stored", summary.line()
        wait_until(
            lambda m=minute: evaluated_through() >= m - MAX_LEAD * MINUTE,
            timeout_s=timeout_s,
            what=f"evaluation to keep up with {minute:%H:%M}",
        )
        minute += MINUTE


def evaluated_through() -> datetime:
    oldest = AlertRule.objects.aggregate(oldest=Min("last_evaluated_minute"))["oldest"]
    return oldest or datetime.min.replace(tzinfo=UTC)


def diagnose(what: str, log_path) -> str:
    """What the deliveries and the cluster were doing, for a failed wait."""
    rows = list(Delivery.objects.values("status", "attempts", "last_error", "next_attempt_at"))
    log = log_path.read_text()[-4000:]
    return f"{what}; now {datetime.now(UTC):%H:%M:%S}; deliveries {rows}; cluster log:\n{log}"


def settled(smtp: SmtpSink, expected: int):
    """True once every rule has evaluated LAST, nothing is queued and `expected` emails arrived."""
    return (
        evaluated_through() == LAST
        and not OrmQ.objects.exists()
        and not Delivery.objects.exclude(status="sent").exists()
        and len(smtp.received()) >= expected
    )


def assert_the_two_expected_emails(messages) -> None:
    by_rule = {m["Subject"].rsplit(" · ", 1)[-1]: m for m in messages}
    assert sorted(by_rule) == ["BTC drops 1% in 30 min", "BTC under 7200"]

    drop = by_rule["BTC drops 1% in 30 min"]
    text = drop.get_body(("plain",)).get_content().replace("\r\n", "\n")
    assert drop["To"] == "alice@example.org"
    assert str(drop["Subject"]).strip().startswith("BTC/USD moved −1.1 % in 30 min — now 7,229.9 USD")
    assert "Minute:          2019-12-31 15:12 UTC\n" in text
    assert "Observed value:  7,229.9 USD\n" in text  # the close of 15:12
    assert "Reference value: 7,310.11486316 USD\n" in text  # the close of 14:42, 30 minutes earlier
    assert "BTCUSD fell 1.097 % in 30 min" in text

    cross = by_rule["BTC under 7200"]
    text = cross.get_body(("plain",)).get_content().replace("\r\n", "\n")
    assert str(cross["Subject"]).strip().startswith("BTC/USD crossed below 7,200 USD — now 7,198.4 USD")
    assert "Minute:          2019-12-31 17:36 UTC\n" in text
    assert "Observed value:  7,198.4 USD\n" in text  # the close of 17:36
    assert "Reference value: 7,200 USD\n" in text
    assert "(was 7203.1881509)" in text  # the close of 17:35
    assert "http://127.0.0.1:8000/pairs/BTCUSD/" in text
    assert cross.get_body(("html",)) is not None


def test_replayed_day_sends_each_alert_once_at_its_minute(world, tmp_path):
    repo, rules = world
    smtp = SmtpSink()
    smtp.start()
    try:
        with running_cluster(repo, smtp.port, tmp_path / "qcluster.log"):
            replay(repo, rules)
            wait_until(lambda: settled(smtp, 2), timeout_s=90, what="the cluster to settle")
    finally:
        smtp.stop()

    messages = smtp.received()
    assert len(messages) == 2, (tmp_path / "qcluster.log").read_text()[-3000:]
    assert_the_two_expected_emails(messages)
    notified = AlertEvent.objects.filter(notify=True).order_by("minute")
    assert [(e.rule.name, e.minute.strftime("%H:%M")) for e in notified] == [
        ("BTC drops 1% in 30 min", "15:12"),
        ("BTC under 7200", "17:36"),
    ]
    assert set(Delivery.objects.values_list("status", "attempts")) == {("sent", 1)}


def test_replayed_day_with_smtp_down_at_first_delivers_after_it_comes_back(world, tmp_path):
    repo, rules = world
    smtp = SmtpSink(port=free_port())  # not started: connections are refused
    log_path = tmp_path / "qcluster.log"
    try:
        # The retry schedule runs about once a minute: keep enough attempts for a slow replay.
        with running_cluster(repo, smtp.port, log_path, ALERTS_DELIVERY_MAX_ATTEMPTS="30"):
            replay(repo, rules)
            # First attempt right after each event, second by the retry schedule: both refused.
            try:
                wait_until(
                    lambda: (
                        Delivery.objects.count() == 2 and not Delivery.objects.filter(attempts__lt=2).exists()
                    ),
                    timeout_s=180,
                    what="two failed attempts per delivery",
                )
                failed = list(Delivery.objects.values_list("status", "last_error", "log"))
                smtp.start()
                wait_until(lambda: settled(smtp, 2), timeout_s=180, what="delivery after SMTP came back")
            except AssertionError as exc:
                raise AssertionError(diagnose(str(exc), log_path)) from None
    finally:
        smtp.stop()

    assert {status for status, _, _ in failed} <= {"retrying", "sending"}
    assert all("ConnectionRefusedError" in error for _, error, _ in failed)
    assert len(smtp.received()) == 2
    assert_the_two_expected_emails(smtp.received())
    for delivery in Delivery.objects.all():
        assert delivery.status == "sent"
        assert delivery.attempts >= 3
        assert [entry["error"] is None for entry in delivery.log] == [False] * (delivery.attempts - 1) + [
            True
        ]
