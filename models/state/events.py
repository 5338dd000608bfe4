"""Events and coordination: an event is stored with its alert, and fires the actions it triggers.

Rules react to events too (a risk trigger on a bare event name), but they sit above this
layer: ``raise_event`` records each event it raised on the session, and the one who
runs the unit of work (the dispatcher, the scheduler's tick) lets the rules react before
it commits (``models.rules.reactions``). State never calls up into the rules.
"""

from datetime import datetime
from typing import Any

from sqlalchemy import update
from sqlmodel import Session, col

from models.db.tables import CoordinationFiring, Event, Plan, Task, id_of
from models.plan.coordination import fired_actions
from models.plan.settings import settings_of
from models.state.alerts import alert_for_event, level_of
from models.state.locks import lock_plan
from models.state.outcome import Outcome

RAISED = "orchestrate.raised"  # session.info key: (plan id, event name, alert id) not yet reacted to


def raise_event(
    session: Session,
    plan: Plan,
    name: str,
    *,
    now: datetime,
    source: str,
    actor: str | None,
    level: str | None = None,
    detail: dict[str, Any] | None = None,
    destinations: tuple[str, ...] = (),
    grouped: bool = True,
    routed: bool = True,
) -> Outcome:
    """Store an event with its alert (same transaction) and fire the coordination actions it triggers.

    ``routed=False``: the alert goes to ``destinations`` only, not by the plan's routes (a reminder to one person)."""
    lock_plan(session, plan)  # alerts are grouped per plan and event: one at a time
    event = Event(
        plan_id=id_of(plan),
        name=name,
        level=level_of(name, level),
        at=now,
        source=source,
        actor=actor,
        detail=detail or {},
    )
    session.add(event)
    session.flush()
    alert = alert_for_event(
        session, plan, event, now=now, extra_destinations=destinations, grouped=grouped, routed=routed
    )
    outcome = Outcome(events=[name])
    for group, rule in settings_of(plan).coordination_rules():
        if rule.trigger == name:
            note = fire_action(session, plan, rule.action, trigger=name, group=group, now=now)
            outcome.notes += [note] if note else []
    session.info.setdefault(RAISED, []).append((plan.id, name, alert.id if alert else None))
    return outcome


def take_raised(session: Session) -> list[tuple[int, str, int | None]]:
    """The events raised in this unit of work since the last call, oldest first, with their alert's id."""
    raised = session.info.get(RAISED) or []
    session.info[RAISED] = []
    return raised


def fire_action(session: Session, plan: Plan, action: str, *, trigger: str, group: str, now: datetime) -> str | None:
    """A coordination action fires once per plan: it readies the tasks waiting for it."""
    if action in fired_actions(session, plan):
        return None
    session.add(CoordinationFiring(plan_id=id_of(plan), action=action, trigger=trigger, fired_at=now))
    session.flush()
    readied = _ready_waiting(session, plan, action, now=now)
    return f"{trigger} → {action} ({group}): {readied} task(s) ready"


def _ready_waiting(session: Session, plan: Plan, action: str, *, now: datetime) -> int:
    if plan.started_at is None:
        return 0  # they become ready when the plan starts
    result = session.exec(
        update(Task)
        .where(
            col(Task.plan_id) == plan.id,
            col(Task.after) == action,
            col(Task.status) == "todo",
            col(Task.archived).is_(False),
        )
        .values(status="ready", status_changed_at=now)
    )
    return result.rowcount
