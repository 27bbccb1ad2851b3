"""Channels: queued verification emails and their status, the hourly cap, Apprise URLs (validated by
Apprise, masked after creation, delivered through the guard to a loopback receiver)."""

from __future__ import annotations

import ipaddress
from datetime import UTC, datetime, timedelta

import pytest
from rest_framework.test import APIClient

from alerts.deliveries import deliveries_send
from alerts.models import AlertEvent, Delivery, NotificationChannel
from tests.alerts.helpers import channel_send, minute
from tests.alerts.receiver import receiver_running

pytestmark = pytest.mark.django_db
CHANNELS = "/api/v1/alerts/channels/"
SLACK = "slack://T1JJ3T3L2/A1BRTD4JD/TIiajkdnlazkcOXrIdevi7FQ"
NOW = minute(2)


@pytest.fixture
def api(alice) -> APIClient:
    client = APIClient()
    client.force_authenticate(alice)
    return client


def allow(settings, *networks: str) -> None:
    settings.ALERTS_OUTBOUND_ALLOWED_NETWORKS = [ipaddress.ip_network(n) for n in networks]


# --- verification through the queue ------------------------------------------------------


def test_another_address_gets_a_pending_verification_delivery_not_an_email_in_the_request(api, mailoutbox):
    response = api.post(CHANNELS, {"kind": "email", "target": "desk@example.org"}, format="json")

    assert response.status_code == 201
    assert (response.json()["verified"], response.json()["verification"]) == (False, "pending")
    (delivery,) = Delivery.objects.all()
    assert (delivery.purpose, delivery.status, delivery.target) == (
        "verification",
        "pending",
        "desk@example.org",
    )
    assert mailoutbox == []


def test_the_worker_sends_the_verification_email_and_the_channel_shows_sent(api, mailoutbox):
    api.post(CHANNELS, {"kind": "email", "target": "desk@example.org"}, format="json")

    deliveries_send(delivery_ids=Delivery.objects.values_list("pk", flat=True))

    (mail,) = mailoutbox
    assert mail.to == ["desk@example.org"]
    assert "/api/v1/alerts/channels/verify/?token=" in mail.body
    assert api.get(CHANNELS).json()["results"][0]["verification"] == "sent"


def test_a_verification_email_refused_for_good_shows_failed(api, settings, monkeypatch):
    api.post(CHANNELS, {"kind": "email", "target": "desk@example.org"}, format="json")
    settings.EMAIL_BACKEND = "tests.alerts.test_channels.RefusingBackend"

    deliveries_send(delivery_ids=Delivery.objects.values_list("pk", flat=True))

    assert Delivery.objects.get().status == "failed"
    assert api.get(CHANNELS).json()["results"][0]["verification"] == "failed"


class RefusingBackend:
    """An email backend whose server refuses every recipient (as smtplib reports it)."""

    def __init__(self, *args, **kwargs) -> None:
        pass

    def send_messages(self, messages):
        import smtplib

        raise smtplib.SMTPRecipientsRefused({"desk@example.org": (550, b"no such user")})


def test_the_hourly_cap_on_unverified_channels_is_a_429(api, settings):
    settings.ALERTS_UNVERIFIED_CHANNELS_PER_HOUR = 2
    for n in range(2):
        assert (
            api.post(CHANNELS, {"kind": "email", "target": f"d{n}@example.org"}, format="json").status_code
            == 201
        )

    response = api.post(CHANNELS, {"kind": "email", "target": "d3@example.org"}, format="json")

    assert response.status_code == 429
    assert response.json()["error"]["code"] == "throttled"
    assert int(response["Retry-After"]) > 0
    assert NotificationChannel.objects.count() == 2


def test_deleting_channels_does_not_reset_the_cap(api, settings):
    settings.ALERTS_UNVERIFIED_CHANNELS_PER_HOUR = 1
    created = api.post(CHANNELS, {"kind": "email", "target": "d1@example.org"}, format="json").json()
    api.delete(f"{CHANNELS}{created['id']}/")

    response = api.post(CHANNELS, {"kind": "email", "target": "d1@example.org"}, format="json")

    assert response.status_code == 429


def test_the_cap_counts_only_the_last_hour(alice, settings):
    from alerts import services

    settings.ALERTS_UNVERIFIED_CHANNELS_PER_HOUR = 1
    t0 = datetime(2030, 1, 1, 12, tzinfo=UTC)
    services.channel_create(owner=alice, kind="email", target="d1@example.org", now=t0)
    Delivery.objects.update(created_at=t0)

    channel = services.channel_create(
        owner=alice, kind="email", target="d2@example.org", now=t0 + timedelta(minutes=61)
    )

    assert channel.verification_status == "pending"


def test_own_address_and_webhooks_need_no_verification_and_no_cap(api, settings):
    settings.ALERTS_UNVERIFIED_CHANNELS_PER_HOUR = 0
    own = api.post(CHANNELS, {"kind": "email", "target": "alice@example.org"}, format="json")
    slack = api.post(CHANNELS, {"kind": "apprise", "target": SLACK}, format="json")

    assert (own.status_code, own.json()["verification"]) == (201, "verified")
    assert (slack.status_code, slack.json()["verification"]) == (201, "not_needed")
    assert not Delivery.objects.exists()


def test_webhook_and_apprise_channels_report_that_they_need_no_verification(api, resolve_to):
    resolve_to({"hooks.example.org": "93.184.215.14"})
    api.post(CHANNELS, {"kind": "apprise", "target": SLACK}, format="json")
    api.post(CHANNELS, {"kind": "webhook", "target": "https://hooks.example.org/x"}, format="json")

    listed = api.get(CHANNELS).json()

    rows = listed["results"] if isinstance(listed, dict) else listed
    assert [(c["kind"], c["verified"], c["verification"]) for c in rows] == [
        ("apprise", True, "not_needed"),
        ("webhook", True, "not_needed"),
    ]


def test_a_failed_verification_can_be_resent(api):
    created = api.post(CHANNELS, {"kind": "email", "target": "desk@example.org"}, format="json").json()
    Delivery.objects.update(status="failed")

    response = api.post(f"{CHANNELS}{created['id']}/verification/")

    assert response.status_code == 202
    assert Delivery.objects.filter(status="pending", purpose="verification").count() == 1


# --- Apprise URLs ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        SLACK,
        "discord://4174216298/JHMHI8qBe7bk2ZwO5U711o3dV_js",
        "tgram://123456789:abcdefg_hijklmnop/12315544/",
        "pover://uQiRzpo4DXghDmr9QzzfQu27cmVRsG@azGDORePK8gMaC0QOYAMyEEuzJnyUi",
        "pagerduty://myroutekey@myapikey",
        "opsgenie://apikey/@user",
        "ntfy://btc-alerts",
    ],
)
def test_apprise_urls_of_hosted_services_are_accepted(api, url):
    response = api.post(CHANNELS, {"kind": "apprise", "target": url}, format="json")

    assert response.status_code == 201, response.json()


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("slack://", "Apprise cannot use this slack:// URL"),
        ("discord://only-one-part", "Apprise cannot use this discord:// URL"),
        ("tgram://not-a-bot-token", "Apprise cannot use this tgram:// URL"),
        ("nonsense://x", "unsupported Apprise service 'nonsense'"),
        ("syslog://", "unsupported Apprise service 'syslog'"),
        ("mailto://user:pw@example.org", "unsupported Apprise service 'mailto'"),
        ("https://hooks.slack.com/x", "unsupported Apprise service 'https'"),
    ],
)
def test_an_apprise_url_apprise_cannot_use_is_a_400_naming_target(api, url, why):
    response = api.post(CHANNELS, {"kind": "apprise", "target": url}, format="json")

    assert response.status_code == 400
    assert list(response.json()["error"]["fields"]) == ["target"]
    assert why in response.json()["error"]["fields"]["target"][0]


@pytest.mark.parametrize(
    ("scheme", "path"),
    [
        ("json", "/alerts"),
        ("xml", "/alerts"),
        ("form", "/alerts"),
        ("ntfy", "/btc-alerts"),
        ("gotify", "/AbCdEfGhIjKlMnO"),
        ("apprise", "/abc"),
        ("mmost", "/abcdefghijklmnopqrstuvwxyz"),
        ("workflow", "/workflowid/signature"),
    ],
)
def test_a_self_hosted_apprise_service_on_an_internal_address_is_a_400(api, receiver, scheme, path):
    url = f"{scheme}://127.0.0.1:{receiver.port}{path}"

    response = api.post(CHANNELS, {"kind": "apprise", "target": url}, format="json")

    assert response.status_code == 400
    assert "127.0.0.1 is a loopback address" in response.json()["error"]["fields"]["target"][0]
    assert not receiver.called


def test_an_apprise_target_is_masked_after_creation_in_every_answer(api, make_rule, alice):
    created = api.post(CHANNELS, {"kind": "apprise", "target": SLACK}, format="json").json()
    channel = NotificationChannel.objects.get(kind="apprise")
    event = AlertEvent.objects.create(
        rule=make_rule(channels=[channel]),
        minute=minute(1),
        old_state="normal",
        new_state="firing",
        message="m",
    )
    Delivery.objects.create(event=event, channel=channel, kind="apprise", target=SLACK)

    answers = [created, api.get(CHANNELS).json(), api.get(f"{CHANNELS}{channel.pk}/").json()]
    answers.append(api.get("/api/v1/alerts/events/").json())

    assert created["target"].startswith("slack://T...2/")
    for answer in answers:
        assert "TIiajkdnlazkcOXrIdevi7FQ" not in str(answer)


def test_the_admin_shows_an_apprise_target_masked(client, alice):
    from django.contrib.auth import get_user_model

    channel = NotificationChannel.objects.create(owner=alice, kind="apprise", target=SLACK, verified=True)
    client.force_login(get_user_model().objects.create_superuser("root", "root@example.org", "pw-root-123"))

    pages = [
        client.get("/admin/alerts/notificationchannel/"),
        client.get(f"/admin/alerts/notificationchannel/{channel.pk}/change/"),
    ]

    for page in pages:
        assert page.status_code == 200
        assert "slack://T...2/" in page.content.decode()
        assert "TIiajkdnlazkcOXrIdevi7FQ" not in page.content.decode()


# --- Apprise deliveries to a loopback receiver --------------------------------------------------


def apprise_send(event: AlertEvent, url: str) -> Delivery:
    return channel_send(event, kind="apprise", url=url, now=NOW)


def test_apprise_json_to_an_allowed_self_hosted_endpoint_is_delivered(event, receiver, settings, resolve_to):
    allow(settings, "127.0.0.1/32")
    resolve_to({"hooks.lan": "127.0.0.1"})

    delivery = apprise_send(event, f"json://hooks.lan:{receiver.port}/alerts")

    assert delivery.status == "sent"
    (call,) = receiver.calls
    assert (call.method, call.path, call.headers["Host"]) == ("POST", "/alerts", f"hooks.lan:{receiver.port}")
    assert call.json()["title"] == "BTC/USD crossed above 70,000 USD — now 70,112.5 USD · BTC over 70k"
    assert "http://127.0.0.1:8000/pairs/BTCUSD/" in call.json()["message"]
    assert delivery.log[-1]["status"] == 200


def test_apprise_ntfy_to_an_allowed_self_hosted_server_is_delivered(event, receiver, settings):
    allow(settings, "127.0.0.1/32")

    delivery = apprise_send(event, f"ntfy://127.0.0.1:{receiver.port}/btc-alerts")

    assert delivery.status == "sent"
    (call,) = receiver.calls
    assert call.method == "POST"
    assert "BTC/USD crossed above 70,000 USD" in call.body.decode()


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "2130706433", "0x7f000001", "0.0.0.0"])
def test_apprise_to_an_internal_address_fails_for_good_and_never_connects(event, receiver, host):
    delivery = apprise_send(event, f"json://{host}:{receiver.port}/alerts")

    assert delivery.status == "failed"
    assert "refused" in delivery.last_error
    assert not receiver.called


def test_apprise_never_follows_a_redirect_to_a_forbidden_host(event, receiver, settings):
    allow(settings, "127.0.0.1/32")
    with receiver_running("::1") as forbidden:
        receiver.status, receiver.headers = 307, {"Location": f"{forbidden.url}/metrics"}

        delivery = apprise_send(event, f"json://127.0.0.1:{receiver.port}/alerts")

        assert delivery.status == "failed"
        assert delivery.last_error == "apprise json answered HTTP 307 (redirects are not followed)"
        assert len(receiver.calls) == 1
        assert not forbidden.called


def test_apprise_errors_show_no_answer_body(event, receiver, settings):
    allow(settings, "127.0.0.1/32")
    receiver.status, receiver.body = 503, b"secret-internal-body"

    delivery = apprise_send(event, f"json://127.0.0.1:{receiver.port}/alerts")

    assert delivery.status == "retrying"
    assert delivery.last_error == "apprise json answered HTTP 503"
    assert "secret-internal-body" not in str(delivery.log)


def test_the_channels_page_shows_an_apprise_target_masked_and_the_verification_state(client, alice):
    NotificationChannel.objects.create(owner=alice, kind="apprise", target=SLACK, verified=True)
    NotificationChannel.objects.create(
        owner=alice, kind="email", target="ops@example.org", verification_status="failed"
    )
    client.force_login(alice)

    page = client.get("/alerts/channels/").content.decode()

    assert "slack://T...2/" in page and "TIiajkdnlazkcOXrIdevi7FQ" not in page
    assert "verification email failed" in page


def test_a_generic_json_targets_path_is_masked_too():
    from alerts.notifications import target_masked

    masked = target_masked("apprise", "jsons://user:pw@hooks.example.org/hook/s3cr3t-path")

    assert masked == "jsons://user:****@hooks.example.org/…"
