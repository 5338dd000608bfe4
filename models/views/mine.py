"""What is one person's, for their Home tab: the plans they lead, their own tasks, the syncs waiting for them.

Everything is read in SQL a page at a time (a lead of a 600-agent plan, an agent with a queue of
hundreds of tasks): the counts per status are one grouped query, and only the page's tasks are read.
"""

from datetime import date, datetime, timedelta
from typing import Literal

from pydantic import BaseModel
from sqlalchemy import case, func
from sqlmodel import Session, col, select

from models.db.tables import Agent, Plan, Stream, SyncAnswer, SyncSlot, Task, id_of
from models.plan.settings import calendar_of, settings_of
from models.state.people import Availability
from models.views.reply import Body

# A person's open tasks, in the order they are shown: what they are on, what holds them, what comes next.
OPEN_ORDER = ("in-progress", "blocked", "ready", "todo")
TASKS_PER_PAGE = 6
PLANS_TO_JOIN = 10  # shown to a stranger, with their leads


class TaskLine(BaseModel):
    key: str
    title: str
    status: str
    reason: str | None = None


class AgentWork(BaseModel):
    """One agent the person is, in one plan: a page of their open tasks and how many there are of each."""

    plan: str
    plan_status: str
    agent: str
    stream: str
    tasks: list[TaskLine]  # the page's, in OPEN_ORDER then queue order
    offset: int = 0  # of the page's first task among all open ones
    counts: dict[str, int]  # status -> how many open tasks (OPEN_ORDER keys)
    away: bool = False  # on time off now (`away`, or the plan's time-off:)
    away_until: date | None = None  # the last local day away; None: until `back` (when away)
    away_by_plan: bool = False  # time off from the plan file: `back` cannot end it

    @property
    def open_total(self) -> int:
        return sum(self.counts.values())


class PendingSync(BaseModel):
    """A prompt of today that asked the person and has no answer from them yet."""

    plan: str
    slot_id: int
    sync_type: str
    agent: str
    due_at: datetime
    ends_at: datetime


class PlanToJoin(BaseModel):
    plan: str
    title: str
    leads: list[str]  # Slack user ids


class MyWork(Body):
    kind: Literal["mine"] = "mine"
    user: str | None  # the Slack user it is for
    leads: list[str]  # the plans they lead (keys)
    agents: list[AgentWork]
    pending: list[PendingSync]
    to_join: list[PlanToJoin]  # for someone in no plan: the plans there are, and whom to ask
    plans_total: int = 0

    @property
    def stranger(self) -> bool:
        return not (self.leads or self.agents)


def my_work(session: Session, user: str | None, *, now: datetime, page: tuple[str, str, int] | None = None) -> MyWork:
    """``page``: (plan, agent, offset) shows that agent's tasks from ``offset`` (every other agent's from 0)."""
    plans = session.exec(select(Plan).order_by(col(Plan.key))).all()
    leads = [p.key for p in plans if user and user in settings_of(p).leads]
    rows = (
        session.exec(
            select(Agent, Plan, Stream.key)
            .join(Plan, col(Plan.id) == Agent.plan_id)
            .join(Stream, col(Stream.id) == Agent.stream_id)
            .where(Agent.slack_user == user, col(Agent.archived).is_(False))
            .order_by(col(Plan.key), col(Agent.position))
        ).all()
        if user
        else []
    )
    agents = []
    for agent, plan, stream in rows:
        offset = page[2] if page and (page[0], page[1]) == (plan.key, agent.key) else 0
        agents.append(_agent_work(session, agent, plan, stream, offset, now))
    to_join = []
    if not (leads or agents):
        to_join = [PlanToJoin(plan=p.key, title=p.title, leads=list(settings_of(p).leads)) for p in plans][
            :PLANS_TO_JOIN
        ]
    return MyWork(
        user=user,
        leads=leads,
        agents=agents,
        pending=_pending(session, [a for a, _, _ in rows], {p.id: p for p in plans}, now),
        to_join=to_join,
        plans_total=len(plans),
    )


def _agent_work(session: Session, agent: Agent, plan: Plan, stream: str, offset: int, now: datetime) -> AgentWork:
    mine = (Task.agent_id == agent.id, col(Task.archived).is_(False), col(Task.status).in_(OPEN_ORDER))
    counts = dict.fromkeys(OPEN_ORDER, 0)
    for status, n in session.exec(select(Task.status, func.count()).where(*mine).group_by(col(Task.status))).all():
        counts[status] = n
    order = case({status: rank for rank, status in enumerate(OPEN_ORDER)}, value=col(Task.status))
    offset = max(0, min(offset, max(sum(counts.values()) - 1, 0)))
    away = Availability(session, plan, now).away(agent.key)
    tasks = session.exec(
        select(Task.key, Task.title, Task.status, Task.reason)
        .where(*mine)
        .order_by(order, col(Task.position), col(Task.id))
        .offset(offset)
        .limit(TASKS_PER_PAGE)
    ).all()
    return AgentWork(
        plan=plan.key,
        plan_status=plan.status,
        agent=agent.key,
        stream=stream,
        tasks=[TaskLine(key=k, title=t, status=s, reason=r) for k, t, s, r in tasks],
        offset=offset,
        counts=counts,
        away=away is not None,
        away_until=away.until if away else None,
        away_by_plan=away is not None and away.source == "plan",
    )


def _pending(session: Session, agents: list[Agent], plans: dict[int | None, Plan], now: datetime) -> list[PendingSync]:
    """Today's posted prompts (each plan's own today) still waiting for one of these agents' answers."""
    if not agents:
        return []
    by_id = {id_of(a): a for a in agents}
    today = {calendar_of(plans[a.plan_id]).local_date(now).isoformat() for a in agents}
    rows = session.exec(
        select(SyncSlot, SyncAnswer.agent_id)
        .join(SyncAnswer, col(SyncAnswer.slot_id) == SyncSlot.id)
        .where(
            col(SyncAnswer.agent_id).in_(list(by_id)),
            col(SyncAnswer.answered_at).is_(None),
            SyncSlot.status == "posted",
            col(SyncSlot.local_date).in_(today),
        )
        .order_by(col(SyncSlot.due_at))
    ).all()
    pending = []
    for slot, agent_id in rows:
        plan = plans[slot.plan_id]
        if slot.local_date != calendar_of(plan).local_date(now).isoformat():
            continue
        pending.append(
            PendingSync(
                plan=plan.key,
                slot_id=id_of(slot),
                sync_type=slot.entry.split("@")[0],
                agent=by_id[agent_id].key,
                due_at=slot.due_at,
                ends_at=slot.due_at + timedelta(seconds=slot.duration_s),
            )
        )
    return pending
