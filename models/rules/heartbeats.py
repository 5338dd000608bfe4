"""Agents that report through the API: heartbeats, and being down."""

from datetime import datetime

from sqlmodel import Session, col, select

from models.db.tables import Agent, Heartbeat, Plan, id_of
from models.state.events import raise_event
from models.state.people import Availability
from models.time.clocks import silent_too_long


def record_heartbeat(session: Session, agent: Agent, *, now: datetime, status: str = "up") -> bool:
    """Store a heartbeat; ``status`` "down" reports the agent down. Returns whether it recovered."""
    if status not in ("up", "down"):
        raise ValueError(f"status must be up or down, not {status!r}")
    plan = session.get_one(Plan, agent.plan_id)
    session.add(Heartbeat(agent_id=id_of(agent), at=now, status=status))
    agent.last_seen_at, agent.reported_down = now, status == "down"
    recovered = status == "up" and agent.down_since is not None
    if status == "down" and agent.down_since is None:
        _down(session, plan, agent, now, "reported down")
    elif recovered:
        agent.down_since = None
        raise_event(
            session, plan, "agent-recovered", now=now, source="api", actor=agent.key, detail={"agent": agent.key}
        )
    session.add(agent)
    return recovered


def detect_silent(session: Session, plan: Plan, *, now: datetime) -> list[str]:
    """Agents silent for longer than their heartbeat interval, counted in their own working time,
    become DOWN: agent-down, once. An agent away is not expected to report."""
    if plan.status != "running":
        return []
    gone, people = [], Availability(session, plan, now)
    for agent in session.exec(
        select(Agent).where(
            Agent.plan_id == plan.id,
            col(Agent.archived).is_(False),
            col(Agent.heartbeat_interval_s).is_not(None),
            col(Agent.down_since).is_(None),
        )
    ):
        # The query and a running plan make both known; the checks say so to the type checker.
        interval, silent_since = agent.heartbeat_interval_s, agent.last_seen_at or plan.started_at
        if (
            interval is not None
            and silent_since is not None
            and people.away(agent.key) is None
            and silent_too_long(people.calendar(agent.key), silent_since, now, interval)
        ):
            _down(session, plan, agent, now, f"no heartbeat since {silent_since:%H:%M} UTC")
            gone.append(agent.key)
    return gone


def _down(session: Session, plan: Plan, agent: Agent, now: datetime, why: str) -> None:
    agent.down_since = now
    session.add(agent)
    raise_event(
        session, plan, "agent-down", now=now, source="monitor", actor=agent.key, detail={"agent": agent.key, "why": why}
    )
