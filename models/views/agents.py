"""The agent monitor: each agent's status, current task and health, computed in SQL.

For a big team it comes a page at a time (``page``): every agent's status is counted
for the summary from the running figures (models/db/figures.py: a row per agent and
status, no task read), and only the page's agents get their current task and health.
"""

from datetime import date, datetime
from typing import Any, Literal

from pydantic import BaseModel, Field
from sqlalchemy import Subquery, case, func, literal
from sqlmodel import Session, col, select

from models.db.sql import select_columns
from models.db.tables import Agent, Heartbeat, Plan, Stream, SyncAnswer, SyncSlot, Task
from models.db.tables import AgentFigures as AgentFiguresRow
from models.plan.settings import calendar_of
from models.state.people import Availability
from models.time.clocks import silent_too_long
from models.views.reply import Body

AgentStatus = Literal["DOWN", "PAUSED", "ACTIVE", "PREPARING", "IDLE"]
AGENT_STATUSES: tuple[AgentStatus, ...] = ("DOWN", "PAUSED", "ACTIVE", "PREPARING", "IDLE")
AGENTS_PER_PAGE = 50


class AgentFigures(BaseModel):
    key: str
    name: str
    stream: str
    status: AgentStatus
    current_task: str | None
    current_title: str | None
    health: float | None  # % of expected check-ins that arrived over the last working day
    slack_user: str | None
    away: bool = False  # on time off now (`away`, the plan's time-off): no check-in is expected
    away_until: date | None = None  # the last day away; None with away: until `back`
    away_reason: str | None = None


class AgentMonitor(Body):
    kind: Literal["agents"] = "agents"
    plan: str
    agents: list[AgentFigures]  # the page's
    total: int = 0  # agents asked for, on every page
    page: int = 1
    pages: int = 1
    summary: dict[str, int] = Field(
        default_factory=dict
    )  # status -> how many of the agents asked for (in AGENT_STATUSES order)


def pages_of(total: int) -> int:
    return max((total + AGENTS_PER_PAGE - 1) // AGENTS_PER_PAGE, 1)


def agent_page(session: Session, plan: Plan, now: datetime, page: int, only: list[int] | None = None) -> AgentMonitor:
    """One page of the monitor (``page`` from 1, within ``pages_of(total)``), with every agent's status counted."""
    summary = dict.fromkeys(AGENT_STATUSES, 0)
    for status, n in _statuses(session, plan, now, only):
        summary[status] += n
    total = sum(summary.values())
    ids = session.exec(
        _selected(select(Agent.id), plan, only)
        .order_by(col(Agent.position), col(Agent.id))
        .offset((page - 1) * AGENTS_PER_PAGE)
        .limit(AGENTS_PER_PAGE)
    ).all()
    monitor = agent_monitor(session, plan, now, only=[i for i in ids if i is not None])
    return monitor.model_copy(
        update={
            "total": total,
            "page": page,
            "pages": pages_of(total),
            "summary": {k: v for k, v in summary.items() if v},
        }
    )


def _selected(query: Any, plan: Plan, only: list[int] | None) -> Any:
    query = query.where(Agent.plan_id == plan.id, col(Agent.archived).is_(False))
    return query if only is None else query.where(col(Agent.id).in_(only))


def _statuses(session: Session, plan: Plan, now: datetime, only: list[int] | None) -> list[tuple[AgentStatus, int]]:
    """How many selected agents are in each status, from the agents' rows and their kept task counts.

    Agents alike are counted in one row: only those with a heartbeat interval need a row each,
    as whether they are down depends on when each was last seen.
    """
    counts = _kept_counts(plan, only)
    shape = (
        col(Agent.reported_down),
        col(Stream.status),
        func.coalesce(counts.c.active, 0) > 0,
        func.coalesce(counts.c.active + counts.c.ready, 0) > 0,
        func.coalesce(counts.c.todo, 0) > 0,
        func.coalesce(counts.c.touched, 0) > 0,
    )
    own_row = case((col(Agent.heartbeat_interval_s).is_not(None), Agent.id), else_=None)
    rows = session.exec(
        _selected(
            select_columns(
                func.min(Agent.key),
                func.min(Agent.last_seen_at),
                func.min(Agent.heartbeat_interval_s),
                *shape,
                func.count(col(Agent.id)),
            )
            .join(Stream, col(Stream.id) == Agent.stream_id)
            .outerjoin(counts, counts.c.agent_id == Agent.id)
            .group_by(own_row, *shape),
            plan,
            only,
        )
    ).all()
    people = Availability(session, plan, now)
    return [
        (
            _status(
                plan,
                now,
                down,
                _silent(people, key, last_seen, interval),
                stream_status,
                working,
                has_task,
                todo,
                touched,
            ),
            n,
        )
        for key, last_seen, interval, down, stream_status, working, has_task, todo, touched, n in rows
    ]


def _silent(people: Availability, key: str, last_seen: datetime | None, interval: int | None) -> bool:
    """Silent past its heartbeat interval, counted in the agent's own working time; never while away."""
    silent_since = last_seen or people.plan.started_at
    return bool(
        interval
        and silent_since
        and people.plan.status == "running"
        and people.away(key) is None
        and silent_too_long(people.calendar(key), silent_since, people.now, interval)
    )


def _kept_counts(plan: Plan, only: list[int] | None) -> Subquery:
    """Per agent (of ``only``, if given): its tasks in progress, ready, waiting, and ever started
    (the running figures: one row per agent)."""
    f = AgentFiguresRow
    return (
        select_columns(
            col(f.agent_id).label("agent_id"),
            col(f.in_progress).label("active"),
            col(f.ready).label("ready"),
            col(f.todo).label("todo"),
            (col(f.in_progress) + f.blocked + f.done + f.failed).label("touched"),
        )
        .where(f.plan_id == plan.id if only is None else col(f.agent_id).in_(only))
        .subquery()
    )


def _status(
    plan: Plan,
    now: datetime,
    down: bool,
    silent: bool,
    stream_status: str,
    working: bool,
    has_task: bool,
    todo: int | bool,
    touched: int | bool,
) -> AgentStatus:
    """``working``: its current task is in progress; ``has_task``: it has one (in progress or ready);
    ``silent``: past its heartbeat interval in its own working time (``_silent``)."""
    if down or silent:
        return "DOWN"
    if stream_status == "paused":
        return "PAUSED"
    if working:
        return "ACTIVE"
    if plan.started_at is None or (not has_task and todo and not touched):
        return "PREPARING"
    return "IDLE"


def agent_monitor(session: Session, plan: Plan, now: datetime, only: list[int] | None = None) -> AgentMonitor:
    calendar = calendar_of(plan)
    # With agents named (a page, one agent), only their tasks are read: by agent, on
    # ix_tasks_agent_status (the agents are the plan's, so the plan needs no condition).
    of_selected = [Task.plan_id == plan.id] if only is None else [col(Task.agent_id).in_(only)]
    # The current task: the oldest in progress, else the next ready one.
    rank = func.row_number().over(
        partition_by=col(Task.agent_id),
        # The oldest in progress first; then ready ones by priority (load balancing raises it), in queue order.
        order_by=(
            case((col(Task.status) == "in-progress", 0), else_=1),
            case((col(Task.status) == "in-progress", Task.started_at), else_=None),
            col(Task.priority).desc(),
            col(Task.position),
            col(Task.id),
        ),
    )
    ranked = (
        select_columns(Task.agent_id, Task.key, Task.title, Task.status, rank.label("rank"))
        .where(col(Task.archived).is_(False), col(Task.status).in_(("in-progress", "ready")), *of_selected)
        .subquery()
    )
    # Materialized, so each agent joins one row rather than rescanning the ranking.
    current = select_columns(ranked).where(ranked.c.rank == 1).cte("current_task").prefix_with("MATERIALIZED")
    tally = _kept_counts(plan, only)
    window_start = calendar.subtract_working(now, calendar.day_s) if plan.started_at else now
    window_start = max(window_start, plan.started_at) if plan.started_at else now
    checkins = _checkins(plan, window_start, now, only)
    query = (
        select_columns(
            Agent.id,
            Agent.key,
            Agent.name,
            Agent.slack_user,
            Agent.reported_down,
            Agent.last_seen_at,
            Agent.heartbeat_interval_s,
            Stream.key,
            Stream.status,
            current.c.key,
            current.c.title,
            current.c.status,
            func.coalesce(tally.c.todo, 0),
            func.coalesce(tally.c.touched, 0),
            func.coalesce(checkins.c.asked, 0),
            func.coalesce(checkins.c.answered, 0),
            func.coalesce(checkins.c.beats, 0),
        )
        .join(Stream, col(Stream.id) == Agent.stream_id)
        .outerjoin(current, current.c.agent_id == Agent.id)
        .outerjoin(tally, tally.c.agent_id == Agent.id)
        .outerjoin(checkins, checkins.c.agent_id == Agent.id)
        .where(Agent.plan_id == plan.id, col(Agent.archived).is_(False))
        .order_by(col(Agent.position), col(Agent.id))
    )
    if only is not None:
        query = query.where(col(Agent.id).in_(only))
    people = Availability(session, plan, now)
    agents = []
    for (
        _id,
        key,
        name,
        slack_user,
        down,
        last_seen,
        interval,
        stream,
        stream_status,
        task_key,
        task_title,
        task_status,
        todo,
        touched,
        asked,
        answered,
        beats,
    ) in session.exec(query):
        asked, answered, beats = int(asked), int(answered), int(beats)  # PostgreSQL sums are Decimal
        away = people.away(key)
        # Heartbeats are expected in the agent's own working time, and none while it is away.
        window_s = people.calendar(key).working_seconds(window_start, now)
        expected_beats = int(window_s // interval) if interval and away is None else 0
        expected = asked + expected_beats
        health = round(100.0 * (answered + min(beats, expected_beats)) / expected, 1) if expected else None
        status = _status(
            plan,
            now,
            down,
            _silent(people, key, last_seen, interval),
            stream_status,
            task_status == "in-progress",
            task_key is not None,
            todo,
            touched,
        )
        agents.append(
            AgentFigures(
                key=key,
                name=name,
                stream=stream,
                status=status,
                current_task=task_key,
                current_title=task_title,
                health=health,
                slack_user=slack_user,
                away=away is not None,
                away_until=away.until if away else None,
                away_reason=away.reason if away else None,
            )
        )
    summary = dict.fromkeys(AGENT_STATUSES, 0)
    for a in agents:
        summary[a.status] += 1
    return AgentMonitor(
        plan=plan.key,
        agents=agents,
        total=len(agents),
        summary={k: v for k, v in summary.items() if v},
    )


def _checkins(plan: Plan, since: datetime, until: datetime, only: list[int] | None) -> Subquery:
    """Per agent (of ``only``, if given): prompts that asked it, answers given, heartbeats, since ``since``."""
    prompts = (
        select_columns(
            col(SyncAnswer.agent_id).label("agent_id"),
            func.count().label("asked"),
            func.count(col(SyncAnswer.answered_at)).label("answered"),
            literal(0).label("beats"),
        )
        .join(SyncSlot, col(SyncSlot.id) == SyncAnswer.slot_id)
        .where(
            SyncSlot.plan_id == plan.id,
            SyncSlot.status == "posted",
            SyncAnswer.asked_at >= since,
            SyncAnswer.asked_at <= until,
            *([] if only is None else [col(SyncAnswer.agent_id).in_(only)]),
        )
        .group_by(col(SyncAnswer.agent_id))
    )
    beats = (
        select_columns(
            col(Heartbeat.agent_id).label("agent_id"),
            literal(0).label("asked"),
            literal(0).label("answered"),
            func.count().label("beats"),
        )
        .join(Agent, col(Agent.id) == Heartbeat.agent_id)
        .where(Agent.plan_id == plan.id, Heartbeat.at >= since, Heartbeat.at <= until)
        .where(*([] if only is None else [col(Heartbeat.agent_id).in_(only)]))
        .group_by(col(Heartbeat.agent_id))
    )
    both = prompts.union_all(beats).subquery()
    return (
        select(
            both.c.agent_id,
            func.sum(both.c.asked).label("asked"),
            func.sum(both.c.answered).label("answered"),
            func.sum(both.c.beats).label("beats"),
        )
        .group_by(both.c.agent_id)
        .subquery()
    )
