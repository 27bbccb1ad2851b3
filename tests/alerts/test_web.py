"""The alerts pages and accounts in the Django test client: sign-in, token, rules, preview, events,
channels, one-click links, and owner scoping (another user's objects are 404)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, time, timedelta
from decimal import Decimal

import pytest
from django.core import signing
from rest_framework.authtoken.models import Token

from alerts import actions
from alerts.backtest import alert_rule_backtest
from alerts.evaluation import alert_rules_evaluate
from alerts.models import AlertEvent, AlertRule, AlertRuleAction, Delivery, NotificationChannel
from alerts.notifications import message_render
from tests.alerts.helpers import T0, minute

pytestmark = pytest.mark.django_db


@pytest.fixture
def alice_client(client, alice):
    client.force_login(alice)
    return client


def rule_form(**fields) -> dict:
    data = {
        "name": "BTC over 100",
        "pair": "BTCUSD",
        "condition": "crosses_above",
        "threshold": "100",
        "trigger_mode": "rearm",
        "cooldown_minutes": "60",
        "enabled": "on",
    }
    data.update(fields)
    return data


# --- accounts ---------------------------------------------------------------------------


def test_a_user_signs_in_with_the_login_form_and_lands_on_their_alerts(client, alice):
    response = client.post("/accounts/login/", {"username": "alice", "password": "pw-alice-123"})

    assert response.status_code == 302 and response["Location"] == "/alerts/"
    assert client.get("/alerts/").status_code == 200


def test_the_alerts_pages_send_anonymous_users_to_sign_in(client):
    response = client.get("/alerts/events/")

    assert response.status_code == 302
    assert response["Location"] == "/accounts/login/?next=/alerts/events/"


def test_sign_out_is_a_post(alice_client):
    assert alice_client.get("/accounts/logout/").status_code == 405

    alice_client.post("/accounts/logout/")

    assert alice_client.get("/alerts/").status_code == 302


def test_sign_up_is_off_by_default(client):
    assert client.get("/accounts/signup/").status_code == 404
    assert "/accounts/signup/" not in client.get("/accounts/login/").content.decode()


def test_sign_up_when_enabled_creates_a_signed_in_account(client, settings):
    settings.ACCOUNTS_SIGNUP_ENABLED = True
    data = {
        "username": "carol",
        "email": "carol@example.org",
        "password1": "x7-Kq!long",
        "password2": "x7-Kq!long",
    }

    response = client.post("/accounts/signup/", data)

    assert response.status_code == 302 and response["Location"] == "/alerts/"
    assert client.get("/alerts/").status_code == 200
    assert AlertRule.objects.count() == 0


def test_password_reset_emails_a_link_that_sets_a_new_password(client, alice, mailoutbox):
    client.post("/accounts/password_reset/", {"email": "alice@example.org"})

    (mail,) = mailoutbox
    assert mail.to == ["alice@example.org"]
    link = re.search(r"http://testserver(/accounts/reset/\S+/)", mail.body).group(1)
    form_url = client.get(link)["Location"]
    data = {"new_password1": "n3w-Pass!word", "new_password2": "n3w-Pass!word"}
    assert client.post(form_url, data).status_code == 302
    signed_in = client.post("/accounts/login/", {"username": "alice", "password": "n3w-Pass!word"})
    assert signed_in.status_code == 302


def test_a_used_or_forged_reset_link_says_so(client, alice):
    html = client.get("/accounts/reset/MQ/set-password/", follow=True).content.decode()

    assert "This link does not work any more" in html


def test_password_change_page_renders_in_the_site_look(alice_client):
    html = alice_client.get("/accounts/password_change/").content.decode()

    assert 'class="site-header"' in html and "Change your password" in html


# --- API token --------------------------------------------------------------------------


def test_a_new_token_is_shown_once_and_works_on_the_api(alice_client, client, alice):
    created = alice_client.post("/accounts/token/", {"action": "create"}).content.decode()
    key = Token.objects.get(user=alice).key

    assert key in created
    assert key not in alice_client.get("/accounts/token/").content.decode()
    alice_client.logout()
    assert client.get("/api/v1/alerts/rules/", HTTP_AUTHORIZATION=f"Token {key}").status_code == 200


def test_rotating_replaces_the_token_and_revoking_removes_it(alice_client, alice):
    alice_client.post("/accounts/token/", {"action": "create"})
    old = Token.objects.get(user=alice).key

    alice_client.post("/accounts/token/", {"action": "rotate"})
    new = Token.objects.get(user=alice).key
    alice_client.post("/accounts/token/", {"action": "revoke"})

    assert new != old
    assert not Token.objects.filter(user=alice).exists()


# --- rules ------------------------------------------------------------------------------


def test_my_alerts_lists_state_last_event_and_channels(alice_client, make_rule):
    firing = make_rule(name="up", state="firing")
    make_rule(name="muted", muted_until=datetime.now(UTC) + timedelta(hours=1))
    make_rule(name="off", enabled=False)
    AlertEvent.objects.create(
        rule=firing, minute=minute(2), old_state="normal", new_state="firing", message="m"
    )

    html = alice_client.get("/alerts/").content.decode()

    states = re.findall(r'data-state="(\w+)"', html)
    assert states == ["firing", "muted", "disabled"]
    assert "2024-01-01 12:02 UTC" in html
    assert "email: alice@example.org" in html


def test_my_alerts_describes_each_rule_with_the_registrys_labels_and_units(alice_client, make_rule):
    make_rule(condition="pct_change", threshold=None, percent=Decimal("2.5"), window_minutes=60)

    html = alice_client.get("/alerts/").content.decode()

    assert "% change" in html
    assert "Move: 2.5 %" in html and "Window: 60 minutes" in html


def test_my_alerts_shows_a_ladder_in_words_and_leaves_an_off_ladder_out(alice_client, make_rule):
    ladder = {"condition": "pct_change", "threshold": None, "percent": Decimal("1"), "window_minutes": 5}
    make_rule(name="steps", ladder=True, **ladder)
    make_rule(name="plain", **ladder)

    html = alice_client.get("/alerts/").content.decode()

    assert html.count("Ladder: re-anchors after each firing") == 1
    assert "True" not in html and "False" not in html


def test_a_rules_page_shows_its_ladder_in_words(alice_client, make_rule):
    ladder = {"condition": "pct_change", "threshold": None, "percent": Decimal("1"), "window_minutes": 5}
    on, off = make_rule(ladder=True, **ladder), make_rule(**ladder)

    on_html = alice_client.get(f"/alerts/{on.pk}/").content.decode()
    off_html = alice_client.get(f"/alerts/{off.pk}/").content.decode()

    assert "<dt>Ladder</dt><dd>re-anchors after each firing</dd>" in on_html
    assert "<dt>Ladder</dt><dd>no</dd>" in off_html


def test_a_rules_page_and_my_alerts_show_its_confirmation_in_words(alice_client, make_rule):
    confirmed, at_once = make_rule(name="held", confirm_minutes=3), make_rule(name="at once")

    list_html = alice_client.get("/alerts/").content.decode()
    on_html = alice_client.get(f"/alerts/{confirmed.pk}/").content.decode()
    off_html = alice_client.get(f"/alerts/{at_once.pk}/").content.decode()

    assert list_html.count("Confirmed: after 3 consecutive minutes") == 1
    assert "<dt>Confirmed</dt><dd>after 3 consecutive minutes</dd>" in on_html
    assert "<dt>Confirmed</dt><dd>no</dd>" in off_html


def test_the_forms_integer_inputs_take_the_registrys_bounds(alice_client, configured_repo):
    html = alice_client.get("/alerts/new/").content.decode()

    window = re.search(r'<input[^>]*name="window_minutes"[^>]*>', html).group(0)
    assert 'min="1"' in window and 'max="1440"' in window
    top_n = re.search(r'<input[^>]*name="top_n"[^>]*>', html).group(0)
    assert 'min="1"' in top_n and 'max="100"' in top_n


def test_the_form_without_channels_links_to_adding_one_and_says_the_rule_would_notify_no_one(
    alice_client, configured_repo
):
    html = alice_client.get("/alerts/new/").content.decode()

    assert "a rule without a channel notifies no one" in html
    assert 'href="/alerts/channels/#add-channel"' in html
    assert 'id="add-channel"' in alice_client.get("/alerts/channels/").content.decode()


def test_the_form_marks_each_parameter_with_the_conditions_of_the_registry(alice_client, configured_repo):
    html = alice_client.get("/alerts/new/?pair=BTCUSD&threshold=101").content.decode()

    threshold = re.search(r'<input[^>]*name="threshold"[^>]*>', html).group(0)
    assert 'data-conditions="price_above price_below crosses_above crosses_below"' in threshold
    assert 'data-conditions="pct_change"' in html  # direction
    assert 'value="BTCUSD"' in html and 'value="101"' in html
    assert 'data-price="101" data-quote="USD"' in html


def test_creating_a_rule_from_the_form_saves_only_the_conditions_parameters(
    alice_client, alice, configured_repo
):
    response = alice_client.post("/alerts/new/", rule_form(window_minutes="60", multiplier="3"))

    rule = AlertRule.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/alerts/{rule.pk}/"
    assert (rule.owner, rule.condition, rule.threshold) == (alice, "crosses_above", Decimal(100))
    assert (rule.window_minutes, rule.multiplier) == (None, None)


def test_the_form_rejects_an_unknown_pair_with_the_services_message(alice_client, configured_repo):
    response = alice_client.post("/alerts/new/", rule_form(pair="DOGEUSD"))

    assert response.status_code == 400
    assert "Unknown pair &#x27;DOGEUSD&#x27;" in response.content.decode()
    assert AlertRule.objects.count() == 0


def test_the_form_names_a_missing_parameter(alice_client, configured_repo):
    response = alice_client.post("/alerts/new/", rule_form(condition="pct_change", percent="2"))

    assert response.status_code == 400
    assert "Required for “% change”" in response.content.decode()  # not the code pct_change


def test_editing_a_rule_changes_it(alice_client, make_rule, configured_repo):
    rule = make_rule()

    alice_client.post(f"/alerts/{rule.pk}/edit/", rule_form(name="renamed", threshold="150"))

    rule.refresh_from_db()
    assert (rule.name, rule.threshold, rule.condition) == ("renamed", Decimal(150), "crosses_above")


def test_duplicate_opens_the_form_with_a_copy(alice_client, make_rule, configured_repo):
    rule = make_rule(name="orig", threshold=Decimal("123.5"))

    html = alice_client.get(f"/alerts/{rule.pk}/duplicate/").content.decode()

    assert 'value="Copy of orig"' in html and 'value="123.5' in html
    assert 'action=""' not in html and AlertRule.objects.count() == 1


def test_a_duplicate_posts_to_the_create_form_and_saves_a_second_rule(
    alice_client, make_rule, configured_repo
):
    rule = make_rule(name="orig", threshold=Decimal("101700.000000000000"))

    html = alice_client.get(f"/alerts/{rule.pk}/duplicate/").content.decode()
    response = alice_client.post("/alerts/new/", rule_form(name="Copy of orig"))

    assert 'action="/alerts/new/"' in html
    assert 'value="101700"' in html and "101700.000" not in html
    assert response.status_code == 302 and AlertRule.objects.count() == 2


def test_disable_enable_and_delete(alice_client, make_rule):
    rule = make_rule()

    alice_client.post(f"/alerts/{rule.pk}/act/", {"action": "disable"})
    rule.refresh_from_db()
    assert rule.enabled is False
    alice_client.post(f"/alerts/{rule.pk}/act/", {"action": "enable"})
    rule.refresh_from_db()
    assert rule.enabled is True
    assert list(rule.actions.values_list("action", "via")) == [("enable", "web"), ("disable", "web")]
    alice_client.post(f"/alerts/{rule.pk}/delete/")
    assert not AlertRule.objects.filter(pk=rule.pk).exists()


def test_an_action_never_redirects_off_the_site(alice_client, make_rule):
    rule = make_rule()

    response = alice_client.post(
        f"/alerts/{rule.pk}/act/", {"action": "mute_1h", "next": "https://evil.example/"}
    )

    assert response["Location"] == f"/alerts/{rule.pk}/"


def test_my_alerts_costs_the_same_queries_for_one_rule_or_many(
    alice_client, make_rule, django_assert_num_queries
):
    make_rule()
    with django_assert_num_queries(4) as one:  # session, user, rules with their last event, channels
        alice_client.get("/alerts/")
    for i in range(5):
        make_rule(name=f"rule {i}")

    with django_assert_num_queries(len(one.captured_queries)):
        alice_client.get("/alerts/")


# --- backtest preview -------------------------------------------------------------------


def test_the_preview_shows_the_backtests_notifications_and_a_chart(alice_client, alice, configured_repo):
    response = alice_client.post("/alerts/preview/", rule_form(threshold="100"))

    html = response.content.decode()
    probe = AlertRule(owner=alice, pair="BTCUSD", condition="crosses_above", threshold=Decimal(100))
    expected = alert_rule_backtest(rule=probe, days=7, repo=configured_repo)
    assert len(expected.notifications) == 1  # 99 → 100.5 crosses 100
    assert f'data-notifications="{len(expected.notifications)}"' in html
    assert 'id="preview-chart" data-figure="' in html
    assert "&quot;markers&quot;: 1" in html
    assert AlertRule.objects.count() == 0


def test_an_invalid_preview_says_what_to_fix(alice_client, configured_repo):
    response = alice_client.post("/alerts/preview/", rule_form(pair="NOPE"))

    assert response.status_code == 400
    assert "<strong>Pair</strong>: Unknown pair" in response.content.decode()


def test_the_form_page_previews_without_javascript(alice_client, configured_repo):
    response = alice_client.post("/alerts/new/", {**rule_form(), "preview": "1"})

    assert response.status_code == 200
    assert 'data-preview="ready"' in response.content.decode()
    assert AlertRule.objects.count() == 0


# --- events and channels ----------------------------------------------------------------


def test_events_show_price_and_delivery_status_and_filter_by_rule(alice_client, make_rule, alice_email):
    one, two = make_rule(name="one"), make_rule(name="two")
    event = AlertEvent.objects.create(
        rule=one,
        minute=minute(1),
        old_state="normal",
        new_state="firing",
        observed_value=Decimal("100.5"),
        message="crossed",
        notify=True,
    )
    AlertEvent.objects.create(rule=two, minute=minute(1), old_state="normal", new_state="firing", message="x")
    Delivery.objects.create(
        event=event,
        channel=alice_email,
        kind="email",
        target="alice@example.org",
        status="failed",
        last_error="SMTP down",
    )

    everything = alice_client.get("/alerts/events/").content.decode()
    filtered = alice_client.get(f"/alerts/events/?rule={one.pk}").content.decode()

    assert everything.count("data-event=") == 2
    assert filtered.count("data-event=") == 1
    assert "100.5" in filtered and 'data-delivery-status="failed"' in filtered and "SMTP down" in filtered


def test_events_cost_the_same_queries_for_one_event_or_many(
    alice_client, make_rule, alice_email, django_assert_num_queries
):
    rule = make_rule()

    def event(i: int) -> None:
        made = AlertEvent.objects.create(
            rule=rule, minute=minute(i), old_state="normal", new_state="firing", message="m"
        )
        Delivery.objects.create(event=made, channel=alice_email, kind="email", target="alice@example.org")

    event(0)
    with django_assert_num_queries(5) as one:  # session, user, the rules filter, events, deliveries
        alice_client.get("/alerts/events/")
    for i in range(1, 6):
        event(i)

    with django_assert_num_queries(len(one.captured_queries)):
        alice_client.get("/alerts/events/")


def test_adding_an_email_channel_sends_a_confirmation_and_resend_sends_another(
    alice_client, mailoutbox, django_capture_on_commit_callbacks
):
    # Both emails are queued deliveries: the (synchronous test) cluster sends them at commit.
    with django_capture_on_commit_callbacks(execute=True):
        alice_client.post("/alerts/channels/", {"kind": "email", "target": "ops@example.org"})
    channel = NotificationChannel.objects.get(target="ops@example.org")

    with django_capture_on_commit_callbacks(execute=True):
        alice_client.post(f"/alerts/channels/{channel.pk}/act/", {"action": "verify"})

    assert [m.to for m in mailoutbox] == [["ops@example.org"], ["ops@example.org"]]
    assert "verification email sent" in alice_client.get("/alerts/channels/").content.decode()


def test_the_channels_page_shows_each_channels_quiet_hours(alice_client, alice, alice_email):
    NotificationChannel.objects.create(
        owner=alice,
        kind="webhook",
        target="https://hooks.example.org/x",
        quiet_start=time(22, 0),
        quiet_end=time(7, 0),
        quiet_timezone="Europe/Paris",
    )

    html = alice_client.get("/alerts/channels/").content.decode()

    assert html.count("Quiet 22:00–07:00 Europe/Paris, digest at the end") == 1
    assert html.count('<td data-label="Quiet hours"><span class="muted">none</span></td>') == 1


def test_a_bad_channel_target_is_a_400_naming_it(alice_client):
    response = alice_client.post("/alerts/channels/", {"kind": "webhook", "target": "not a url"})

    assert response.status_code == 400
    assert "not a valid webhook target" in response.content.decode()


def test_send_a_test_to_a_channel_queues_it_and_the_worker_sends_it(
    alice_client, alice_email, mailoutbox, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=False) as queued:
        response = alice_client.post(
            f"/alerts/channels/{alice_email.pk}/act/", {"action": "test"}, follow=True
        )
    assert mailoutbox == []
    assert "queued" in response.content.decode()

    for callback in queued:
        callback()

    (mail,) = mailoutbox
    assert mail.to == ["alice@example.org"] and mail.subject.startswith("[test] BTC/USD is above 70,000 USD")


# --- owner scoping ----------------------------------------------------------------------


def test_another_user_gets_404_on_every_url_of_a_rule_event_and_channel(client, bob, make_rule, alice_email):
    rule = make_rule()
    client.force_login(bob)

    for url in (
        f"/alerts/{rule.pk}/",
        f"/alerts/{rule.pk}/edit/",
        f"/alerts/{rule.pk}/duplicate/",
        f"/alerts/{rule.pk}/delete/",
        f"/alerts/events/?rule={rule.pk}",
    ):
        assert client.get(url).status_code == 404, url
    assert client.post(f"/alerts/{rule.pk}/act/", {"action": "disable"}).status_code == 404
    assert client.post(f"/alerts/{rule.pk}/delete/").status_code == 404
    assert client.post(f"/alerts/channels/{alice_email.pk}/act/", {"action": "delete"}).status_code == 404
    assert "BTC above 100" not in client.get("/alerts/").content.decode()
    assert "alice@example.org" not in client.get("/alerts/channels/").content.decode()
    rule.refresh_from_db()
    assert rule.enabled is True and NotificationChannel.objects.filter(pk=alice_email.pk).exists()


# --- pair page --------------------------------------------------------------------------


def test_the_pair_page_offers_create_alert_with_pair_and_last_price(client, configured_repo):
    html = client.get("/pairs/BTCUSD/").content.decode()

    assert 'href="/alerts/new/?pair=BTCUSD&amp;threshold=101"' in html
    assert 'data-thresholds-url="/alerts/pairs/BTCUSD/thresholds.json"' in html


def test_thresholds_of_the_signed_in_user_only(client, alice_client, make_rule, bob):
    make_rule(threshold=Decimal("7200.5"))
    make_rule(pair="ETHUSD")

    mine = alice_client.get("/alerts/pairs/BTCUSD/thresholds.json").json()
    alice_client.force_login(bob)
    theirs = alice_client.get("/alerts/pairs/BTCUSD/thresholds.json").json()

    assert [t["threshold"] for t in mine["thresholds"]] == ["7200.5"]
    assert theirs["thresholds"] == []


# --- one-click links --------------------------------------------------------------------


def _link(rule, action):
    return f"/alerts/act/{actions.action_link_token(rule=rule, action=action)}/"


def test_every_notification_carries_the_four_signed_action_links(make_rule):
    rule = make_rule()
    event = AlertEvent(rule=rule, minute=T0, old_state="normal", new_state="firing", message="m")

    message = message_render(event)

    urls = re.findall(r"http://127\.0\.0\.1:8000/alerts/act/\S+/", message.text)
    assert len(urls) == 4
    assert [actions.action_link_read(token=u.split("/")[-2])[1].key for u in urls] == [
        "mute_1h",
        "mute_24h",
        "disable",
        "rearm",
    ]
    assert set(message.payload["links"]) >= {"mute_1h", "mute_24h", "disable", "rearm", "rule"}


def test_a_link_get_only_asks_and_a_post_mutes_without_signing_in(client, make_rule):
    rule = make_rule()

    page = client.get(_link(rule, "mute_1h"))
    rule.refresh_from_db()
    assert page.status_code == 200 and "Mute for 1 hour?" in page.content.decode()
    assert rule.muted_until is None

    done = client.post(_link(rule, "mute_1h"))
    rule.refresh_from_db()
    assert "is now" in done.content.decode() and 'data-state="muted"' in done.content.decode()
    assert rule.muted_until > datetime.now(UTC) + timedelta(minutes=59)
    (entry,) = AlertRuleAction.objects.all()
    assert (entry.action, entry.via, entry.actor) == ("mute", "link", None)


def test_a_link_disables_and_rearms_at_the_current_price(client, make_rule, configured_repo):
    rule = make_rule(threshold=Decimal(100), state="firing", armed=False)

    client.post(_link(rule, "rearm"))
    rule.refresh_from_db()
    assert (rule.threshold, rule.state, rule.armed) == (Decimal(101), "normal", True)
    client.post(_link(rule, "disable"))
    rule.refresh_from_db()
    assert rule.enabled is False
    assert list(rule.actions.values_list("action", flat=True)) == ["disable", "rearm"]


def test_an_expired_or_tampered_link_changes_nothing(client, make_rule, settings):
    rule = make_rule()
    token = actions.action_link_token(rule=rule, action="disable")
    forged = signing.dumps({"rule": rule.pk, "action": "disable"}, salt="another-salt")

    settings.ALERTS_ACTION_LINK_MAX_AGE_S = -1
    expired = client.post(f"/alerts/act/{token}/")
    settings.ALERTS_ACTION_LINK_MAX_AGE_S = 3600
    bad = client.post(f"/alerts/act/{forged}/")

    assert expired.status_code == 400 and "expired" in expired.content.decode()
    assert bad.status_code == 400
    rule.refresh_from_db()
    assert rule.enabled is True and not rule.actions.exists()


def test_a_muted_rule_records_its_firing_without_sending(make_rule, configured_repo):
    rule = make_rule(condition="crosses_above", threshold=Decimal(100))
    actions.alert_rule_mute(rule=rule, duration=timedelta(hours=1), via="web")
    alert_rules_evaluate(minute=minute(0), repo=configured_repo, enqueue=lambda ids: None)

    alert_rules_evaluate(minute=minute(1), repo=configured_repo, enqueue=lambda ids: None)

    (event,) = AlertEvent.objects.filter(new_state="firing")
    assert (event.notify, event.suppressed) == (False, "muted")
    assert not Delivery.objects.exists()


def test_previews_beyond_the_backtest_rate_get_a_429_that_says_when_to_retry(
    alice_client, configured_repo, settings
):
    from django.core.cache import cache

    cache.clear()
    settings.ALERTS_BACKTEST_RATE = "2/min"

    statuses = [alice_client.post("/alerts/preview/", rule_form()).status_code for _ in range(3)]
    response = alice_client.post("/alerts/new/", {**rule_form(), "preview": "1"})

    assert statuses == [200, 200, 429]
    assert response.status_code == 200  # the form page keeps the form and shows the message inline
    assert "Too many previews in a short time: try again in" in response.content.decode()
    assert "Fix these" not in response.content.decode()
    assert AlertRule.objects.count() == 0
