"""The outbound guard: every refused destination is proven against a real loopback receiver."""

from __future__ import annotations

import ipaddress

import pytest
from rest_framework.test import APIClient

from alerts import outbound
from alerts.models import AlertEvent, Delivery, NotificationChannel
from tests.alerts.helpers import channel_send, minute
from tests.alerts.receiver import receiver_running

pytestmark = pytest.mark.django_db
NOW = minute(2)
CHANNELS = "/api/v1/alerts/channels/"

# Forms that reach the receiver on 127.0.0.1 if the guard let them through.
LOOPBACK_FORMS = [
    "127.0.0.1",
    "localhost",
    "[::ffff:127.0.0.1]",
    "[::ffff:7f00:1]",
    "2130706433",
    "0x7f000001",
    "0177.0.0.1",
    "127.1",
    "0.0.0.0",
    "[::]",
]
# Forms that would reach other internal services (the receiver stands for them: it must stay unused).
INTERNAL_FORMS = [
    "169.254.169.254",
    "10.0.0.1",
    "172.16.0.1",
    "192.168.1.1",
    "100.64.0.1",
    "[fe80::1]",
    "[fc00::1]",
    "[fd12:3456::1]",
    "224.0.0.1",
    "[ff02::1]",
    "[::127.0.0.1]",
    "[2002:7f00:1::]",
    "[64:ff9b::a9fe:a9fe]",
]


@pytest.fixture
def api(alice) -> APIClient:
    client = APIClient()
    client.force_authenticate(alice)
    return client


def allow(settings, *networks: str) -> None:
    settings.ALERTS_OUTBOUND_ALLOWED_NETWORKS = [ipaddress.ip_network(n) for n in networks]


def send_to(event: AlertEvent, url: str) -> Delivery:
    return channel_send(event, kind="webhook", url=url, now=NOW)


@pytest.mark.parametrize("host", LOOPBACK_FORMS + INTERNAL_FORMS)
def test_a_webhook_to_an_internal_address_fails_for_good_and_never_connects(event, receiver, host):
    delivery = send_to(event, f"http://{host}:{receiver.port}/hook")

    assert delivery.status == "failed"
    assert delivery.attempts == 1
    assert delivery.last_error.startswith("webhook refused: ")
    assert not receiver.called


@pytest.mark.parametrize("host", LOOPBACK_FORMS + INTERNAL_FORMS)
def test_creating_a_webhook_to_an_internal_address_is_a_400_naming_target(api, receiver, host):
    response = api.post(
        CHANNELS, {"kind": "webhook", "target": f"http://{host}:{receiver.port}/"}, format="json"
    )

    assert response.status_code == 400
    assert set(response.json()["error"]["fields"]) == {"target"}
    assert not NotificationChannel.objects.exists()
    assert not receiver.called


def test_a_name_resolving_to_loopback_is_refused_at_creation(api, receiver, resolve_to):
    resolve_to({"hooks.example.org": "127.0.0.1"})

    response = api.post(
        CHANNELS, {"kind": "webhook", "target": f"http://hooks.example.org:{receiver.port}/"}, format="json"
    )

    assert response.status_code == 400
    assert "127.0.0.1 is a loopback address" in response.json()["error"]["fields"]["target"][0]


def test_a_name_that_resolves_to_loopback_after_creation_is_refused_at_send(event, receiver, resolve_to):
    resolve_to({"hooks.example.org": "93.184.215.14"})
    outbound.url_check(f"http://hooks.example.org:{receiver.port}/")  # passes at creation
    resolve_to({"hooks.example.org": "127.0.0.1"})

    delivery = send_to(event, f"http://hooks.example.org:{receiver.port}/hook")

    assert delivery.status == "failed"
    assert "hooks.example.org resolves to a refused address: 127.0.0.1" in delivery.last_error
    assert not receiver.called


def test_a_name_with_one_internal_address_among_public_ones_is_refused(monkeypatch, receiver):
    def two_addresses(host, port, *args, **kwargs):
        return [
            (2, 1, 6, "", ("93.184.215.14", port)),
            (2, 1, 6, "", ("127.0.0.1", port)),
        ]

    monkeypatch.setattr("alerts.outbound.resolve", two_addresses)

    with pytest.raises(outbound.OutboundRefusedError, match="127.0.0.1 is a loopback address"):
        outbound.url_check("https://hooks.example.org/")


def test_a_webhook_in_an_allowed_network_is_delivered_with_its_host_name(
    event, receiver, resolve_to, settings
):
    allow(settings, "127.0.0.0/8")
    resolve_to({"ntfy.lan": "127.0.0.1"})

    delivery = send_to(event, f"http://ntfy.lan:{receiver.port}/hook?x=1")

    assert delivery.status == "sent"
    assert [(c.method, c.path) for c in receiver.calls] == [("POST", "/hook?x=1")]
    assert receiver.calls[0].headers["Host"] == f"ntfy.lan:{receiver.port}"
    assert receiver.calls[0].json()["rule"]["pair"] == "BTCUSD"
    assert delivery.log[-1]["status"] == 200
    assert delivery.log[-1]["elapsed_ms"] >= 0


def test_the_allow_list_covers_only_its_own_network(event, receiver, settings):
    allow(settings, "192.168.0.0/16")

    delivery = send_to(event, f"http://127.0.0.1:{receiver.port}/hook")

    assert delivery.status == "failed"
    assert not receiver.called


def test_an_allowed_host_redirecting_to_a_forbidden_one_is_a_failed_attempt(event, receiver, settings):
    allow(settings, "127.0.0.1/32")
    with receiver_running("::1") as forbidden:
        receiver.status, receiver.headers = 307, {"Location": f"{forbidden.url}/metrics"}

        delivery = send_to(event, f"{receiver.url}/hook")

        assert delivery.status == "failed"
        assert delivery.last_error == "webhook answered HTTP 307 (redirects are not followed)"
        assert delivery.log[-1]["status"] == 307
        assert len(receiver.calls) == 1
        assert not forbidden.called


def test_an_answers_body_is_never_stored_or_shown(event, receiver, settings, api):
    allow(settings, "127.0.0.1/32")
    receiver.status, receiver.body = 500, b'{"secret": "internal-dynamodb-error-body"}'

    delivery = send_to(event, f"{receiver.url}/hook")
    events = api.get("/api/v1/alerts/events/")

    assert delivery.status == "retrying"
    assert delivery.last_error == "webhook answered HTTP 500"
    assert "internal-dynamodb" not in str(delivery.log)
    assert "internal-dynamodb" not in events.content.decode()


def test_a_webhook_answering_4xx_fails_without_retry(event, receiver, settings):
    allow(settings, "127.0.0.1/32")
    receiver.status = 404

    delivery = send_to(event, f"{receiver.url}/hook")

    assert delivery.status == "failed"
    assert delivery.log[-1]["status"] == 404


def test_a_closed_port_is_retried_with_our_own_message(event, settings):
    allow(settings, "127.0.0.1/32")
    with receiver_running() as gone:
        url = f"{gone.url}/hook"

    delivery = send_to(event, url)

    assert delivery.status == "retrying"
    assert delivery.last_error == "webhook could not connect (ConnectionError)"


@pytest.mark.parametrize(
    "url", ["ftp://example.org/x", "file:///etc/passwd", "http:///nohost", "http://exa mple.org/"]
)
def test_only_http_urls_with_a_valid_host_pass(url):
    with pytest.raises(outbound.OutboundRefusedError):
        outbound.url_check(url)


def test_other_code_resolves_freely_outside_the_guard(receiver):
    import socket

    with outbound.guarded():
        pass

    assert socket.getaddrinfo("127.0.0.1", receiver.port)[0][4][0] == "127.0.0.1"
