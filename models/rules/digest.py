"""The weekly digest and the retrospective: a plan's report posted once in its channel.

Each is claimed by a unique ``CoordinationFiring`` row (a once-per-plan firing, as coordination actions
are): the first process to add it posts, every other replica finds it there and posts nothing. A post
that then fails is logged and not tried again: a digest is never posted twice.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, func, or_, select

from models.db.store import session_scope
from models.db.tables import CoordinationFiring, Plan, Task, id_of
from models.plan.settings import calendar_of, settings_of
from models.time.calendar import WEEKDAYS
from models.views.report import Report, Scope, default_range, report
from models.views.retrospective import Retrospective, retrospective

RETROSPECTIVE = "retrospective"
STOPPED_WITHIN = timedelta(days=1)  # a plan stopped long before the bot knew retrospectives gets none


@dataclass(frozen=True)
class Digest:
    channel: str
    report: Report


def digest_due(engine: Engine, plan_key: str, entry_type: str, *, now: datetime) -> Digest | None:
    """This week's digest when ``entry_type`` is the sync it follows on the day the plan sets and this
    caller is the first to claim it; else None."""
    with session_scope(engine) as session:
        plan = session.exec(select(Plan).where(Plan.key == plan_key)).first()
        if plan is None or plan.status != "running" or not plan.channel:
            return None
        spec = settings_of(plan).digest_setting
        calendar = calendar_of(plan)
        today = calendar.local_date(now)
        if spec is None or spec.after != entry_type or WEEKDAYS[today.weekday()] != spec.day:
            return None
        if not calendar.is_working_day(today) or not _claim(session, plan, f"weekly-digest {today:%G-W%V}", now):
            return None
        first = max(today - timedelta(days=today.weekday()), default_range(plan, now)[0])
        return Digest(plan.channel, report(session, Scope(plan), first, today, now))


def retrospectives_due(engine: Engine, *, now: datetime) -> list[Retrospective]:
    """The story of each plan just done (every task done) or stopped (not an emergency stop, which is
    a pause), for the caller that claims it first: once per plan, even if it is started again."""
    with session_scope(engine) as session:
        open_tasks = (
            select(func.count())
            .where(col(Task.plan_id) == Plan.id, col(Task.archived).is_(False), col(Task.status) != "done")
            .scalar_subquery()
        )
        told = select(CoordinationFiring.id).where(
            CoordinationFiring.plan_id == Plan.id, CoordinationFiring.action == RETROSPECTIVE
        )
        plans = session.exec(
            select(Plan).where(
                col(Plan.channel).is_not(None),
                ~told.exists(),
                or_(
                    (col(Plan.status) == "running") & (open_tasks == 0),
                    (col(Plan.status) == "stopped")
                    & col(Plan.emergency).is_(False)
                    & (col(Plan.stopped_at) > now - STOPPED_WITHIN),
                ),
            )
        ).all()
        return [retrospective(session, plan, now) for plan in plans if _claim(session, plan, RETROSPECTIVE, now)]


def _claim(session: Session, plan: Plan, action: str, now: datetime) -> bool:
    """True for the first caller only: the row's unique (plan, action) keeps the others out."""
    try:
        with session.begin_nested():
            session.add(CoordinationFiring(plan_id=id_of(plan), action=action, trigger=action, fired_at=now))
    except IntegrityError:
        return False
    return True
