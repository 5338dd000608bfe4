"""The weekly digest and the retrospective: a plan's report posted once in its channel.

Each is claimed by a unique ``CoordinationFiring`` row (a once-per-plan firing, as coordination actions
are): the first process to add it posts, every other replica finds it there and posts nothing. Its
``StoryPost`` row, added with the claim, keeps the range told and, once posted, where it landed: the
claimer tries a refused post again (bot/story_posts.py), and the retrospective is drawn again there as the
leads give their verdicts.
"""

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import Engine, ScalarSelect
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, func, or_, select, update

from models.db.store import session_scope
from models.db.tables import CoordinationFiring, Plan, StoryPost, Task, id_of
from models.plan.settings import calendar_of, settings_of
from models.state.verdicts import RETROSPECTIVE
from models.time.calendar import WEEKDAYS
from models.views.report import Report, Scope, default_range, report
from models.views.retrospective import Retrospective, retrospective

STOPPED_WITHIN = timedelta(days=1)  # a plan stopped long before the bot knew retrospectives gets none


@dataclass(frozen=True)
class Digest:
    channel: str
    report: Report
    action: str  # its claim: "weekly-digest 2026-W02"


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
        action = f"weekly-digest {today:%G-W%V}"
        first = max(today - timedelta(days=today.weekday()), default_range(plan, now)[0])
        if not calendar.is_working_day(today) or not _claim(session, plan, action, now, (first, today, "")):
            return None
        return Digest(plan.channel, report(session, Scope(plan), first, today, now), action)


def retrospectives_due(engine: Engine, *, now: datetime) -> list[Retrospective]:
    """The story of each plan just done (every task done) or stopped (not an emergency stop, which is
    a pause), for the caller that claims it first: once per plan, even if it is started again."""
    with session_scope(engine) as session:
        open_tasks = (
            select(func.count())
            .where(col(Task.plan_id) == Plan.id, col(Task.archived).is_(False), col(Task.status) != "done")
            .scalar_subquery()
        )
        claimed = select(CoordinationFiring.id).where(
            CoordinationFiring.plan_id == Plan.id, CoordinationFiring.action == RETROSPECTIVE
        )
        plans = session.exec(
            select(Plan).where(
                col(Plan.channel).is_not(None),
                ~claimed.exists(),
                or_(
                    (col(Plan.status) == "running") & (open_tasks == 0),
                    (col(Plan.status) == "stopped")
                    & col(Plan.emergency).is_(False)
                    & (col(Plan.stopped_at) > now - STOPPED_WITHIN),
                ),
            )
        ).all()
        stories = []
        for plan in plans:
            first, last = default_range(plan, now)
            told = (first, last, "stopped" if plan.status == "stopped" else "done")
            if _claim(session, plan, RETROSPECTIVE, now, told):
                stories.append(retrospective(session, plan, now, told=told))
        return stories


def _claim(session: Session, plan: Plan, action: str, now: datetime, told: tuple[date, date, str]) -> bool:
    """True for the first caller only: the row's unique (plan, action) keeps the others out."""
    try:
        with session.begin_nested():
            session.add(CoordinationFiring(plan_id=id_of(plan), action=action, trigger=action, fired_at=now))
            first, last, ending = told
            session.add(
                StoryPost(plan_id=id_of(plan), action=action, first_day=str(first), last_day=str(last), ending=ending)
            )
    except IntegrityError:
        return False
    return True


def record_story_posted(engine: Engine, plan_key: str, action: str, *, channel: str, ts: str, now: datetime) -> None:
    """Where a digest or a retrospective landed: looked for no more, and edited there."""
    with session_scope(engine) as session:
        session.exec(
            update(StoryPost)
            .where(col(StoryPost.plan_id) == _plan_id(plan_key), col(StoryPost.action) == action)
            .values(channel=channel, ts=ts, posted_at=now)
        )


@dataclass(frozen=True)
class Drawn:
    """A retrospective to draw again where it was posted."""

    channel: str
    ts: str
    story: Retrospective


def retrospectives_to_redraw(engine: Engine, *, now: datetime, plan_key: str | None = None) -> list[Drawn]:
    """The posted retrospectives a verdict came in for since they were drawn (of one plan, or all), each
    marked drawn in the same transaction: a verdict that comes while it is redrawn marks it again."""
    with session_scope(engine) as session:
        query = select(StoryPost, Plan).where(
            col(StoryPost.plan_id) == Plan.id,
            col(StoryPost.action) == RETROSPECTIVE,
            col(StoryPost.redraw).is_(True),
            col(StoryPost.ts).is_not(None),
        )
        if plan_key is not None:
            query = query.where(Plan.key == plan_key)
        drawn = []
        for post, plan in session.exec(query).all():
            post.redraw = False
            session.add(post)
            told = (date.fromisoformat(post.first_day), date.fromisoformat(post.last_day), post.ending)
            drawn.append(Drawn(post.channel or "", post.ts or "", retrospective(session, plan, now, told=told)))
        return drawn


def redraw_again(engine: Engine, plan_key: str) -> None:
    """A redraw Slack refused: the next round tries it again."""
    with session_scope(engine) as session:
        session.exec(
            update(StoryPost)
            .where(col(StoryPost.plan_id) == _plan_id(plan_key), col(StoryPost.action) == RETROSPECTIVE)
            .values(redraw=True)
        )


def _plan_id(plan_key: str) -> ScalarSelect[int]:
    return select(Plan.id).where(Plan.key == plan_key).scalar_subquery()
