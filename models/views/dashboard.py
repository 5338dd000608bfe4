"""The dashboard: progress, streams, counts, elapsed and ETA, metrics against targets.

Each figure is an aggregate over the tasks, never a Python loop over them:
the number of statements `status` runs is the same for six tasks and for
twenty-four thousand. The clock arithmetic works because every task keeps its
times as working seconds on its stream's clock (see ``models/time/clocks.py``):
lateness, time in progress and planned progress are expressions that any SQL
engine can sum.
"""

from datetime import date, datetime
from typing import Any, Literal

from pydantic import BaseModel
from sqlalchemy import Integer, Subquery, and_, bindparam, false, func, text
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import Session, col, select

from models.db.figures import BUCKET_WS
from models.db.sql import select_columns, sum_if
from models.db.tables import OPEN_TASK, TASK_STATUSES, Plan, PlannedPoints, Stream, Task
from models.db.tables import StreamFigures as KeptStreamFigures
from models.plan.settings import calendar_of, plan_clock, settings_of
from models.state.people import Availability
from models.time.calendar import WorkCalendar
from models.time.clocks import stream_clock_sql
from models.views.blockers import BlockerLine, blocker_lines
from models.views.checkpoints import CheckpointSummary, next_checkpoint
from models.views.metrics import MetricFigure, TaskTime, plan_metrics
from models.views.reply import Body

DASHBOARD_BLOCKERS = 5  # the oldest open blockers shown; `blockers` lists them all


class StreamFigures(BaseModel):
    key: str
    type: str | None
    priority: str
    status: str
    progress: float
    planned_progress: float
    lateness_s: int | None  # worst lateness of an unfinished task, working seconds
    tasks: int
    done: int
    active: int
    blocked: int
    failed: int


class PersonAway(BaseModel):
    who: str  # an agent's id, or a lead's Slack user id
    until: date | None  # the last day away; None: until they say `back`
    reason: str | None


class Counts(BaseModel):
    active: int = 0
    completed: int = 0
    blocked: int = 0
    failed: int = 0
    ready: int = 0
    todo: int = 0
    total: int = 0


class Dashboard(Body):
    kind: Literal["dashboard"] = "dashboard"
    plan: str
    title: str
    plan_status: str
    emergency: bool
    stop_reason: str | None
    deployment_blocked: str | None
    run_options: dict[str, Any]
    now: datetime
    started_at: datetime | None
    elapsed_s: int | None
    eta_at: datetime | None
    eta_s: int | None
    eta_basis: Literal["observed", "planned", "none"]
    progress: float
    planned_progress: float
    streams: list[StreamFigures]
    counts: Counts
    metrics: list[MetricFigure]
    next_checkpoint: CheckpointSummary | None
    blockers: list[BlockerLine]  # the oldest open blockers named in sync answers, with their age
    more_blockers: bool  # more are open than these: `blockers` lists them
    away: list[PersonAway]  # who is away now, and until when


def _kept_figures(plan: Plan) -> Subquery:
    """Per stream: the running figures of its tasks (models/db/figures.py), one row per status."""
    f = KeptStreamFigures
    in_status = {status: col(f.status) == status for status in TASK_STATUSES}
    return (
        select_columns(
            col(f.stream_id).label("stream_id"),
            func.sum(f.tasks).label("tasks"),
            func.sum(f.estimate_ws).label("estimate"),
            sum_if(in_status["done"], f.estimate_ws).label("done_estimate"),
            *[sum_if(condition, f.tasks).label(status.replace("-", "_")) for status, condition in in_status.items()],
            func.sum(f.active_ws).label("active_ws"),
            func.sum(f.blocked_ws).label("blocked_ws"),
            # Time in the current status is n × clock − Σ since: linear, so the sums suffice.
            sum_if(in_status["in-progress"], f.since_ws).label("active_since"),
            sum_if(in_status["blocked"], f.since_ws).label("blocked_since"),
            func.sum(f.rework_count).label("reworks"),
            func.sum(f.done_count).label("dones"),
        )
        .where(f.plan_id == plan.id)
        .group_by(col(f.stream_id))
        .subquery()
    )


def _planned_work(clock: ColumnElement[int], live: ColumnElement[bool]) -> ColumnElement[int]:
    """Work the stream's tasks were planned to have done by its clock c: the estimates (due −
    start) of the tasks planned to end by c. A task in progress counts on neither side until it
    ends, done or due (docs/semantics.md). The buckets wholly before c's come from
    ``planned_points``; the tasks due in c's own bucket, a day's worth, are read on an index.
    """
    p = PlannedPoints
    bucket = clock // BUCKET_WS
    before = (
        select(func.sum(p.due_sum - p.start_sum))
        .where(col(p.stream_id) == Stream.id, col(p.bucket) < bucket)
        .scalar_subquery()
    )
    due = Task.planned_due_ws
    this_bucket = (
        select(func.sum(due - Task.planned_start_ws))
        .where(live, due >= bucket * BUCKET_WS, due <= clock)
        .scalar_subquery()
    )
    return func.coalesce(before, 0) + func.coalesce(this_bucket, 0)


def dashboard(session: Session, plan: Plan, now: datetime) -> Dashboard:
    calendar = calendar_of(plan)
    w_now = plan_clock(plan, now)
    w = bindparam("w", w_now, type_=Integer)
    clock = stream_clock_sql(w)
    # `= false`, not `IS false`: PostgreSQL uses an index for the one, not the other.
    live = and_(col(Task.stream_id) == Stream.id, col(Task.archived) == false())
    # Lateness and the plan's end depend on each task's planned window, not on a sum:
    # each is one lookup per stream on an index (ix_tasks_open_due, ix_tasks_stream_due).
    first_open_due = (
        select(Task.planned_due_ws)
        .where(live, text(OPEN_TASK))
        .order_by(col(Task.planned_due_ws))
        .limit(1)
        .scalar_subquery()
    )
    last_due = select(Task.planned_due_ws).where(live).order_by(col(Task.planned_due_ws).desc()).limit(1)
    kept = _kept_figures(plan)
    rows = session.exec(
        select_columns(
            Stream.key,
            Stream.type,
            Stream.priority,
            Stream.status,
            Stream.paused_by_stop,
            clock,
            func.coalesce(kept.c.tasks, 0),
            func.coalesce(kept.c.estimate, 0),
            func.coalesce(kept.c.done_estimate, 0),
            _planned_work(clock, live),
            first_open_due,
            last_due.scalar_subquery(),
            *[func.coalesce(kept.c[s.replace("-", "_")], 0) for s in TASK_STATUSES],
            func.coalesce(kept.c.active_ws - kept.c.active_since, 0),
            func.coalesce(kept.c.blocked_ws - kept.c.blocked_since, 0),
            func.coalesce(kept.c.reworks, 0),
            func.coalesce(kept.c.dones, 0),
        )
        .select_from(Stream)
        .outerjoin(kept, kept.c.stream_id == Stream.id)
        .where(Stream.plan_id == plan.id, col(Stream.archived).is_(False))
        .order_by(col(Stream.position))
    ).all()

    threshold = settings_of(plan).stream_delay_threshold_s
    streams: list[StreamFigures] = []
    counts, totals = Counts(), TaskTime()
    total_est = done_est = planned_est = 0
    remaining_plan_s = 0
    for (
        key,
        type_,
        priority,
        status,
        by_stop,
        stream_now,
        n,
        est,
        done_e,
        planned_e,
        open_due,
        last_due_ws,
        todo,
        ready,
        active,
        blocked,
        done,
        failed,
        active_part,
        blocked_part,
        reworks,
        dones,
    ) in rows:
        # PostgreSQL's sums of BIGINT are Decimal: the figures are whole seconds and counts.
        n, est, done_e, planned_e, todo, ready, active, blocked, done, failed, reworks, dones = map(
            int, (n, est, done_e, planned_e, todo, ready, active, blocked, done, failed, reworks, dones)
        )
        late = stream_now - open_due if open_due is not None else None
        left = last_due_ws - stream_now if last_due_ws is not None else None
        active_s = int(active_part) + active * stream_now
        blocked_s = int(blocked_part) + blocked * stream_now
        progress = done_e / est if est else 0.0
        planned = planned_e / est if est else 0.0
        streams.append(
            StreamFigures(
                key=key,
                type=type_,
                priority=priority,
                status=_stream_status(plan, status, by_stop, progress, planned, late, done, est, threshold),
                progress=progress,
                planned_progress=planned,
                lateness_s=late,
                tasks=n,
                done=done,
                active=active,
                blocked=blocked,
                failed=failed,
            )
        )
        total_est, done_est, planned_est = total_est + est, done_est + done_e, planned_est + planned_e
        remaining_plan_s = max(remaining_plan_s, left or 0)
        counts.active += active
        counts.completed += done
        counts.blocked += blocked
        counts.failed += failed
        counts.ready += ready
        counts.todo += todo
        counts.total += n
        totals.add(active_s, blocked_s, reworks, dones)

    elapsed = int((now - plan.started_at).total_seconds()) if plan.started_at else None
    eta_at, basis = _eta(plan, calendar, now, w_now, total_est, done_est, remaining_plan_s)
    blockers, _ = blocker_lines(session, plan, now, limit=DASHBOARD_BLOCKERS + 1, counted=False)
    return Dashboard(
        plan=plan.key,
        title=plan.title,
        plan_status=plan.status,
        emergency=plan.emergency,
        stop_reason=plan.stop_reason,
        deployment_blocked=plan.deployment_blocked,
        run_options=plan.run_options,
        now=now,
        started_at=plan.started_at,
        elapsed_s=elapsed,
        eta_at=eta_at,
        eta_s=int((eta_at - now).total_seconds()) if eta_at else None,
        eta_basis=basis,
        progress=done_est / total_est if total_est else 0.0,
        planned_progress=planned_est / total_est if total_est else 0.0,
        streams=streams,
        counts=counts,
        metrics=plan_metrics(session, plan, w_now, totals, now),
        next_checkpoint=next_checkpoint(session, plan, calendar),
        blockers=blockers[:DASHBOARD_BLOCKERS],
        more_blockers=len(blockers) > DASHBOARD_BLOCKERS,
        away=[
            PersonAway(who=a.who, until=a.until, reason=a.reason)
            for a in Availability(session, plan, now).everyone_away()
        ],
    )


def _stream_status(
    plan: Plan,
    status: str,
    by_stop: bool,
    progress: float,
    planned: float,
    late: int | None,
    done: int,
    est: int,
    threshold: int,
) -> str:
    if status == "paused":
        return "Stopped" if by_stop and plan.status == "stopped" else "Paused"
    if est and done and progress >= 1.0:
        return "Done"
    if plan.status == "draft":
        return "Not Started"
    if progress == 0:
        return "Starting"  # domain.md's order: nothing done yet comes before lateness
    behind = planned - progress
    if (late is not None and late > threshold) or behind > 0.10:
        return "Delayed"
    if behind >= 0.05:
        return "At Risk"
    return "On Track"


def _eta(
    plan: Plan,
    calendar: WorkCalendar,
    now: datetime,
    w_now: int,
    total_est: float,
    done_est: float,
    remaining_plan_s: float,
) -> tuple[datetime | None, Literal["observed", "planned", "none"]]:
    """Remaining work at the observed rate, or on the plan's schedule before any is done."""
    if plan.status == "stopped" or total_est == 0:
        return None, "none"
    if done_est >= total_est:
        return now, "observed"
    if plan.started_at is not None and done_est > 0 and w_now > 0:
        remaining = (total_est - done_est) * w_now / done_est
        return calendar.add_working(now, remaining), "observed"
    return calendar.add_working(now, max(remaining_plan_s, 0)), "planned"
