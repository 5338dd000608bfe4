"""The delegation matrix: who gets a new task of a given type."""

from datetime import datetime

from sqlmodel import Session, select

from models.figures import agent_monitor, agent_utilization
from models.lifecycle import plan_clock
from models.tables import Agent, Plan
from models.units import parse_condition

DEFAULT_UTILIZATION_LIMIT = 90.0  # "If agent utilization > 90%, redistribute tasks"


def utilization_limit(plan: Plan) -> float:
    for rule in plan.spec.get("load-balancing") or []:
        condition = parse_condition(rule["when"])
        if condition.metric == "agent-utilization" and condition.comparison.threshold.unit == "%":
            return condition.comparison.threshold.value
    return DEFAULT_UTILIZATION_LIMIT


def choose_agent(session: Session, plan: Plan, task_type: str, now: datetime) -> tuple[Agent | None, str]:
    """The primary for the type, or its backup when the primary is DOWN, PAUSED or overloaded.

    Returns (agent, why). ``auto-delegate: false`` returns no agent: the task
    waits for a lead to assign it. An unknown type is a ValueError naming the
    known ones.
    """
    rows = plan.spec.get("delegation-matrix") or []
    row = next((r for r in rows if r["task-type"].lower() == task_type.lower()), None)
    if row is None:
        known = ", ".join(r["task-type"] for r in rows) or "none: the plan has no delegation-matrix"
        raise ValueError(f"no delegation rule for task type {task_type!r}; types: {known}. "
                         "Or name the agent with --agent")
    if not row.get("auto-delegate", True):
        return None, f"auto-delegate is off for {row['task-type']}: a lead assigns it"
    agents = {a.key: a for a in session.exec(
        select(Agent).where(Agent.plan_id == plan.id, Agent.key.in_([row["primary"], row.get("backup")]),
                            Agent.archived.is_(False)))}
    primary, backup = agents.get(row["primary"]), agents.get(row.get("backup"))
    unavailable = _unavailable(session, plan, primary, now) if primary else "archived"
    if not unavailable:
        return primary, f"primary for {row['task-type']}"
    if backup is not None and not _unavailable(session, plan, backup, now):
        return backup, f"backup for {row['task-type']}: {row['primary']} is {unavailable}"
    if primary is not None:
        return primary, f"primary for {row['task-type']}, although {unavailable}; no backup is available"
    return None, f"neither {row['primary']} nor its backup is in the plan"


def _unavailable(session: Session, plan: Plan, agent: Agent, now: datetime) -> str | None:
    status = agent_monitor(session, plan, now, only=[agent.id]).agents[0].status
    if status in ("DOWN", "PAUSED"):
        return status
    limit = utilization_limit(plan)
    used = agent_utilization(session, plan, agent.id, plan_clock(plan, now))
    if used is not None and used > limit:
        return f"at {used:.0f}% utilization (limit {limit:g}%)"
    return None
