"""The dashboard: progress, streams, counts, elapsed and ETA, metrics against targets.

Each figure is an aggregate over the tasks, never a Python loop over them:
the number of statements `status` runs is the same for six tasks and for
twenty-four thousand. The clock arithmetic works because every task keeps its
times as working seconds on its stream's clock (see ``models/time/clocks.py``):
lateness, time in progress and planned progress are linear expressions that
any SQL engine can sum.
"""

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel
from sqlalchemy import Integer, and_, bindparam, case, func
from sqlmodel import Session, col

from models.db.sql import select_columns, sum_if
from models.db.tables import Plan, Stream, Task
from models.plan.settings import calendar_of, plan_clock, settings_of
from models.time.calendar import WorkCalendar
from models.time.clocks import stream_clock_sql
from models.views.checkpoints import CheckpointSummary, next_checkpoint
from models.views.metrics import MetricFigure, TaskTime, plan_metrics
from models.views.reply import Body


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


def dashboard(session: Session, plan: Plan, now: datetime) -> Dashboard:
    calendar = calendar_of(plan)
    w_now = plan_clock(plan, now)
    w = bindparam("w", w_now, type_=Integer)
    clock = stream_clock_sql(w)
    into_task = clock - Task.planned_start_ws
    planned_part = case(
        (into_task >= Task.estimate_ws, Task.estimate_ws),
        (into_task <= 0, 0),
        else_=into_task,
    )
    unfinished = col(Task.status) != "done"
    in_progress_now = case((col(Task.status) == "in-progress", clock - Task.since_ws), else_=0)
    blocked_now = case((col(Task.status) == "blocked", clock - Task.since_ws), else_=0)
    rows = session.exec(
        select_columns(
            Stream.key,
            Stream.type,
            Stream.priority,
            Stream.status,
            Stream.paused_by_stop,
            func.count(col(Task.id)),
            func.coalesce(func.sum(Task.estimate_ws), 0),
            sum_if(col(Task.status) == "done", Task.estimate_ws),
            sum_if(col(Task.id).is_not(None), planned_part),
            func.max(case((unfinished, clock - Task.planned_due_ws), else_=None)),
            sum_if(col(Task.status) == "done"),
            sum_if(col(Task.status) == "in-progress"),
            sum_if(col(Task.status) == "blocked"),
            sum_if(col(Task.status) == "failed"),
            sum_if(col(Task.status) == "ready"),
            sum_if(col(Task.status) == "todo"),
            func.max(Task.planned_due_ws - clock),
            sum_if(col(Task.id).is_not(None), Task.active_ws + in_progress_now),
            sum_if(col(Task.id).is_not(None), Task.blocked_ws + blocked_now),
            func.coalesce(func.sum(Task.rework_count), 0),
            func.coalesce(func.sum(Task.done_count), 0),
        )
        .select_from(Stream)
        .outerjoin(Task, and_(col(Task.stream_id) == Stream.id, col(Task.archived).is_(False)))
        .where(Stream.plan_id == plan.id, col(Stream.archived).is_(False))
        .group_by(
            col(Stream.id),
            col(Stream.key),
            col(Stream.type),
            col(Stream.priority),
            col(Stream.status),
            col(Stream.paused_by_stop),
            col(Stream.position),
        )
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
        n,
        est,
        done_e,
        planned_e,
        late,
        done,
        active,
        blocked,
        failed,
        ready,
        todo,
        left,
        active_s,
        blocked_s,
        reworks,
        dones,
    ) in rows:
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
