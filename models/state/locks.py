"""One change of a plan at a time."""

from sqlmodel import Session, select

from models.db.tables import Plan


def lock_plan(session: Session, plan: Plan) -> None:
    """Take the plan's row lock for the rest of the transaction, then re-read the plan.

    Every change of a plan's state takes it first, so replicas sharing one PostgreSQL
    apply changes of one plan in a single order: a check made after the lock (is the
    task ready? is the stream active?) still holds when the change is written.
    SQLite has no row locks; it allows one writer at a time anyway.
    """
    session.exec(select(Plan.id).where(Plan.id == plan.id).with_for_update()).one()
    session.refresh(plan)
