"""The agent monitor: each agent's status, current task and health, computed in SQL."""

from datetime import datetime
from typing import Literal

from pydantic import BaseModel
from sqlalchemy import Subquery, case, func, literal
from sqlmodel import Session, col, select

from models.db.sql import select_columns, sum_if
from models.db.tables import Agent, Heartbeat, Plan, Stream, SyncAnswer, SyncSlot, Task
from models.plan.settings import calendar_of
from models.time.clocks import silent_too_long
from models.views.reply import Body


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
        .where(Task.plan_id == plan.id, col(Task.archived).is_(False), col(Task.status).in_(("in-progress", "ready")))
        .subquery()
    )
    # Materialized, so each agent joins one row rather than rescanning the ranking.
    current = select_columns(ranked).where(ranked.c.rank == 1).cte("current_task").prefix_with("MATERIALIZED")
    tally = (
        select(
            Task.agent_id,
            sum_if(col(Task.status) == "todo").label("todo"),
            sum_if(col(Task.status).in_(("in-progress", "blocked", "done", "failed"))).label("touched"),
        )
        .where(Task.plan_id == plan.id, col(Task.archived).is_(False))
        .group_by(col(Task.agent_id))
        .subquery()
    )
    window_start = calendar.subtract_working(now, calendar.day_s) if plan.started_at else now
    window_start = max(window_start, plan.started_at) if plan.started_at else now
    checkins = _checkins(plan, window_start, now)
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
    window_s = calendar.working_seconds(window_start, now)  # heartbeats are expected in working time
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
        expected_beats = int(window_s // interval) if interval else 0
        expected = asked + expected_beats
        health = round(100.0 * (answered + min(beats, expected_beats)) / expected, 1) if expected else None
        silent_since = last_seen or plan.started_at
        is_down = down or bool(
            interval
            and silent_since
            and plan.status == "running"
            and silent_too_long(calendar, silent_since, now, interval)
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
            )
        )
    return AgentMonitor(plan=plan.key, agents=agents)


def _checkins(plan: Plan, since: datetime, until: datetime) -> Subquery:
    """Per agent: prompts that asked it, answers given, heartbeats, since ``since``."""
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
