"""The delegation matrix: who gets a new task of a given type."""

from datetime import datetime

from sqlmodel import Session, col, select

from models.db.tables import Agent, Plan, id_of
from models.plan.settings import plan_clock, settings_of
from models.state.people import Availability
from models.views.agents import agent_monitor
from models.views.metrics import agent_utilization


def choose_agent(session: Session, plan: Plan, task_type: str, now: datetime) -> tuple[Agent | None, str]:
    """The primary for the type, or its backup when the primary is away, DOWN, PAUSED or overloaded.

    Returns (agent, why). ``auto-delegate: false`` returns no agent: the task
    waits for a lead to assign it. An unknown type is a ValueError naming the
    known ones.
    """
    settings = settings_of(plan)
    row = settings.delegation_row(task_type)
    if row is None:
        known = ", ".join(r.task_type for r in settings.delegation_matrix) or "none: the plan has no delegation-matrix"
        raise ValueError(
            f"no delegation rule for task type {task_type!r}; types: {known}. Or name the agent with --agent"
        )
    if not row.auto_delegate:
        return None, f"auto-delegate is off for {row.task_type}: a lead assigns it"
    agents = {
        a.key: a
        for a in session.exec(
            select(Agent).where(
                Agent.plan_id == plan.id, col(Agent.key).in_([row.primary, row.backup]), col(Agent.archived).is_(False)
            )
        )
    }
    primary, backup = agents.get(row.primary), agents.get(row.backup) if row.backup else None
    unavailable = _unavailable(session, plan, primary, now) if primary else "archived"
    if not unavailable:
        return primary, f"primary for {row.task_type}"
    if backup is not None and not _unavailable(session, plan, backup, now):
        return backup, f"backup for {row.task_type}: {row.primary} is {unavailable}"
    if primary is not None:
        return primary, f"primary for {row.task_type}, although {unavailable}; no backup is available"
    return None, f"neither {row.primary} nor its backup is in the plan"


def _unavailable(session: Session, plan: Plan, agent: Agent, now: datetime) -> str | None:
    away = Availability(session, plan, now).away(agent.key)
    if away is not None:
        return f"away through {away.until:%a %d %b}" if away.until else "away"
    status = agent_monitor(session, plan, now, only=[id_of(agent)]).agents[0].status
    if status in ("DOWN", "PAUSED"):
        return status
    limit = settings_of(plan).utilization_limit
    used = agent_utilization(session, plan, id_of(agent), plan_clock(plan, now))
    if used is not None and used > limit:
        return f"at {used:.0f}% utilization (limit {limit:g}%)"
    return None
