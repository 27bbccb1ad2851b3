"""Delivery of events: rendered emails and webhooks, claims, failures, retries with backoff."""

from __future__ import annotations

import ipaddress
import socket
from datetime import timedelta

import pytest

from alerts.deliveries import deliveries_due, deliveries_retry, delivery_send, retry_delay
from alerts.models import AlertEvent, Delivery, NotificationChannel
from alerts.notifications import message_render
from tests.alerts.helpers import minute

pytestmark = pytest.mark.django_db
NOW = minute(2)


def delivery_for(event: AlertEvent, channel: NotificationChannel, **fields) -> Delivery:
    values = {"kind": channel.kind, "target": channel.target, "next_attempt_at": NOW}
    values.update(fields)
    return Delivery.objects.create(event=event, channel=channel, **values)


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def smtp_down(settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST = "127.0.0.1"
    settings.EMAIL_PORT = closed_port()
    settings.EMAIL_TIMEOUT = 2


# --- email ------------------------------------------------------------------------------


def test_an_email_names_rule_pair_condition_values_and_minute(event, alice_email, mailoutbox):
    delivery = delivery_for(event, alice_email)

    status = delivery_send(delivery_id=delivery.pk, now=NOW)

    assert status == "sent"
    (mail,) = mailoutbox
    assert mail.to == ["alice@example.org"]
    assert mail.from_email == "alerts@cryptotracker.test"
    assert mail.subject == "BTC/USD crossed above 70,000 USD — now 70,112.5 USD · BTC over 70k"
    assert "Observed value:  70,112.5 USD" in mail.body
    assert "Reference value: 70,000 USD" in mail.body
    assert "Minute:          2024-01-01 12:01 UTC" in mail.body
    assert "BTCUSD last price 70112.5 crossed above 70000" in mail.body


def test_an_email_links_to_the_pair_dashboard_and_the_rules_page(event, alice_email, mailoutbox):
    delivery_send(delivery_id=delivery_for(event, alice_email).pk, now=NOW)

    (mail,) = mailoutbox
    rule_url = f"http://127.0.0.1:8000/alerts/{event.rule_id}/"
    assert "http://127.0.0.1:8000/pairs/BTCUSD/" in mail.body
    assert rule_url in mail.body
    assert "/admin/" not in mail.body
    html, mimetype = mail.alternatives[0]
    assert mimetype == "text/html"
    assert f'href="{rule_url}"' in html
    assert "70,112.5 USD" in html


def test_a_sent_delivery_records_attempt_and_time(event, alice_email, mailoutbox):
    delivery = delivery_for(event, alice_email)

    delivery_send(delivery_id=delivery.pk, now=NOW)

    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, delivery.sent_at, delivery.next_attempt_at) == (
        "sent",
        1,
        NOW,
        None,
    )
    assert delivery.log == [{"at": "2024-01-01T12:02:00Z", "error": None}]


def test_a_delivery_is_sent_once_however_often_it_is_sent(event, alice_email, mailoutbox):
    delivery = delivery_for(event, alice_email)

    first = delivery_send(delivery_id=delivery.pk, now=NOW)
    second = delivery_send(delivery_id=delivery.pk, now=NOW)

    assert (first, second) == ("sent", "not_due")
    assert len(mailoutbox) == 1


def test_a_delivery_claimed_by_another_sender_is_left_alone(event, alice_email, mailoutbox):
    delivery = delivery_for(event, alice_email, status="sending", next_attempt_at=NOW + timedelta(minutes=5))

    assert delivery_send(delivery_id=delivery.pk, now=NOW) == "not_due"
    assert mailoutbox == []


def test_a_sender_that_died_is_replaced_after_its_lease(event, alice_email, mailoutbox):
    delivery = delivery_for(event, alice_email, status="sending", attempts=1, next_attempt_at=NOW)

    assert deliveries_due(now=NOW) == [delivery.pk]
    assert delivery_send(delivery_id=delivery.pk, now=NOW) == "sent"
    assert len(mailoutbox) == 1


def test_smtp_down_records_the_error_and_schedules_a_retry(event, alice_email, smtp_down):
    delivery = delivery_for(event, alice_email)

    status = delivery_send(delivery_id=delivery.pk, now=NOW)

    delivery.refresh_from_db()
    assert status == "retrying"
    assert (delivery.attempts, delivery.next_attempt_at) == (1, NOW + timedelta(seconds=60))
    assert "ConnectionRefusedError" in delivery.last_error
    assert delivery.log[0]["error"] == delivery.last_error


def test_the_retry_log_line_gives_the_retry_time_in_utc_with_z(event, alice_email, smtp_down, caplog):
    delivery = delivery_for(event, alice_email)

    delivery_send(delivery_id=delivery.pk, now=NOW)

    retry_at = NOW + timedelta(seconds=60)
    assert f"retry at {retry_at:%Y-%m-%dT%H:%M:%S}Z:" in caplog.text
    assert "+00:00" not in caplog.text


def test_a_retry_is_not_due_before_its_backoff(event, alice_email, smtp_down):
    delivery = delivery_for(event, alice_email)
    delivery_send(delivery_id=delivery.pk, now=NOW)

    assert deliveries_due(now=NOW + timedelta(seconds=59)) == []
    assert deliveries_due(now=NOW + timedelta(seconds=60)) == [delivery.pk]


def test_backoff_doubles_up_to_its_cap(settings):
    settings.ALERTS_DELIVERY_BACKOFF_S = 60
    settings.ALERTS_DELIVERY_BACKOFF_MAX_S = 300

    assert [retry_delay(n).total_seconds() for n in range(1, 6)] == [60, 120, 240, 300, 300]


def test_a_delivery_fails_for_good_after_the_attempt_limit(event, alice_email, smtp_down, settings):
    settings.ALERTS_DELIVERY_MAX_ATTEMPTS = 3
    delivery = delivery_for(event, alice_email)
    at = NOW
    statuses = []
    for _ in range(3):
        statuses.append(delivery_send(delivery_id=delivery.pk, now=at))
        at += timedelta(hours=2)

    delivery.refresh_from_db()
    assert statuses == ["retrying", "retrying", "failed"]
    assert (delivery.attempts, delivery.next_attempt_at, len(delivery.log)) == (3, None, 3)


def test_nothing_is_lost_while_smtp_is_down(event, alice_email, smtp_down, settings, mailoutbox):
    delivery = delivery_for(event, alice_email)
    delivery_send(delivery_id=delivery.pk, now=NOW)
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"

    status = delivery_send(delivery_id=delivery.pk, now=NOW + timedelta(minutes=1))

    delivery.refresh_from_db()
    assert status == "sent"
    assert delivery.attempts == 2
    assert [entry["error"] is None for entry in delivery.log] == [False, True]
    assert len(mailoutbox) == 1


def test_failed_deliveries_can_be_retried_by_hand(event, alice_email):
    delivery = delivery_for(event, alice_email, status="failed", attempts=5, next_attempt_at=None)

    deliveries_retry(delivery_ids=[delivery.pk], now=NOW)

    assert deliveries_due(now=NOW) == [delivery.pk]


# --- webhooks (the guard's own tests: test_outbound.py) -----------------------------------


@pytest.fixture
def hook(alice, receiver, resolve_to, settings) -> NotificationChannel:
    """A webhook on a name that resolves to the loopback receiver, its network allowed."""
    settings.ALERTS_OUTBOUND_ALLOWED_NETWORKS = [ipaddress.ip_network("127.0.0.1/32")]
    resolve_to({"hooks.example.org": "127.0.0.1"})
    return NotificationChannel.objects.create(
        owner=alice,
        kind="webhook",
        target=f"http://hooks.example.org:{receiver.port}/services/T0",
        verified=True,
    )


def test_a_webhook_gets_slack_compatible_text_and_structured_fields(event, hook, receiver):
    status = delivery_send(delivery_id=delivery_for(event, hook).pk, now=NOW)

    assert status == "sent"
    body = receiver.calls[0].json()
    assert body["text"].startswith("BTC/USD crossed above 70,000 USD — now 70,112.5 USD · BTC over 70k")
    assert body["title"] == "BTC/USD crossed above 70,000 USD — now 70,112.5 USD"
    assert body["rule"]["pair"] == "BTCUSD"
    assert body["event"] == {
        "id": event.pk,
        "minute": "2024-01-01T12:01:00Z",
        "old_state": "normal",
        "new_state": "firing",
        "observed_value": "70112.5",
        "reference_value": "70000",
        "message": event.message,
    }
    assert receiver.calls[0].headers["Content-Type"] == "application/json"


def test_a_webhook_answering_4xx_fails_without_retry(event, hook, receiver):
    receiver.status, receiver.body = 404, b"no such hook"
    delivery = delivery_for(event, hook)

    status = delivery_send(delivery_id=delivery.pk, now=NOW)

    delivery.refresh_from_db()
    assert status == "failed"
    assert delivery.last_error == "webhook answered HTTP 404"


def test_a_webhook_5xx_is_retried(event, hook, receiver):
    receiver.status = 503
    delivery = delivery_for(event, hook)

    status = delivery_send(delivery_id=delivery.pk, now=NOW)

    assert status == "retrying"


def test_a_webhook_timeout_comes_from_settings_and_is_retried(event, hook, receiver, settings):
    settings.ALERTS_WEBHOOK_TIMEOUT_S = 0.2
    receiver.delay_s = 1.0
    delivery = delivery_for(event, hook)

    status = delivery_send(delivery_id=delivery.pk, now=NOW)

    delivery.refresh_from_db()
    assert status == "retrying"
    assert delivery.last_error == "webhook timed out (ReadTimeout)"


def test_the_message_of_a_no_data_event_says_so(event):
    event.new_state = "no_data"

    message = message_render(event)

    assert message.subject.startswith("BTC/USD has no fresh prices")
    assert message.level == "failure"
