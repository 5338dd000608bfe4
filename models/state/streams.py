"""Pausing and resuming a stream: its clock stops while it is paused."""

from datetime import datetime

from sqlmodel import Session

from models.db.tables import Plan, Stream
from models.plan.settings import plan_clock
from models.state.locks import lock_plan
from models.state.outcome import StateError


def pause_stream(
    session: Session, stream: Stream, plan: Plan, *, now: datetime, reason: str | None = None, by_stop: bool = False
) -> None:
    lock_plan(session, plan)
    session.refresh(stream)
    if stream.status == "paused":
        raise StateError(f"stream {stream.key} is already paused: `resume {stream.key}` to resume it")
    stream.status, stream.paused_at, stream.pause_reason = "paused", now, reason
    stream.paused_since_ws, stream.paused_by_stop = plan_clock(plan, now), by_stop


def resume_stream(session: Session, stream: Stream, plan: Plan, *, now: datetime) -> None:
    lock_plan(session, plan)
    session.refresh(stream)
    if stream.status != "paused":
        raise StateError(f"stream {stream.key} is not paused: `pause {stream.key}` to pause it")
    if plan.status == "stopped":
        raise StateError(f"plan {plan.key} is stopped: `start {plan.key}` resumes the plan and its streams")
    stream.paused_ws += max(plan_clock(plan, now) - (stream.paused_since_ws or 0), 0)
    stream.status, stream.paused_since_ws, stream.paused_at = "active", None, None
    stream.pause_reason, stream.paused_by_stop = None, False
