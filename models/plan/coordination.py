"""What a plan's coordination means: the built-in events, and which actions have fired.

A coordination action fires once per plan (a ``CoordinationFiring`` row); a task
whose ``after:`` names an action is ready only once it has fired.
"""

import re

from sqlmodel import Session, select

from models.db.tables import CoordinationFiring, Plan

# Built-in coordination events raised when all of a stream's tasks of a type are done.
TYPE_COMPLETE_EVENTS = {"services": "service-complete", "components": "components-ready"}
# Raised at the end of working day N.
DAY_COMPLETE = re.compile(r"day-(\d+)-complete")


def fired_actions(session: Session, plan: Plan) -> set[str]:
    return set(session.exec(select(CoordinationFiring.action).where(CoordinationFiring.plan_id == plan.id)))


def initial_status(session: Session, plan: Plan, after: str | None) -> str:
    """``ready`` once the plan has started and the task waits for nothing, else ``todo``."""
    if plan.started_at is None:
        return "todo"
    if after and after not in fired_actions(session, plan):
        return "todo"
    return "ready"
