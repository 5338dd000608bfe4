"""State changes of a running plan: clocks, tasks, streams, the plan itself.

Every front end (CLI, Slack, API) and every automatic move goes through these
functions, so a task started from a Slack button and one started over the API
leave the same history. They raise ``StateError`` with a sentence for the user
when a change is not allowed, before anything is written.
"""

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import func, update
from sqlmodel import Session, select

from models.alerts import alert_for_event, level_of
from models.calendar import WorkCalendar
from models.tables import Agent, AuditEntry, Checkpoint, CoordinationFiring, Event, Plan, Stream, Task, TaskEvent


class StateError(ValueError):
    """A change the current state does not allow; the text says what would work."""


@dataclass
class Outcome:
    """What a change did, beyond its own row: for replies and announcements."""

    notes: list[str] = field(default_factory=list)
    events: list[str] = field(default_factory=list)


# --- one change of a plan at a time ---------------------------------------------

def lock_plan(session: Session, plan: Plan) -> None:
    """Take the plan's row lock for the rest of the transaction, then re-read the plan.

    Every change of a plan's state takes it first, so replicas sharing one PostgreSQL
    apply changes of one plan in a single order: a check made after the lock (is the
    task ready? is the stream active?) still holds when the change is written.
    SQLite has no row locks; it allows one writer at a time anyway.
    """
    session.exec(select(Plan.id).where(Plan.id == plan.id).with_for_update()).one()
    session.refresh(plan)


# --- clocks ----------------------------------------------------------------

def calendar_of(plan: Plan) -> WorkCalendar:
    return WorkCalendar.for_spec(plan.spec)


def plan_clock(plan: Plan, now: datetime, calendar: WorkCalendar | None = None) -> int:
    """Working seconds since the plan started (0 before it starts)."""
    if plan.started_at is None:
        return 0
    return (calendar or calendar_of(plan)).working_seconds(plan.started_at, now)


def stream_clock(stream: Stream, plan_ws: int) -> int:
    """The plan clock less the time this stream spent paused."""
    if stream.status == "paused" and stream.paused_since_ws is not None:
        return stream.paused_since_ws - stream.paused_ws
    return plan_ws - stream.paused_ws


# --- tasks -------------------------------------------------------------------

# action -> (statuses it may start from, status it leads to)
TASK_ACTIONS = {
    "start": (("ready", "blocked"), "in-progress"),
    "done": (("ready", "in-progress", "blocked"), "done"),
    "block": (("todo", "ready", "in-progress"), "blocked"),
    "fail": (("ready", "in-progress", "blocked"), "failed"),
    "reopen": (("done", "failed", "blocked"), "ready"),
}


def fired_actions(session: Session, plan: Plan) -> set[str]:
    return set(session.exec(
        select(CoordinationFiring.action).where(CoordinationFiring.plan_id == plan.id)
    ))


def initial_status(session: Session, plan: Plan, after: str | None) -> str:
    """``ready`` once the plan has started and the task waits for nothing, else ``todo``."""
    if plan.started_at is None:
        return "todo"
    if after and after not in fired_actions(session, plan):
        return "todo"
    return "ready"


def change_task(
    session: Session, plan: Plan, task: Task, action: str, *, actor: str, now: datetime,
    reason: str | None = None,
) -> Outcome:
    allowed_from, target = TASK_ACTIONS[action]
    lock_plan(session, plan)
    session.refresh(task)  # as it is now that this transaction holds the plan
    stream = session.get(Stream, task.stream_id)
    session.refresh(stream)
    if task.status not in allowed_from:
        raise StateError(_why_not(task, action, allowed_from))
    if action == "start":
        if plan.status != "running":
            raise StateError(f"plan {plan.key} is {plan.status}: start it first (`start {plan.key}`)")
        if stream.status == "paused":
            raise StateError(f"stream {stream.key} is paused: resume it first (`resume {stream.key}`)")
        gate = holding_gate(session, plan, task, now)
        if gate is not None:
            raise StateError(f"task {task.key} is held by checkpoint {gate.key} ({gate.name}): it is due and not "
                             f"passed, and the task is planned after it. `validate --checkpoint {gate.key}` first")
    if action == "reopen" and task.after and task.after not in fired_actions(session, plan):
        target = "todo"

    clock = stream_clock(stream, plan_clock(plan, now))
    elapsed = max(clock - task.since_ws, 0)
    if task.status == "in-progress":
        task.active_ws += elapsed
    elif task.status == "blocked":
        task.blocked_ws += elapsed
    previous = task.status
    if (previous == "in-progress") != (target == "in-progress") and task.agent_id is not None:
        _count_busy(session, plan, session.get(Agent, task.agent_id), +1 if target == "in-progress" else -1, now)
    task.status, task.since_ws, task.status_changed_at = target, clock, now
    task.reason = reason if target in ("blocked", "failed") else None
    if target == "in-progress" and task.started_at is None:
        task.started_at = now
    if target == "done":
        task.done_at, task.done_count = now, task.done_count + 1
    if action == "reopen" and previous == "done":
        task.rework_count += 1
    session.add(task)
    session.add(TaskEvent(task_id=task.id, at=now, from_status=previous, to_status=target,
                          actor=actor, reason=reason))
    outcome = Outcome()
    if target == "blocked":
        outcome = raise_event(session, plan, "task-blocked", now=now, source="task", actor=actor, level="warning",
                              detail={"task": task.key, "reason": reason})
    if target == "done":
        session.flush()
        outcome = merge(outcome, raise_event(session, plan, "task-complete", now=now, source="task", actor=actor,
                                             detail={"task": task.key}))
        if task.signals:
            outcome = merge(outcome, raise_event(session, plan, task.signals, now=now,
                                                 source="task", actor=actor))
        outcome = merge(outcome, _type_complete(session, plan, task, now=now, actor=actor))
    return outcome


def holding_gate(session: Session, plan: Plan, task: Task, now: datetime) -> Checkpoint | None:
    """With safety on, the blocker checkpoint that is due, not passed, and before this task's due time."""
    safety = (plan.run_options or {}).get("safety") or (plan.spec.get("orchestration") or {}).get("safety")
    if safety == "disabled" or plan.started_at is None:
        return None
    calendar = calendar_of(plan)
    gates = session.exec(select(Checkpoint).where(
        Checkpoint.plan_id == plan.id, Checkpoint.blocker.is_(True), Checkpoint.passed_at.is_(None),
        Checkpoint.archived.is_(False)).order_by(Checkpoint.day)).all()
    for gate in gates:
        due = calendar.end_of_working_day(plan.started_at, gate.day)
        if now >= due and task.planned_due_ws > calendar.working_seconds(plan.started_at, due):
            return gate
    return None


def agent_clock(session: Session, plan: Plan, agent: Agent, now: datetime) -> int:
    return stream_clock(session.get(Stream, agent.stream_id), plan_clock(plan, now))


def _count_busy(session: Session, plan: Plan, agent: Agent, change: int, now: datetime) -> None:
    """Start the agent's busy clock at its first task in progress; stop it when none is left."""
    session.refresh(agent)  # under the plan's lock: no other change of its counters is under way
    clock = agent_clock(session, plan, agent, now)
    if agent.in_progress == 0 and change > 0:
        agent.busy_since_ws = clock
    agent.in_progress = max(agent.in_progress + change, 0)
    if agent.in_progress == 0 and agent.busy_since_ws is not None:
        agent.busy_ws += max(clock - agent.busy_since_ws, 0)
        agent.busy_since_ws = None
    session.add(agent)


def move_agent(session: Session, plan: Plan, agent: Agent, stream: Stream, *, now: datetime) -> int:
    """Move an agent to another stream, carrying its busy clock over to the new stream's clock;
    its open tasks stay its own and are re-planned from now. Returns how many were re-planned."""
    lock_plan(session, plan)
    session.refresh(agent)
    if agent.stream_id == stream.id:
        raise StateError(f"{agent.key} is already in {stream.key}")
    if agent.busy_since_ws is not None:
        agent.busy_ws += max(agent_clock(session, plan, agent, now) - agent.busy_since_ws, 0)
    agent.stream_id = stream.id
    if agent.busy_since_ws is not None:
        agent.busy_since_ws = stream_clock(stream, plan_clock(plan, now))
    session.add(agent)
    return _replan_queue(session, plan, agent, now=now)


def _replan_queue(session: Session, plan: Plan, agent: Agent, *, now: datetime) -> int:
    """Re-plan an agent's tasks not yet started to run back to back from now (after a move)."""
    from models.loader import reschedule  # the loader imports this module for task statuses
    from models.schedule import mark_critical_path

    waiting = session.exec(select(Task).where(Task.agent_id == agent.id, Task.archived.is_(False),
                                              Task.status.in_(("todo", "ready", "blocked")))).all()
    w_now = plan_clock(plan, now)
    for task in waiting:
        task.not_before_ws = stream_clock(session.get(Stream, task.stream_id), w_now)
        session.add(task)
    session.flush()
    reschedule(session, plan, agent_id=agent.id)
    mark_critical_path(session, plan)
    return len(waiting)


def reassign_task(session: Session, plan: Plan, task: Task, agent: Agent, *, now: datetime,
                  position: int | None = None, not_before_ws: int | None = None) -> None:
    """Give a task not yet started to another agent: last in its queue (or at ``position``),
    not planned before now (or ``not_before_ws``, an undo's); both agents' queues are re-planned."""
    from models.loader import reschedule
    from models.schedule import mark_critical_path

    lock_plan(session, plan)
    session.refresh(task)
    if task.status not in ("todo", "ready"):
        raise StateError(f"task {task.key} is {task.status}: only a task not yet started changes hands")
    previous = task.agent_id
    if position is None:
        last = session.exec(select(func.max(Task.position)).where(Task.agent_id == agent.id)).one()
        position = (last or 0) + 1
    task.agent_id, task.position = agent.id, position
    task.not_before_ws = (not_before_ws if not_before_ws is not None
                          else stream_clock(session.get(Stream, task.stream_id), plan_clock(plan, now)))
    session.add(task)
    session.flush()
    for agent_id in {agent.id, previous} - {None}:
        reschedule(session, plan, agent_id=agent_id)
    mark_critical_path(session, plan)


def audit_automatic(session: Session, plan: Plan, *, actor: str, command: str, message: str,
                    now: datetime) -> None:
    """An audit entry for a move the bot made by itself (no person, no front end)."""
    session.add(AuditEntry(at=now, plan_key=plan.key, actor=actor, actor_name=actor, source="scheduler",
                           command=command, outcome="ok", message=message[:500]))


def _why_not(task: Task, action: str, allowed_from: tuple[str, ...]) -> str:
    if task.status == "todo" and action == "start":
        waits = f"it waits for `{task.after}`" if task.after else "the plan has not started"
        return f"task {task.key} is not ready: {waits}"
    verbs = {"start": "started", "done": "marked done", "block": "blocked", "fail": "marked failed",
             "reopen": "reopened"}
    return (f"task {task.key} is {task.status}; only a task that is {' or '.join(allowed_from)} "
            f"can be {verbs[action]}")


# Built-in coordination events raised when all of a stream's tasks of a type are done.
TYPE_COMPLETE_EVENTS = {"services": "service-complete", "components": "components-ready"}


def _type_complete(session: Session, plan: Plan, task: Task, *, now: datetime, actor: str) -> Outcome:
    event = TYPE_COMPLETE_EVENTS.get((task.type or "").lower())
    if not event:
        return Outcome()
    open_left = session.exec(
        select(func.count()).select_from(Task).where(
            Task.stream_id == task.stream_id, Task.type == task.type,
            Task.status != "done", Task.archived.is_(False))
    ).one()
    if open_left:
        return Outcome()
    return raise_event(session, plan, event, now=now, source="built-in", actor=actor)


def merge(first: Outcome, second: Outcome) -> Outcome:
    return Outcome(first.notes + second.notes, first.events + second.events)


# --- events and coordination ---------------------------------------------------

def raise_event(
    session: Session, plan: Plan, name: str, *, now: datetime, source: str, actor: str | None,
    level: str | None = None, detail: dict | None = None, destinations: tuple[str, ...] = (),
    grouped: bool = True,
) -> Outcome:
    """Store an event with its alert (same transaction); fire the coordination actions and
    risk triggers it sets off."""
    from models import risk  # risk reads the figures, which read this module's clocks

    lock_plan(session, plan)  # alerts are grouped per plan and event: one at a time
    event = Event(plan_id=plan.id, name=name, level=level_of(name, level), at=now, source=source,
                  actor=actor, detail=detail or {})
    session.add(event)
    session.flush()
    alert_for_event(session, plan, event, now=now, extra_destinations=destinations, grouped=grouped)
    outcome = Outcome(events=[name])
    for group, rules in (plan.spec.get("coordination") or {}).items():
        for rule in rules:
            if rule["trigger"] == name:
                note = fire_action(session, plan, rule["action"], trigger=name, group=group, now=now)
                outcome.notes += [note] if note else []
    if not name.startswith("risk:"):
        outcome = merge(outcome, risk.on_event(session, plan, name, now))
    return outcome


def fire_action(session: Session, plan: Plan, action: str, *, trigger: str, group: str, now: datetime) -> str | None:
    """A coordination action fires once per plan: it readies the tasks waiting for it."""
    if action in fired_actions(session, plan):
        return None
    session.add(CoordinationFiring(plan_id=plan.id, action=action, trigger=trigger, fired_at=now))
    session.flush()
    readied = _ready_waiting(session, plan, action, now=now)
    return f"{trigger} → {action} ({group}): {readied} task(s) ready"


def _ready_waiting(session: Session, plan: Plan, action: str, *, now: datetime) -> int:
    if plan.started_at is None:
        return 0  # they become ready when the plan starts
    result = session.exec(
        update(Task)
        .where(Task.plan_id == plan.id, Task.after == action, Task.status == "todo",
               Task.archived.is_(False))
        .values(status="ready", status_changed_at=now)
    )
    return result.rowcount


# --- streams -----------------------------------------------------------------

def pause_stream(session: Session, stream: Stream, plan: Plan, *, now: datetime, reason: str | None = None,
                 by_stop: bool = False) -> None:
    lock_plan(session, plan)
    session.refresh(stream)
    if stream.status == "paused":
        raise StateError(f"stream {stream.key} is already paused: `resume {stream.key}` to resume it")
    stream.status, stream.paused_at, stream.pause_reason = "paused", now, reason
    stream.paused_since_ws, stream.paused_by_stop = plan_clock(plan, now), by_stop


def resume_stream(session: Session, stream: Stream, plan: Plan, *, now: datetime) -> None:
    lock_plan(session, plan)
    session.refresh(stream)
    if stream.status != "paused":
        raise StateError(f"stream {stream.key} is not paused: `pause {stream.key}` to pause it")
    if plan.status == "stopped":
        raise StateError(f"plan {plan.key} is stopped: `start {plan.key}` resumes the plan and its streams")
    stream.paused_ws += max(plan_clock(plan, now) - (stream.paused_since_ws or 0), 0)
    stream.status, stream.paused_since_ws, stream.paused_at = "active", None, None
    stream.pause_reason, stream.paused_by_stop = None, False


# --- the plan ------------------------------------------------------------------

def start_plan(session: Session, plan: Plan, *, now: datetime, options: dict) -> str:
    """Start a draft plan or resume a stopped one; returns what happened."""
    lock_plan(session, plan)
    if plan.status == "running":
        raise StateError(f"plan {plan.key} is already running (`status {plan.key}` shows it)")
    plan.run_options = {**plan.run_options, **options}
    if plan.status == "draft":
        plan.status, plan.started_at = "running", now
        fired = fired_actions(session, plan)
        waiting = Task.after.is_(None) | Task.after.in_(fired) if fired else Task.after.is_(None)
        session.exec(
            update(Task).where(Task.plan_id == plan.id, Task.status == "todo", Task.archived.is_(False), waiting)
            .values(status="ready", status_changed_at=now)
        )
        session.add(plan)
        return "started"
    plan.status, plan.stopped_at, plan.stop_reason, plan.emergency = "running", None, None, False
    for stream in _streams(session, plan):
        if stream.status == "paused" and stream.paused_by_stop:
            resume_stream(session, stream, plan, now=now)
            session.add(stream)
    session.add(plan)
    return "resumed"


def stop_plan(session: Session, plan: Plan, *, now: datetime, reason: str, emergency: bool) -> int:
    """Stop a running plan, halting every active stream; returns how many halted."""
    lock_plan(session, plan)
    if plan.status != "running":
        raise StateError(f"plan {plan.key} is {plan.status}, not running: nothing to stop")
    halted = 0
    for stream in _streams(session, plan):
        if stream.status == "active":
            pause_stream(session, stream, plan, now=now, reason=f"plan stopped: {reason}", by_stop=True)
            session.add(stream)
            halted += 1
    plan.status, plan.stopped_at, plan.stop_reason, plan.emergency = "stopped", now, reason, emergency
    session.add(plan)
    return halted


def _streams(session: Session, plan: Plan) -> list[Stream]:
    return list(session.exec(
        select(Stream).where(Stream.plan_id == plan.id, Stream.archived.is_(False)).order_by(Stream.position)
    ))
