"""alert_rules_evaluate: events, deliveries, idempotency, catch-up, no_data, broken rules, I/O counts."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from alerts import evaluation
from alerts.evaluation import alert_rules_evaluate
from alerts.models import AlertEvent, AlertRule, Delivery, NotificationChannel
from prices.repository.memory import InMemoryTickRepository
from tests.alerts.helpers import T0, minute

pytestmark = pytest.mark.django_db


def evaluate(at: int, repo, **kwargs):
    return alert_rules_evaluate(
        minute=minute(at), now=minute(at + 1), repo=repo, enqueue=lambda ids: None, **kwargs
    )


def test_a_firing_rule_records_one_event_with_the_deciding_values_and_a_pending_delivery(make_rule, seed):
    rule = make_rule()
    repo = seed("BTCUSD", [99, "100.5"])

    summary = evaluate(1, repo)

    event = AlertEvent.objects.get()
    assert (event.rule, event.minute, event.old_state, event.new_state) == (
        rule,
        minute(1),
        "normal",
        "firing",
    )
    assert (event.observed_value, event.reference_value) == (Decimal("100.5"), Decimal("100"))
    assert event.message == "BTC above 100: BTCUSD last price 100.5 is above 100"
    delivery = Delivery.objects.get()
    assert (delivery.event, delivery.kind, delivery.target, delivery.status) == (
        event,
        "email",
        "alice@example.org",
        "pending",
    )
    assert (summary.rules, summary.events, summary.deliveries) == (1, 1, 1)


def test_rule_state_and_bookkeeping_are_saved(make_rule, seed):
    rule = make_rule()
    repo = seed("BTCUSD", [99, "100.5"])

    evaluate(1, repo)

    rule.refresh_from_db()
    assert (rule.state, rule.state_changed_at, rule.last_evaluated_minute) == ("firing", minute(1), minute(1))
    assert (rule.last_notified_minute, rule.armed) == (minute(1), False)


def test_the_deliveries_are_handed_to_the_enqueue_callable_after_commit(
    make_rule, seed, django_capture_on_commit_callbacks
):
    make_rule()
    repo = seed("BTCUSD", [101])
    handed: list[list[int]] = []

    with django_capture_on_commit_callbacks(execute=True):
        alert_rules_evaluate(minute=T0, now=T0, repo=repo, enqueue=handed.append)

    assert handed == [[Delivery.objects.get().pk]]


def test_evaluating_the_same_minute_twice_records_each_change_once(make_rule, seed):
    make_rule()
    repo = seed("BTCUSD", [99, 101])

    evaluate(1, repo)
    second = evaluate(1, repo)

    assert AlertEvent.objects.count() == 1
    assert Delivery.objects.count() == 1
    assert second.status == "idle"


def test_a_condition_that_stays_true_records_nothing_more(make_rule, seed):
    make_rule()
    repo = seed("BTCUSD", [101, 102, 103])

    for at in range(3):
        evaluate(at, repo)

    assert AlertEvent.objects.count() == 1


def test_missed_minutes_are_caught_up_in_order(make_rule, seed):
    make_rule(condition="crosses_below", threshold=Decimal("100"), name="BTC crosses below 100")
    repo = seed("BTCUSD", [101, 101, 99, 98, 97])
    evaluate(0, repo)

    evaluate(4, repo)  # minutes 1–3 were never evaluated: the crossing at 2 is found

    assert list(AlertEvent.objects.order_by("minute").values_list("minute", "new_state")) == [
        (minute(2), "firing"),
        (minute(3), "normal"),
    ]


def test_catch_up_is_limited_to_the_configured_number_of_minutes(make_rule, seed, settings):
    settings.ALERTS_CATCH_UP_MINUTES = 2
    rule = make_rule(condition="crosses_below", threshold=Decimal("100"))
    repo = seed("BTCUSD", [101, 99, 99, 99, 99, 99])
    evaluate(0, repo)

    summary = evaluate(5, repo)

    assert summary.rule_minutes == 2
    assert AlertEvent.objects.count() == 0  # the crossing at minute 1 is older than the catch-up
    rule.refresh_from_db()
    assert rule.last_evaluated_minute == minute(5)


def test_a_pair_whose_data_stops_goes_to_no_data_and_notifies_once(make_rule, seed):
    rule = make_rule()
    repo = seed("BTCUSD", [99, 99])

    for at in range(12):
        evaluate(at, repo)

    event = AlertEvent.objects.get()
    assert (event.minute, event.old_state, event.new_state, event.notify) == (
        minute(6),
        "normal",
        "no_data",
        True,
    )
    assert event.observed_value == Decimal("99")  # the last price seen
    rule.refresh_from_db()
    assert rule.state == "no_data"


def test_one_broken_rule_never_stops_the_others(make_rule, seed, monkeypatch, caplog):
    broken = make_rule(name="broken")
    healthy = make_rule(name="healthy")
    repo = seed("BTCUSD", [101])
    real = evaluation.condition_check

    def exploding(spec, series, at, **kwargs):
        if kwargs["pair"] == "BTCUSD" and exploding.calls == 0:
            exploding.calls += 1
            raise ZeroDivisionError("boom")
        return real(spec, series, at, **kwargs)

    exploding.calls = 0
    monkeypatch.setattr(evaluation, "condition_check", exploding)

    summary = evaluate(0, repo)

    assert summary.errors == 1
    assert list(AlertEvent.objects.values_list("rule", flat=True)) == [healthy.pk]
    assert f"alert rule {broken.pk}" in caplog.text
    assert f"failed to evaluate at {minute(0):%Y-%m-%dT%H:%M:%S}Z" in caplog.text


def test_disabled_and_expired_rules_are_not_evaluated(make_rule, seed):
    make_rule(enabled=False)
    make_rule(expires_at=minute(0))
    repo = seed("BTCUSD", [101])

    summary = evaluate(0, repo)

    assert summary.status == "idle"
    assert AlertEvent.objects.count() == 0


def test_a_once_rule_is_disabled_after_it_fires(make_rule, seed):
    rule = make_rule(trigger_mode="once")
    repo = seed("BTCUSD", [101, 99, 101])

    for at in range(3):
        evaluate(at, repo)

    rule.refresh_from_db()
    assert rule.enabled is False
    assert AlertEvent.objects.count() == 1


def test_unverified_email_channels_get_a_skipped_delivery(make_rule, seed, alice):
    stranger = NotificationChannel.objects.create(owner=alice, kind="email", target="someone@example.org")
    make_rule(channels=[stranger])
    repo = seed("BTCUSD", [101])

    evaluate(0, repo)

    delivery = Delivery.objects.get()
    assert (delivery.status, delivery.last_error) == ("skipped", "email channel not verified")


def test_suppressed_firings_are_recorded_without_deliveries(make_rule, seed):
    make_rule(cooldown_minutes=60)
    repo = seed("BTCUSD", [101, 99, 101])

    for at in range(3):
        evaluate(at, repo)

    assert list(AlertEvent.objects.order_by("minute").values_list("new_state", "notify", "suppressed")) == [
        ("firing", True, ""),
        ("normal", False, ""),
        ("firing", False, "cooldown"),
    ]
    assert Delivery.objects.count() == 1


def test_volatility_rules_read_window_statistics_from_the_rollups(make_rule, seed):
    make_rule(condition="volatility_above", threshold=None, percent=Decimal("1"), window_minutes=60)
    repo = seed("BTCUSD", [100 + (i % 2) * 10 for i in range(60)])

    evaluate(59, repo)

    event = AlertEvent.objects.get()
    assert event.new_state == "firing"
    # 100 and 110 alternating: sample std 5.0422 / mean 105 = 4.802 %
    assert Decimal("4.80") < event.observed_value < Decimal("4.81")


class CountingRepo(InMemoryTickRepository):
    """An in-memory repository counting the reads evaluation makes."""

    def __init__(self) -> None:
        super().__init__()
        self.reads = 0

    def snapshots_between(self, **kwargs):
        self.reads += 1
        return super().snapshots_between(**kwargs)

    def rollups_between(self, **kwargs):
        self.reads += 1
        return super().rollups_between(**kwargs)


def _io_for(rules_per_pair: int, make_rule) -> tuple[int, int]:
    """(store reads of a first evaluation, DB queries of the next minute's) for 3 pairs × 5 conditions."""
    from prices.services import history_store
    from tests.alerts.helpers import ticks

    repo = CountingRepo()
    for pair in ("BTCUSD", "ETHUSD", "LTCUSD"):
        history_store(ticks=ticks(pair, [101, 101, 101, 101]), repo=repo)
        for _ in range(rules_per_pair):
            make_rule(pair=pair)
            make_rule(
                pair=pair, condition="pct_change", threshold=None, percent=Decimal("1"), window_minutes=2
            )
            make_rule(
                pair=pair,
                condition="volatility_above",
                threshold=None,
                percent=Decimal("1"),
                window_minutes=60,
            )
            make_rule(
                pair=pair, condition="zscore", threshold=None, multiplier=Decimal("4"), window_minutes=2
            )
            make_rule(
                pair=pair,
                condition="volatility_rank",
                threshold=None,
                top_n=1,
                metric="volatility",
                rank_event="enters",
                dwell_minutes=2,
                confirm_minutes=3,
            )
    repo.reads = 0
    alert_rules_evaluate(minute=minute(2), now=minute(3), repo=repo, enqueue=lambda ids: None)
    reads = repo.reads
    with CaptureQueriesContext(connection) as queries:
        alert_rules_evaluate(minute=minute(3), now=minute(4), repo=repo, enqueue=lambda ids: None)
    return reads, len(queries)


def test_database_queries_and_store_reads_do_not_grow_with_rules_per_pair(make_rule):
    few = _io_for(1, make_rule)
    AlertRule.objects.all().delete()

    many = _io_for(20, make_rule)

    assert many == few
    # One recent_prices read, the pairs_stats reads of the 60 min window, and those of the one
    # 24 h window that zscore's volatility and the volatility ranking share (its hour rollups and
    # the minutes at both edges).
    assert few[0] == 5


def test_a_malformed_rule_saved_around_validation_fails_alone(make_rule, seed):
    make_rule(name="malformed", condition="volatility_above", threshold=None, window_minutes=None)
    healthy = make_rule(name="healthy")
    repo = seed("BTCUSD", [101])

    summary = evaluate(0, repo)

    assert summary.errors == 1
    assert list(AlertEvent.objects.values_list("rule", flat=True)) == [healthy.pk]


# --- a rule's own lifetime, and our downtime ------------------------------------------------


def test_a_rule_produces_no_event_for_a_minute_before_it_existed(make_rule, seed):
    rule = make_rule(created_at=minute(3).replace(second=30))  # created during minute 3
    repo = seed("BTCUSD", [101, 101, 101, 101, 101])

    early = evaluate(2, repo)  # the minute that had ended before the rule was created
    evaluate(4, repo)

    assert early.status == "idle"
    assert list(AlertEvent.objects.values_list("minute", flat=True)) == [minute(4)]
    rule.refresh_from_db()
    assert rule.last_evaluated_minute == minute(4)


def test_a_rule_created_during_a_minute_judges_that_minute(make_rule, seed):
    make_rule(created_at=minute(1).replace(second=30))
    repo = seed("BTCUSD", [101, 101])

    evaluate(1, repo)

    assert AlertEvent.objects.get().minute == minute(1)


def polls(*, last: int, down: tuple[int, int] | None = None) -> None:
    """Record poll progress as prices.services.lease leaves it: polls took minutes up to `last`."""
    from prices.models import PollLease

    PollLease.objects.create(
        exchange="bitfinex",
        expires_at=minute(last + 1),
        minute=minute(last),
        down_from=minute(down[0]) if down else None,
        down_until=minute(down[1]) if down else None,
    )


def test_after_our_downtime_a_minute_no_poll_took_yet_waits_instead_of_no_data(make_rule, seed):
    rule = make_rule()
    repo = seed("BTCUSD", [101])
    evaluate(0, repo)
    polls(last=0)  # then the cluster was down

    summary = evaluate(30, repo)

    assert summary.status == "waiting"
    assert list(AlertEvent.objects.values_list("new_state", flat=True)) == ["firing"]
    rule.refresh_from_db()
    assert (rule.state, rule.last_evaluated_minute) == ("firing", minute(0))


def test_minutes_of_our_downtime_never_move_a_rule_to_no_data(make_rule, seed, settings):
    settings.ALERTS_CATCH_UP_MINUTES = 30
    rule = make_rule()
    repo = seed("BTCUSD", [101] + [None] * 29 + [101])
    evaluate(0, repo)
    polls(last=30, down=(1, 29))  # the first poll after the restart stored minute 30

    evaluate(30, repo)

    assert list(AlertEvent.objects.values_list("new_state", flat=True)) == ["firing"]
    rule.refresh_from_db()
    assert (rule.state, rule.last_evaluated_minute) == ("firing", minute(30))


def test_data_missing_while_polls_ran_still_goes_to_no_data(make_rule, seed):
    make_rule()
    repo = seed("BTCUSD", [101])
    evaluate(0, repo)
    polls(last=12, down=None)  # polls ran every minute; the exchange had nothing for BTCUSD

    evaluate(12, repo)

    assert list(AlertEvent.objects.order_by("minute").values_list("new_state", flat=True)) == [
        "firing",
        "no_data",
    ]


def test_the_id_filters_of_a_bookkeeping_update_select_exactly_the_evaluated_rules(make_rule, monkeypatch):
    ids = [make_rule(name=f"r{i}").pk for i in range(12)]
    wanted = [ids[0], *ids[2:6], ids[7], ids[9], ids[10], ids[11]]  # runs, lone ids and a gap
    monkeypatch.setattr(evaluation, "ID_RANGES", 1)
    monkeypatch.setattr(evaluation, "ID_CHUNK", 1)

    filters = evaluation._ids_filters(wanted)

    selected = [pk for f in filters for pk in AlertRule.objects.filter(f).values_list("pk", flat=True)]
    assert sorted(selected) == sorted(wanted)  # each once
    assert len(filters) == 2  # two ranges, one per filter; the lone ids ride along
