"""What the scheduler's tick notices on its own, each raised once: days ending, tasks
running late, gates missed."""

from datetime import datetime

from sqlalchemy import Integer, bindparam, update
from sqlmodel import Session, col, select

from models.db.tables import Checkpoint, Event, MetricReading, Plan, Stream, Task, id_of
from models.plan.settings import calendar_of, plan_clock
from models.state.events import raise_event
from models.time.clocks import stream_clock_sql
from models.views.dashboard import dashboard

LATE_BATCH = 100
NAMED = 10  # late tasks named in one task-delayed alert


def completed_days(plan: Plan, now: datetime) -> int:
    """How many of the plan's working days have closed."""
    if plan.started_at is None:
        return 0
    calendar = calendar_of(plan)
    today = calendar.local_date(now)
    number = calendar.working_day_number(plan.started_at, today)
    if calendar.is_working_day(today) and now < calendar.window(today)[1]:
        number -= 1  # today is still open
    return max(number, 0)


def raise_day_complete(session: Session, plan: Plan, now: datetime) -> list[str]:
    """`day-N-complete` for each working day that closed, once (coordination may wait on it)."""
    names = [f"day-{n}-complete" for n in range(1, completed_days(plan, now) + 1)]
    if not names:
        return []
    done = set(session.exec(select(Event.name).where(Event.plan_id == plan.id, col(Event.name).in_(names))).all())
    raised = [name for name in names if name not in done]
    for name in raised:
        raise_event(session, plan, name, now=now, source="built-in", actor="calendar")
    return raised


def raise_task_delayed(session: Session, plan: Plan, now: datetime) -> list[str]:
    """`task-delayed` once for the unfinished tasks that went past their planned due time since the
    last tick (each task once): one event naming them, not one per task, so a plan that falls
    behind all at once costs one alert and a handful of statements, and the alert names them all."""
    clock = stream_clock_sql(bindparam("w", plan_clock(plan, now), type_=Integer))
    late = session.exec(
        select(Task.id, Task.key, Task.title)
        .join(Stream, col(Stream.id) == Task.stream_id)
        .where(
            Task.plan_id == plan.id,
            col(Task.archived).is_(False),
            Task.status != "done",
            col(Task.delayed_at).is_(None),
            clock > Task.planned_due_ws,
        )
        .order_by(col(Task.planned_due_ws))
        .limit(LATE_BATCH)
    ).all()
    if not late:
        return []
    session.exec(update(Task).where(col(Task.id).in_([task_id for task_id, _, _ in late])).values(delayed_at=now))
    if len(late) == 1:
        [(_, key, title)] = late
        detail = {"task": key, "title": title}
    else:
        keys = [key for _, key, _ in late]
        shown = ", ".join(keys[:NAMED]) + (f" and {len(keys) - NAMED} more" if len(keys) > NAMED else "")
        detail = {"tasks": shown}
    raise_event(session, plan, "task-delayed", now=now, source="monitor", actor="schedule", detail=detail)
    return [key for _, key, _ in late]


def raise_checkpoint_missed(session: Session, plan: Plan, now: datetime) -> list[str]:
    """`checkpoint-missed` (critical) for each blocker gate due and not passed, once."""
    if plan.started_at is None:
        return []
    calendar = calendar_of(plan)
    missed = []
    for checkpoint in session.exec(
        select(Checkpoint).where(
            Checkpoint.plan_id == plan.id,
            col(Checkpoint.archived).is_(False),
            col(Checkpoint.blocker).is_(True),
            col(Checkpoint.passed_at).is_(None),
            col(Checkpoint.missed_at).is_(None),
        )
    ):
        if now >= calendar.end_of_working_day(plan.started_at, checkpoint.day):
            checkpoint.missed_at = now
            session.add(checkpoint)
            raise_event(
                session,
                plan,
                "checkpoint-missed",
                now=now,
                source="monitor",
                actor="schedule",
                detail={"checkpoint": checkpoint.key, "name": checkpoint.name},
            )
            missed.append(checkpoint.key)
    return missed


def snapshot_metrics(session: Session, plan: Plan, now: datetime) -> int:
    """Keep the computed metrics as readings, so tomorrow's dashboard can show their trend."""
    figures = [
        (m, m.value) for m in dashboard(session, plan, now).metrics if m.source == "computed" and m.value is not None
    ]
    for figure, value in figures:
        session.add(
            MetricReading(
                plan_id=id_of(plan),
                name=figure.name,
                value=value,
                unit=figure.unit,
                at=now,
                source="snapshot",
                reported_by="calendar",
            )
        )
    return len(figures)


def watch(session: Session, plan: Plan, now: datetime) -> None:
    if plan.status == "running":
        if raise_day_complete(session, plan, now):
            snapshot_metrics(session, plan, now)
        raise_task_delayed(session, plan, now)
        raise_checkpoint_missed(session, plan, now)
