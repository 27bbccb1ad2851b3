"""Tasks, schedules, the ticks_stored receiver and the management commands."""

from __future__ import annotations

from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import call_command
from django_q.models import Schedule

from alerts import tasks
from alerts.models import AlertEvent, Delivery
from prices.services import history_store
from tests.alerts.helpers import minute, ticks

pytestmark = pytest.mark.django_db


def test_ensure_schedules_installs_the_alert_schedules_once():
    call_command("ensure_schedules", stdout=StringIO())
    call_command("ensure_schedules", stdout=StringIO())

    names = list(
        Schedule.objects.filter(name__startswith="alerts.").values_list("name", flat=True).order_by("name")
    )
    assert names == ["alerts.tasks.evaluate_alert_rules", "alerts.tasks.retry_due_deliveries"]


def test_the_evaluate_task_evaluates_the_given_minute(make_rule, configured_repo):
    make_rule()

    line = tasks.evaluate_alert_rules(minute(1).isoformat())

    assert line.startswith("minute 2024-01-01T12:01Z: evaluated, 1 rules")
    assert AlertEvent.objects.get().minute == minute(1)


def test_the_safety_net_evaluates_the_latest_complete_minute(make_rule, configured_repo, time_machine):
    make_rule()
    time_machine.move_to(minute(3).replace(second=5))  # the latest complete minute is 2, which is stored

    line = tasks.evaluate_alert_rules()

    assert line.startswith("minute 2024-01-01T12:02Z: evaluated")
    assert AlertEvent.objects.get().minute == minute(2)


def test_the_safety_net_leaves_a_minute_whose_ticks_may_still_arrive(
    make_rule, configured_repo, time_machine
):
    make_rule()
    time_machine.move_to(minute(4).replace(second=30))  # minute 3 has no ticks; minute 2 is past its grace

    line = tasks.evaluate_alert_rules()

    assert line.startswith("minute 2024-01-01T12:02Z: evaluated")


def test_when_ingestion_stops_the_safety_net_moves_rules_to_no_data(make_rule, configured_repo, time_machine):
    make_rule()
    time_machine.move_to(minute(12).replace(second=30))  # minute 10 is just past its grace; last tick at 2

    tasks.evaluate_alert_rules()

    event = AlertEvent.objects.get()
    assert (event.minute, event.new_state) == (minute(10), "no_data")


def test_storing_ticks_enqueues_the_evaluation_of_the_newest_minute(
    make_rule, configured_repo, alerts_receiver, mailoutbox, django_capture_on_commit_callbacks
):
    make_rule(threshold=Decimal("200"))

    with django_capture_on_commit_callbacks(execute=True):
        history_store(ticks=ticks("BTCUSD", [199, 201, 202], start=minute(3)), repo=configured_repo)

    event = AlertEvent.objects.get()
    assert (event.minute, event.new_state, event.observed_value) == (minute(5), "firing", Decimal("202"))
    assert Delivery.objects.get().status == "sent"
    assert len(mailoutbox) == 1


def test_the_retry_task_sends_due_deliveries(make_rule, alice_email, mailoutbox):
    event = AlertEvent.objects.create(
        rule=make_rule(), minute=minute(0), old_state="normal", new_state="firing"
    )
    Delivery.objects.create(
        event=event, channel=alice_email, kind="email", target=alice_email.target, status="retrying",
        next_attempt_at=minute(0),
    )  # fmt: skip

    assert tasks.retry_due_deliveries() == "sent 1"
    assert len(mailoutbox) == 1


def test_the_evaluate_command_prints_its_summary(
    make_rule, configured_repo, django_capture_on_commit_callbacks
):
    make_rule()
    out = StringIO()

    with django_capture_on_commit_callbacks(execute=True):
        call_command("evaluate_alert_rules", "--minute", "2024-01-01T12:01:00Z", "--send-now", stdout=out)

    assert "1 events, 1 deliveries" in out.getvalue()
    assert Delivery.objects.get().status == "sent"


def test_the_safety_net_s_fallback_minute_is_not_judged_by_a_rule_created_after_it(
    make_rule, configured_repo, time_machine
):
    make_rule(created_at=minute(3).replace(second=10))
    time_machine.move_to(minute(4).replace(second=30))  # minute 3 has no ticks: falls back to minute 2

    line = tasks.evaluate_alert_rules()

    assert line.startswith("minute 2024-01-01T12:02Z: idle")
    assert not AlertEvent.objects.exists()
