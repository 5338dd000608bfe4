"""Blockers named in sync answers: recorded once, linked to their task, closed when the task moves on or
their owner says so.

A blocker is what an answer's ``blockers`` field says, or a reply that says it is blocked (``blocked on
T12``). It is linked to the task the text names (a key of the plan's, such as T12) when it names one of
the plan's, else to the task the answer blocked (the owner's in progress). Naming the same blocker again
(same owner, same task; or the same words when no task) keeps the one already open.
"""

import re
from collections.abc import Mapping
from datetime import date, datetime, timedelta

from sqlalchemy import func
from sqlmodel import Session, col, select

from models.db.tables import Agent, Blocker, Plan, SyncSlot, Task, id_of
from models.time.calendar import WorkCalendar

BLOCKED_WORDS = re.compile(r"\bblock(?:ed|er|ers|ing)?\b", re.I)
KEY_LIKE = re.compile(r"\b([A-Za-z][A-Za-z_-]{0,20}\d{1,9})\b")
MAX_TEXT = 500


def named_blocker(answer: Mapping[str, object]) -> str | None:
    """The blocker an answer names: its ``blockers`` field, else a reply that says it is blocked."""
    field = answer.get("blockers")
    if isinstance(field, str) and field.strip():
        return field.strip()[:MAX_TEXT]
    reply = answer.get("reply")
    if isinstance(reply, str) and BLOCKED_WORDS.search(reply):
        return reply.strip()[:MAX_TEXT]
    return None


def task_named(session: Session, plan: Plan, text: str) -> Task | None:
    """The first of the plan's tasks whose key the text names (T12), in one look-up."""
    words = list(dict.fromkeys(m.group(1) for m in KEY_LIKE.finditer(text)))[:20]
    if not words:
        return None
    found = {
        t.key.lower(): t
        for t in session.exec(
            select(Task).where(Task.plan_id == plan.id, func.lower(Task.key).in_([w.lower() for w in words]))
        ).all()
    }
    return next((found[w.lower()] for w in words if w.lower() in found), None)


def note_blocker(
    session: Session,
    plan: Plan,
    agent: Agent,
    text: str,
    *,
    task: Task | None,
    slot: SyncSlot | None,
    now: datetime,
) -> tuple[Blocker, bool]:
    """The open blocker this names (created if new); and whether it is new."""
    same = select(Blocker).where(
        Blocker.plan_id == plan.id, Blocker.agent_id == agent.id, col(Blocker.closed_at).is_(None)
    )
    same = same.where(Blocker.task_id == task.id) if task is not None else same.where(Blocker.text == text)
    open_one = session.exec(same).first()
    if open_one is not None:
        open_one.text = text
        session.add(open_one)
        return open_one, False
    count = session.exec(select(func.count()).select_from(Blocker).where(Blocker.plan_id == plan.id)).one()
    blocker = Blocker(
        plan_id=id_of(plan),
        key=f"B{count + 1}",
        agent_id=id_of(agent),
        task_id=task.id if task is not None else None,
        text=text,
        slot_id=slot.id if slot is not None else None,
        raised_at=now,
    )
    session.add(blocker)
    session.flush()
    return blocker, True


def close_blocker(session: Session, blocker: Blocker, *, by: str, reason: str, now: datetime) -> None:
    blocker.closed_at, blocker.closed_by, blocker.close_reason = now, by, reason
    session.add(blocker)


def close_for_task(session: Session, task: Task, status: str, *, by: str, now: datetime) -> int:
    """The task moved on (out of blocked, or done): its open blockers are closed; how many."""
    if status == "blocked" or task.id is None:
        return 0
    closed = 0
    for blocker in session.exec(
        select(Blocker).where(Blocker.task_id == task.id, col(Blocker.closed_at).is_(None))
    ).all():
        close_blocker(session, blocker, by=by, reason=f"{task.key} is {status}", now=now)
        closed += 1
    return closed


def working_days(count: int) -> str:
    return f"{count} working day{'' if count == 1 else 's'}"


def working_days_between(calendar: WorkCalendar, since: date, until: date) -> int:
    """Working days after ``since`` up to and including ``until``."""
    days, day = 0, since + timedelta(days=1)
    while day <= until:
        days += calendar.is_working_day(day)
        day += timedelta(days=1)
    return days
