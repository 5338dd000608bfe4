"""Starting and stopping a plan's run."""

from datetime import datetime
from typing import Any

from sqlalchemy import update
from sqlmodel import Session, col, select

from models.db.tables import Plan, Stream, Task
from models.plan.coordination import fired_actions
from models.state.locks import lock_plan
from models.state.outcome import StateError
from models.state.streams import pause_stream, resume_stream


def start_plan(session: Session, plan: Plan, *, now: datetime, options: dict[str, Any]) -> str:
    """Start a draft plan or resume a stopped one; returns what happened."""
    lock_plan(session, plan)
    if plan.status == "running":
        raise StateError(f"plan {plan.key} is already running (`status {plan.key}` shows it)")
    plan.run_options = {**plan.run_options, **options}
    if plan.status == "draft":
        plan.status, plan.started_at = "running", now
        fired = fired_actions(session, plan)
        waiting = col(Task.after).is_(None) | col(Task.after).in_(fired) if fired else col(Task.after).is_(None)
        session.exec(
            update(Task)
            .where(col(Task.plan_id) == plan.id, col(Task.status) == "todo", col(Task.archived).is_(False), waiting)
            .values(status="ready", status_changed_at=now)
        )
        session.add(plan)
        return "started"
    plan.status, plan.stopped_at, plan.stop_reason, plan.emergency = "running", None, None, False
    for stream in _streams(session, plan):
        if stream.status == "paused" and stream.paused_by_stop:
            resume_stream(session, stream, plan, now=now)
            session.add(stream)
    session.add(plan)
    return "resumed"


def stop_plan(session: Session, plan: Plan, *, now: datetime, reason: str, emergency: bool) -> int:
    """Stop a running plan, halting every active stream; returns how many halted."""
    lock_plan(session, plan)
    if plan.status != "running":
        raise StateError(f"plan {plan.key} is {plan.status}, not running: nothing to stop")
    halted = 0
    for stream in _streams(session, plan):
        if stream.status == "active":
            pause_stream(session, stream, plan, now=now, reason=f"plan stopped: {reason}", by_stop=True)
            session.add(stream)
            halted += 1
    plan.status, plan.stopped_at, plan.stop_reason, plan.emergency = "stopped", now, reason, emergency
    session.add(plan)
    return halted


def _streams(session: Session, plan: Plan) -> list[Stream]:
    return list(
        session.exec(
            select(Stream)
            .where(Stream.plan_id == plan.id, col(Stream.archived).is_(False))
            .order_by(col(Stream.position))
        )
    )
