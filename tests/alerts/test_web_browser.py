"""A non-staff user's whole alerts journey in a real browser (Debian's chromium through Playwright).

Real BTCUSD and ETHUSD prices of 2019-12-30/31 (tests/fixtures/history) are stored in dynalite up
to 14:30 UTC on the 31st. Alice signs in, opens BTCUSD, creates a "crosses above 7,300" rule from
the pair page with the backtest preview on screen, then the real minutes 14:31–14:45 are
replayed (stored and evaluated minute by minute, as the cluster does): BTCUSD crosses 7,300 at
14:42. She sees the event and its sent email, follows the email's "Mute for 1 hour" link (a
confirmation page, then a POST) and sees the rule muted. Bob, signed in, gets 404 on her
rule's URLs and sees none of it. Screenshots of the three pages at desktop and phone width go
to docs/screenshots/ (the README shows them).
"""

from __future__ import annotations

import contextlib
import json
import re
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from urllib.parse import urlsplit

import pytest
from django.contrib.staticfiles.handlers import StaticFilesHandler
from django.core.cache import cache
from django.test import override_settings
from django.test.testcases import LiveServerThread

from alerts.evaluation import alert_rules_evaluate
from alerts.models import AlertEvent, AlertRule, NotificationChannel
from prices.domain import EXCHANGE_BITFINEX, Tick, TickSource, from_ms
from prices.repository import _repository, get_tick_repository
from prices.repository.base import RepositoryError
from prices.services import history_store
from tests.alerts.helpers import HISTORY
from tests.prices.test_dashboards_browser import SCREENSHOTS, _open, browser  # noqa: F401 (fixture)

pytestmark = [pytest.mark.browser, pytest.mark.integration, pytest.mark.timeout(300)]

DESKTOP = {"width": 1440, "height": 900}
PHONE = {"width": 390, "height": 844}
CREATED_AT = datetime(2019, 12, 31, 14, 30, tzinfo=UTC)  # the data ends here when Alice creates the rule
REPLAY_UNTIL = datetime(2019, 12, 31, 14, 45, tzinfo=UTC)
CROSSING = datetime(2019, 12, 31, 14, 42, tzinfo=UTC)  # 7,285.9 at 14:41, 7,310.11486316 at 14:42


def real_ticks(pair: str) -> list[Tick]:
    """The pair's real 1-minute closes of 2019-12-30/31 as candle ticks, oldest first."""
    folder = HISTORY / pair / "Candles_1m" / "2019" / "raw" / "12"
    rows = []
    for path in sorted(folder.glob("19-12-3*_*.json")):
        rows.extend(json.loads(path.read_text(), parse_float=Decimal, parse_int=Decimal))
    return sorted(
        (
            Tick(
                exchange=EXCHANGE_BITFINEX,
                pair=pair,
                minute=from_ms(int(row[0])),
                last_price=row[2],
                source=TickSource.CANDLE,
            )
            for row in rows
        ),
        key=lambda tick: tick.minute,
    )


@pytest.fixture
def site_url(transactional_db) -> Iterator[str]:
    """The site on 127.0.0.1 (a free port), each request thread with its own database connection.

    Not pytest-django's session-wide live server: started before the test database exists (by
    an earlier module), it shares one SQLite connection between threads.
    """
    thread = LiveServerThread("127.0.0.1", StaticFilesHandler, port=0)
    thread.daemon = True
    thread.start()
    thread.is_ready.wait()
    if thread.error:
        raise thread.error
    try:
        yield f"http://127.0.0.1:{thread.port}"
    finally:
        thread.terminate()


@pytest.fixture
def world(transactional_db, dynalite_server, site_url, django_user_model):
    """dynalite tables with the real prices up to CREATED_AT, Alice (non-staff, her own email
    channel) and Bob; the ticks still to replay are returned."""
    prefix = f"alertsweb_{uuid.uuid4().hex[:10]}_"
    with override_settings(
        DYNAMODB_ENDPOINT_URL=dynalite_server, DYNAMODB_TABLE_PREFIX=prefix, SITE_URL=site_url
    ):
        _repository.cache_clear()
        cache.clear()
        repo = get_tick_repository()
        repo.ensure_tables()
        btc = real_ticks("BTCUSD")
        history_store(ticks=[t for t in btc if t.minute <= CREATED_AT], repo=repo)
        history_store(ticks=[t for t in real_ticks("ETHUSD") if t.minute <= CREATED_AT], repo=repo)
        alice = django_user_model.objects.create_user(
            "alice", email="alice@example.org", password="pw-alice-123"
        )
        django_user_model.objects.create_user("bob", email="bob@example.org", password="pw-bob-123")
        NotificationChannel.objects.create(
            owner=alice, kind="email", target="alice@example.org", verified=True
        )
        cache.clear()
        yield {"repo": repo, "replay": [t for t in btc if CREATED_AT < t.minute <= REPLAY_UNTIL]}
        with contextlib.suppress(RepositoryError):
            repo.delete_tables()
    _repository.cache_clear()
    cache.clear()


@contextlib.contextmanager
def signed_in(browser, site_url, username: str, password: str) -> Iterator:  # noqa: F811
    context, session = _open(browser, site_url)
    context.set_default_timeout(20_000)
    try:
        session.page.set_viewport_size(DESKTOP)
        session.goto("/accounts/login/")
        session.page.fill("#id_username", username)
        session.page.fill("#id_password", password)
        session.page.click("button[type=submit]")
        session.page.wait_for_url("**/alerts/")
        yield session
    finally:
        context.close()


def shoot(session, name: str) -> None:
    """Full-page screenshots at desktop and phone width; the phone page must not scroll sideways."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page = session.page
    page.set_viewport_size(DESKTOP)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)
    page.set_viewport_size(PHONE)
    page.wait_for_timeout(300)  # plotly's responsive relayout
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    page.screenshot(path=str(SCREENSHOTS / f"{name}-phone.png"), full_page=True)
    page.set_viewport_size(DESKTOP)


def test_a_user_creates_an_alert_from_a_pair_is_notified_and_mutes_it_from_the_email(
    browser,  # noqa: F811
    site_url,
    world,
    mailoutbox,
):
    with signed_in(browser, site_url, "alice", "pw-alice-123") as alice:
        page = alice.page
        assert "No alerts yet" in page.text_content("main")

        # From the pair page: "Create alert" starts at the pair and its last price.
        alice.goto("/pairs/BTCUSD/")
        page.click("#create-alert")
        page.wait_for_url("**/alerts/new/?pair=BTCUSD&threshold=7263.3")
        assert page.input_value("#id_pair") == "BTCUSD"
        assert page.input_value("#id_threshold") == "7263.3"
        assert "Last price 7,263.3 USD" in page.text_content("#pair-price")
        assert page.is_hidden("#id_window_minutes")  # crosses_above needs only a price
        assert page.text_content("[data-unit-for=threshold]") == "USD"

        page.fill("#id_threshold", "7300")
        page.fill("#id_name", "BTC over 7,300")
        page.check("input[name=channels]")
        page.wait_for_function(  # the preview of the rule as typed (the first one was at 7,263.3)
            "() => { const gd = document.querySelector('#preview-chart[data-drawn=true]');"
            " return gd && gd.layout.shapes.some(s => s.y0 === 7300); }"
        )
        meta = page.evaluate("document.getElementById('preview-chart').layout.meta")
        shown = int(page.get_attribute("#preview [data-notifications]", "data-notifications"))
        assert meta["markers"] == shown and shown >= 1
        assert sum(meta["per_day"].values()) == shown
        shoot(alice, "alert-form")

        page.click("button[name=save]")
        page.wait_for_url(re.compile(r".*/alerts/\d+/$"))
        rule = AlertRule.objects.get(owner__username="alice")
        assert (rule.condition, rule.threshold) == ("crosses_above", Decimal("7300"))

        # The pair chart now shows the threshold.
        alice.goto("/pairs/BTCUSD/")
        page.wait_for_selector('[data-thresholds="1"]')
        page.wait_for_function(  # plotly.js draws the chart (and the line) after the first paint
            "() => { const gd = document.getElementById('price-chart');"
            " return ((gd.layout && gd.layout.shapes) || [])"
            ".some(s => s.name === 'alert-threshold' && s.y0 === 7300); }"
        )

        # The real minutes after the rule was made arrive and are evaluated, one by one. Evaluation
        # judges no minute before a rule existed: the rule is dated to when its data ended, 2019.
        AlertRule.objects.filter(pk=rule.pk).update(created_at=CREATED_AT)
        minute = CREATED_AT
        alert_rules_evaluate(minute=minute, repo=world["repo"])
        for tick in world["replay"]:
            history_store(ticks=[tick], repo=world["repo"])
            minute = tick.minute
            alert_rules_evaluate(minute=minute, repo=world["repo"])
        (event,) = AlertEvent.objects.filter(rule=rule, new_state="firing")
        assert event.minute == CROSSING

        alice.goto("/alerts/events/")
        row = page.locator(f'tr[data-event="{event.pk}"]')
        assert "7,310.11486316" in row.text_content()
        assert row.locator('[data-delivery-status="sent"]').count() == 1
        shoot(alice, "alert-events")

        # The email links to the rule and offers one-click actions.
        (mail,) = mailoutbox
        assert mail.to == ["alice@example.org"]
        assert f"{site_url}/alerts/{rule.pk}/" in mail.body
        mute = re.search(r"Mute for 1 hour: (\S+)", mail.body).group(1)
        assert urlsplit(mute).path.startswith("/alerts/act/")

    # The link works without signing in: GET asks, the button's POST mutes.
    context, anonymous = _open(browser, site_url)
    try:
        anonymous.goto(urlsplit(mute).path)
        assert "Mute for 1 hour?" in anonymous.page.text_content("h1")
        rule.refresh_from_db()
        assert rule.muted_until is None
        anonymous.page.click("#confirm-action")
        anonymous.page.wait_for_selector("#action-result")
        assert "muted" in anonymous.page.text_content("#action-result")
        anonymous.assert_clean()
    finally:
        context.close()
    rule.refresh_from_db()
    assert rule.muted_until is not None
    assert list(rule.actions.values_list("action", "via")) == [("mute", "link")]

    with signed_in(browser, site_url, "alice", "pw-alice-123") as alice:
        state = alice.page.get_attribute(f'tr[data-rule="{rule.pk}"] [data-state]', "data-state")
        assert state == "muted"
        shoot(alice, "alerts")
        alice.goto(f"/alerts/{rule.pk}/")
        assert "Muted via link in a notification" in alice.page.text_content("#rule-history")
        alice.assert_clean()

    # Bob sees none of it.
    with signed_in(browser, site_url, "bob", "pw-bob-123") as bob:
        assert bob.page.locator("tr[data-rule]").count() == 0
        for path in (f"/alerts/{rule.pk}/", f"/alerts/{rule.pk}/edit/", f"/alerts/events/?rule={rule.pk}"):
            assert bob.page.goto(site_url + path).status == 404, path
        bob.goto("/alerts/events/")
        assert bob.page.locator("tr[data-event]").count() == 0
        bob.goto("/alerts/channels/")
        assert "alice@example.org" not in bob.page.text_content("main")
