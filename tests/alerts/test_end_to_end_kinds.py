"""End to end for the new kinds: a zscore rule over the real 2019-12-31 BTCUSD spike, evaluated by a
real django-q2 cluster, emailed through a real SMTP server (aiosmtpd) on 127.0.0.1, to a channel
without quiet hours and to one in quiet hours, which gets one digest when they end.

Same machinery as test_end_to_end.py: `manage.py qcluster` in a subprocess on the production
settings, the test's database and dynalite tables. The 24 h before the spike are stored at once
(no evaluation: prices_receivers_only); 14:30–15:05 are ingested minute by minute.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django_q.models import Schedule

from alerts.models import AlertEvent, AlertRule, Delivery, NotificationChannel
from prices.domain import MINUTE
from prices.services import history_store
from prices.signals import prices_receivers_only
from tests.alerts.processes import SmtpSink, wait_until
from tests.alerts.test_end_to_end import broker_not_sync, replay, running_cluster
from tests.realdata import candle_ticks

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.timeout(900)]

__all__ = ["broker_not_sync"]  # a fixture this module uses

START = datetime(2019, 12, 31, 14, 30, tzinfo=UTC)
LAST = datetime(2019, 12, 31, 15, 5, tzinfo=UTC)
QUIET_MINUTES = 2  # wall-clock minutes from now the quiet channel stays quiet
PARIS = ZoneInfo("Europe/Paris")


@pytest.fixture
def spike_world(
    transactional_db,
    django_user_model,
    dynalite_server,
    dynamo_repo_factory,
    broker_not_sync,
    alerts_receiver,
):
    """BTCUSD history up to 14:29, a zscore rule (k 4, 5 min, cooldown 0) on two email channels,
    one of them quiet from a minute ago until QUIET_MINUTES from now (Paris time)."""
    repo = dynamo_repo_factory(dynalite_server)
    with prices_receivers_only():
        history_store(ticks=[t for t in candle_ticks("BTCUSD") if t.minute < START], repo=repo)
    alice = django_user_model.objects.create_user("alice", email="alice@example.org")
    now = datetime.now(PARIS).replace(second=0, microsecond=0)
    direct = NotificationChannel.objects.create(
        owner=alice, kind="email", target="alice@example.org", verified=True
    )
    quiet = NotificationChannel.objects.create(
        owner=alice,
        kind="email",
        target="alice.nights@example.org",
        verified=True,
        quiet_start=(now - MINUTE).time(),
        quiet_end=(now + QUIET_MINUTES * MINUTE).time(),
        quiet_timezone="Europe/Paris",
    )
    rule = AlertRule.objects.create(
        owner=alice,
        name="BTC 4 sigma",
        pair="BTCUSD",
        condition="zscore",
        multiplier=Decimal("4"),
        window_minutes=5,
        cooldown_minutes=0,
        last_evaluated_minute=START - MINUTE,
    )
    rule.channels.set([direct, quiet])
    # The rule exists since before the replayed day (a rule judges no minute before it existed).
    AlertRule.objects.filter(pk=rule.pk).update(created_at=datetime(2019, 1, 1, tzinfo=UTC))
    Schedule.objects.create(
        name="alerts.tasks.retry_due_deliveries",
        func="alerts.tasks.retry_due_deliveries",
        schedule_type=Schedule.MINUTES,
        minutes=1,
        repeats=-1,
        next_run=datetime.now(UTC),
    )
    return repo, rule, quiet


def test_a_zscore_rule_alerts_in_the_spike_and_a_quiet_channel_gets_one_digest(spike_world, tmp_path):
    repo, rule, quiet = spike_world
    smtp = SmtpSink()
    smtp.start()
    log = tmp_path / "qcluster.log"
    try:
        with running_cluster(repo, smtp.port, log):
            replay(repo, [rule], first=START, last=LAST)  # the cluster starts first
            notified = lambda: AlertEvent.objects.filter(notify=True).count()  # noqa: E731
            try:
                wait_until(
                    lambda: (
                        AlertRule.objects.get(pk=rule.pk).last_evaluated_minute == LAST
                        and len([m for m in smtp.received() if m["To"] == "alice@example.org"]) >= notified()
                        and any(m["Subject"].strip().startswith("Digest:") for m in smtp.received())
                    ),
                    timeout_s=QUIET_MINUTES * 60 + 150,
                    what="the direct emails and the digest",
                )
            except AssertionError as exc:
                rows = list(
                    Delivery.objects.values("purpose", "status", "target", "next_attempt_at", "last_error")
                )
                subjects = [(m["To"], m["Subject"]) for m in smtp.received()]
                raise AssertionError(
                    f"{exc}; now {datetime.now(UTC):%H:%M:%S}; quiet {quiet.quiet_start}–{quiet.quiet_end}; "
                    f"deliveries {rows}; emails {subjects}; cluster log:\n{log.read_text()[-3000:]}"
                ) from None
    finally:
        smtp.stop()

    events = list(AlertEvent.objects.filter(notify=True).order_by("minute"))
    minutes = [e.minute for e in events]
    assert minutes and all(START + 10 * MINUTE <= m <= LAST for m in minutes), minutes  # 14:40–15:05
    direct = [m for m in smtp.received() if m["To"] == "alice@example.org"]
    assert len(direct) == len(events)
    assert all("σ" in m["Subject"] for m in direct)
    digests = [m for m in smtp.received() if m["Subject"].strip().startswith("Digest:")]
    assert len(digests) == 1, log.read_text()[-3000:]
    assert digests[0]["To"] == "alice.nights@example.org"
    body = digests[0].get_body(("plain",)).get_content()
    held = Delivery.objects.filter(channel=quiet, purpose="alert")
    # Nothing dropped: every alert reached the quiet channel, in the digest or (after the quiet
    # hours ended, if the replay outlasted them) on its own.
    assert held.count() == len(events)
    assert held.filter(status="digested").count() >= 1
    assert set(held.values_list("status", flat=True)) <= {"digested", "sent"}
    for delivery in held.filter(status="digested"):
        assert delivery.event.minute.strftime("%Y-%m-%d %H:%M") in body
    assert Delivery.objects.get(purpose="digest").status == "sent"
