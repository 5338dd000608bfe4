"""The plan's metrics against its targets: the seed's computed efficiency figures and reported readings.

Computed in SQL from the running figures each agent and task keeps (busy clocks,
time per status); no task is read into Python.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from pydantic import BaseModel
from sqlalchemy import BindParameter, ColumnElement, Integer, Subquery, bindparam, case, func
from sqlmodel import Session, col, select
from sqlmodel.sql.expression import Select

from models.db.tables import Agent, MetricReading, Plan, Stream, SyncSlot
from models.plan.settings import calendar_of, plan_clock, settings_of
from models.time.clocks import stream_clock_sql
from models.time.units import Comparison, Quantity, parse_target


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


COMPUTED_METRICS = (
    "parallel-efficiency",
    "agent-utilization",
    "blocking-time",
    "rework-rate",
    "communication-overhead",
)


def busy_per_agent(plan: Plan, w: BindParameter[int]) -> Select[int | None, int, int]:
    """Per agent: its busy time and the time it had, both on its stream's clock.

    Busy time is the agent's busy clock (running while it has any task in
    progress, counted once however many); the time it had leaves out its
    stream's pauses. One row per agent, and no task is read.
    """
    clock = stream_clock_sql(w)
    busy_now = case((col(Agent.busy_since_ws).is_not(None), clock - Agent.busy_since_ws), else_=0)
    return (
        select(col(Agent.id).label("agent_id"), (Agent.busy_ws + busy_now).label("busy"), clock.label("available"))
        .join(Stream, col(Stream.id) == Agent.stream_id)
        .where(Agent.plan_id == plan.id, col(Agent.archived).is_(False))
    )


def utilization_of(per_agent: Subquery) -> ColumnElement[float]:
    """busy ÷ available per agent, at most 1; NULL when it had no time yet."""
    return case(
        (
            per_agent.c.available > 0,
            case((per_agent.c.busy > per_agent.c.available, 1.0), else_=per_agent.c.busy * 1.0 / per_agent.c.available),
        ),
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


def _sync_time_held(session: Session, plan: Plan, now: datetime) -> int:
    """Seconds of sync prompts held so far: the whole window of those over, the part elapsed of
    those still open (a 15-minute standup posted a minute ago is one minute, not fifteen)."""
    posted = (SyncSlot.plan_id == plan.id, SyncSlot.status == "posted")
    whole = session.exec(select(func.coalesce(func.sum(SyncSlot.duration_s), 0)).where(*posted)).one()
    # Only the prompts posted within the longest window can still be open: a handful of rows.
    longest = session.exec(select(func.max(SyncSlot.duration_s)).where(*posted)).one() or 0
    still_open = session.exec(
        select(SyncSlot.posted_at, SyncSlot.duration_s).where(
            *posted, col(SyncSlot.posted_at) > now - timedelta(seconds=longest)
        )
    ).all()
    unheld = sum(
        max(0, duration - max(0, int((now - posted_at).total_seconds())))
        for posted_at, duration in still_open
        if posted_at is not None
    )
    return int(whole) - unheld


def computed_metrics(
    session: Session, plan: Plan, w_now: int, totals: TaskTime, now: datetime
) -> dict[str, float | None]:
    """The seed's execution-efficiency figures, in % (None before there is time to measure)."""
    w = bindparam("w", w_now, type_=Integer)
    per_agent = busy_per_agent(plan, w).subquery()
    capped = case((per_agent.c.busy > w, w), else_=per_agent.c.busy)
    agents, busy, mean_util = session.exec(
        select(func.count(), func.coalesce(func.sum(capped), 0), func.avg(utilization_of(per_agent))).select_from(
            per_agent
        )
    ).one()

    sync_s = _sync_time_held(session, plan, now)

    def pct(part: float, whole: float) -> float | None:
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
    newest = newest.group_by(col(MetricReading.name))
    rows = session.exec(
        select(MetricReading.name, MetricReading.value, MetricReading.unit).where(col(MetricReading.id).in_(newest))
    ).all()
    return {name: Quantity(value, unit) for name, value, unit in rows}


def plan_metrics(session: Session, plan: Plan, w_now: int, totals: TaskTime, now: datetime) -> list[MetricFigure]:
    """Each target of the plan beside its current value and its trend, then any other reading.

    The trend compares with the value at the close of the previous working day: the
    last reading before the current working day opened (computed metrics are
    snapshotted when each working day closes, see models/monitor.py).
    """
    computed = computed_metrics(session, plan, w_now, totals, now)
    readings = latest_readings(session, plan)
    earlier = latest_readings(session, plan, before=current_day_opening(plan, now))
    targets = settings_of(plan).targets
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
        figures.append(
            MetricFigure(
                name=name,
                value=value.value if value else None,
                unit=value.unit if value else "",
                display=value.display() if value else "—",
                target=target.display() if target else None,
                ok=meets(value, target),
                source=source,
                previous=previous.value if previous else None,
                trend=_trend(value, previous),
            )
        )
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


def meets(value: Quantity | None, target: Comparison | None) -> bool | None:
    if value is None or target is None:
        return None
    if value.unit != target.threshold.unit and "" not in (value.unit, target.threshold.unit):
        return None  # "3 hours" cannot be held against "80%"
    return target.holds(value)
