"""Quiet hours: a sync reminder due while its recipient is outside their working hours is held,
and sent at the start of their next working time if they have still not answered.

The leads' direct messages below critical are held likewise, in the outbox (models/state/lead_hours.py);
critical ones always go (docs/semantics.md, "People and time"). Someone away gets no reminder at
all, held or not.
"""

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine, update
from sqlmodel import Session, col

from models.db.sql import select_columns
from models.db.store import session_scope
from models.db.tables import Agent, HeldReminder, Plan, SyncAnswer, SyncSlot, id_of
from models.state.people import Availability
from models.views.sync import unanswered


def hold_reminders(session: Session, slot: SyncSlot, *, now: datetime) -> int:
    """For a slot whose reminders are going out now: hold those of the silent outside their hours."""
    people = Availability(session, session.get_one(Plan, slot.plan_id), now)
    held = 0
    for agent in unanswered(session, slot):
        calendar = people.calendar(agent.key)
        if agent.slack_user and people.away(agent.key) is None and not calendar.is_working_time(now):
            deliver_at = calendar.add_working(now, 0)  # the start of their next working time
            session.add(HeldReminder(slot_id=id_of(slot), agent_id=id_of(agent), deliver_at=deliver_at))
            held += 1
    return held


@dataclass(frozen=True)
class HeldDue:
    """A held reminder to send now: to whom, and the sync it is about."""

    key: str
    user: str
    plan: str
    sync_type: str
    channel: str | None
    ts: str | None


def held_reminders_due(engine: Engine, *, now: datetime, limit: int = 200) -> list[HeldDue]:
    """Held reminders whose time has come, each claimed once; those answered meanwhile, or whose
    recipient went away, are dropped unsent."""
    due = []
    with session_scope(engine) as session:
        rows = session.exec(
            select_columns(HeldReminder, SyncSlot, Agent, Plan, SyncAnswer.answered_at)
            .join(SyncSlot, col(SyncSlot.id) == HeldReminder.slot_id)
            .join(Agent, col(Agent.id) == HeldReminder.agent_id)
            .join(Plan, col(Plan.id) == SyncSlot.plan_id)
            .join(
                SyncAnswer,
                (col(SyncAnswer.slot_id) == HeldReminder.slot_id) & (col(SyncAnswer.agent_id) == HeldReminder.agent_id),
            )
            .where(col(HeldReminder.sent_at).is_(None), HeldReminder.deliver_at <= now)
            .order_by(col(HeldReminder.deliver_at))
            .limit(limit)
        ).all()
        for held, slot, agent, plan, answered_at in rows:
            claimed = session.exec(
                update(HeldReminder)
                .where(col(HeldReminder.id) == held.id, col(HeldReminder.sent_at).is_(None))
                .values(sent_at=now)
            ).rowcount
            gone = answered_at is not None or Availability(session, plan, now).away(agent.key) is not None
            if claimed and not gone and agent.slack_user:
                due.append(
                    HeldDue(
                        agent.key, agent.slack_user, plan.key, slot.entry.split("@")[0], slot.channel, slot.message_ts
                    )
                )
    return due
