"""Blockers followed across days (a step of the scheduler's tick).

Each working day, once the day has opened, every blocker still open that was named on an earlier day is
reminded to its owner (a direct message with a Resolved button), once that day; one open for the plan's
``blocker-escalation-days`` working days (named on Tuesday, two days: Thursday) goes to the leads, once.
Both go out through the alert outbox, so a replica that dies after the step loses neither; the step's
marks (``reminded_on``, ``escalated_at``) are written in the same transaction, so replicas send each once.
"""

from datetime import datetime

from sqlmodel import Session, col, select

from models.db.tables import Agent, Blocker, Plan, Task
from models.plan.settings import calendar_of, settings_of
from models.state.alerts import LEADS
from models.state.blockers import working_days, working_days_between
from models.state.events import raise_event
from models.time.calendar import WorkCalendar


def describe(session: Session, blocker: Blocker, calendar: WorkCalendar) -> str:
    """B1 (agent-c2) on T21 'CI/CD pipeline', named Tue 06 Jan: “waiting for the staging quota”."""
    agent = session.get_one(Agent, blocker.agent_id)
    task = session.get(Task, blocker.task_id) if blocker.task_id is not None else None
    on = f" on {task.key} {task.title!r}" if task is not None else ""
    named = blocker.raised_at.astimezone(calendar.zone)
    return f"{blocker.key} ({agent.key}){on}, named {named:%a %d %b}: “{blocker.text}”"


def follow_blockers(session: Session, plan: Plan, now: datetime) -> None:
    calendar = calendar_of(plan)
    today = calendar.local_date(now)
    if not calendar.is_working_day(today) or now < calendar.window(today)[0]:
        return
    after = settings_of(plan).blocker_escalation_days
    for blocker in session.exec(
        select(Blocker).where(Blocker.plan_id == plan.id, col(Blocker.closed_at).is_(None)).order_by(col(Blocker.id))
    ).all():
        named_on = calendar.local_date(blocker.raised_at)
        if named_on >= today or blocker.reminded_on == today.isoformat():
            continue
        open_for = working_days_between(calendar, named_on, today)
        what = describe(session, blocker, calendar)
        owner = session.get_one(Agent, blocker.agent_id)
        if owner.slack_user:
            left = after - open_for
            later = f"it goes to the leads in {working_days(left)}" if left > 0 else "the leads know"
            raise_event(
                session,
                plan,
                "blocker-reminder",
                now=now,
                source="blockers",
                actor=None,
                detail={
                    "message": f"Your blocker {what} is still open, {working_days(open_for)} on. "
                    f"Press Resolved once it is; {later}.",
                    "blocker": blocker.key,
                },
                destinations=(owner.slack_user,),
                grouped=False,
                routed=False,
            )
        blocker.reminded_on, blocker.reminders = today.isoformat(), blocker.reminders + 1
        if open_for >= after and blocker.escalated_at is None:
            raise_event(
                session,
                plan,
                "blocker-escalated",
                now=now,
                source="blockers",
                actor=None,
                detail={
                    "message": f"Blocker {what} has been open {working_days(open_for)}: "
                    f"its owner was reminded each day. `blockers` lists the open ones.",
                    "blocker": blocker.key,
                },
                destinations=(LEADS,),
                grouped=False,
            )
            blocker.escalated_at = now
        session.add(blocker)
