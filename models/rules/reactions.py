"""The rules' reactions to the events a unit of work raised.

State records each event it raises on the session (``models.state.events``); whoever
runs the unit of work (the dispatcher for a command, the scheduler for a tick step)
calls ``react`` before committing, so a risk trigger on a bare event fires in the
same transaction as the event, without the state layer calling up into the rules.
"""

from datetime import datetime

from sqlmodel import Session

from models.db.tables import Plan
from models.rules import risk
from models.state.events import take_raised


def react(session: Session, now: datetime) -> list[str]:
    """Fire the bare-event risk triggers of every event raised so far; returns what they did.

    A trigger's own alert (``risk:…``) sets off nothing more, so this ends.
    """
    notes: list[str] = []
    while raised := take_raised(session):
        for plan_id, name, alert_id in raised:
            if name.startswith("risk:"):
                continue
            plan = session.get(Plan, plan_id)
            if plan is not None:
                notes += risk.on_event(session, plan, name, now, alert_id=alert_id).notes
    return notes
