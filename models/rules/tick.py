"""What the scheduler's one-minute tick does for each running plan, one step at a time.

The scheduler (``bot/scheduler.py``) runs each step of each plan in a transaction of
its own, so a failing step neither undoes nor stops the others.
"""

from collections.abc import Callable
from datetime import datetime

from sqlalchemy import Engine
from sqlmodel import Session, select

from models.db.store import session_scope
from models.db.tables import Plan
from models.rules import risk
from models.rules.balance import balance
from models.rules.blockers import follow_blockers
from models.rules.heartbeats import detect_silent
from models.rules.monitor import watch
from models.rules.reactions import react


def monitor(session: Session, plan: Plan, now: datetime) -> None:
    """Silent agents, the calendar's built-in events, late tasks and gates, and the metric triggers."""
    detect_silent(session, plan, now=now)
    watch(session, plan, now)
    risk.evaluate(session, plan, now)


PLAN_STEPS: tuple[Callable[[Session, Plan, datetime], object], ...] = (monitor, balance, follow_blockers)


def run_step(session: Session, step: Callable[[Session, Plan, datetime], object], plan: Plan, now: datetime) -> None:
    """One step, then the rules' reactions to the events it raised (same transaction)."""
    step(session, plan, now)
    react(session, now)


def running_plans(engine: Engine) -> list[tuple[int, str]]:
    """(id, key) of each running plan."""
    with session_scope(engine) as session:
        rows = session.exec(select(Plan.id, Plan.key).where(Plan.status == "running")).all()
        return [(plan_id, key) for plan_id, key in rows if plan_id is not None]


def run_plan_step(
    engine: Engine, step: Callable[[Session, Plan, datetime], object], plan_id: int, now: datetime
) -> None:
    """One step for one plan in a transaction of its own (a plan stopped meanwhile is left alone)."""
    with session_scope(engine) as session:
        plan = session.get(Plan, plan_id)
        if plan is not None and plan.status == "running":
            run_step(session, step, plan, now)
