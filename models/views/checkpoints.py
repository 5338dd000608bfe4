"""Checkpoints as the fronts show them: the next one due, today's, and a gate's checklist."""

from datetime import datetime

from pydantic import BaseModel
from sqlalchemy import func
from sqlmodel import Session, col, select

from models.db.sql import select_columns
from models.db.tables import Checkpoint, Criterion, Plan
from models.plan.settings import calendar_of
from models.time.calendar import WorkCalendar
from models.views.reply import Checklist


class CheckpointSummary(BaseModel):
    key: str
    name: str
    day: int
    due_at: datetime | None
    met: int
    criteria: int
    passed: bool
    blocker: bool


def checkpoint_due(plan: Plan, checkpoint_day: int, calendar: WorkCalendar) -> datetime | None:
    if plan.started_at is None:
        return None
    return calendar.end_of_working_day(plan.started_at, checkpoint_day)


def next_checkpoint(session: Session, plan: Plan, calendar: WorkCalendar) -> CheckpointSummary | None:
    """The first checkpoint not passed yet, with how many criteria are met."""
    row = session.exec(
        select_columns(
            Checkpoint.key,
            Checkpoint.name,
            Checkpoint.day,
            Checkpoint.blocker,
            func.count(col(Criterion.id)),
            func.count(col(Criterion.met_at)),
        )
        .outerjoin(Criterion, col(Criterion.checkpoint_id) == Checkpoint.id)
        .where(Checkpoint.plan_id == plan.id, col(Checkpoint.archived).is_(False), col(Checkpoint.passed_at).is_(None))
        .group_by(
            col(Checkpoint.id), col(Checkpoint.key), col(Checkpoint.name), col(Checkpoint.day), col(Checkpoint.blocker)
        )
        .order_by(col(Checkpoint.day), col(Checkpoint.position))
        .limit(1)
    ).first()
    if row is None:
        return None
    key, name, day, blocker, total, met = row
    return CheckpointSummary(
        key=key,
        name=name,
        day=day,
        due_at=checkpoint_due(plan, day, calendar),
        met=met,
        criteria=total,
        passed=False,
        blocker=blocker,
    )


def checkpoints_due_on(session: Session, plan: Plan, now: datetime) -> list[CheckpointSummary]:
    """Checkpoints not yet passed that fall due at the end of today's working day."""
    if plan.started_at is None:
        return []
    calendar = calendar_of(plan)
    today = calendar.local_date(now)
    if not calendar.is_working_day(today):
        return []
    day = calendar.working_day_number(plan.started_at, today)
    if day < 1:
        return []  # started after today's closing: its day 1 is still to come
    rows = session.exec(
        select_columns(
            Checkpoint.key,
            Checkpoint.name,
            Checkpoint.day,
            Checkpoint.blocker,
            func.count(col(Criterion.id)),
            func.count(col(Criterion.met_at)),
        )
        .outerjoin(Criterion, col(Criterion.checkpoint_id) == Checkpoint.id)
        .where(
            Checkpoint.plan_id == plan.id,
            col(Checkpoint.archived).is_(False),
            col(Checkpoint.passed_at).is_(None),
            Checkpoint.day == day,
        )
        .group_by(
            col(Checkpoint.id), col(Checkpoint.key), col(Checkpoint.name), col(Checkpoint.day), col(Checkpoint.blocker)
        )
        .order_by(col(Checkpoint.position))
    ).all()
    due = calendar.end_of_working_day(plan.started_at, day)
    return [
        CheckpointSummary(key=k, name=n, day=d, due_at=due, met=met, criteria=total, passed=False, blocker=b)
        for k, n, d, b, total, met in rows
    ]


# --- a gate's checklist ----------------------------------------------------------


def criteria_of(session: Session, checkpoint: Checkpoint) -> list[Criterion]:
    return list(
        session.exec(
            select(Criterion).where(Criterion.checkpoint_id == checkpoint.id).order_by(col(Criterion.position))
        )
    )


def checklist(session: Session, plan: Plan, checkpoint: Checkpoint, note: str | None = None) -> Checklist:
    due = checkpoint_due(plan, checkpoint.day, calendar_of(plan))
    return Checklist(
        plan=plan.key,
        checkpoint=checkpoint.key,
        name=checkpoint.name,
        day=checkpoint.day,
        due=due.strftime("%a %d %b %H:%M %Z") if due else None,
        blocker=checkpoint.blocker,
        passed=checkpoint.passed_at is not None,
        passed_by=checkpoint.passed_by,
        forced=checkpoint.forced,
        force_reason=checkpoint.force_reason,
        criteria=[(c.position, c.text, c.met_at is not None, c.met_by) for c in criteria_of(session, checkpoint)],
        note=note,
    )
