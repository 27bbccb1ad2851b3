"""The alerts API: authentication, per-user isolation, validation per condition, pagination, backtests."""

from __future__ import annotations

from decimal import Decimal

import pytest
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from alerts.models import AlertEvent, AlertRule, Delivery, NotificationChannel
from tests.alerts.helpers import minute

pytestmark = pytest.mark.django_db
RULES = "/api/v1/alerts/rules/"
CHANNELS = "/api/v1/alerts/channels/"
EVENTS = "/api/v1/alerts/events/"


def client_for(user) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user).key}")
    return client


@pytest.fixture
def api(alice, configured_repo) -> APIClient:
    return client_for(alice)


@pytest.fixture
def bob_api(bob, configured_repo) -> APIClient:
    return client_for(bob)


def rule_body(**fields) -> dict:
    body = {"name": "BTC above 100", "pair": "BTCUSD", "condition": "price_above", "threshold": "100"}
    body.update(fields)
    return body


# --- authentication and isolation ---------------------------------------------------------


def test_anonymous_requests_are_refused_with_a_json_error(configured_repo):
    response = APIClient().get(RULES)

    assert response.status_code == 401
    assert response.json()["error"]["code"] == "not_authenticated"


def test_session_authentication_works_too(alice, configured_repo):
    client = APIClient()
    client.force_login(alice)

    assert client.get(RULES).status_code == 200


def test_another_users_rule_is_a_404_for_read_change_delete_and_backtest(api, bob_api):
    rule_id = api.post(RULES, rule_body(), format="json").json()["id"]

    assert bob_api.get(f"{RULES}{rule_id}/").status_code == 404
    assert bob_api.patch(f"{RULES}{rule_id}/", {"name": "mine"}, format="json").status_code == 404
    assert bob_api.delete(f"{RULES}{rule_id}/").status_code == 404
    assert bob_api.post(f"{RULES}{rule_id}/backtest/").status_code == 404
    assert AlertRule.objects.get(pk=rule_id).name == "BTC above 100"


def test_lists_show_only_the_users_own_objects(api, bob_api, bob):
    api.post(RULES, rule_body(), format="json")
    NotificationChannel.objects.create(
        owner=bob, kind="webhook", target="https://example.org/hook", verified=True
    )

    assert bob_api.get(RULES).json()["count"] == 0
    assert api.get(CHANNELS).json()["count"] == 0


def test_another_users_channel_and_event_are_404(api, bob_api, alice_email, make_rule):
    event = AlertEvent.objects.create(
        rule=make_rule(), minute=minute(0), old_state="normal", new_state="firing", message="m"
    )

    assert bob_api.get(f"{CHANNELS}{alice_email.pk}/").status_code == 404
    assert bob_api.delete(f"{CHANNELS}{alice_email.pk}/").status_code == 404
    assert bob_api.get(f"{EVENTS}{event.pk}/").status_code == 404
    assert api.get(f"{EVENTS}{event.pk}/").status_code == 200


def test_a_rule_cannot_use_another_users_channel(api, bob):
    bobs = NotificationChannel.objects.create(
        owner=bob, kind="webhook", target="https://example.org/b", verified=True
    )

    response = api.post(RULES, rule_body(channels=[bobs.pk]), format="json")

    assert response.status_code == 400
    assert response.json()["error"]["fields"] == {"channels": ["unknown channel"]}


def test_a_channel_id_beyond_64_bits_is_a_400_naming_channels(api):
    response = api.post(RULES, rule_body(channels=[2**63]), format="json")

    assert response.status_code == 400
    assert set(response.json()["error"]["fields"]) == {"channels"}


# --- rules CRUD and validation ------------------------------------------------------------


def test_create_returns_the_rule_with_exact_decimals_and_utc_times(api, alice_email):
    body = rule_body(channels=[alice_email.pk], expires_at="2030-01-01T01:00:00+01:00", cooldown_minutes=15)

    response = api.post(RULES, body, format="json")

    assert response.status_code == 201
    data = response.json()
    assert data["threshold"] == "100"
    assert data["expires_at"] == "2030-01-01T00:00:00Z"
    assert data["created_at"].endswith("Z")
    assert (data["state"], data["trigger_mode"], data["cooldown_minutes"]) == ("normal", "rearm", 15)
    assert data["channels"] == [alice_email.pk]


def test_pct_change_without_a_window_is_a_400_naming_the_field(api):
    response = api.post(RULES, rule_body(condition="pct_change", threshold=None, percent="2"), format="json")

    assert response.status_code == 400
    assert response.json()["error"]["fields"] == {"window_minutes": ["required for pct_change"]}


def test_an_unknown_pair_is_a_400(api):
    response = api.post(RULES, rule_body(pair="DOGUSD"), format="json")

    assert response.status_code == 400
    assert "unknown pair 'DOGUSD'" in response.json()["error"]["fields"]["pair"][0]


def test_an_unused_parameter_is_a_400(api):
    response = api.post(RULES, rule_body(multiplier="3"), format="json")

    assert response.status_code == 400
    assert list(response.json()["error"]["fields"]) == ["multiplier"]


def test_an_unknown_condition_is_a_400(api):
    response = api.post(RULES, rule_body(condition="moon"), format="json")

    assert response.status_code == 400
    assert list(response.json()["error"]["fields"]) == ["condition"]


def test_patch_changes_parameters_and_resets_the_state(api, make_rule):
    rule = make_rule(state="firing", armed=False, last_evaluated_minute=minute(5))

    response = api.patch(f"{RULES}{rule.pk}/", {"threshold": "150"}, format="json")

    assert response.status_code == 200
    rule.refresh_from_db()
    assert (rule.threshold, rule.state, rule.armed, rule.last_evaluated_minute) == (
        Decimal("150"),
        "normal",
        True,
        None,
    )


def test_patch_is_validated_against_the_merged_rule(api, make_rule):
    rule = make_rule()

    response = api.patch(f"{RULES}{rule.pk}/", {"condition": "spike"}, format="json")

    assert response.status_code == 400
    assert set(response.json()["error"]["fields"]) == {"threshold", "multiplier", "window_minutes"}


def test_delete_removes_the_rule(api, make_rule):
    rule = make_rule()

    assert api.delete(f"{RULES}{rule.pk}/").status_code == 204
    assert not AlertRule.objects.filter(pk=rule.pk).exists()


def test_rule_list_is_paginated_with_constant_queries(api, make_rule, django_assert_num_queries):
    for i in range(7):
        make_rule(name=f"r{i}")

    with django_assert_num_queries(4):  # token, count, page, channels
        response = api.get(RULES, {"page_size": 5})

    data = response.json()
    assert (data["count"], len(data["results"])) == (7, 5)
    assert data["next"].endswith("page=2&page_size=5")


# --- channels -------------------------------------------------------------------------------


def test_adding_the_users_own_address_is_verified_at_once(
    api, mailoutbox, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = api.post(CHANNELS, {"kind": "email", "target": "alice@example.org"}, format="json")

    assert response.status_code == 201
    assert response.json()["verified"] is True
    assert mailoutbox == []


def test_another_address_gets_a_verification_link_that_verifies_it(
    api, mailoutbox, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = api.post(CHANNELS, {"kind": "email", "target": "desk@example.org"}, format="json")
    assert response.json()["verified"] is False
    (mail,) = mailoutbox
    link = next(line for line in mail.body.splitlines() if "/api/v1/alerts/channels/verify/?token=" in line)

    verified = APIClient().get(link.removeprefix("http://127.0.0.1:8000"))

    assert verified.status_code == 200
    assert NotificationChannel.objects.get(target="desk@example.org").verified is True


def test_a_forged_verification_token_is_a_400(configured_repo):
    response = APIClient().get(f"{CHANNELS}verify/", {"token": "forged"})

    assert response.status_code == 400
    assert response.json()["error"]["fields"] == {"token": ["invalid verification link"]}


@pytest.mark.parametrize(
    ("kind", "target"), [("email", "not-an-address"), ("webhook", "ftp://example.org/x"), ("sms", "+100")]
)
def test_invalid_channel_targets_are_400(api, kind, target):
    response = api.post(CHANNELS, {"kind": kind, "target": target}, format="json")

    assert response.status_code == 400


# --- events -----------------------------------------------------------------------------------


def test_events_list_newest_first_with_their_deliveries(api, make_rule, alice_email):
    rule = make_rule()
    older = AlertEvent.objects.create(
        rule=rule, minute=minute(0), old_state="normal", new_state="firing", message="a"
    )
    AlertEvent.objects.create(
        rule=rule, minute=minute(1), old_state="firing", new_state="normal", message="b"
    )
    Delivery.objects.create(
        event=older, channel=alice_email, kind="email", target="alice@example.org", status="sent"
    )

    data = api.get(EVENTS, {"rule": rule.pk}).json()

    assert [e["message"] for e in data["results"]] == ["b", "a"]
    assert data["results"][1]["deliveries"][0]["status"] == "sent"
    assert data["results"][1]["minute"] == "2024-01-01T12:00:00Z"


# --- backtest -------------------------------------------------------------------------------


def test_backtest_replays_stored_history_and_sends_nothing(api, make_rule, mailoutbox):
    rule = make_rule(threshold=Decimal("100"))

    response = api.post(f"{RULES}{rule.pk}/backtest/?days=1")

    assert response.status_code == 200
    data = response.json()
    assert data["end"] == "2024-01-01T12:03:00Z"  # the newest stored minute + 1
    assert data["notifications_count"] == 1
    assert data["notifications"][0]["minute"] == "2024-01-01T12:01:00Z"
    assert data["notifications"][0]["observed_value"] == "100.5"
    assert data["per_day"] == [
        {"date": "2023-12-31", "notifications": 0},
        {"date": "2024-01-01", "notifications": 1},
    ]
    assert mailoutbox == []
    assert AlertEvent.objects.count() == 0


def test_backtests_beyond_alerts_backtest_rate_are_a_429_in_the_error_shape(api, make_rule, settings):
    from django.core.cache import cache

    cache.clear()
    settings.ALERTS_BACKTEST_RATE = "2/min"
    rule = make_rule(threshold=Decimal("100"))

    statuses = [api.post(f"{RULES}{rule.pk}/backtest/?days=1").status_code for _ in range(3)]
    refused = api.post(f"{RULES}{rule.pk}/backtest/?days=1")

    assert statuses == [200, 200, 429]
    assert refused.json()["error"]["code"] == "throttled"
    assert int(refused["Retry-After"]) > 0
    assert api.get(RULES).status_code == 200  # only backtests are limited


def test_backtest_days_out_of_range_is_a_400(api, make_rule):
    response = api.post(f"{RULES}{make_rule().pk}/backtest/?days=90")

    assert response.status_code == 400
    assert list(response.json()["error"]["fields"]) == ["days"]


def test_backtest_on_the_real_2019_12_31_prices_finds_the_one_crossing_below_7200(
    alice, memory_repo, monkeypatch
):
    from prices.domain import EXCHANGE_BITFINEX, Tick, TickSource
    from prices.services import history_store
    from tests.alerts.helpers import btcusd_closes

    closes = btcusd_closes("19-12-30") + btcusd_closes("19-12-31")
    history_store(
        ticks=[Tick(EXCHANGE_BITFINEX, "BTCUSD", m, p, TickSource.CANDLE) for m, p in closes],
        repo=memory_repo,
    )
    monkeypatch.setattr("prices.repository._repository", lambda *args: memory_repo)
    rule = AlertRule.objects.create(
        owner=alice,
        name="BTC under 7200",
        pair="BTCUSD",
        condition="crosses_below",
        threshold=Decimal("7200"),
    )

    data = client_for(alice).post(f"{RULES}{rule.pk}/backtest/?days=1").json()

    assert (data["start"], data["end"]) == ("2019-12-31T00:00:00Z", "2020-01-01T00:00:00Z")
    assert [(n["minute"], n["observed_value"]) for n in data["notifications"]] == [
        ("2019-12-31T17:36:00Z", "7198.4")
    ]
    assert data["per_day"] == [{"date": "2019-12-31", "notifications": 1}]
