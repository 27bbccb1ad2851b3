"""The rule state machine: trigger modes, re-arming and cooldowns over minutes (pure)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from alerts.rules.base import Check, State, TriggerMode


@dataclass(frozen=True, slots=True)
class RuleMemory:
    """What evaluation remembers between minutes: state, re-arm flag, last firing notification, enabled."""

    state: State = State.NORMAL
    armed: bool = True
    last_notified_minute: datetime | None = None
    enabled: bool = True
    state_changed_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class Transition:
    """A change to record as an event: states, whether to notify, why not (cooldown, not_rearmed)."""

    old_state: State
    new_state: State
    notify: bool
    suppressed: str = ""


def rule_step(
    memory: RuleMemory, check: Check, minute: datetime, *, mode: TriggerMode, cooldown: timedelta
) -> tuple[RuleMemory, Transition | None]:
    """Apply one minute's check to a rule's memory; returns (new memory, transition to record or None).

    A transition is recorded for every state change and, in `every` mode, for each repeated
    notification while firing. Entering FIRING notifies: `once` — the first time, then the
    rule is disabled; `rearm` — only if the condition was NORMAL since the last firing and the
    cooldown has passed since the last notification; `every` — whenever the cooldown has
    passed. Entering NO_DATA always notifies (data stopped). Recoveries are recorded, not sent.
    """
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
    updated = replace(
        memory,
        state=new,
        armed=armed,
        state_changed_at=minute if new is not old else memory.state_changed_at,
        last_notified_minute=minute if notify and new is State.FIRING else memory.last_notified_minute,
        enabled=memory.enabled and not (notify and mode is TriggerMode.ONCE and new is State.FIRING),
    )
    if not record:
        return updated, None
    return updated, Transition(old_state=old, new_state=new, notify=notify, suppressed=suppressed)
