"""Quiet hours per channel: held deliveries, one digest per channel when they end, never dropped."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from decimal import Decimal

import pytest
from rest_framework.test import APIClient

from alerts.deliveries import deliveries_send, digests_create
from alerts.evaluation import alert_rules_evaluate
from alerts.models import AlertEvent, Delivery, NotificationChannel
from alerts.quiet_hours import quiet_hours_errors, quiet_until
from tests.alerts.helpers import T0, minute

NIGHT = {"start": time(22, 0), "end": time(7, 0), "timezone": "Europe/Paris"}


# --- the pure range ----------------------------------------------------------------------


def test_a_moment_inside_wrapping_quiet_hours_ends_at_the_next_local_end():
    # 23:30 UTC on 2024-01-01 is 00:30 in Paris (UTC+1 in winter): quiet until 07:00 Paris.
    end = quiet_until(now=datetime(2024, 1, 1, 23, 30, tzinfo=UTC), **NIGHT)

    assert end == datetime(2024, 1, 2, 6, 0, tzinfo=UTC)


def test_the_evening_part_of_wrapping_quiet_hours_ends_the_next_morning():
    end = quiet_until(now=datetime(2024, 1, 1, 21, 30, tzinfo=UTC), **NIGHT)  # 22:30 Paris

    assert end == datetime(2024, 1, 2, 6, 0, tzinfo=UTC)


def test_summer_time_moves_the_end_in_utc():
    end = quiet_until(now=datetime(2024, 7, 1, 1, 0, tzinfo=UTC), **NIGHT)  # 03:00 Paris, UTC+2

    assert end == datetime(2024, 7, 1, 5, 0, tzinfo=UTC)


@pytest.mark.parametrize("hour", [6, 12, 20])  # 07:00, 13:00, 21:00 Paris
def test_outside_quiet_hours_nothing_is_held(hour):
    assert quiet_until(now=datetime(2024, 1, 1, hour, 0, tzinfo=UTC), **NIGHT) is None


def test_a_daytime_range_is_half_open():
    lunch = {"start": time(12, 0), "end": time(13, 0), "timezone": "UTC"}

    assert quiet_until(now=datetime(2024, 1, 1, 12, 0, tzinfo=UTC), **lunch) == datetime(
        2024, 1, 1, 13, 0, tzinfo=UTC
    )
    assert quiet_until(now=datetime(2024, 1, 1, 13, 0, tzinfo=UTC), **lunch) is None


@pytest.mark.parametrize(
    ("start", "end", "timezone", "field"),
    [
        (time(22, 0), None, "UTC", "quiet_end"),
        (None, time(7, 0), "UTC", "quiet_start"),
        (time(7, 0), time(7, 0), "UTC", "quiet_end"),
        (time(22, 0), time(7, 0), "Mars/Olympus", "quiet_timezone"),
        (time(22, 0), time(7, 0), "Europe", "quiet_timezone"),  # a folder of the zone database
    ],
)
def test_bad_quiet_hours_name_their_field(start, end, timezone, field):
    assert list(quiet_hours_errors(start=start, end=end, timezone=timezone)) == [field]


# --- evaluation holds, the digest gathers ------------------------------------------------------


@pytest.fixture
def quiet_channel(alice) -> NotificationChannel:
    """Alice's second (verified) email address, quiet 11:00–13:00 UTC (T0 is 12:00 UTC)."""
    return NotificationChannel.objects.create(
        owner=alice,
        kind="email",
        target="alice.nights@example.org",
        verified=True,
        quiet_start=time(11, 0),
        quiet_end=time(13, 0),
        quiet_timezone="UTC",
    )


def _fire_two_rules(make_rule, seed, channel):
    make_rule(name="BTC above 100", channels=[channel])
    make_rule(name="BTC above 99", threshold=Decimal("99"), channels=[channel])
    repo = seed("BTCUSD", [101])
    alert_rules_evaluate(minute=T0, now=T0 + timedelta(seconds=30), repo=repo, enqueue=lambda ids: None)


@pytest.mark.django_db
def test_an_alert_in_quiet_hours_is_held_until_they_end(make_rule, seed, quiet_channel):
    _fire_two_rules(make_rule, seed, quiet_channel)

    held = list(Delivery.objects.values_list("status", "next_attempt_at"))
    assert held == [("held", datetime(2024, 1, 1, 13, 0, tzinfo=UTC))] * 2


@pytest.mark.django_db
def test_an_alert_outside_quiet_hours_is_sent_at_once(make_rule, seed, quiet_channel):
    quiet_channel.quiet_start, quiet_channel.quiet_end = time(1, 0), time(2, 0)
    quiet_channel.save()

    _fire_two_rules(make_rule, seed, quiet_channel)

    assert set(Delivery.objects.values_list("status", flat=True)) == {"pending"}


@pytest.mark.django_db
def test_no_digest_before_the_quiet_hours_end(make_rule, seed, quiet_channel):
    _fire_two_rules(make_rule, seed, quiet_channel)

    assert digests_create(now=datetime(2024, 1, 1, 12, 59, tzinfo=UTC)) == []
    assert set(Delivery.objects.values_list("status", flat=True)) == {"held"}


@pytest.mark.django_db
def test_when_quiet_hours_end_one_digest_carries_every_held_alert(make_rule, seed, quiet_channel, mailoutbox):
    _fire_two_rules(make_rule, seed, quiet_channel)
    end = datetime(2024, 1, 1, 13, 0, tzinfo=UTC)

    digests = digests_create(now=end)
    outcomes = deliveries_send(delivery_ids=digests, now=end)

    assert outcomes == {"sent": 1}
    digest = Delivery.objects.get(purpose="digest")
    assert sorted(digest.digested.values_list("event__rule__name", flat=True)) == [
        "BTC above 100",
        "BTC above 99",
    ]
    assert set(digest.digested.values_list("status", flat=True)) == {"digested"}
    assert len(mailoutbox) == 1
    email = mailoutbox[0]
    assert email.to == ["alice.nights@example.org"]
    assert email.subject == "Digest: 2 alerts during quiet hours (11:00–13:00 UTC)"
    assert "BTC above 100" in email.body and "BTC above 99" in email.body


@pytest.mark.django_db
def test_held_alerts_go_into_one_digest_however_often_digests_are_gathered(make_rule, seed, quiet_channel):
    _fire_two_rules(make_rule, seed, quiet_channel)
    end = datetime(2024, 1, 1, 13, 0, tzinfo=UTC)

    first = digests_create(now=end)
    second = digests_create(now=end + timedelta(minutes=1))

    assert len(first) == 1 and second == []
    assert Delivery.objects.filter(purpose="digest").count() == 1


@pytest.mark.django_db
def test_a_failed_digest_is_retried_like_any_delivery(make_rule, seed, quiet_channel, settings):
    settings.EMAIL_BACKEND = "tests.alerts.test_quiet_hours.RefusingBackend"
    _fire_two_rules(make_rule, seed, quiet_channel)
    end = datetime(2024, 1, 1, 13, 0, tzinfo=UTC)

    outcomes = deliveries_send(delivery_ids=digests_create(now=end), now=end)

    digest = Delivery.objects.get(purpose="digest")
    assert outcomes == {"retrying": 1}
    assert digest.next_attempt_at > end
    assert digest.digested.count() == 2  # still gathered: nothing is dropped


class RefusingBackend:
    """An email backend whose server refuses the connection."""

    def __init__(self, *args, **kwargs) -> None:
        pass

    def send_messages(self, messages):
        raise ConnectionRefusedError("refused")


@pytest.mark.django_db
def test_a_webhook_digest_lists_each_alert_payload(alice):
    from alerts.notifications import digest_render

    channel = NotificationChannel(
        owner=alice, kind="webhook", target="https://hooks.example.org/x", quiet_start=time(22, 0),
        quiet_end=time(7, 0), quiet_timezone="Europe/Paris",
    )  # fmt: skip
    from alerts.models import AlertRule

    rule = AlertRule(
        pk=7, owner=alice, name="r", pair="BTCUSD", condition="price_above", threshold=Decimal(1)
    )
    events = [
        AlertEvent(rule=rule, minute=minute(i), old_state="normal", new_state="firing", message=f"m{i}")
        for i in range(3)
    ]

    message = digest_render(channel, events)

    assert message.payload["digest"] == {"quiet_hours": "22:00–07:00 Europe/Paris", "count": 3}
    assert [alert["event"]["message"] for alert in message.payload["alerts"]] == ["m0", "m1", "m2"]
    assert message.level == "warning"


# --- the API -----------------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_api_sets_and_shows_quiet_hours(alice):
    client = APIClient()
    client.force_authenticate(alice)

    created = client.post(
        "/api/v1/alerts/channels/",
        {"kind": "email", "target": "alice@example.org", "quiet_start": "22:00", "quiet_end": "07:00",
         "quiet_timezone": "Europe/Paris"},
        format="json",
    )  # fmt: skip
    refused = client.patch(
        f"/api/v1/alerts/channels/{created.json()['id']}/", {"quiet_timezone": "Nowhere/City"}, format="json"
    )

    assert created.status_code == 201, created.json()
    assert (created.json()["quiet_start"], created.json()["quiet_end"]) == ("22:00", "07:00")
    assert created.json()["quiet_timezone"] == "Europe/Paris"
    assert refused.status_code == 400
    assert list(refused.json()["error"]["fields"]) == ["quiet_timezone"]


@pytest.mark.django_db
def test_the_admin_channel_form_checks_quiet_hours_like_the_api(alice):
    from alerts.admin import NotificationChannelForm

    form = NotificationChannelForm(
        data={"owner": alice.pk, "kind": "email", "target": "a@example.org", "quiet_start": "22:00",
              "quiet_timezone": "UTC"}
    )  # fmt: skip

    assert not form.is_valid()
    assert "quiet_end" in form.errors
