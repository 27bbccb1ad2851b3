"""Admin: rule filters, enable/disable and test-notification actions, read-only events with deliveries."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.contrib.auth import get_user_model

from alerts.deliveries import deliveries_send
from alerts.models import AlertEvent, AlertRule, Delivery
from tests.alerts.helpers import minute

pytestmark = pytest.mark.django_db
RULES = "/admin/alerts/alertrule/"


@pytest.fixture
def admin_client(client):
    admin = get_user_model().objects.create_superuser("root", "root@example.org", "pw-root-123")
    client.force_login(admin)
    return client


def test_rule_list_filters_by_state_pair_and_owner(admin_client, make_rule):
    make_rule(name="firing one", state="firing")
    make_rule(name="quiet one", pair="ETHUSD")

    page = admin_client.get(RULES).content.decode()
    filtered = admin_client.get(RULES, {"state": "firing"}).content.decode()

    assert "By state" in page and "By pair" in page and "By owner" in page
    assert "firing one" in filtered and "quiet one" not in filtered


def test_disable_and_enable_actions(admin_client, make_rule):
    rule = make_rule(last_evaluated_minute=minute(3))

    admin_client.post(RULES, {"action": "disable_rules", "_selected_action": [rule.pk]})
    rule.refresh_from_db()
    assert rule.enabled is False

    admin_client.post(RULES, {"action": "enable_rules", "_selected_action": [rule.pk]})
    rule.refresh_from_db()
    assert (rule.enabled, rule.last_evaluated_minute) == (True, None)


def test_send_test_notification_queues_a_delivery_and_sends_nothing_in_the_request(
    admin_client, make_rule, mailoutbox
):
    rule = make_rule(name="BTC watch")

    response = admin_client.post(
        RULES, {"action": "send_test_notification", "_selected_action": [rule.pk]}, follow=True
    )

    (delivery,) = Delivery.objects.all()
    assert (delivery.purpose, delivery.status, delivery.rule_id) == ("test", "pending", rule.pk)
    assert mailoutbox == []
    assert f"test queued (delivery {delivery.pk})" in response.content.decode()
    assert AlertEvent.objects.count() == 0


def test_a_queued_test_notification_is_emailed_by_the_worker(admin_client, make_rule, mailoutbox):
    rule = make_rule(name="BTC watch")
    admin_client.post(RULES, {"action": "send_test_notification", "_selected_action": [rule.pk]})

    outcomes = deliveries_send(delivery_ids=Delivery.objects.values_list("pk", flat=True))

    assert outcomes == {"sent": 1}
    (mail,) = mailoutbox
    assert mail.to == ["alice@example.org"]
    assert mail.subject == "[test] BTC/USD is above 100 USD — now 100 USD · BTC watch"
    assert "This is a test notification" in mail.body


def test_the_delivery_list_shows_test_and_verification_deliveries(admin_client, make_rule):
    rule = make_rule(name="BTC watch")
    admin_client.post(RULES, {"action": "send_test_notification", "_selected_action": [rule.pk]})

    page = admin_client.get("/admin/alerts/delivery/", {"purpose": "test"}).content.decode()

    assert "Test notification" in page and "alice@example.org" in page


def test_event_page_shows_its_deliveries_read_only(admin_client, make_rule, alice_email):
    event = AlertEvent.objects.create(
        rule=make_rule(),
        minute=minute(0),
        old_state="normal",
        new_state="firing",
        message="went up",
        notify=True,
    )
    Delivery.objects.create(
        event=event,
        channel=alice_email,
        kind="email",
        target="alice@example.org",
        status="retrying",
        attempts=2,
        last_error="SMTP down",
    )

    page = admin_client.get(f"/admin/alerts/alertevent/{event.pk}/change/").content.decode()

    assert "SMTP down" in page
    assert 'name="deliveries-0-status"' not in page  # no editable inline fields
    assert admin_client.get("/admin/alerts/alertevent/add/").status_code == 403


def test_rule_change_page_renders(admin_client, make_rule):
    rule = make_rule()

    assert admin_client.get(f"{RULES}{rule.pk}/change/").status_code == 200
    assert AlertRule.objects.count() == 1


def test_the_rule_form_checks_parameters_against_the_condition(admin_client, alice, configured_repo):
    response = admin_client.post(
        f"{RULES}add/",
        {
            "owner": alice.pk,
            "name": "no window",
            "exchange": "bitfinex",
            "pair": "BTCUSD",
            "enabled": "on",
            "condition": "pct_change",
            "percent": "2",
            "direction": "either",
            "trigger_mode": "rearm",
            "cooldown_minutes": "60",
            "confirm_minutes": "1",
        },
    )

    assert response.status_code == 200
    assert "Required for “% change”" in response.content.decode()
    assert AlertRule.objects.count() == 0


RULE_FORM = {
    "name": "watch",
    "exchange": "bitfinex",
    "enabled": "on",
    "direction": "either",
    "trigger_mode": "rearm",
    "cooldown_minutes": "60",
    "actions-TOTAL_FORMS": "0",  # the history inline's management form
    "actions-INITIAL_FORMS": "0",
}


def test_the_rule_form_rejects_an_unknown_pair_as_the_api_does(admin_client, alice, configured_repo):
    data = {**RULE_FORM, "owner": alice.pk, "pair": "DOGEUSD", "condition": "price_above", "threshold": "1"}

    response = admin_client.post(f"{RULES}add/", data)

    assert response.status_code == 200
    assert "Unknown pair &#x27;DOGEUSD&#x27;" in response.content.decode()
    assert AlertRule.objects.count() == 0


def test_the_rule_form_drops_parameters_the_condition_does_not_use(admin_client, alice, configured_repo):
    data = {
        **RULE_FORM,
        "owner": alice.pk,
        "pair": "BTCUSD",
        "condition": "price_above",
        "threshold": "100",
        "window_minutes": "60",  # left over from another condition, hidden on the page
    }

    response = admin_client.post(f"{RULES}add/", data)

    assert response.status_code == 302
    rule = AlertRule.objects.get()
    assert (rule.threshold, rule.window_minutes) == (100, None)


def test_the_rule_form_marks_each_parameter_with_the_conditions_using_it(admin_client):
    page = admin_client.get(f"{RULES}add/").content.decode()

    assert 'data-conditions="pct_change spike volatility_above no_data zscore"' in page
    assert "alerts/admin_rule_form.js" in page


def test_the_rule_list_shows_threshold_state_owner_and_zoned_times(admin_client, make_rule):
    make_rule(name="watch", threshold=7200, muted_until=datetime(2999, 1, 1, tzinfo=UTC))

    page = admin_client.get(RULES).content.decode()

    assert '<td class="field-threshold">7200' in page
    assert '<td class="field-owner nowrap">alice</td>' in page
    assert '<td class="field-shown_state">muted</td>' in page
    assert "State changed (UTC)" in page


def test_every_admin_time_names_its_zone(admin_client, make_rule):
    AlertEvent.objects.create(
        rule=make_rule(), minute=minute(2), old_state="normal", new_state="firing", message="went up"
    )

    page = admin_client.get("/admin/alerts/alertevent/").content.decode()

    assert "2024-01-01 12:02:00 UTC" in page
