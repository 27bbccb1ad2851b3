"""Alert rules of another configured exchange: the API, the form and their evaluation."""

from __future__ import annotations

from decimal import Decimal

import pytest
from rest_framework.test import APIClient

from alerts.evaluation import alert_rules_evaluate
from alerts.models import AlertEvent, AlertRule
from prices.domain import Tick, TickSource
from prices.services import history_store
from tests.alerts.helpers import minute, points

pytestmark = pytest.mark.django_db
RULES = "/api/v1/alerts/rules/"


@pytest.fixture
def kraken(settings, configured_repo):
    """Kraken configured beside Bitfinex, with XBTUSD ticks (its own id) of 7,000, 7,100, 7,200."""
    settings.PRICES_EXCHANGES = ["bitfinex", "kraken"]
    ticks = [
        Tick(exchange="kraken", pair="XBTUSD", minute=m, last_price=p, source=TickSource.CANDLE)
        for m, p in points([7000, 7100, 7200])
    ]
    history_store(ticks=ticks, repo=configured_repo)
    return configured_repo


def api_for(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def test_a_rule_names_a_configured_exchange_and_its_own_pair_id(alice, kraken):
    body = {"name": "XBT above 7,150", "exchange": "kraken", "pair": "XBTUSD", "condition": "price_above"}

    response = api_for(alice).post(RULES, {**body, "threshold": "7150"}, format="json")

    assert response.status_code == 201, response.json()
    assert (response.json()["exchange"], response.json()["pair"]) == ("kraken", "XBTUSD")
    assert AlertRule.objects.get().exchange == "kraken"


def test_an_exchange_not_configured_is_a_400_naming_the_field_and_a_pair_unknown_there_too(alice, kraken):
    client = api_for(alice)
    body = {"name": "x", "pair": "BTCUSD", "condition": "price_above", "threshold": "1"}

    unconfigured = client.post(RULES, {**body, "exchange": "binance"}, format="json")
    elsewhere = client.post(RULES, {**body, "exchange": "kraken"}, format="json")  # BTCUSD is Bitfinex's

    assert unconfigured.status_code == 400 and "exchange" in str(unconfigured.json())
    assert elsewhere.status_code == 400 and "kraken" in str(elsewhere.json())
    assert not AlertRule.objects.exists()


def test_without_an_exchange_a_rule_is_bitfinexs(alice, kraken):
    body = {"name": "BTC", "pair": "BTCUSD", "condition": "price_above", "threshold": "100"}

    assert api_for(alice).post(RULES, body, format="json").json()["exchange"] == "bitfinex"


def test_a_kraken_rule_fires_on_krakens_prices_not_bitfinexs(make_rule, kraken):
    rule = make_rule(exchange="kraken", pair="XBTUSD", threshold=Decimal("7150"))

    for at in range(3):
        alert_rules_evaluate(minute=minute(at), now=minute(at + 1), repo=kraken, enqueue=lambda ids: None)

    event = AlertEvent.objects.get(rule=rule)
    assert (event.minute, event.observed_value) == (minute(2), Decimal("7200"))


def test_the_form_offers_the_configured_exchanges_and_each_ones_pairs(client, alice, kraken):
    client.force_login(alice)

    page = client.get("/alerts/new/").content.decode()

    assert '<select name="exchange"' in page
    assert '<option value="kraken">Kraken</option>' in page
    assert 'id="pair-options-kraken"' in page and 'value="XBTUSD"' in page
    assert 'id="pair-options-bitfinex"' in page and 'list="pair-options-bitfinex"' in page


def test_with_one_exchange_the_form_has_no_exchange_to_choose(client, alice, configured_repo, settings):
    settings.PRICES_EXCHANGES = ["bitfinex"]
    client.force_login(alice)

    page = client.get("/alerts/new/").content.decode()

    assert '<input type="hidden" name="exchange" value="bitfinex"' in page
    assert '<select name="exchange"' not in page


def test_the_rule_list_names_an_exchange_other_than_bitfinex(client, alice, kraken, make_rule):
    make_rule(name="XBT rule", exchange="kraken", pair="XBTUSD", threshold=Decimal("7150"))
    make_rule(name="BTC rule")
    client.force_login(alice)

    page = client.get("/alerts/").content.decode()

    assert page.count('<small class="muted">Kraken</small>') == 1


def test_the_create_link_of_another_exchanges_pair_prefills_that_exchange(client, alice, kraken):
    client.force_login(alice)

    page = client.get("/alerts/new/?pair=XBTUSD&exchange=kraken&threshold=7200").content.decode()

    assert '<option value="kraken" selected>Kraken</option>' in page
    assert 'list="pair-options-kraken"' in page and 'value="XBTUSD"' in page


@pytest.fixture
def kraken_lagging(settings, configured_repo):
    """Kraken beside Bitfinex: XBTUSD (BTC-USD, as Bitfinex's BTCUSD) at 99, 99, 102 from T0,
    while Bitfinex's BTCUSD is 99, 100.5, 101."""
    settings.PRICES_EXCHANGES = ["bitfinex", "kraken"]
    ticks = [
        Tick(exchange="kraken", pair="XBTUSD", minute=m, last_price=p, source=TickSource.CANDLE)
        for m, p in points([99, 99, 102])
    ]
    history_store(ticks=ticks, repo=configured_repo)
    return configured_repo


def test_a_rule_confirmed_on_another_exchange_fires_only_once_that_exchange_agrees(make_rule, kraken_lagging):
    rule = make_rule(threshold=Decimal("100"), confirm_exchange=True)
    plain = make_rule(name="unconfirmed", threshold=Decimal("100"))

    for at in range(3):
        alert_rules_evaluate(
            minute=minute(at), now=minute(at + 1), repo=kraken_lagging, enqueue=lambda ids: None
        )

    # Bitfinex is above 100 from minute 1; Kraken only at minute 2.
    assert AlertEvent.objects.get(rule=plain).minute == minute(1)
    event = AlertEvent.objects.get(rule=rule)
    assert (event.minute, event.observed_value) == (minute(2), Decimal("101"))
    assert event.message.endswith("; confirmed on kraken XBTUSD at 102")


def test_confirmation_needs_another_exchange_listing_the_market(alice, kraken_lagging):
    client = api_for(alice)
    body = {"name": "x", "condition": "price_above", "threshold": "100", "confirm_exchange": True}

    listed = client.post(RULES, {**body, "pair": "BTCUSD"}, format="json")
    alone = client.post(RULES, {**body, "pair": "ETHUSD"}, format="json")  # Kraken has no ETH-USD here

    assert listed.status_code == 201 and listed.json()["confirm_exchange"] is True
    assert alone.status_code == 400
    assert "no other configured exchange lists ETH-USD" in str(alone.json())


def test_a_stored_minute_evaluates_the_rules_of_its_own_exchange_only(make_rule, kraken):
    bitfinex_rule = make_rule(name="BTC", threshold=Decimal("100"))
    kraken_rule = make_rule(name="XBT", exchange="kraken", pair="XBTUSD", threshold=Decimal("7150"))

    summary = alert_rules_evaluate(
        minute=minute(2), now=minute(3), repo=kraken, enqueue=lambda ids: None, exchange="bitfinex"
    )

    assert summary.rules == 1
    bitfinex_rule.refresh_from_db()
    kraken_rule.refresh_from_db()
    assert (bitfinex_rule.last_evaluated_minute, kraken_rule.last_evaluated_minute) == (minute(2), None)


def test_the_receiver_enqueues_the_evaluation_of_the_exchanges_minute(
    monkeypatch, django_capture_on_commit_callbacks
):
    from alerts.receivers import on_ticks_stored

    queued = []
    monkeypatch.setattr("django_q.tasks.async_task", lambda *args: queued.append(args))

    with django_capture_on_commit_callbacks(execute=True):
        on_ticks_stored(None, exchange="kraken", minutes=[minute(1), minute(2)])

    assert queued == [("alerts.tasks.evaluate_alert_rules", minute(2).isoformat(), "kraken")]


def test_a_median_rule_fires_on_the_exact_median_of_the_exchanges_listing_its_market(
    make_rule, kraken_lagging
):
    # BTC-USD: Bitfinex BTCUSD 99, 100.5, 101 and Kraken XBTUSD 99, 99, 102 → medians 99, 99.75, 101.5.
    rule = make_rule(exchange="median", pair="BTC-USD", threshold=Decimal("100"))

    for at in range(3):
        alert_rules_evaluate(
            minute=minute(at), now=minute(at + 1), repo=kraken_lagging, enqueue=lambda ids: None
        )

    event = AlertEvent.objects.get(rule=rule)
    assert (event.minute, event.observed_value) == (minute(2), Decimal("101.5"))


def test_a_median_rule_waits_for_the_evaluation_of_every_exchange_not_one_exchanges_minute(
    make_rule, kraken_lagging
):
    rule = make_rule(exchange="median", pair="BTC-USD", threshold=Decimal("100"))

    alert_rules_evaluate(
        minute=minute(2), now=minute(3), repo=kraken_lagging, enqueue=lambda ids: None, exchange="bitfinex"
    )

    rule.refresh_from_db()
    assert rule.last_evaluated_minute is None


def test_a_median_rule_needs_a_market_on_two_exchanges_and_no_window_statistics(alice, kraken_lagging):
    client = api_for(alice)
    body = {"name": "median", "exchange": "median", "condition": "price_above", "threshold": "100"}

    listed = client.post(RULES, {**body, "pair": "BTC-USD"}, format="json")
    alone = client.post(RULES, {**body, "pair": "ETH-USD"}, format="json")
    statistics = client.post(
        RULES,
        {
            **body,
            "pair": "BTC-USD",
            "condition": "volatility_above",
            "threshold": None,
            "percent": "1",
            "window_minutes": 60,
        },
        format="json",
    )

    assert listed.status_code == 201, listed.json()
    assert listed.json()["exchange"] == "median"
    assert alone.status_code == 400 and "only bitfinex lists 'ETH-USD'" in str(alone.json())
    assert statistics.status_code == 400 and "choose an exchange, not the median" in str(statistics.json())


def test_the_form_offers_the_median_with_the_shared_markets(client, alice, kraken_lagging):
    client.force_login(alice)

    page = client.get("/alerts/new/").content.decode()

    assert '<option value="median">Median across exchanges</option>' in page
    assert 'id="pair-options-median"' in page and '<option value="BTC-USD"' in page
