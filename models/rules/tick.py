"""What the scheduler's one-minute tick does for each running plan, one step at a time.

The scheduler (``bot/scheduler.py``) runs each step of each plan in a transaction of
its own, so a failing step neither undoes nor stops the others.
"""

from collections.abc import Callable
from datetime import datetime

from sqlmodel import Session

from models.db.tables import Plan
from models.rules import risk
from models.rules.balance import balance
from models.rules.heartbeats import detect_silent
from models.rules.monitor import watch
from models.rules.reactions import react


def monitor(session: Session, plan: Plan, now: datetime) -> None:
    """Silent agents, the calendar's built-in events, late tasks and gates, and the metric triggers."""
    detect_silent(session, plan, now=now)
    watch(session, plan, now)
    risk.evaluate(session, plan, now)


PLAN_STEPS: tuple[Callable[[Session, Plan, datetime], object], ...] = (monitor, balance)


def run_step(session: Session, step: Callable[[Session, Plan, datetime], object], plan: Plan, now: datetime) -> None:
    """One step, then the rules' reactions to the events it raised (same transaction)."""
    step(session, plan, now)
    react(session, now)
