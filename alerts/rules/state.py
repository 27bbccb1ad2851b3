"""The rule state machine: trigger modes, re-arming and cooldowns over minutes (pure)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from decimal import Decimal

from alerts.rules.base import Check, State, TriggerMode


@dataclass(frozen=True, slots=True)
class RuleMemory:
    """What evaluation remembers between minutes: state, re-arm flag, last firing notification, enabled.

    `held_minutes`: consecutive evaluated minutes the condition has held, up to the rule's
    confirmation (0 while it does not hold). `anchor_price`: a ladder rule's baseline, the
    price of its last firing (None before the first).
    """

    state: State = State.NORMAL
    armed: bool = True
    last_notified_minute: datetime | None = None
    enabled: bool = True
    state_changed_at: datetime | None = None
    held_minutes: int = 0
    anchor_price: Decimal | None = None


@dataclass(frozen=True, slots=True)
class Transition:
    """A change to record as an event: states, whether to notify, why not (cooldown, not_rearmed),
    and the check as the rule saw it (after confirmation)."""

    old_state: State
    new_state: State
    notify: bool
    suppressed: str = ""
    check: Check | None = None


def _confirmed(memory: RuleMemory, check: Check, confirm: int) -> tuple[Check, int]:
    """The check as confirmation sees it, and the new held count: a condition that has held
    fewer than `confirm` consecutive minutes (and was not firing already) is still NORMAL."""
    if check.state is not State.FIRING:
        return check, 0
    held = min(memory.held_minutes + 1, confirm)
    if held >= confirm or memory.state is State.FIRING:
        return check, held
    pending = f"{check.message} (held {held} of {confirm} consecutive min)"
    return replace(check, state=State.NORMAL, message=pending, anchor=None), held


def rule_step(
    memory: RuleMemory,
    check: Check,
    minute: datetime,
    *,
    mode: TriggerMode,
    cooldown: timedelta,
    confirm: int = 1,
) -> tuple[RuleMemory, Transition | None]:
    """Apply one minute's check to a rule's memory; returns (new memory, transition to record or None).

    With `confirm` N > 1 the condition must hold N consecutive evaluated minutes before the
    rule enters FIRING (until then it is NORMAL); leaving FIRING is immediate. A check with an
    `anchor` (a ladder) moves the rule's `anchor_price` to it whenever a firing is recorded.

    A transition is recorded for every state change and, in `every` mode, for each repeated
    notification while firing. Entering FIRING notifies: `once` — the first time, then the
    rule is disabled; `rearm` — only if the condition was NORMAL since the last firing and the
    cooldown has passed since the last notification; `every` — whenever the cooldown has
    passed. Entering NO_DATA always notifies (data stopped). Recoveries are recorded, not sent.
    When nothing changes, the returned memory is `memory` itself.
    """
    check, held = _confirmed(memory, check, confirm)
    old, new = memory.state, check.state
    armed = True if new is State.NORMAL else memory.armed
    cooled = memory.last_notified_minute is None or minute - memory.last_notified_minute >= cooldown
    notify = False
    suppressed = ""
    record = new is not old
    if new is State.FIRING:
        if mode is TriggerMode.ONCE:
            notify = old is not State.FIRING
        elif mode is TriggerMode.REARM:
            if old is not State.FIRING:
                if not memory.armed:
                    suppressed = "not_rearmed"
                elif not cooled:
                    suppressed = "cooldown"
                else:
                    notify = True
                armed = False
        elif cooled:
            notify = record = True
        elif old is not State.FIRING:
            suppressed = "cooldown"
    elif new is State.NO_DATA:
        notify = old is not State.NO_DATA
    if not record and armed == memory.armed and held == memory.held_minutes:
        # Most rules at most minutes: nothing changes (without a record there is no state
        # change, notification or re-anchoring), so no new memory is built and callers may
        # skip persisting the rule.
        return memory, None
    firing = new is State.FIRING
    updated = RuleMemory(
        state=new,
        armed=armed,
        last_notified_minute=minute if notify and firing else memory.last_notified_minute,
        enabled=memory.enabled and not (notify and mode is TriggerMode.ONCE and firing),
        state_changed_at=minute if new is not old else memory.state_changed_at,
        held_minutes=held,
        anchor_price=check.anchor if record and firing and check.anchor is not None else memory.anchor_price,
    )
    if not record:
        return updated, None
    return updated, Transition(
        old_state=old, new_state=new, notify=notify, suppressed=suppressed, check=check
    )
