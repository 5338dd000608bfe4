"""The store: one SQLModel table per thing the bot keeps.

Times a person reads are UTC datetimes. Times the figures add up are
*working seconds* (suffix ``_ws``): seconds of working time on a stream's clock,
counted from the plan's start in the plan's working days and hours, with the
time the stream was paused left out. Keeping them as plain integers lets the
dashboard aggregate lateness, busy time and planned progress in SQL on any
engine (see ``models/time/clocks.py`` and ``models/views/dashboard.py``).
"""

from collections.abc import Callable
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import JSON, BigInteger, Column, Connection, Index, UniqueConstraint, event, text
from sqlmodel import Field, SQLModel

from models.db import figures
from models.db.figures import install_triggers
from models.db.types import UTCDateTime, utcnow

TASK_STATUSES = figures.TASK_STATUSES  # in the order the dashboard lists them
OPEN_TASK_STATUSES = ("todo", "ready", "in-progress", "blocked", "failed")
# A task not done, in SQL, written out: a partial index serves only queries that spell
# its condition the same way, with the literal, not a bound parameter.
OPEN_TASK = "status <> 'done'"


class _Row(Protocol):
    id: int | None


def id_of(row: _Row) -> int:
    """The id of a row already in the store: SQLModel types every id as optional, for rows not yet flushed."""
    if row.id is None:
        raise ValueError(f"{type(row).__name__} {row!r} has no id yet: add and flush it first")
    return row.id


def _when(**kw: Any) -> Any:
    return Field(sa_type=UTCDateTime, **kw)


def _json(default_factory: Callable[[], dict[str, Any] | list[Any]] = dict) -> Any:
    return Field(default_factory=default_factory, sa_column=Column(JSON, nullable=False))


class Plan(SQLModel, table=True):
    __tablename__ = "plans"

    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(unique=True, max_length=100)
    title: str
    status: str = Field(default="draft", max_length=20)  # draft | running | stopped
    timezone: str = Field(default="UTC", max_length=64)
    channel: str | None = Field(default=None, max_length=100)
    # The plan's settings as last loaded (the document without its tasks,
    # dumped by alias): what commands read. The whole document is in plan_documents.
    spec: dict[str, Any] = _json()
    source_path: str | None = None
    # start/execute flags of the current run: parallel, monitor, safe.
    run_options: dict[str, Any] = _json()
    started_at: datetime | None = _when(default=None)
    stopped_at: datetime | None = _when(default=None)
    stop_reason: str | None = None
    emergency: bool = False
    deployment_blocked: str | None = None  # why, while deployment is blocked
    loaded_at: datetime = _when(default_factory=utcnow)
    updated_at: datetime = _when(default_factory=utcnow)


class PlanDocument(SQLModel, table=True):
    """The whole plan document as last loaded, tasks and their ids included.

    Kept apart from ``Plan.spec`` so that commands never decode tens of
    thousands of tasks: only reloads and diffs read it.
    """

    __tablename__ = "plan_documents"

    plan_id: int = Field(foreign_key="plans.id", primary_key=True)
    document: dict[str, Any] = _json()


class Stream(SQLModel, table=True):
    __tablename__ = "streams"
    __table_args__ = (UniqueConstraint("plan_id", "key"),)

    id: int | None = Field(default=None, primary_key=True)
    plan_id: int = Field(foreign_key="plans.id", index=True)
    key: str = Field(max_length=100)
    type: str | None = Field(default=None, max_length=50)
    priority: str = Field(default="medium", max_length=20)
    position: int = 0
    status: str = Field(default="active", max_length=20)  # active | paused
    # A stream paused by `stop` (rather than by a person) resumes with the plan.
    paused_by_stop: bool = False
    pause_reason: str | None = None
    paused_at: datetime | None = _when(default=None)
    # Plan working clock when the current pause began, and total paused so far.
    paused_since_ws: int | None = None
    paused_ws: int = 0
    archived: bool = False


class Agent(SQLModel, table=True):
    __tablename__ = "agents"
    __table_args__ = (UniqueConstraint("plan_id", "key"),)

    id: int | None = Field(default=None, primary_key=True)
    plan_id: int = Field(foreign_key="plans.id", index=True)
    stream_id: int = Field(foreign_key="streams.id", index=True)
    key: str = Field(max_length=100)
    name: str
    position: int = 0
    slack_user: str | None = Field(default=None, max_length=50, index=True)
    skills: list[str] = _json(list)
    # Agents that report through the API are expected every this many seconds.
    heartbeat_interval_s: int | None = None
    last_seen_at: datetime | None = _when(default=None)
    reported_down: bool = False
    down_since: datetime | None = _when(default=None)  # when agent-down was raised
    # The agent's busy clock: busy while it has at least one task in progress,
    # once however many, counted on its stream's clock (pauses left out).
    in_progress: int = 0
    busy_ws: int = 0
    busy_since_ws: int | None = None
    api_token_hash: str | None = None  # unused since agent_tokens (a table: rotation, revocation, last use)
    # The line its last heartbeat carried ("running the migrations"), shown by `health`.
    status_line: str | None = Field(default=None, max_length=200)
    archived: bool = False


class Task(SQLModel, table=True):
    __tablename__ = "tasks"
    __table_args__ = (
        UniqueConstraint("plan_id", "key"),
        Index("ix_tasks_plan_status", "plan_id", "status"),
        Index("ix_tasks_agent_status", "agent_id", "status"),
        # The dashboard's lookups per stream (models/views/dashboard.py): its last due task,
        # its first due unfinished one, the tasks planned to start or end in the bucket of now.
        Index("ix_tasks_stream_due", "stream_id", "archived", "planned_due_ws"),
        Index(
            "ix_tasks_open_due",
            "stream_id",
            "archived",
            "planned_due_ws",
            sqlite_where=text(OPEN_TASK),
            postgresql_where=text(OPEN_TASK),
        ),
        Index("ix_tasks_stream_start", "stream_id", "archived", "planned_start_ws"),
    )

    id: int | None = Field(default=None, primary_key=True)
    plan_id: int = Field(foreign_key="plans.id")
    stream_id: int = Field(foreign_key="streams.id")
    agent_id: int | None = Field(default=None, foreign_key="agents.id")
    key: str = Field(max_length=100)
    title: str
    type: str | None = Field(default=None, max_length=50)
    estimate_ws: int
    status: str = Field(default="todo", max_length=20)
    # Queue order among the agent's tasks (file order, then added order).
    position: int = 0
    priority: int = 0
    after: str | None = Field(default=None, max_length=100)
    signals: str | None = Field(default=None, max_length=100)
    origin: str = Field(default="file", max_length=10)  # file | command
    # Planned window on the stream clock: tasks of an agent run back to back.
    planned_start_ws: int = 0
    planned_due_ws: int = 0
    # A task added mid-plan is not planned to start before it was added.
    not_before_ws: int = 0
    # Stream clock at the last status change, and time accumulated per status.
    since_ws: int = 0
    active_ws: int = 0
    blocked_ws: int = 0
    status_changed_at: datetime | None = _when(default=None)
    started_at: datetime | None = _when(default=None)
    done_at: datetime | None = _when(default=None)
    done_count: int = 0
    rework_count: int = 0
    delayed_at: datetime | None = _when(default=None)  # when task-delayed was raised for it
    # On the plan's critical path (models/plan/schedule.py): queue order and `after:` waits.
    critical: bool = False
    reason: str | None = None
    archived: bool = False


def _sum() -> Any:
    return Field(default=0, sa_type=BigInteger)  # 24,000 tasks' seconds overflow 32 bits


class StreamFigures(SQLModel, table=True):
    """Running figures of a stream's non-archived tasks in one status.

    Kept by triggers on ``tasks`` (models/db/figures.py), in the transaction that
    writes the task: the dashboard adds up these rows, a few per stream, instead of
    every task.
    """

    __tablename__ = "stream_figures"

    plan_id: int = Field(index=True)
    stream_id: int = Field(primary_key=True)
    status: str = Field(primary_key=True, max_length=20)
    tasks: int = 0
    estimate_ws: int = _sum()
    since_ws: int = _sum()  # the tasks' clocks at their last change: time in status = n × clock − this
    active_ws: int = _sum()
    blocked_ws: int = _sum()
    done_count: int = 0
    rework_count: int = 0


class AgentFigures(SQLModel, table=True):
    """How many of an agent's non-archived tasks are in each status (kept like ``stream_figures``)."""

    __tablename__ = "agent_figures"

    plan_id: int = Field(index=True)
    agent_id: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    todo: int = 0
    ready: int = 0
    in_progress: int = 0
    blocked: int = 0
    done: int = 0
    failed: int = 0


class PlannedPoints(SQLModel, table=True):
    """Per stream and bucket of working seconds (models.db.figures.BUCKET_WS): how many of its
    non-archived tasks are planned to end in it, and the sums of their planned starts and ends
    (``starts`` and ``dues`` count the same tasks).

    Kept by triggers on ``tasks`` like ``stream_figures``: planned progress adds up these rows.
    """

    __tablename__ = "planned_points"

    stream_id: int = Field(primary_key=True)
    bucket: int = Field(primary_key=True)
    starts: int = 0
    start_sum: int = _sum()
    dues: int = 0
    due_sum: int = _sum()


class TaskEvent(SQLModel, table=True):
    """A task's status history: one row per change."""

    __tablename__ = "task_events"

    id: int | None = Field(default=None, primary_key=True)
    task_id: int = Field(foreign_key="tasks.id", index=True)
    at: datetime = _when(default_factory=utcnow)
    from_status: str | None = Field(default=None, max_length=20)
    to_status: str = Field(max_length=20)
    actor: str = Field(max_length=100)
    reason: str | None = None


class Checkpoint(SQLModel, table=True):
    __tablename__ = "checkpoints"
    __table_args__ = (UniqueConstraint("plan_id", "key"),)

    id: int | None = Field(default=None, primary_key=True)
    plan_id: int = Field(foreign_key="plans.id", index=True)
    key: str = Field(max_length=100)
    name: str
    day: int
    blocker: bool = False
    position: int = 0
    passed_at: datetime | None = _when(default=None)
    passed_by: str | None = None
    forced: bool = False
    force_reason: str | None = None
    missed_at: datetime | None = _when(default=None)
    archived: bool = False


class Criterion(SQLModel, table=True):
    __tablename__ = "criteria"
    __table_args__ = (UniqueConstraint("checkpoint_id", "position"),)

    id: int | None = Field(default=None, primary_key=True)
    checkpoint_id: int = Field(foreign_key="checkpoints.id", index=True)
    position: int
    text: str
    metric: str | None = None  # a condition such as "code-coverage >= 90%"
    met_at: datetime | None = _when(default=None)
    met_by: str | None = None


class RiskTrigger(SQLModel, table=True):
    __tablename__ = "risk_triggers"

    id: int | None = Field(default=None, primary_key=True)
    plan_id: int = Field(foreign_key="plans.id", index=True)
    position: int
    condition: str
    action: str
    severity: str = Field(default="medium", max_length=20)
    repeat_s: int | None = None
    firing: bool = False
    last_fired_at: datetime | None = _when(default=None)
    fire_count: int = 0
    archived: bool = False


class SyncSlot(SQLModel, table=True):
    """One sync prompt: a (plan, sync entry, local date) claimed once."""

    __tablename__ = "sync_slots"
    __table_args__ = (UniqueConstraint("plan_id", "entry", "local_date"),)

    id: int | None = Field(default=None, primary_key=True)
    plan_id: int = Field(foreign_key="plans.id", index=True)
    entry: str = Field(max_length=100)  # the sync entry: its type, or "adhoc-…"
    local_date: str = Field(max_length=10)
    due_at: datetime = _when()
    duration_s: int = 0
    status: str = Field(default="claimed", max_length=20)  # claimed | posted | missed
    claimed_by: str | None = None
    claimed_at: datetime | None = _when(default=None)
    posted_at: datetime | None = _when(default=None)
    channel: str | None = None
    message_ts: str | None = None
    reminded_at: datetime | None = _when(default=None)


class SyncAnswer(SQLModel, table=True):
    """One row per agent a prompt asks; ``answered_at`` is set when they answer.

    Rows for the unanswered are what health and reminders count.
    """

    __tablename__ = "sync_answers"
    __table_args__ = (UniqueConstraint("slot_id", "agent_id"),)

    id: int | None = Field(default=None, primary_key=True)
    slot_id: int = Field(foreign_key="sync_slots.id", index=True)
    agent_id: int = Field(foreign_key="agents.id", index=True)
    asked_at: datetime = _when(default_factory=utcnow)
    answered_at: datetime | None = _when(default=None)
    answer: dict[str, Any] = _json()
    source: str = Field(default="slack", max_length=20)


class ProcessedEvent(SQLModel, table=True):
    """Slack event ids already acted on: Slack retries an event up to three times."""

    __tablename__ = "processed_events"

    event_id: str = Field(primary_key=True, max_length=100)
    at: datetime = _when(default_factory=utcnow)


class AcceptedRequest(SQLModel, table=True):
    """A slash command acked to Slack, recorded before the ack: until ``finished_at`` any replica may take it
    over once ``lease_until`` has passed (its replica died) and complete it, answering through its
    response_url (valid 30 minutes). Slack never sends a slash command twice."""

    __tablename__ = "accepted_requests"
    __table_args__ = (Index("ix_accepted_requests_open", "finished_at", "lease_until"),)

    request_id: str = Field(primary_key=True, max_length=100)
    payload: dict[str, Any] = _json()  # what the command needs: who, where, its text, its response_url
    accepted_at: datetime = _when(default_factory=utcnow)
    claimed_by: str = Field(max_length=100)
    lease_until: datetime = _when()
    attempts: int = 1
    finished_at: datetime | None = _when(default=None)


class EarlyReply(SQLModel, table=True):
    """A reply in a thread that is no known prompt's while a prompt of its channel is being posted: kept,
    and run as its answer once the prompt's ts is recorded (bot/sync_listeners.attach_early_replies)."""

    __tablename__ = "early_replies"
    __table_args__ = (Index("ix_early_replies_thread", "channel", "thread_ts"),)

    request_id: str = Field(primary_key=True, max_length=100)
    channel: str = Field(max_length=100)
    thread_ts: str = Field(max_length=40)
    event: dict[str, Any] = _json()  # the message event as Slack sent it
    received_at: datetime = _when(default_factory=utcnow)


class Heartbeat(SQLModel, table=True):
    __tablename__ = "heartbeats"
    __table_args__ = (Index("ix_heartbeats_agent_at", "agent_id", "at"),)

    id: int | None = Field(default=None, primary_key=True)
    agent_id: int = Field(foreign_key="agents.id")
    at: datetime = _when(default_factory=utcnow)
    status: str = Field(default="up", max_length=20)


class MetricReading(SQLModel, table=True):
    __tablename__ = "metric_readings"
    __table_args__ = (Index("ix_metric_readings_plan_name_at", "plan_id", "name", "at"),)

    id: int | None = Field(default=None, primary_key=True)
    plan_id: int = Field(foreign_key="plans.id")
    name: str = Field(max_length=100)
    value: float
    unit: str = Field(default="", max_length=10)  # "", "%", "s", "/day"
    at: datetime = _when(default_factory=utcnow)
    source: str = Field(default="cli", max_length=20)
    reported_by: str | None = None


class Event(SQLModel, table=True):
    __tablename__ = "events"
    __table_args__ = (Index("ix_events_plan_at", "plan_id", "at"),)

    id: int | None = Field(default=None, primary_key=True)
    plan_id: int = Field(foreign_key="plans.id")
    name: str = Field(max_length=100)
    level: str = Field(default="info", max_length=20)  # info | warning | critical
    at: datetime = _when(default_factory=utcnow)
    source: str = Field(default="cli", max_length=20)
    actor: str | None = None
    detail: dict[str, Any] = _json()


class CoordinationFiring(SQLModel, table=True):
    """A coordination action fires once per plan: this row is that once."""

    __tablename__ = "coordination_firings"
    __table_args__ = (UniqueConstraint("plan_id", "action"),)

    id: int | None = Field(default=None, primary_key=True)
    plan_id: int = Field(foreign_key="plans.id")
    action: str = Field(max_length=100)
    trigger: str = Field(max_length=100)
    fired_at: datetime = _when(default_factory=utcnow)
    event_id: int | None = Field(default=None, foreign_key="events.id")


class StoryPost(SQLModel, table=True):
    """Where a weekly digest or a retrospective landed (its ``coordination_firings`` claim says who posts it):
    the retrospective is edited in place as the leads give their verdicts, over the range it told."""

    __tablename__ = "story_posts"
    __table_args__ = (UniqueConstraint("plan_id", "action"),)

    id: int | None = Field(default=None, primary_key=True)
    plan_id: int = Field(foreign_key="plans.id")
    action: str = Field(max_length=100)  # "weekly-digest 2026-W02", "retrospective"
    first_day: str = Field(max_length=10)  # the range told, local dates
    last_day: str = Field(max_length=10)
    ending: str = Field(max_length=10)  # "done" or "stopped": how the plan ended, for a retrospective
    channel: str | None = Field(default=None, max_length=50)
    ts: str | None = Field(default=None, max_length=50)
    posted_at: datetime | None = _when(default=None)
    redraw: bool = False  # a verdict came since it was drawn: edit it in place


class CriterionVerdict(SQLModel, table=True):
    """A lead's word on a stream's success criterion that no metric judges: met or not, by whom, when."""

    __tablename__ = "criterion_verdicts"
    __table_args__ = (UniqueConstraint("plan_id", "stream"),)

    id: int | None = Field(default=None, primary_key=True)
    plan_id: int = Field(foreign_key="plans.id")
    stream: str = Field(max_length=100)  # the stream's key, as success-criteria names it
    met: bool
    by: str = Field(max_length=100)  # the lead's name as the audit log shows it
    slack_user: str | None = Field(default=None, max_length=50)
    at: datetime = _when(default_factory=utcnow)


class Alert(SQLModel, table=True):
    __tablename__ = "alerts"
    __table_args__ = (Index("ix_alerts_plan_status", "plan_id", "status"),)

    id: int | None = Field(default=None, primary_key=True)
    plan_id: int = Field(foreign_key="plans.id")
    event_id: int | None = Field(default=None, foreign_key="events.id")
    event_name: str = Field(max_length=100)
    level: str = Field(max_length=20)
    text: str
    status: str = Field(default="open", max_length=20)  # open | acknowledged | resolved | notice (news: info level)
    created_at: datetime = _when(default_factory=utcnow)
    last_seen_at: datetime = _when(default_factory=utcnow)
    group_count: int = 1
    acked_at: datetime | None = _when(default=None)
    acked_by: str | None = None
    resolved_at: datetime | None = _when(default=None)
    resolved_by: str | None = None
    escalations: int = 0


class AlertDelivery(SQLModel, table=True):
    """One row per alert and destination: sent at least once, never twice."""

    __tablename__ = "alert_deliveries"
    __table_args__ = (
        UniqueConstraint("alert_id", "destination"),
        Index("ix_alert_deliveries_status_next", "status", "next_attempt_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    alert_id: int = Field(foreign_key="alerts.id")
    destination: str = Field(max_length=100)
    status: str = Field(default="pending", max_length=20)  # pending | sent | failed | unconfigured
    attempts: int = 0
    next_attempt_at: datetime = _when(default_factory=utcnow)
    sent_at: datetime | None = _when(default=None)
    last_error: str | None = None
    external_ref: str | None = None
    # An attempt whose outcome is unknown (its answer lost, its worker dead) was sent at doubt_since, and
    # its post, if Slack took it, made by doubt_until: looked for in that span before it is sent again.
    doubt_since: datetime | None = _when(default=None)
    doubt_until: datetime | None = _when(default=None)


class Move(SQLModel, table=True):
    """A load-balancing move: made by a rule (``applied``), or only proposed to the leads.

    What it changed is kept so that a lead can undo it; a task a rule has moved
    once, or whose move was undone, is not moved by a rule again.
    """

    __tablename__ = "moves"
    __table_args__ = (UniqueConstraint("plan_id", "key"), Index("ix_moves_plan_status", "plan_id", "status"))

    id: int | None = Field(default=None, primary_key=True)
    plan_id: int = Field(foreign_key="plans.id")
    key: str = Field(max_length=20)  # M1, M2… per plan
    rule: str = Field(max_length=50)  # the load-balancing action that made it
    status: str = Field(max_length=20)  # applied | proposed (until a lead applies it) | undone
    task_id: int | None = Field(default=None, foreign_key="tasks.id")
    agent_id: int | None = Field(default=None, foreign_key="agents.id")  # the agent moved (reallocations)
    from_agent_id: int | None = Field(default=None, foreign_key="agents.id")
    to_agent_id: int | None = Field(default=None, foreign_key="agents.id")
    from_stream_id: int | None = Field(default=None, foreign_key="streams.id")
    to_stream_id: int | None = Field(default=None, foreign_key="streams.id")
    old_position: int | None = None  # the task's place in its first agent's queue, and
    old_not_before_ws: int | None = None  # its earliest start there: an undo restores both
    old_priority: int | None = None
    new_priority: int | None = None
    command: str | None = None  # for a proposal: the command that applies it
    why: str
    made_at: datetime = _when(default_factory=utcnow)
    undone_at: datetime | None = _when(default=None)
    undone_by: str | None = Field(default=None, max_length=100)


class Blocker(SQLModel, table=True):
    """A blocker someone named in a sync answer, followed until it is closed: linked to the task it holds up
    when the answer names one (or the owner's task in progress), reminded to its owner each working day it
    stays open, escalated to the leads after the plan's ``blocker-escalation-days``."""

    __tablename__ = "blockers"
    __table_args__ = (UniqueConstraint("plan_id", "key"), Index("ix_blockers_plan_closed", "plan_id", "closed_at"))

    id: int | None = Field(default=None, primary_key=True)
    plan_id: int = Field(foreign_key="plans.id")
    key: str = Field(max_length=20)  # B1, B2… per plan
    agent_id: int = Field(foreign_key="agents.id")  # its owner: who named it
    task_id: int | None = Field(default=None, foreign_key="tasks.id")
    text: str
    slot_id: int | None = Field(default=None, foreign_key="sync_slots.id")  # the answer that named it
    raised_at: datetime = _when(default_factory=utcnow)
    reminded_on: str | None = Field(default=None, max_length=10)  # the local date of the last reminder
    reminders: int = 0
    escalated_at: datetime | None = _when(default=None)
    closed_at: datetime | None = _when(default=None)
    closed_by: str | None = Field(default=None, max_length=100)
    close_reason: str | None = None


class TimeOff(SQLModel, table=True):
    """A person away (``away``, ended by ``back``): from ``starts_at`` until ``ends_at`` (none: until
    they say ``back``). ``who`` is an agent's id, or a lead's Slack user id. The plan's own
    ``time-off:`` entries are read from its settings, not copied here."""

    __tablename__ = "time_off"
    __table_args__ = (Index("ix_time_off_plan_who", "plan_id", "who"),)

    id: int | None = Field(default=None, primary_key=True)
    plan_id: int = Field(foreign_key="plans.id")
    who: str = Field(max_length=100)
    starts_at: datetime = _when()
    ends_at: datetime | None = _when(default=None)
    until: str | None = Field(default=None, max_length=10)  # the last local date away, as it was asked
    reason: str | None = None
    set_by: str = Field(max_length=100)


class HeldReminder(SQLModel, table=True):
    """A sync reminder due while its recipient was outside their working hours: held, and sent at
    the start of their next working time (``deliver_at``) if they have still not answered."""

    __tablename__ = "held_reminders"
    __table_args__ = (Index("ix_held_reminders_due", "sent_at", "deliver_at"),)

    id: int | None = Field(default=None, primary_key=True)
    slot_id: int = Field(foreign_key="sync_slots.id")
    agent_id: int = Field(foreign_key="agents.id")
    deliver_at: datetime = _when()
    sent_at: datetime | None = _when(default=None)  # sent, or dropped (answered meanwhile)


class SlackZone(SQLModel, table=True):
    """A Slack user's time zone as ``users.info`` gave it (``tz``), and when it was asked: the cache
    a person's zone falls back to when the plan gives none (refreshed daily)."""

    __tablename__ = "slack_zones"

    user_id: str = Field(primary_key=True, max_length=50)
    timezone: str | None = Field(default=None, max_length=64)
    fetched_at: datetime = _when()


class RationedTurn(SQLModel, table=True):
    """When the next call of a method Slack rations app-wide may be made (``conversations.history``: one
    a minute): every replica takes its turn here before calling, so none is refused for another's call."""

    __tablename__ = "rationed_turns"

    name: str = Field(primary_key=True, max_length=100)
    opens_at: datetime = _when()
    reserved_for: str | None = Field(default=None, max_length=100)  # who was refused first: the next turn is theirs


class AuditEntry(SQLModel, table=True):
    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_log_at", "at"),)

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = _when(default_factory=utcnow)
    plan_key: str | None = Field(default=None, max_length=100)
    actor: str = Field(max_length=100)
    actor_name: str | None = None
    source: str = Field(max_length=20)  # cli | slack | api | scheduler
    command: str
    outcome: str = Field(max_length=20)  # ok | refused | usage | error
    message: str | None = None


@event.listens_for(SQLModel.metadata, "after_create")
def _keep_figures(_target: Any, connection: Connection, **_kw: Any) -> None:
    """Stores made from the models (tests, ``create_all``) get the triggers Alembic's 0004 creates."""
    if "stream_figures" in SQLModel.metadata.tables:
        install_triggers(connection)


class AgentToken(SQLModel, table=True):
    """An agent's API credential (``agent token AGENT``): the secret is shown once and kept only as its
    HMAC-SHA256 (models/state/agent_tokens.py). At most one live token per agent: a rotation revokes the
    old one in the transaction that creates the new one."""

    __tablename__ = "agent_tokens"

    id: int | None = Field(default=None, primary_key=True)
    agent_id: int = Field(foreign_key="agents.id", index=True)
    digest: str = Field(max_length=64, unique=True)  # hex HMAC-SHA256 of the token
    created_at: datetime = _when(default_factory=utcnow)
    created_by: str = Field(max_length=100)
    last_used_at: datetime | None = _when(default=None)
    revoked_at: datetime | None = _when(default=None)


class TaskNote(SQLModel, table=True):
    """What an agent reported on a task: progress (a note, a percent, a link) or the artifacts of its done."""

    __tablename__ = "task_notes"

    id: int | None = Field(default=None, primary_key=True)
    task_id: int = Field(foreign_key="tasks.id", index=True)
    at: datetime = _when(default_factory=utcnow)
    actor: str = Field(max_length=100)
    kind: str = Field(max_length=20)  # progress | done
    note: str | None = None
    percent: int | None = None
    links: list[str] = _json(list)


class IdempotentRequest(SQLModel, table=True):
    """A write sent with an ``Idempotency-Key``: the key (scoped to who sent it), what the request asked
    (a digest of its command) and the answer it got, written in the transaction of the change itself."""

    __tablename__ = "idempotent_requests"

    key: str = Field(primary_key=True, max_length=250)
    fingerprint: str = Field(max_length=64)
    at: datetime = _when(default_factory=utcnow, index=True)
    answer: dict[str, Any] = _json()
