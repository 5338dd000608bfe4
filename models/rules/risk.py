"""Risk triggers: conditions on metrics and events, and the actions they take.

A metric condition (``task-delay > 4 hours``) fires when it turns true, not
again while it stays true (unless the trigger has ``repeat:``), and re-arms
when it turns false. A bare event name fires each time the event is raised.
Conditions are evaluated on every metric reading, every event, and on the
scheduler's one-minute tick.
"""

from datetime import datetime, timedelta

from sqlalchemy import func
from sqlmodel import Session, col, select

from models.db.tables import Agent, Alert, Plan, RiskTrigger, Stream, Task, id_of
from models.plan.coordination import initial_status
from models.plan.schedule import mark_critical_path
from models.plan.settings import plan_clock
from models.state.alerts import CHANNEL_HERE, LEADS, SEVERITY_LEVELS, join_alert
from models.state.audit import audit_automatic
from models.state.events import fire_action, raise_event
from models.state.outcome import Outcome, merge
from models.time.clocks import stream_clock
from models.time.units import Condition, Quantity, parse_condition
from models.views.dashboard import dashboard
from models.views.metrics import latest_readings, max_agent_utilization

BUILT_IN = ("task-delay", "stream-delay", "agent-utilization")


def metric_values(session: Session, plan: Plan, now: datetime) -> dict[str, Quantity]:
    """What metric conditions are held against: the built-ins and the latest readings."""
    values = dict(latest_readings(session, plan))
    board = dashboard(session, plan, now)
    lateness = [s.lateness_s for s in board.streams if s.lateness_s is not None]
    worst = max(lateness, default=None)
    if worst is not None:
        # A stream's delay is its worst task's lateness, as the dashboard's status reads it.
        values["task-delay"] = values["stream-delay"] = Quantity(max(worst, 0), "s")
    utilization = max_agent_utilization(session, plan, now)
    if utilization is not None:
        values["agent-utilization"] = Quantity(utilization, "%")
    return values


def evaluate(session: Session, plan: Plan, now: datetime, only: set[str] | None = None) -> Outcome:
    """Hold every metric trigger (or those on the ``only`` metrics) against the current values."""
    if plan.status != "running":
        return Outcome()
    triggers = _triggers(session, plan)
    wanted = [(t, c, c.metric) for t, c in triggers if c.metric and (only is None or c.metric in only)]
    if not wanted:
        return Outcome()
    values = metric_values(session, plan, now)
    outcome = Outcome()
    for trigger, condition, metric in wanted:
        value, comparison = values.get(metric), condition.comparison
        holds = (
            value is not None
            and comparison is not None
            and value.unit in (comparison.threshold.unit, "")
            and comparison.holds(value)
        )
        if value is not None and holds and (not trigger.firing or _repeat_due(trigger, now)):
            outcome = merge(outcome, _fire(session, plan, trigger, now, value.display()))
        elif not holds and trigger.firing:
            trigger.firing = False  # re-armed: it fires again when the condition next turns true
            session.add(trigger)
            if trigger.action == "block-deployment" and (plan.deployment_blocked or "").startswith(trigger.condition):
                plan.deployment_blocked = None
                session.add(plan)
                outcome.notes.append(f"deployment unblocked: {trigger.condition} no longer holds")
    return outcome


def on_event(session: Session, plan: Plan, name: str, now: datetime, *, alert_id: int | None = None) -> Outcome:
    """Bare-event triggers fire each time their event is raised.

    One cause, one alert: when the event already raised an alert, a trigger's reach (its level,
    the leads, @here) joins that alert instead of paging the same people a second time.
    """
    outcome = Outcome()
    for trigger, condition in _triggers(session, plan):
        if condition.event == name:
            joins = session.get(Alert, alert_id) if alert_id is not None else None
            outcome = merge(outcome, _fire(session, plan, trigger, now, name, joins=joins))
    return outcome


def _triggers(session: Session, plan: Plan) -> list[tuple[RiskTrigger, Condition]]:
    rows = session.exec(
        select(RiskTrigger)
        .where(RiskTrigger.plan_id == plan.id, col(RiskTrigger.archived).is_(False))
        .order_by(col(RiskTrigger.position))
    ).all()
    return [(t, parse_condition(t.condition)) for t in rows]


def _repeat_due(trigger: RiskTrigger, now: datetime) -> bool:
    return bool(
        trigger.repeat_s
        and trigger.last_fired_at
        and now - trigger.last_fired_at >= timedelta(seconds=trigger.repeat_s)
    )


def _fire(
    session: Session, plan: Plan, trigger: RiskTrigger, now: datetime, value: str, *, joins: Alert | None = None
) -> Outcome:
    trigger.firing, trigger.last_fired_at, trigger.fire_count = True, now, trigger.fire_count + 1
    session.add(trigger)
    level = SEVERITY_LEVELS[trigger.severity]
    destinations: tuple[str, ...] = ()
    notes: list[str] = []
    if trigger.action == "escalate-to-lead":
        destinations = (LEADS,)
    elif trigger.action == "block-deployment":
        plan.deployment_blocked = f"{trigger.condition} (now {value})"
        session.add(plan)
        notes.append(f"DEPLOYMENT BLOCKED: {trigger.condition}")
    elif trigger.action == "performance-review":
        notes.append(_add_review_task(session, plan, trigger, now))
    elif trigger.action == "all-hands-alert":
        level, destinations = "critical", (CHANNEL_HERE,)
    else:  # any other action is a coordination action of the plan
        note = fire_action(session, plan, trigger.action, trigger=trigger.condition, group="risk-trigger", now=now)
        notes += [note] if note else []
    name = f"risk:{trigger.condition}"
    if joins is not None:
        join_alert(session, plan, joins, name=name, level=level, extra_destinations=destinations, action=trigger.action)
        outcome = Outcome()
    else:
        outcome = raise_event(
            session,
            plan,
            name,
            now=now,
            source="risk",
            actor="risk-engine",
            level=level,
            detail={"value": value, "action": trigger.action},
            destinations=destinations,
        )
    outcome.notes[:0] = [f"risk trigger fired: {trigger.condition} (now {value}) → {trigger.action}", *notes]
    audit_automatic(
        session,
        plan,
        actor="risk-engine",
        command=f"risk trigger: {trigger.condition} → {trigger.action}",
        message="; ".join(outcome.notes),
        now=now,
    )
    return outcome


def _add_review_task(session: Session, plan: Plan, trigger: RiskTrigger, now: datetime) -> str:
    """A review task in the plan's most critical stream, for its least loaded agent."""
    rank = {"critical": 0, "high": 1, "medium": 2, "low": 3}
    streams = session.exec(select(Stream).where(Stream.plan_id == plan.id, col(Stream.archived).is_(False))).all()
    stream = min(streams, key=lambda s: (rank.get(s.priority, 9), s.position))
    open_tasks = func.count(col(Task.id))
    agent = session.exec(
        select(Agent)
        .outerjoin(Task, (col(Task.agent_id) == Agent.id) & col(Task.status).in_(("ready", "in-progress")))
        .where(Agent.stream_id == stream.id, col(Agent.archived).is_(False))
        .group_by(col(Agent.id))
        .order_by(open_tasks, col(Agent.position))
    ).first()
    count = session.exec(select(func.count()).select_from(Task).where(Task.plan_id == plan.id)).one()
    key = f"T{count + 1}"
    while session.exec(select(Task.id).where(Task.plan_id == plan.id, Task.key == key)).first():
        count += 1
        key = f"T{count + 1}"
    clock = stream_clock(stream, plan_clock(plan, now))
    estimate = 4 * 3600
    session.add(
        Task(
            plan_id=id_of(plan),
            stream_id=id_of(stream),
            agent_id=agent.id if agent else None,
            key=key,
            title=f"Performance review: {trigger.condition}",
            type="Review",
            estimate_ws=estimate,
            origin="command",
            status=initial_status(session, plan, None),
            position=10_000 + count,
            not_before_ws=clock,
            planned_start_ws=clock,
            planned_due_ws=clock + estimate,
            since_ws=clock,
            priority=1,
        )
    )
    session.flush()
    mark_critical_path(session, plan)
    return f"added {key} 'Performance review' to {stream.key}" + (f" for {agent.key}" if agent else "")
