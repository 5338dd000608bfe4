"""The figures of the dashboard and the agent monitor, computed in SQL.

Each figure is an aggregate over the tasks, never a Python loop over them:
the number of statements `status` runs is the same for six tasks and for
twenty-four thousand. The clock arithmetic works because every task keeps its
times as working seconds on its stream's clock (see ``models/tables.py``):
a stream's clock now is ``W - paused`` (frozen while it is paused), so
lateness, time in progress and planned progress are linear expressions that
any SQL engine can sum.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from pydantic import BaseModel
from sqlalchemy import Integer, and_, bindparam, case, func, literal
from sqlmodel import Session, select

from models.calendar import WorkCalendar
from models.lifecycle import calendar_of, plan_clock
from models.tables import (
    Agent, Checkpoint, Criterion, Heartbeat, MetricReading, Plan, Stream, SyncAnswer, SyncSlot, Task,
)
from models.units import Comparison, Quantity, parse_condition, parse_target

DEFAULT_STREAM_DELAY_S = 2 * 3600  # "If stream delay > 2 hours" in the seed


class Body(BaseModel):
    """What a command answers; each front end renders it in its own way."""

    kind: str


# --- the dashboard ----------------------------------------------------------

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


class MetricFigure(BaseModel):
    name: str
    value: float | None
    unit: str
    display: str
    target: str | None
    ok: bool | None
    source: Literal["computed", "reported"]
    previous: float | None = None  # at the close of the previous working day
    trend: Literal["up", "down", "flat"] | None = None


class CheckpointSummary(BaseModel):
    key: str
    name: str
    day: int
    due_at: datetime | None
    met: int
    criteria: int
    passed: bool
    blocker: bool


class Dashboard(Body):
    kind: Literal["dashboard"] = "dashboard"
    plan: str
    title: str
    plan_status: str
    emergency: bool
    stop_reason: str | None
    deployment_blocked: str | None
    run_options: dict
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


@dataclass
class TaskTime:
    """Sums over tasks that the per-stream query already reads, for the plan's metrics."""

    active_s: int = 0
    blocked_s: int = 0
    reworks: int = 0
    dones: int = 0

    def add(self, active_s: int, blocked_s: int, reworks: int, dones: int) -> None:
        self.active_s += active_s
        self.blocked_s += blocked_s
        self.reworks += reworks
        self.dones += dones


def clock_of_stream(w):
    """SQL: the stream clock (working seconds) given the plan clock ``w``."""
    return case(
        (Stream.status == "paused", func.coalesce(Stream.paused_since_ws, 0) - Stream.paused_ws),
        else_=w - Stream.paused_ws,
    )


def _sum_if(condition, value=1):
    return func.coalesce(func.sum(case((condition, value), else_=0)), 0)


def stream_delay_threshold(plan: Plan) -> int:
    """The plan's own "stream-delay > X" load-balancing threshold, else two hours."""
    for rule in plan.spec.get("load-balancing") or []:
        condition = parse_condition(rule["when"])
        if condition.metric == "stream-delay" and condition.comparison.threshold.unit == "s":
            return int(condition.comparison.threshold.value)
    return DEFAULT_STREAM_DELAY_S


def dashboard(session: Session, plan: Plan, now: datetime) -> Dashboard:
    calendar = calendar_of(plan)
    w_now = plan_clock(plan, now, calendar)
    w = bindparam("w", w_now, type_=Integer)
    clock = clock_of_stream(w)
    into_task = clock - Task.planned_start_ws
    planned_part = case(
        (into_task >= Task.estimate_ws, Task.estimate_ws),
        (into_task <= 0, 0),
        else_=into_task,
    )
    unfinished = Task.status != "done"
    in_progress_now = case((Task.status == "in-progress", clock - Task.since_ws), else_=0)
    blocked_now = case((Task.status == "blocked", clock - Task.since_ws), else_=0)
    rows = session.exec(
        select(
            Stream.key, Stream.type, Stream.priority, Stream.status, Stream.paused_by_stop,
            func.count(Task.id),
            func.coalesce(func.sum(Task.estimate_ws), 0),
            _sum_if(Task.status == "done", Task.estimate_ws),
            _sum_if(Task.id.is_not(None), planned_part),
            func.max(case((unfinished, clock - Task.planned_due_ws), else_=None)),
            _sum_if(Task.status == "done"),
            _sum_if(Task.status == "in-progress"),
            _sum_if(Task.status == "blocked"),
            _sum_if(Task.status == "failed"),
            _sum_if(Task.status == "ready"),
            _sum_if(Task.status == "todo"),
            func.max(Task.planned_due_ws - clock),
            _sum_if(Task.id.is_not(None), Task.active_ws + in_progress_now),
            _sum_if(Task.id.is_not(None), Task.blocked_ws + blocked_now),
            func.coalesce(func.sum(Task.rework_count), 0),
            func.coalesce(func.sum(Task.done_count), 0),
        )
        .select_from(Stream)
        .outerjoin(Task, and_(Task.stream_id == Stream.id, Task.archived.is_(False)))
        .where(Stream.plan_id == plan.id, Stream.archived.is_(False))
        .group_by(Stream.id, Stream.key, Stream.type, Stream.priority, Stream.status,
                  Stream.paused_by_stop, Stream.position)
        .order_by(Stream.position)
    ).all()

    threshold = stream_delay_threshold(plan)
    streams, counts, totals = [], Counts(), TaskTime()
    total_est = done_est = planned_est = 0
    remaining_plan_s = 0
    for (key, type_, priority, status, by_stop, n, est, done_e, planned_e, late, done, active,
         blocked, failed, ready, todo, left, active_s, blocked_s, reworks, dones) in rows:
        progress = done_e / est if est else 0.0
        planned = planned_e / est if est else 0.0
        streams.append(StreamFigures(
            key=key, type=type_, priority=priority,
            status=_stream_status(plan, status, by_stop, progress, planned, late, done, est, threshold),
            progress=progress, planned_progress=planned, lateness_s=late,
            tasks=n, done=done, active=active, blocked=blocked, failed=failed,
        ))
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
        plan=plan.key, title=plan.title, plan_status=plan.status, emergency=plan.emergency,
        stop_reason=plan.stop_reason, deployment_blocked=plan.deployment_blocked,
        run_options=plan.run_options, now=now, started_at=plan.started_at, elapsed_s=elapsed,
        eta_at=eta_at, eta_s=int((eta_at - now).total_seconds()) if eta_at else None, eta_basis=basis,
        progress=done_est / total_est if total_est else 0.0,
        planned_progress=planned_est / total_est if total_est else 0.0,
        streams=streams, counts=counts,
        metrics=plan_metrics(session, plan, w_now, totals, now),
        next_checkpoint=next_checkpoint(session, plan, calendar),
    )


def _stream_status(plan, status, by_stop, progress, planned, late, done, est, threshold) -> str:
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


def _eta(plan, calendar, now, w_now, total_est, done_est, remaining_plan_s):
    """Remaining work at the observed rate, or on the plan's schedule before any is done."""
    if plan.status == "stopped" or total_est == 0:
        return None, "none"
    if done_est >= total_est:
        return now, "observed"
    if plan.started_at is not None and done_est > 0 and w_now > 0:
        remaining = (total_est - done_est) * w_now / done_est
        return calendar.add_working(now, remaining), "observed"
    return calendar.add_working(now, max(remaining_plan_s, 0)), "planned"


# --- the plan's metrics against its targets -----------------------------------

COMPUTED_METRICS = (
    "parallel-efficiency", "agent-utilization", "blocking-time", "rework-rate", "communication-overhead",
)


def busy_per_agent(plan: Plan, w):
    """Per agent: its busy time and the time it had, both on its stream's clock.

    Busy time is the agent's busy clock (running while it has any task in
    progress, counted once however many); the time it had leaves out its
    stream's pauses. One row per agent, and no task is read.
    """
    clock = clock_of_stream(w)
    busy_now = case((Agent.busy_since_ws.is_not(None), clock - Agent.busy_since_ws), else_=0)
    return (
        select(Agent.id.label("agent_id"), (Agent.busy_ws + busy_now).label("busy"), clock.label("available"))
        .join(Stream, Stream.id == Agent.stream_id)
        .where(Agent.plan_id == plan.id, Agent.archived.is_(False))
    )


def utilization_of(per_agent):
    """busy ÷ available per agent, at most 1; NULL when it had no time yet."""
    return case(
        (per_agent.c.available > 0,
         case((per_agent.c.busy > per_agent.c.available, 1.0),
              else_=per_agent.c.busy * 1.0 / per_agent.c.available)),
        else_=None,
    )


def max_agent_utilization(session: Session, plan: Plan, now: datetime) -> float | None:
    """The busiest agent's utilization in %, for the agent-utilization trigger."""
    per_agent = busy_per_agent(plan, bindparam("w", plan_clock(plan, now), type_=Integer)).subquery()
    value = session.exec(select(func.max(utilization_of(per_agent))).select_from(per_agent)).one()
    return round(100.0 * value, 1) if value is not None else None


def agent_utilization(session: Session, plan: Plan, agent_id: int, w_now: int) -> float | None:
    """One agent's utilization in % (None before it had any working time)."""
    per_agent = busy_per_agent(plan, bindparam("w", w_now, type_=Integer)).where(Agent.id == agent_id).subquery()
    value = session.exec(select(utilization_of(per_agent)).select_from(per_agent)).first()
    return round(100.0 * value, 1) if value is not None else None


def computed_metrics(session: Session, plan: Plan, w_now: int, totals: TaskTime) -> dict[str, float | None]:
    """The seed's execution-efficiency figures, in % (None before there is time to measure)."""
    w = bindparam("w", w_now, type_=Integer)
    per_agent = busy_per_agent(plan, w).subquery()
    capped = case((per_agent.c.busy > w, w), else_=per_agent.c.busy)
    agents, busy, mean_util = session.exec(
        select(func.count(), func.coalesce(func.sum(capped), 0), func.avg(utilization_of(per_agent)))
        .select_from(per_agent)
    ).one()

    sync_s = session.exec(
        select(func.coalesce(func.sum(SyncSlot.duration_s), 0))
        .where(SyncSlot.plan_id == plan.id, SyncSlot.status == "posted")
    ).one()

    def pct(part, whole):
        return round(100.0 * part / whole, 1) if whole else None

    return {
        "parallel-efficiency": pct(busy, agents * w_now),
        "agent-utilization": round(100.0 * mean_util, 1) if mean_util is not None and w_now else None,
        "blocking-time": pct(totals.blocked_s, totals.active_s + totals.blocked_s),
        "rework-rate": pct(totals.reworks, totals.dones),
        "communication-overhead": pct(sync_s, w_now),
    }


def latest_readings(session: Session, plan: Plan, before: datetime | None = None) -> dict[str, Quantity]:
    """The newest reading of each metric (taken before ``before``, when given)."""
    newest = select(func.max(MetricReading.id)).where(MetricReading.plan_id == plan.id)
    if before is not None:
        newest = newest.where(MetricReading.at < before)
    newest = newest.group_by(MetricReading.name)
    rows = session.exec(
        select(MetricReading.name, MetricReading.value, MetricReading.unit)
        .where(MetricReading.id.in_(newest))
    ).all()
    return {name: Quantity(value, unit) for name, value, unit in rows}


def plan_metrics(session: Session, plan: Plan, w_now: int, totals: TaskTime, now: datetime) -> list[MetricFigure]:
    """Each target of the plan beside its current value and its trend, then any other reading.

    The trend compares with the value at the close of the previous working day: the
    last reading before the current working day opened (computed metrics are
    snapshotted when each working day closes, see models/monitor.py).
    """
    computed = computed_metrics(session, plan, w_now, totals)
    readings = latest_readings(session, plan)
    earlier = latest_readings(session, plan, before=current_day_opening(plan, now))
    targets: dict[str, str] = plan.spec.get("targets") or {}
    names = list(targets) + [m for m in COMPUTED_METRICS if m not in targets]
    names += [m for m in readings if m not in names]
    figures = []
    for name in names:
        if name in COMPUTED_METRICS:
            raw = computed[name]
            value = Quantity(raw, "%") if raw is not None else None
            source = "computed"
        else:
            value, source = readings.get(name), "reported"
        target = parse_target(targets[name]) if name in targets else None
        previous = earlier.get(name)
        figures.append(MetricFigure(
            name=name, value=value.value if value else None, unit=value.unit if value else "",
            display=value.display() if value else "—",
            target=target.display() if target else None,
            ok=_meets(value, target), source=source,
            previous=previous.value if previous else None, trend=_trend(value, previous),
        ))
    return figures


def _trend(value: Quantity | None, previous: Quantity | None) -> str | None:
    if value is None or previous is None or value.unit != previous.unit:
        return None
    if abs(value.value - previous.value) < 1e-9:
        return "flat"
    return "up" if value.value > previous.value else "down"


def current_day_opening(plan: Plan, now: datetime) -> datetime:
    """When the current (or, on a day off, the last) working day opened."""
    calendar = calendar_of(plan)
    day = calendar.local_date(now)
    for _ in range(366):
        if calendar.is_working_day(day):
            return calendar.window(day)[0]
        day -= timedelta(days=1)
    return now


def _meets(value: Quantity | None, target: Comparison | None) -> bool | None:
    if value is None or target is None:
        return None
    if value.unit != target.threshold.unit and "" not in (value.unit, target.threshold.unit):
        return None  # "3 hours" cannot be held against "80%"
    return target.holds(value)


# --- checkpoints ----------------------------------------------------------------

def checkpoint_due(plan: Plan, checkpoint_day: int, calendar: WorkCalendar) -> datetime | None:
    if plan.started_at is None:
        return None
    return calendar.end_of_working_day(plan.started_at, checkpoint_day)


def next_checkpoint(session: Session, plan: Plan, calendar: WorkCalendar) -> CheckpointSummary | None:
    """The first checkpoint not passed yet, with how many criteria are met."""
    row = session.exec(
        select(Checkpoint.key, Checkpoint.name, Checkpoint.day, Checkpoint.blocker,
               func.count(Criterion.id), func.count(Criterion.met_at))
        .outerjoin(Criterion, Criterion.checkpoint_id == Checkpoint.id)
        .where(Checkpoint.plan_id == plan.id, Checkpoint.archived.is_(False), Checkpoint.passed_at.is_(None))
        .group_by(Checkpoint.id, Checkpoint.key, Checkpoint.name, Checkpoint.day, Checkpoint.blocker)
        .order_by(Checkpoint.day, Checkpoint.position)
        .limit(1)
    ).first()
    if row is None:
        return None
    key, name, day, blocker, total, met = row
    return CheckpointSummary(key=key, name=name, day=day, due_at=checkpoint_due(plan, day, calendar),
                             met=met, criteria=total, passed=False, blocker=blocker)


# --- the agent monitor -----------------------------------------------------------

class AgentFigures(BaseModel):
    key: str
    name: str
    stream: str
    status: Literal["DOWN", "PAUSED", "ACTIVE", "PREPARING", "IDLE"]
    current_task: str | None
    current_title: str | None
    health: float | None  # % of expected check-ins that arrived over the last working day
    slack_user: str | None


class AgentMonitor(Body):
    kind: Literal["agents"] = "agents"
    plan: str
    agents: list[AgentFigures]


def agent_monitor(session: Session, plan: Plan, now: datetime, only: list[int] | None = None) -> AgentMonitor:
    calendar = calendar_of(plan)
    # The current task: the oldest in progress, else the next ready one.
    rank = func.row_number().over(
        partition_by=Task.agent_id,
        # The oldest in progress first; then ready ones by priority (load balancing raises it), in queue order.
        order_by=(case((Task.status == "in-progress", 0), else_=1),
                  case((Task.status == "in-progress", Task.started_at), else_=None), Task.priority.desc(),
                  Task.position, Task.id),
    )
    ranked = (
        select(Task.agent_id, Task.key, Task.title, Task.status, rank.label("rank"))
        .where(Task.plan_id == plan.id, Task.archived.is_(False), Task.status.in_(("in-progress", "ready")))
        .subquery()
    )
    # Materialized, so each agent joins one row rather than rescanning the ranking.
    current = select(ranked).where(ranked.c.rank == 1).cte("current_task").prefix_with("MATERIALIZED")
    tally = (
        select(
            Task.agent_id,
            _sum_if(Task.status == "todo").label("todo"),
            _sum_if(Task.status.in_(("in-progress", "blocked", "done", "failed"))).label("touched"),
        )
        .where(Task.plan_id == plan.id, Task.archived.is_(False))
        .group_by(Task.agent_id)
        .subquery()
    )
    window_start = calendar.subtract_working(now, calendar.day_s) if plan.started_at else now
    window_start = max(window_start, plan.started_at) if plan.started_at else now
    checkins = _checkins(plan, window_start, now)
    query = (
        select(
            Agent.id, Agent.key, Agent.name, Agent.slack_user, Agent.reported_down, Agent.last_seen_at,
            Agent.heartbeat_interval_s, Stream.key, Stream.status,
            current.c.key, current.c.title, current.c.status,
            func.coalesce(tally.c.todo, 0), func.coalesce(tally.c.touched, 0),
            func.coalesce(checkins.c.asked, 0), func.coalesce(checkins.c.answered, 0),
            func.coalesce(checkins.c.beats, 0),
        )
        .join(Stream, Stream.id == Agent.stream_id)
        .outerjoin(current, current.c.agent_id == Agent.id)
        .outerjoin(tally, tally.c.agent_id == Agent.id)
        .outerjoin(checkins, checkins.c.agent_id == Agent.id)
        .where(Agent.plan_id == plan.id, Agent.archived.is_(False))
        .order_by(Agent.position, Agent.id)
    )
    if only is not None:
        query = query.where(Agent.id.in_(only))
    window_s = (now - window_start).total_seconds()
    agents = []
    for (_id, key, name, slack_user, down, last_seen, interval, stream, stream_status,
         task_key, task_title, task_status, todo, touched, asked, answered, beats) in session.exec(query):
        asked, answered, beats = int(asked), int(answered), int(beats)  # PostgreSQL sums are Decimal
        expected_beats = int(window_s // interval) if interval else 0
        expected = asked + expected_beats
        health = round(100.0 * (answered + min(beats, expected_beats)) / expected, 1) if expected else None
        silent_since = last_seen or plan.started_at
        is_down = down or bool(
            interval and silent_since and plan.status == "running"
            and now - silent_since > timedelta(seconds=interval)
        )
        if is_down:
            status = "DOWN"
        elif stream_status == "paused":
            status = "PAUSED"
        elif task_status == "in-progress":
            status = "ACTIVE"
        elif plan.started_at is None or (task_key is None and todo and not touched):
            status = "PREPARING"
        else:
            status = "IDLE"
        agents.append(AgentFigures(
            key=key, name=name, stream=stream, status=status, current_task=task_key,
            current_title=task_title, health=health, slack_user=slack_user,
        ))
    return AgentMonitor(plan=plan.key, agents=agents)


def _checkins(plan: Plan, since: datetime, until: datetime):
    """Per agent: prompts that asked it, answers given, heartbeats, since ``since``."""
    prompts = (
        select(
            SyncAnswer.agent_id.label("agent_id"),
            func.count().label("asked"),
            func.count(SyncAnswer.answered_at).label("answered"),
            literal(0).label("beats"),
        )
        .join(SyncSlot, SyncSlot.id == SyncAnswer.slot_id)
        .where(SyncSlot.plan_id == plan.id, SyncSlot.status == "posted",
               SyncAnswer.asked_at >= since, SyncAnswer.asked_at <= until)
        .group_by(SyncAnswer.agent_id)
    )
    beats = (
        select(Heartbeat.agent_id.label("agent_id"), literal(0).label("asked"), literal(0).label("answered"),
               func.count().label("beats"))
        .join(Agent, Agent.id == Heartbeat.agent_id)
        .where(Agent.plan_id == plan.id, Heartbeat.at >= since, Heartbeat.at <= until)
        .group_by(Heartbeat.agent_id)
    )
    both = prompts.union_all(beats).subquery()
    return (
        select(both.c.agent_id, func.sum(both.c.asked).label("asked"),
               func.sum(both.c.answered).label("answered"), func.sum(both.c.beats).label("beats"))
        .group_by(both.c.agent_id)
        .subquery()
    )


# --- sync prompts ---------------------------------------------------------------

class AnswerLine(BaseModel):
    agent: str
    slack_user: str | None
    answered: bool
    summary: str


class SyncPrompt(Body):
    kind: Literal["sync"] = "sync"
    plan: str
    sync_type: str
    agents: list[AgentFigures]
    checkpoints_due: list[CheckpointSummary]
    slot_id: int | None = None  # answers go to this slot
    answers: list[AnswerLine] = []


def required_agents(monitor: AgentMonitor, required: list[str]) -> list[AgentFigures]:
    """The agents a sync asks: all, the active ones, a stream's, or named ones; never a paused stream's."""
    asked = []
    for agent in monitor.agents:
        if agent.status == "PAUSED":
            continue
        if ("all-agents" in required or agent.key in required or agent.stream in required
                or ("active-agents" in required and agent.status == "ACTIVE")):
            asked.append(agent)
    return asked


def checkpoints_due_on(session: Session, plan: Plan, now: datetime) -> list[CheckpointSummary]:
    """Checkpoints not yet passed that fall due at the end of today's working day."""
    if plan.started_at is None:
        return []
    calendar = calendar_of(plan)
    today = calendar.local_date(now)
    if not calendar.is_working_day(today):
        return []
    day = calendar.working_day_number(plan.started_at, today)
    if day < 1:
        return []  # started after today's closing: its day 1 is still to come
    rows = session.exec(
        select(Checkpoint.key, Checkpoint.name, Checkpoint.day, Checkpoint.blocker,
               func.count(Criterion.id), func.count(Criterion.met_at))
        .outerjoin(Criterion, Criterion.checkpoint_id == Checkpoint.id)
        .where(Checkpoint.plan_id == plan.id, Checkpoint.archived.is_(False),
               Checkpoint.passed_at.is_(None), Checkpoint.day == day)
        .group_by(Checkpoint.id, Checkpoint.key, Checkpoint.name, Checkpoint.day, Checkpoint.blocker)
        .order_by(Checkpoint.position)
    ).all()
    due = calendar.end_of_working_day(plan.started_at, day)
    return [CheckpointSummary(key=k, name=n, day=d, due_at=due, met=met, criteria=total, passed=False, blocker=b)
            for k, n, d, b, total, met in rows]
