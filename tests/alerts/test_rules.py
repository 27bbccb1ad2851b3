"""Conditions and trigger modes on hand-made minute sequences (pure, no database)."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest

from alerts.rules import (
    Check,
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
from prices.statistics import WindowStats, segment_of
from tests.alerts.helpers import minute, points

STALE = 5


def check(spec: RuleSpec, prices, at: int, **kwargs) -> Check:
    return condition_check(
        spec, PriceSeries(points(prices)), minute(at), pair="BTCUSD", stale_minutes=STALE, **kwargs
    )


def simulate(spec: RuleSpec, prices, *, mode: TriggerMode, cooldown_minutes: int = 60, memory=None):
    """Evaluate every minute of the sequence; returns (notified minutes' indexes, transitions, memory)."""
    series = PriceSeries(points(prices))
    memory = memory or RuleMemory()
    notified, transitions = [], []
    for i in range(len(prices)):
        if not memory.enabled:
            break
        result = condition_check(spec, series, minute(i), pair="BTCUSD", stale_minutes=STALE)
        memory, transition = rule_step(
            memory, result, minute(i), mode=mode, cooldown=timedelta(minutes=cooldown_minutes)
        )
        if transition:
            transitions.append((i, transition))
            if transition.notify:
                notified.append(i)
    return notified, transitions, memory


ABOVE_100 = RuleSpec(Condition.PRICE_ABOVE, threshold=Decimal("100"))


# --- conditions -------------------------------------------------------------------------


def test_price_above_fires_when_the_last_price_is_strictly_above_the_threshold():
    assert check(ABOVE_100, [99, 100.5], 1).state is State.FIRING
    assert check(ABOVE_100, [99, 100], 1).state is State.NORMAL


def test_price_above_reports_last_price_and_threshold():
    result = check(ABOVE_100, [99, "100.25"], 1)

    assert (result.observed, result.reference) == (Decimal("100.25"), Decimal("100"))
    assert "100.25 is above 100" in result.message


def test_price_below_fires_under_the_threshold():
    spec = RuleSpec(Condition.PRICE_BELOW, threshold=Decimal("100"))

    assert check(spec, [101, "99.99"], 1).state is State.FIRING
    assert check(spec, [101, 100], 1).state is State.NORMAL


def test_crosses_above_fires_only_in_the_minute_of_the_crossing():
    spec = RuleSpec(Condition.CROSSES_ABOVE, threshold=Decimal("100"))
    prices = [98, 100, 101, 102, 99]

    states = [check(spec, prices, i).state for i in range(len(prices))]

    assert states == [State.NORMAL, State.NORMAL, State.FIRING, State.NORMAL, State.NORMAL]


def test_crosses_below_compares_with_the_previous_tick_and_reports_it():
    spec = RuleSpec(Condition.CROSSES_BELOW, threshold=Decimal("7200"))

    result = check(spec, ["7201.5", "7200", "7199.9"], 2)

    assert result.state is State.FIRING
    assert (result.observed, result.reference) == (Decimal("7199.9"), Decimal("7200"))
    assert "(was 7200)" in result.message


def test_crossing_is_not_reported_again_in_minutes_without_a_new_tick():
    spec = RuleSpec(Condition.CROSSES_BELOW, threshold=Decimal("100"))

    assert check(spec, [101, 99, None, None], 1).state is State.FIRING
    assert check(spec, [101, 99, None, None], 3).state is State.NORMAL


def test_crossing_over_a_missing_minute_is_seen_at_the_next_tick():
    spec = RuleSpec(Condition.CROSSES_ABOVE, threshold=Decimal("100"))

    assert check(spec, [99, None, 101], 2).state is State.FIRING


@pytest.mark.parametrize(
    ("direction", "prices", "expected"),
    [
        (Direction.UP, [100, 101, 102], State.FIRING),  # +2 %
        (Direction.UP, [100, 99, 98], State.NORMAL),
        (Direction.DOWN, [100, 99, 98], State.FIRING),  # −2 %
        (Direction.DOWN, [100, 101, 102], State.NORMAL),
        (Direction.EITHER, [100, 99, 98], State.FIRING),
        (Direction.EITHER, [100, 100, "101.99"], State.NORMAL),  # +1.99 % < 2 %
    ],
)
def test_pct_change_compares_with_the_price_window_minutes_earlier(direction, prices, expected):
    spec = RuleSpec(Condition.PCT_CHANGE, percent=Decimal("2"), window_minutes=2, direction=direction)

    assert check(spec, prices, 2).state is expected


def test_pct_change_reports_current_and_reference_price():
    spec = RuleSpec(Condition.PCT_CHANGE, percent=Decimal("1"), window_minutes=3, direction=Direction.DOWN)

    result = check(spec, [200, 199, 198, 197], 3)

    assert (result.observed, result.reference) == (Decimal("197"), Decimal("200"))
    assert "fell 1.500 % in 3 min" in result.message


def test_pct_change_is_normal_without_enough_history():
    spec = RuleSpec(Condition.PCT_CHANGE, percent=Decimal("1"), window_minutes=30)

    result = check(spec, [100, 50], 1)

    assert result.state is State.NORMAL
    assert "not enough history" in result.message


def test_spike_fires_at_k_times_the_average_of_the_window_before():
    spec = RuleSpec(Condition.SPIKE, multiplier=Decimal("3"), window_minutes=4)
    prices = [10, 10, 12, 8, 30]  # average of the 4 minutes before: 10

    result = check(spec, prices, 4)

    assert result.state is State.FIRING
    assert (result.observed, result.reference) == (Decimal("30"), Decimal("10"))


def test_spike_below_k_times_the_average_is_normal():
    spec = RuleSpec(Condition.SPIKE, multiplier=Decimal("3"), window_minutes=4)

    assert check(spec, [10, 10, 12, 8, "29.99"], 4).state is State.NORMAL


def test_volatility_above_uses_the_relative_std_of_the_window_in_percent():
    spec = RuleSpec(Condition.VOLATILITY_ABOVE, percent=Decimal("1"), window_minutes=60)
    calm = [100 + (i % 2) * Decimal("0.1") for i in range(60)]
    wild = [100 + (i % 2) * 10 for i in range(60)]

    assert check(spec, calm, 59).state is State.NORMAL
    assert check(spec, wild, 59).state is State.FIRING


def test_volatility_above_matches_window_stats_from_prices_statistics():
    spec = RuleSpec(Condition.VOLATILITY_ABOVE, percent=Decimal("0.5"), window_minutes=60)
    prices = [100 + (i % 7) for i in range(60)]
    stats = WindowStats.of(segment_of((m.timestamp() * 1000, p) for m, p in points(prices)), expected=60)

    from_series = check(spec, prices, 59)
    from_stats = check(spec, prices, 59, stats=stats)

    assert from_series.observed == pytest.approx(from_stats.observed, rel=Decimal("1e-9"))
    assert from_stats.observed == pytest.approx(Decimal(repr(stats.relative_std * 100)), rel=Decimal("1e-9"))


def test_no_data_condition_fires_when_no_tick_for_n_minutes():
    spec = RuleSpec(Condition.NO_DATA, window_minutes=3)
    prices = [100, 101, None, None, None, None]

    assert check(spec, prices, 3).state is State.NORMAL  # last tick at minute 1: 2 minutes ago
    result = check(spec, prices, 4)
    assert result.state is State.FIRING  # 3 minutes without a tick
    assert (result.observed, result.reference) == (Decimal("3"), Decimal("3"))


def test_a_pair_whose_data_stopped_goes_to_no_data_instead_of_using_stale_prices():
    prices = [101, 102, None, None, None, None, None]

    assert check(ABOVE_100, prices, 5).state is State.FIRING  # last tick 4 minutes old: fresh
    result = check(ABOVE_100, prices, 6)
    assert result.state is State.NO_DATA
    assert "no fresh data" in result.message


def test_no_tick_at_all_is_no_data():
    assert check(ABOVE_100, [], 0).state is State.NO_DATA


# --- validation -------------------------------------------------------------------------


def test_pct_change_needs_a_window():
    errors = RuleSpec(Condition.PCT_CHANGE, percent=Decimal("1")).errors()

    assert errors == {"window_minutes": "required for pct_change"}


def test_parameters_a_condition_does_not_use_are_rejected():
    errors = RuleSpec(Condition.PRICE_ABOVE, threshold=Decimal("1"), window_minutes=5).errors()

    assert errors == {"window_minutes": "not used by price_above; leave it empty"}


@pytest.mark.parametrize(
    ("spec", "field"),
    [
        (RuleSpec(Condition.PRICE_ABOVE, threshold=Decimal("0")), "threshold"),
        (RuleSpec(Condition.SPIKE, multiplier=Decimal("1"), window_minutes=60), "multiplier"),
        (RuleSpec(Condition.VOLATILITY_ABOVE, percent=Decimal("1"), window_minutes=45), "window_minutes"),
        (RuleSpec(Condition.NO_DATA, window_minutes=2000), "window_minutes"),
        (RuleSpec(Condition.PRICE_BELOW, threshold=Decimal("5"), direction=Direction.UP), "direction"),
    ],
)
def test_out_of_range_parameters_name_their_field(spec, field):
    assert list(spec.errors()) == [field]


# --- trigger modes ----------------------------------------------------------------------

FLAPPING = [99, 101, 99, 101, 99, 101, 99, 101, 99, 101]  # crosses 100 every minute


def test_rearm_with_cooldown_notifies_once_for_a_price_flapping_around_the_threshold():
    notified, transitions, _ = simulate(ABOVE_100, FLAPPING, mode=TriggerMode.REARM, cooldown_minutes=60)

    assert notified == [1]
    assert len(transitions) == 9  # every state change is recorded
    assert [t.suppressed for i, t in transitions if t.new_state is State.FIRING] == ["", *["cooldown"] * 4]


def test_rearm_notifies_again_after_the_cooldown_once_the_condition_was_false():
    prices = [101, 99, 101, 99, 101]

    notified, _, _ = simulate(ABOVE_100, prices, mode=TriggerMode.REARM, cooldown_minutes=2)

    assert notified == [0, 2, 4]


def test_rearm_does_not_notify_again_while_the_condition_stays_true():
    notified, transitions, memory = simulate(
        ABOVE_100, [101] * 10, mode=TriggerMode.REARM, cooldown_minutes=0
    )

    assert notified == [0]
    assert len(transitions) == 1
    assert memory.state is State.FIRING


def test_once_notifies_the_first_time_and_disables_the_rule():
    notified, _, memory = simulate(ABOVE_100, [99, 101, 99, 101], mode=TriggerMode.ONCE)

    assert notified == [1]
    assert memory.enabled is False


def test_every_notifies_each_evaluation_while_true_limited_by_the_cooldown():
    notified, transitions, _ = simulate(ABOVE_100, [101] * 7, mode=TriggerMode.EVERY, cooldown_minutes=3)

    assert notified == [0, 3, 6]
    assert [(t.old_state, t.new_state) for _, t in transitions][1:] == [(State.FIRING, State.FIRING)] * 2


def test_every_without_cooldown_notifies_every_minute_while_true():
    notified, _, _ = simulate(ABOVE_100, [101, 101, 99, 101], mode=TriggerMode.EVERY, cooldown_minutes=0)

    assert notified == [0, 1, 3]


def test_data_stop_notifies_once_and_recovery_is_recorded_without_notifying():
    prices = [101, 101, *[None] * 8, 101]

    notified, transitions, _ = simulate(ABOVE_100, prices, mode=TriggerMode.REARM)

    assert [(i, t.old_state, t.new_state, t.notify) for i, t in transitions] == [
        (0, State.NORMAL, State.FIRING, True),
        (6, State.FIRING, State.NO_DATA, True),
        (10, State.NO_DATA, State.FIRING, False),
    ]
    assert transitions[2][1].suppressed == "not_rearmed"


def test_rule_memory_remembers_the_minute_of_the_last_firing_notification():
    memory, transition = rule_step(
        RuleMemory(),
        Check(State.FIRING, Decimal(1), Decimal(0), "x"),
        minute(3),
        mode=TriggerMode.REARM,
        cooldown=timedelta(hours=1),
    )

    assert transition.notify
    assert memory.last_notified_minute == minute(3)
    assert memory.state_changed_at == minute(3)
    assert memory.armed is False
