"""The blockers named in sync answers as people read them: who, on what, since when, how old."""

from datetime import datetime

from pydantic import BaseModel
from sqlalchemy import func
from sqlmodel import Session, col, select

from models.db.tables import Agent, Blocker, Plan, Task
from models.plan.settings import calendar_of
from models.state.blockers import working_days_between


class BlockerLine(BaseModel):
    key: str
    owner: str
    task: str | None
    text: str
    named: str  # Tue 06 Jan
    age_days: int  # working days it has been (or was) open
    state: str  # open | open, told to the leads | closed: why


def blocker_lines(
    session: Session, plan: Plan, now: datetime, *, everything: bool = False, limit: int = 50, counted: bool = True
) -> tuple[list[BlockerLine], int | None]:
    """The open blockers oldest first (with ``everything``, the closed ones after them), and how many there are
    (not counted with ``counted=False``: the dashboard asks for one more than it shows, in one statement)."""
    where = [Blocker.plan_id == plan.id] + ([] if everything else [col(Blocker.closed_at).is_(None)])
    total = session.exec(select(func.count()).select_from(Blocker).where(*where)).one() if counted else None
    rows = session.exec(
        select(Blocker, Agent.key, Task.key)
        .join(Agent, col(Agent.id) == Blocker.agent_id)
        .outerjoin(Task, col(Task.id) == Blocker.task_id)
        .where(*where)
        .order_by(col(Blocker.closed_at).is_not(None), col(Blocker.id))
        .limit(limit)
    ).all()
    calendar = calendar_of(plan)
    lines = []
    for blocker, owner, task in rows:
        named = calendar.local_date(blocker.raised_at)
        state = "open" if blocker.closed_at is None else f"closed: {blocker.close_reason}"
        if blocker.closed_at is None and blocker.escalated_at is not None:
            state = "open, told to the leads"
        lines.append(
            BlockerLine(
                key=blocker.key,
                owner=owner,
                task=task,
                text=blocker.text,
                named=f"{named:%a %d %b}",
                age_days=working_days_between(calendar, named, calendar.local_date(blocker.closed_at or now)),
                state=state,
            )
        )
    return lines, total
