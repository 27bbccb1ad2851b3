"""Alert conditions and the rule state machine: pure functions over minute prices (no ORM, no I/O).

A price series is one pair's (minute, last price) points, oldest first, as returned by
`prices.selectors.recent_prices`: the point for minute M is the last price at the end of M.
Evaluating a rule at minute M means: `condition_check` decides the rule's target state from
the series up to M (FIRING, NORMAL, or NO_DATA when the pair's data is stale) with the
condition's entry in `CONDITIONS`, then `rule_step` applies the trigger mode and cooldown to
the rule's memory and says whether the change is recorded and notified. Both are
deterministic; evaluation, backtests and tests share them.
"""

from alerts.rules.base import (
    FIELDS,
    MAX_WINDOW_MINUTES,
    RANK_METRICS,
    Check,
    Condition,
    Direction,
    Field,
    Param,
    ParamType,
    PriceSeries,
    RankEvent,
    State,
    TriggerMode,
)
from alerts.rules.conditions import (
    CONDITIONS,
    VOLATILITY_WINDOWS,
    Aggregate,
    CheckInput,
    ConditionKind,
    RuleSpec,
    condition_check,
    conditions_describe,
    param_conditions,
)
from alerts.rules.state import RuleMemory, Transition, rule_step

__all__ = [
    "CONDITIONS",
    "FIELDS",
    "MAX_WINDOW_MINUTES",
    "RANK_METRICS",
    "VOLATILITY_WINDOWS",
    "Aggregate",
    "Check",
    "CheckInput",
    "Condition",
    "ConditionKind",
    "Direction",
    "Field",
    "Param",
    "ParamType",
    "PriceSeries",
    "RankEvent",
    "RuleMemory",
    "RuleSpec",
    "State",
    "Transition",
    "TriggerMode",
    "condition_check",
    "conditions_describe",
    "param_conditions",
    "rule_step",
]
