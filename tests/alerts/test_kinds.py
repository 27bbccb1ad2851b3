"""The alert kinds beyond levels: σ-normalised moves, volatility rank, confirmation, ladders.

Hand-made sequences pin the arithmetic; the real BTCUSD minutes of 2019-12-30/31
(tests/fixtures/history) show each kind on a real market.
"""

from __future__ import annotations

import math
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from alerts.evaluation import alert_rules_evaluate
from alerts.models import AlertEvent, AlertRule
from alerts.rules import (
    Condition,
    Direction,
    PriceSeries,
    RuleMemory,
    RuleSpec,
    State,
    TriggerMode,
    condition_check,
    rule_step,
)
from prices import selectors
from prices.domain import MINUTE
from prices.repository.memory import InMemoryTickRepository
from prices.services import history_store
from prices.statistics import WindowStats, segment_of
from tests.alerts.helpers import btcusd_closes, minute, points
from tests.realdata import PAIRS, candle_ticks

STALE = 5
SPIKE_DAY = datetime(2019, 12, 31, tzinfo=UTC)


def stats_with_volatility(volatility: float) -> WindowStats:
    return replace(WindowStats.of(None, expected=1440), volatility=volatility)


def replay(spec, series, minutes, *, confirm=1, mode=TriggerMode.REARM, cooldown=0, **extra):
    """Evaluate `spec` over `minutes` with the state machine; returns the minutes it notified."""
    memory, notified = RuleMemory(), []
    for at in minutes:
        kwargs = {name: value(at) if callable(value) else value for name, value in extra.items()}
        check = condition_check(
            spec, series, at, pair="BTCUSD", stale_minutes=STALE, anchor=memory.anchor_price, **kwargs
        )
        memory, transition = rule_step(
            memory, check, at, mode=mode, cooldown=timedelta(minutes=cooldown), confirm=confirm
        )
        if transition is not None and transition.notify:
            notified.append(at)
    return notified


@pytest.fixture(scope="module")
def btc() -> PriceSeries:
    """BTCUSD's real 1-minute closes of 2019-12-30 and 2019-12-31."""
    return PriceSeries(btcusd_closes("19-12-30") + btcusd_closes("19-12-31"))


def spike_day_minutes(start: str = "00:00", end: str = "24:00") -> list[datetime]:
    def at(hhmm: str) -> datetime:
        hours, minutes = map(int, hhmm.split(":"))
        return SPIKE_DAY + timedelta(hours=hours, minutes=minutes)

    count = (at(end) - at(start)) // MINUTE
    return [at(start) + i * MINUTE for i in range(count)]


# --- zscore: hand-made --------------------------------------------------------------------

ZSCORE_4 = RuleSpec(Condition.ZSCORE, multiplier=Decimal("4"), window_minutes=5)


def test_zscore_measures_the_move_in_typical_moves_of_the_pair():
    prices = [100] * 5 + [101]  # +1 % in 5 minutes: ln(1.01) = 0.00995
    stats = stats_with_volatility(0.001)  # typical 5-minute move: 0.001 × √5 = 0.002236

    result = condition_check(
        ZSCORE_4, PriceSeries(points(prices)), minute(5), pair="BTCUSD", stale_minutes=STALE, stats=stats
    )

    assert result.state is State.FIRING
    assert result.observed == pytest.approx(
        Decimal(math.log(1.01) / (0.001 * math.sqrt(5))), rel=Decimal("1e-9")
    )
    assert result.reference == Decimal("4")
    assert "+1.000 % in 5 min" in result.message


def test_the_same_move_is_normal_for_a_pair_that_usually_moves_that_much():
    prices = [100] * 5 + [101]

    result = condition_check(
        ZSCORE_4,
        PriceSeries(points(prices)),
        minute(5),
        pair="BTCUSD",
        stale_minutes=STALE,
        stats=stats_with_volatility(0.002),  # z = 0.00995 / 0.00447 = 2.2
    )

    assert result.state is State.NORMAL


@pytest.mark.parametrize(
    ("direction", "last", "expected"),
    [
        (Direction.UP, 101, State.FIRING),
        (Direction.UP, 99, State.NORMAL),
        (Direction.DOWN, 99, State.FIRING),
        (Direction.DOWN, 101, State.NORMAL),
        (Direction.EITHER, 99, State.FIRING),
    ],
)
def test_zscore_direction_selects_rises_falls_or_both(direction, last, expected):
    spec = replace(ZSCORE_4, direction=direction)

    result = condition_check(
        spec,
        PriceSeries(points([100] * 5 + [last])),
        minute(5),
        pair="BTCUSD",
        stale_minutes=STALE,
        stats=stats_with_volatility(0.001),
    )

    assert result.state is expected


def test_zscore_without_a_volatility_is_normal():
    result = condition_check(
        ZSCORE_4,
        PriceSeries(points([100] * 5 + [150])),
        minute(5),
        pair="BTCUSD",
        stale_minutes=STALE,
        stats=WindowStats.of(None, expected=1440),
    )

    assert result.state is State.NORMAL
    assert "no 24 h volatility" in result.message


def test_the_series_volatility_equals_the_rollups_on_real_minutes(btc):
    end = SPIKE_DAY + timedelta(hours=15)
    window = [(m, p) for m, p in zip(btc.minutes, btc.prices, strict=True) if end - 1440 * MINUTE <= m < end]
    stats = WindowStats.of(segment_of((int(m.timestamp() * 1000), p) for m, p in window), expected=1440)

    assert btc.volatility(end - 1440 * MINUTE, end) == pytest.approx(stats.volatility, rel=1e-9)


# --- zscore: the real spike of 2019-12-31 ----------------------------------------------------


def test_a_zscore_rule_fires_in_the_spike_and_drop_of_2019_12_31(btc):
    notified = replay(ZSCORE_4, btc, spike_day_minutes("01:00", "16:00"))

    assert notified, "the rule should fire on the 14:40–15:05 spike"
    assert all(
        SPIKE_DAY + timedelta(hours=14, minutes=40) <= at < SPIKE_DAY + timedelta(hours=15, minutes=5)
        for at in notified
    )
    rising = [at for at in notified if at <= SPIKE_DAY + timedelta(hours=14, minutes=47)]
    falling = [at for at in notified if at > SPIKE_DAY + timedelta(hours=14, minutes=47)]
    assert rising and falling  # the run-up to the 7,333 peak at 14:47 and the fall ending 15:01


def test_a_zscore_rule_stays_quiet_in_the_calm_hours_before_the_spike(btc):
    spec = replace(ZSCORE_4, direction=Direction.EITHER)

    states = {
        condition_check(spec, btc, at, pair="BTCUSD", stale_minutes=STALE).state
        for at in spike_day_minutes("01:00", "14:40")
    }

    assert states == {State.NORMAL}


def test_the_steepest_fall_of_the_drop_has_the_largest_downward_zscore(btc):
    spec = replace(ZSCORE_4, direction=Direction.DOWN)
    drop = spike_day_minutes("14:48", "15:06")

    scores = {at: condition_check(spec, btc, at, pair="BTCUSD", stale_minutes=STALE).observed for at in drop}

    assert min(scores, key=scores.get) == SPIKE_DAY + timedelta(hours=15, minutes=1)


# --- confirmation ----------------------------------------------------------------------------

ABOVE_100 = RuleSpec(Condition.PRICE_ABOVE, threshold=Decimal("100"))


def test_a_confirmed_rule_fires_once_the_condition_held_n_consecutive_minutes():
    series = PriceSeries(points([101, 99, 101, 101, 101, 101]))

    notified = replay(ABOVE_100, series, [minute(i) for i in range(6)], confirm=3)

    assert notified == [minute(4)]


def test_a_confirmed_rule_ignores_a_one_minute_excursion():
    series = PriceSeries(points([99, 101, 99, 99, 101, 99]))

    assert replay(ABOVE_100, series, [minute(i) for i in range(6)], confirm=2) == []
    assert replay(ABOVE_100, series, [minute(i) for i in range(6)], confirm=1) == [minute(1), minute(4)]


def test_while_confirming_the_rule_is_normal_and_says_how_long_it_held():
    memory = RuleMemory()
    check = condition_check(
        ABOVE_100, PriceSeries(points([101])), minute(0), pair="BTCUSD", stale_minutes=STALE
    )

    memory, transition = rule_step(
        memory, check, minute(0), mode=TriggerMode.REARM, cooldown=timedelta(0), confirm=3
    )

    assert transition is None
    assert (memory.state, memory.held_minutes) == (State.NORMAL, 1)


def test_leaving_firing_is_immediate_under_confirmation():
    series = PriceSeries(points([101, 101, 99]))
    memory = RuleMemory()
    states = []
    for i in range(3):
        check = condition_check(ABOVE_100, series, minute(i), pair="BTCUSD", stale_minutes=STALE)
        memory, _ = rule_step(
            memory, check, minute(i), mode=TriggerMode.REARM, cooldown=timedelta(0), confirm=2
        )
        states.append(memory.state)

    assert states == [State.NORMAL, State.FIRING, State.NORMAL]


def test_a_confirmation_rule_does_not_fire_on_the_one_minute_dip_of_15_01(btc):
    # 15:01 closed at 7,221.1 between 7,250.3 and 7,234.7: the only close under 7,225 of the
    # spike and drop (14:00–15:10).
    below = RuleSpec(Condition.PRICE_BELOW, threshold=Decimal("7225"))
    day = spike_day_minutes("14:00", "15:10")

    assert replay(below, btc, day, confirm=1) == [SPIKE_DAY + timedelta(hours=15, minutes=1)]
    assert replay(below, btc, day, confirm=2) == []


# --- ladder ----------------------------------------------------------------------------------

STEP_5 = RuleSpec(Condition.PCT_CHANGE, percent=Decimal("5"), window_minutes=1, direction=Direction.UP)


def test_a_ladder_fires_at_each_further_step_from_the_last_firing_price():
    prices = [100, 105, 106, 109, "110.25", 111, "115.77"]
    series = PriceSeries(points(prices))
    minutes = [minute(i) for i in range(len(prices))]

    laddered = replay(replace(STEP_5, ladder=True), series, minutes)
    plain = replay(STEP_5, series, minutes)

    assert laddered == [minute(1), minute(4), minute(6)]  # 105, then 105 × 1.05, then 110.25 × 1.05
    assert plain == [minute(1)]  # minute-to-minute moves after 105 stay under 5 %


def test_a_ladder_firing_moves_the_anchor_to_the_firing_price():
    series = PriceSeries(points([100, 105]))
    check = condition_check(
        replace(STEP_5, ladder=True), series, minute(1), pair="BTCUSD", stale_minutes=STALE
    )

    memory, transition = rule_step(
        RuleMemory(), check, minute(1), mode=TriggerMode.REARM, cooldown=timedelta(0)
    )

    assert transition.notify
    assert memory.anchor_price == Decimal("105")


def test_a_ladder_measures_from_the_anchor_once_it_has_one():
    series = PriceSeries(points([100, 100, "99.7"]))

    result = condition_check(
        replace(STEP_5, ladder=True, direction=Direction.DOWN),
        series,
        minute(2),
        pair="BTCUSD",
        stale_minutes=STALE,
        anchor=Decimal("105"),
    )

    assert result.state is State.FIRING  # −5.05 % from 105
    assert result.reference == Decimal("105")
    assert "since the last firing" in result.message


def test_only_pct_change_can_be_a_ladder():
    errors = RuleSpec(Condition.SPIKE, multiplier=Decimal("3"), window_minutes=60, ladder=True).errors()

    assert errors == {"ladder": "not used by spike; leave it at False"}


# --- volatility rank -------------------------------------------------------------------------

TOP_2 = RuleSpec(
    Condition.VOLATILITY_RANK, top_n=2, metric="relative_std", rank_event="enters", dwell_minutes=3
)


def ranks_by_minute(sequence):
    return lambda at: {"BTCUSD": sequence[(at - minute(0)) // MINUTE]}


def test_a_rank_rule_fires_after_the_pair_dwelt_in_the_top_n():
    series = PriceSeries(points([100] * 8))
    ranks = ranks_by_minute([3, 2, 3, 2, 1, 2, 5, 2])

    notified = replay(
        TOP_2, series, [minute(i) for i in range(8)], confirm=TOP_2.confirm_minutes(), ranks=ranks
    )

    assert notified == [minute(5)]  # in the top 2 at minutes 3, 4, 5; the flap at 1 did not fire


def test_a_leaves_rule_fires_after_the_pair_stayed_out_of_the_top_n():
    spec = replace(TOP_2, rank_event="leaves", dwell_minutes=2)
    series = PriceSeries(points([100] * 6))
    ranks = ranks_by_minute([1, 3, 1, 4, 4, 1])

    notified = replay(
        spec, series, [minute(i) for i in range(6)], confirm=spec.confirm_minutes(), ranks=ranks
    )

    assert notified == [minute(4)]


def test_an_unranked_pair_is_outside_the_top_n():
    result = condition_check(
        TOP_2, PriceSeries(points([100])), minute(0), pair="BTCUSD", stale_minutes=STALE, ranks={"ETHUSD": 1}
    )

    assert (result.state, result.observed, result.reference) == (State.NORMAL, None, Decimal("2"))
    assert "unranked" in result.message


def test_the_rank_dwell_is_a_minimum_confirmation():
    assert TOP_2.confirm_minutes(1) == 3
    assert TOP_2.confirm_minutes(10) == 10
    assert ABOVE_100.confirm_minutes(1) == 1


@pytest.mark.parametrize(
    ("field", "value"), [("top_n", 0), ("metric", "mean"), ("rank_event", "stays"), ("dwell_minutes", 0)]
)
def test_rank_parameters_are_validated(field, value):
    assert list(replace(TOP_2, **{field: value}).errors()) == [field]


@pytest.fixture(scope="module")
def real_repo() -> InMemoryTickRepository:
    """The seven recorded pairs of 2019-12-30/31 in an in-memory store, through prices.services."""
    repo = InMemoryTickRepository()
    for pair in PAIRS:
        history_store(ticks=candle_ticks(pair), repo=repo)
    return repo


def test_btcusd_enters_the_top_2_by_relative_std_on_the_real_ranking(real_repo):
    minutes = spike_day_minutes("06:00", "12:00")
    ranks = {
        at: {
            e.pair.name: e.rank
            for e in selectors.pairs_rank(window_minutes=1440, end=at + MINUTE, repo=real_repo)
        }
        for at in minutes
    }
    first_inside = next(at for at in minutes if ranks[at]["BTCUSD"] <= 2)
    spec = replace(TOP_2, dwell_minutes=15)

    notified = replay(
        spec, PriceSeries(btcusd_closes()), minutes, confirm=spec.confirm_minutes(), ranks=ranks.__getitem__
    )

    assert ranks[minutes[0]]["BTCUSD"] == 3
    assert notified and notified[0] >= first_inside + 14 * MINUTE


# --- evaluation reads the aggregates ---------------------------------------------------------


@pytest.mark.django_db
def test_evaluation_feeds_zscore_rules_the_stored_24h_volatility(make_rule, real_repo):
    rule = make_rule(condition="zscore", threshold=None, multiplier=Decimal("4"), window_minutes=5)
    at = SPIKE_DAY + timedelta(hours=15, minutes=1)

    alert_rules_evaluate(minute=at, now=at + MINUTE, repo=real_repo, enqueue=lambda ids: None)

    event = AlertEvent.objects.get(rule=rule)
    expected = selectors.pair_stats(pair="BTCUSD", window_minutes=1440, end=at + MINUTE, repo=real_repo)
    typical = expected.volatility * math.sqrt(5)
    assert event.new_state == "firing"
    assert float(event.observed_value) == pytest.approx(math.log(7221.1 / 7283.9) / typical, rel=1e-6)


@pytest.mark.django_db
def test_evaluation_feeds_rank_rules_the_ranking_and_saves_the_dwell(make_rule, real_repo):
    rule = make_rule(
        condition="volatility_rank",
        threshold=None,
        top_n=2,
        metric="relative_std",
        rank_event="enters",
        dwell_minutes=3,
    )
    at = SPIKE_DAY + timedelta(hours=9)  # BTCUSD is #2 by relative std then

    alert_rules_evaluate(minute=at, now=at + MINUTE, repo=real_repo, enqueue=lambda ids: None)

    rule.refresh_from_db()
    assert (rule.state, rule.held_minutes) == ("normal", 1)
    for offset in (1, 2):
        alert_rules_evaluate(
            minute=at + offset * MINUTE,
            now=at + (offset + 1) * MINUTE,
            repo=real_repo,
            enqueue=lambda ids: None,
        )
    rule.refresh_from_db()
    assert rule.state == "firing"
    assert AlertEvent.objects.get(rule=rule).observed_value == Decimal(2)


@pytest.mark.django_db
def test_evaluation_saves_a_ladder_anchor_and_uses_it_next_minute(make_rule, seed):
    rule = make_rule(
        condition="pct_change",
        threshold=None,
        percent=Decimal("5"),
        window_minutes=1,
        direction="up",
        ladder=True,
        cooldown_minutes=0,
    )
    repo = seed("BTCUSD", [100, 105, 106, "110.25"])

    for at in range(4):
        alert_rules_evaluate(minute=minute(at), now=minute(at + 1), repo=repo, enqueue=lambda ids: None)

    rule.refresh_from_db()
    assert rule.anchor_price == Decimal("110.25")
    assert list(
        AlertEvent.objects.filter(notify=True).values_list("minute", flat=True).order_by("minute")
    ) == [
        minute(1),
        minute(3),
    ]


@pytest.mark.django_db
def test_changing_a_ladder_rule_resets_its_anchor(make_rule, configured_repo):
    from alerts.services import alert_rule_update

    rule = make_rule(
        condition="pct_change", threshold=None, percent=Decimal("5"), window_minutes=1, ladder=True
    )
    AlertRule.objects.filter(pk=rule.pk).update(anchor_price=Decimal("105"), held_minutes=1)
    rule.refresh_from_db()

    alert_rule_update(rule=rule, data={"percent": Decimal("3")})

    rule.refresh_from_db()
    assert (rule.anchor_price, rule.held_minutes) == (None, 0)


# --- backtests and the API know the kinds ----------------------------------------------------


@pytest.mark.django_db
def test_a_zscore_backtest_finds_the_spike_of_2019_12_31(make_rule, real_repo):
    from alerts.backtest import alert_rule_backtest

    rule = make_rule(
        condition="zscore", threshold=None, multiplier=Decimal("4"), window_minutes=5, cooldown_minutes=0
    )

    result = alert_rule_backtest(rule=rule, days=1, end=SPIKE_DAY + timedelta(days=1), repo=real_repo)

    spike = [n.minute for n in result.notifications if n.minute.hour in (14, 15)]
    assert spike and all(
        SPIKE_DAY + timedelta(hours=14, minutes=40) <= at < SPIKE_DAY + timedelta(hours=15, minutes=5)
        for at in spike
    )


def test_the_backtest_ranking_from_minute_prices_matches_the_rank_selector(real_repo):
    from alerts.backtest import _SeriesRanking
    from alerts.rules import Aggregate

    end = SPIKE_DAY + timedelta(days=1)
    raw = selectors.recent_prices(end=end, minutes=2 * 1440, repo=real_repo)
    series = {pair: PriceSeries(points) for pair, points in raw.items()}
    for metric in ("relative_std", "std", "volatility"):
        ranking = _SeriesRanking(series, Aggregate(1440, rank_by=metric))
        for at in (SPIKE_DAY + timedelta(hours=9, minutes=30), SPIKE_DAY + timedelta(hours=15, minutes=1)):
            entries = selectors.pairs_rank(
                window_minutes=1440, end=at + MINUTE, metric=metric, repo=real_repo
            )

            assert ranking(at) == {e.pair.name: e.rank for e in entries}, (metric, at)


@pytest.mark.django_db
def test_a_rank_rule_backtest_is_limited_to_seven_days(make_rule, configured_repo):
    from rest_framework.test import APIClient

    rule = make_rule(
        condition="volatility_rank",
        threshold=None,
        top_n=1,
        metric="volatility",
        rank_event="enters",
        dwell_minutes=5,
    )
    client = APIClient()
    client.force_authenticate(rule.owner)

    refused = client.post(f"/api/v1/alerts/rules/{rule.pk}/backtest/?days=8")
    allowed = client.post(f"/api/v1/alerts/rules/{rule.pk}/backtest/?days=7")

    assert refused.status_code == 400
    assert refused.json()["error"]["fields"] and "days" in refused.json()["error"]["fields"]
    assert allowed.status_code == 200


@pytest.mark.django_db
def test_the_api_creates_each_new_kind_and_validates_it_like_the_others(alice, configured_repo):
    from rest_framework.test import APIClient

    client = APIClient()
    client.force_authenticate(alice)
    base = {"name": "r", "pair": "BTCUSD"}

    zscore = client.post(
        "/api/v1/alerts/rules/",
        {
            **base,
            "condition": "zscore",
            "multiplier": "4",
            "window_minutes": 5,
            "direction": "down",
            "confirm_minutes": 2,
        },
        format="json",
    )
    rank = client.post(
        "/api/v1/alerts/rules/",
        {
            **base,
            "condition": "volatility_rank",
            "top_n": 3,
            "metric": "volatility",
            "rank_event": "leaves",
            "dwell_minutes": 10,
        },
        format="json",
    )
    ladder = client.post(
        "/api/v1/alerts/rules/",
        {**base, "condition": "pct_change", "percent": "5", "window_minutes": 60, "ladder": True},
        format="json",
    )
    bad = client.post(
        "/api/v1/alerts/rules/",
        {**base, "condition": "volatility_rank", "top_n": 3, "ladder": True},
        format="json",
    )

    assert zscore.status_code == 201, zscore.json()
    assert (zscore.json()["multiplier"], zscore.json()["confirm_minutes"]) == ("4", 2)
    assert rank.status_code == 201, rank.json()
    assert rank.json()["metric"] == "volatility"
    assert ladder.status_code == 201 and ladder.json()["ladder"] is True
    assert bad.status_code == 400
    assert set(bad.json()["error"]["fields"]) == {"metric", "rank_event", "dwell_minutes", "ladder"}


def test_a_ladder_on_the_real_spike_steps_from_each_firing_price(btc):
    spec = RuleSpec(Condition.PCT_CHANGE, percent=Decimal("0.5"), window_minutes=10, ladder=True)
    memory, firings = RuleMemory(), []
    for at in spike_day_minutes("14:00", "16:00"):
        check = condition_check(spec, btc, at, pair="BTCUSD", stale_minutes=STALE, anchor=memory.anchor_price)
        memory, transition = rule_step(memory, check, at, mode=TriggerMode.REARM, cooldown=timedelta(0))
        if transition is not None and transition.notify:
            firings.append((at, check.observed, check.reference))

    assert len(firings) >= 2  # the run-up to 7,333 and the fall to 7,221 are more than one step
    for (_, price, _), (_, _, reference) in zip(firings, firings[1:], strict=False):
        assert reference == price  # each step is measured from the previous firing price
    for _, price, reference in firings:
        assert abs(price - reference) / reference >= Decimal("0.005")


@pytest.mark.django_db
def test_the_browser_form_creates_a_rank_rule_with_confirmation(client, alice, configured_repo):
    client.force_login(alice)
    form = {
        "name": "ETH into the top 3",
        "pair": "ETHUSD",
        "condition": "volatility_rank",
        "top_n": "3",
        "metric": "volatility",
        "rank_event": "enters",
        "dwell_minutes": "30",
        "trigger_mode": "rearm",
        "cooldown_minutes": "60",
        "confirm_minutes": "2",
        "enabled": "on",
    }

    response = client.post("/alerts/new/", form)

    rule = AlertRule.objects.get()
    assert response.status_code == 302
    assert (rule.condition, rule.top_n, rule.metric, rule.rank_event, rule.dwell_minutes) == (
        "volatility_rank",
        3,
        "volatility",
        "enters",
        30,
    )
    assert rule.confirm_minutes == 2


@pytest.mark.django_db
def test_the_browser_channel_form_sets_quiet_hours(client, alice):
    client.force_login(alice)

    response = client.post(
        "/alerts/channels/",
        {"kind": "email", "target": "alice@example.org", "quiet_start": "22:00", "quiet_end": "07:00",
         "quiet_timezone": "Europe/Paris"},
    )  # fmt: skip

    from alerts.models import NotificationChannel

    channel = NotificationChannel.objects.get()
    assert response.status_code == 302
    assert (channel.quiet_start.hour, channel.quiet_end.hour, channel.quiet_timezone) == (
        22,
        7,
        "Europe/Paris",
    )
