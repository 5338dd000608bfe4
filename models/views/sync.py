"""Sync prompts and the end-of-day summary, as the fronts show them."""

from collections.abc import Mapping
from datetime import date, datetime
from typing import Any, Literal

from pydantic import BaseModel, Field
from sqlalchemy import and_, func
from sqlmodel import Session, col, select

from models.db.tables import Agent, Plan, Stream, SyncAnswer, SyncSlot, Task, id_of
from models.plan.settings import calendar_of
from models.views.agents import AgentFigures, AgentMonitor, agent_monitor
from models.views.checkpoints import CheckpointSummary, checkpoints_due_on
from models.views.dashboard import dashboard
from models.views.reply import Body

# What each kind of sync asks (answers are stored under these keys); any other kind asks DEFAULT_QUESTIONS.
QUESTIONS = {
    "standup": [
        ("yesterday", "What did you do yesterday?"),
        ("today", "What will you do today?"),
        ("blockers", "Anything blocking you?"),
    ],
    "progress-check": [("progress", "How is it going?"), ("blockers", "Anything blocking you?")],
    "end-of-day": [
        ("done_today", "What did you finish today?"),
        ("tomorrow", "What comes next tomorrow?"),
        ("blockers", "Anything blocking you?"),
    ],
}
DEFAULT_QUESTIONS = [("update", "Your update"), ("blockers", "Anything blocking you?")]
OPEN_FOR_ANSWERS = ("ready", "in-progress", "blocked")  # the tasks an answer may mark done or blocked


class AnswerForm(Body):
    """What an agent is asked for one prompt: its questions, and the agent's open tasks to tick."""

    kind: Literal["answer-form"] = "answer-form"
    plan: str
    slot_id: int
    agent: str
    sync_type: str
    questions: list[tuple[str, str]]  # (key, label)
    tasks: list[tuple[str, str]]  # (key, title), at most 100 (a select's limit)


def answer_form(session: Session, plan: Plan, slot: SyncSlot, agent: Agent) -> AnswerForm:
    sync_type = slot.entry.split("@")[0]
    tasks = session.exec(
        select(Task.key, Task.title)
        .where(Task.agent_id == agent.id, col(Task.status).in_(OPEN_FOR_ANSWERS), col(Task.archived).is_(False))
        .order_by(col(Task.position))
        .limit(100)
    ).all()
    return AnswerForm(
        plan=plan.key,
        slot_id=id_of(slot),
        agent=agent.key,
        sync_type=sync_type,
        questions=QUESTIONS.get(sync_type, DEFAULT_QUESTIONS),
        tasks=[(key, title) for key, title in tasks],
    )


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
    answers: list[AnswerLine] = Field(default_factory=list)
    # Every agent one by one, a page at a time (`answers`); a posted prompt of a big team lists only
    # who has not answered yet, and has Show all for this.
    full: bool = False


def required_agents(monitor: AgentMonitor, required: list[str]) -> list[AgentFigures]:
    """The agents a sync asks: all, the active ones, a stream's, or named ones; never a paused stream's."""
    asked = []
    for agent in monitor.agents:
        if agent.status == "PAUSED":
            continue
        if (
            "all-agents" in required
            or agent.key in required
            or agent.stream in required
            or ("active-agents" in required and agent.status == "ACTIVE")
        ):
            asked.append(agent)
    return asked


def prompt_for_slot(session: Session, plan: Plan, slot: SyncSlot, *, now: datetime) -> SyncPrompt:
    """A posted prompt as it reads now: the agents it asked, their current tasks, their answers."""
    asked = set(
        session.exec(
            select(Agent.key)
            .join(SyncAnswer, col(SyncAnswer.agent_id) == Agent.id)
            .where(col(SyncAnswer.slot_id) == slot.id)
        ).all()
    )
    monitor = agent_monitor(session, plan, now)
    return SyncPrompt(
        plan=plan.key,
        sync_type=slot.entry.split("@")[0],
        agents=[a for a in monitor.agents if a.key in asked],
        checkpoints_due=checkpoints_due_on(session, plan, slot.due_at),
        slot_id=slot.id,
        answers=answers_of(session, slot),
    )


def answers_of(session: Session, slot: SyncSlot) -> list[AnswerLine]:
    rows = session.exec(
        select(Agent.key, Agent.slack_user, SyncAnswer.answered_at, SyncAnswer.answer)
        .join(Agent, col(Agent.id) == SyncAnswer.agent_id)
        .where(SyncAnswer.slot_id == slot.id)
        .order_by(col(Agent.position))
    ).all()
    return [
        AnswerLine(agent=key, slack_user=user, answered=at is not None, summary=_summary(answer))
        for key, user, at, answer in rows
    ]


MESSAGE_KEY = "message_ts"  # where a thread answer keeps which reply it is (not shown)
LABELS = {"tasks_done": "done"}  # how a stored key reads in the prompt


def _shown(value: Any) -> str:
    return ", ".join(str(v) for v in value) if isinstance(value, list) else str(value)


def _summary(answer: Mapping[str, Any] | None) -> str:
    """An answer in a line: each field as "key: text", a thread reply as its text; at most 300 characters."""
    hidden = ("done", "blocked_task", MESSAGE_KEY)
    parts = [
        _shown(v) if k == "reply" else f"{LABELS.get(k, k)}: {_shown(v)}"
        for k, v in (answer or {}).items()
        if v and k not in hidden
    ]
    line = "; ".join(parts)
    return line if len(line) <= 300 else line[:299] + "…"


def unanswered(session: Session, slot: SyncSlot) -> list[Agent]:
    return list(
        session.exec(
            select(Agent)
            .join(SyncAnswer, col(SyncAnswer.agent_id) == Agent.id)
            .where(SyncAnswer.slot_id == slot.id, col(SyncAnswer.answered_at).is_(None))
            .order_by(col(Agent.position))
        )
    )


# --- the end-of-day summary ---------------------------------------------------------------


class StreamDay(BaseModel):
    key: str
    start: float  # progress when the day opened
    now: float
    planned: float


class SilentAt(BaseModel):
    """Who has not answered one of the day's prompts."""

    sync_type: str
    slot_id: int
    agents: list[str]


class DaySummary(Body):
    kind: Literal["summary"] = "summary"
    plan: str
    day: date
    streams: list[StreamDay]
    done_today: list[str]
    done_count: int
    blockers: list[str]
    missing: list[SilentAt]
    missed_slots: list[str]


def day_summary(session: Session, plan: Plan, *, now: datetime) -> DaySummary:
    calendar = calendar_of(plan)
    today = calendar.local_date(now)
    opened = calendar.window(today)[0]
    board = dashboard(session, plan, now)
    done_before = dict(
        session.exec(
            select(Stream.key, func.coalesce(func.sum(Task.estimate_ws), 0))
            .join(Task, and_(col(Task.stream_id) == Stream.id, col(Task.archived).is_(False)))
            .where(Stream.plan_id == plan.id, Task.status == "done", col(Task.done_at) < opened)
            .group_by(col(Stream.key))
        ).all()
    )
    totals = dict(
        session.exec(
            select(Stream.key, func.coalesce(func.sum(Task.estimate_ws), 0))
            .join(Task, and_(col(Task.stream_id) == Stream.id, col(Task.archived).is_(False)))
            .where(Stream.plan_id == plan.id)
            .group_by(col(Stream.key))
        ).all()
    )
    streams = [
        StreamDay(
            key=s.key,
            start=done_before.get(s.key, 0) / totals[s.key] if totals.get(s.key) else 0.0,
            now=s.progress,
            planned=s.planned_progress,
        )
        for s in board.streams
    ]
    done_filter = (
        Task.plan_id == plan.id,
        Task.status == "done",
        col(Task.done_at) >= opened,
        col(Task.archived).is_(False),
    )
    done_count = session.exec(select(func.count()).select_from(Task).where(*done_filter)).one()
    done_today = session.exec(
        select(Task.key, Task.title).where(*done_filter).order_by(col(Task.done_at)).limit(20)
    ).all()
    blocked = session.exec(
        select(Task.key, Task.title, Task.reason)
        .where(Task.plan_id == plan.id, Task.status == "blocked", col(Task.archived).is_(False))
        .limit(20)
    ).all()
    today_slots = session.exec(
        select(SyncSlot).where(SyncSlot.plan_id == plan.id, SyncSlot.local_date == today.isoformat())
    ).all()
    missing = []
    for slot in today_slots:
        silent = [a.key for a in unanswered(session, slot)] if slot.status == "posted" else []
        if silent:
            missing.append(SilentAt(sync_type=slot.entry.split("@")[0], slot_id=id_of(slot), agents=silent))
    return DaySummary(
        plan=plan.key,
        day=today,
        streams=streams,
        done_count=done_count,
        done_today=[f"{k} {t}" for k, t in done_today],
        blockers=[f"{k} {t}" + (f" ({r})" if r else "") for k, t, r in blocked],
        missing=missing,
        missed_slots=[
            f"{s.entry} at {s.due_at.astimezone(calendar.zone):%H:%M}" for s in today_slots if s.status == "missed"
        ],
    )
