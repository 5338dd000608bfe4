"""A task's life: its status changes, its owner and its place in the queue.

Every front end (CLI, Slack, API) and every automatic move goes through these
functions, so a task started from a Slack button and one started over the API
leave the same history. They raise ``StateError`` with a sentence for the user
when a change is not allowed, before anything is written.
"""

from datetime import datetime

from sqlalchemy import func
from sqlmodel import Session, col, select

from models.db.tables import Agent, Checkpoint, Plan, Stream, Task, TaskEvent, id_of
from models.plan.coordination import TYPE_COMPLETE_EVENTS, fired_actions
from models.plan.schedule import mark_critical_path, reschedule
from models.plan.settings import calendar_of, plan_clock, run_options_of
from models.state.blockers import close_for_task
from models.state.events import raise_event
from models.state.locks import lock_plan
from models.state.outcome import Outcome, StateError, merge
from models.time.clocks import stream_clock

# action -> (statuses it may start from, status it leads to)
TASK_ACTIONS = {
    "start": (("ready", "blocked"), "in-progress"),
    "done": (("ready", "in-progress", "blocked"), "done"),
    "block": (("todo", "ready", "in-progress"), "blocked"),
    "fail": (("ready", "in-progress", "blocked"), "failed"),
    "reopen": (("done", "failed", "blocked"), "ready"),
}


def change_task(
    session: Session,
    plan: Plan,
    task: Task,
    action: str,
    *,
    actor: str,
    now: datetime,
    reason: str | None = None,
) -> Outcome:
    allowed_from, target = TASK_ACTIONS[action]
    lock_plan(session, plan)
    session.refresh(task)  # as it is now that this transaction holds the plan
    stream = session.get_one(Stream, task.stream_id)
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
            raise StateError(
                f"task {task.key} is held by checkpoint {gate.key} ({gate.name}): it is due and not "
                f"passed, and the task is planned after it. `validate --checkpoint {gate.key}` first"
            )
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
        _count_busy(session, plan, session.get_one(Agent, task.agent_id), +1 if target == "in-progress" else -1, now)
    task.status, task.since_ws, task.status_changed_at = target, clock, now
    task.reason = reason if target in ("blocked", "failed") else None
    if target == "in-progress" and task.started_at is None:
        task.started_at = now
    if target == "done":
        task.done_at, task.done_count = now, task.done_count + 1
    if action == "reopen" and previous == "done":
        task.rework_count += 1
    session.add(task)
    session.add(
        TaskEvent(task_id=id_of(task), at=now, from_status=previous, to_status=target, actor=actor, reason=reason)
    )
    close_for_task(session, task, target, by=actor, now=now)  # a blocker on it is over once it moves on
    outcome = Outcome()
    if target == "blocked":
        outcome = raise_event(
            session,
            plan,
            "task-blocked",
            now=now,
            source="task",
            actor=actor,
            level="warning",
            detail={"task": task.key, "reason": reason},
        )
    if target == "done":
        session.flush()
        outcome = merge(
            outcome,
            raise_event(session, plan, "task-complete", now=now, source="task", actor=actor, detail={"task": task.key}),
        )
        if task.signals:
            outcome = merge(outcome, raise_event(session, plan, task.signals, now=now, source="task", actor=actor))
        outcome = merge(outcome, _type_complete(session, plan, task, now=now, actor=actor))
    return outcome


def holding_gate(session: Session, plan: Plan, task: Task, now: datetime) -> Checkpoint | None:
    """With safety on, the blocker checkpoint that is due, not passed, and before this task's due time."""
    if run_options_of(plan).safety == "disabled" or plan.started_at is None:
        return None
    calendar = calendar_of(plan)
    gates = session.exec(
        select(Checkpoint)
        .where(
            Checkpoint.plan_id == plan.id,
            col(Checkpoint.blocker).is_(True),
            col(Checkpoint.passed_at).is_(None),
            col(Checkpoint.archived).is_(False),
        )
        .order_by(col(Checkpoint.day))
    ).all()
    for gate in gates:
        due = calendar.end_of_working_day(plan.started_at, gate.day)
        if now >= due and task.planned_due_ws > calendar.working_seconds(plan.started_at, due):
            return gate
    return None


def agent_clock(session: Session, plan: Plan, agent: Agent, now: datetime) -> int:
    return stream_clock(session.get_one(Stream, agent.stream_id), plan_clock(plan, now))


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
    agent.stream_id = id_of(stream)
    if agent.busy_since_ws is not None:
        agent.busy_since_ws = stream_clock(stream, plan_clock(plan, now))
    session.add(agent)
    return _replan_queue(session, plan, agent, now=now)


def _replan_queue(session: Session, plan: Plan, agent: Agent, *, now: datetime) -> int:
    """Re-plan an agent's tasks not yet started to run back to back from now (after a move)."""
    waiting = session.exec(
        select(Task).where(
            Task.agent_id == agent.id, col(Task.archived).is_(False), col(Task.status).in_(("todo", "ready", "blocked"))
        )
    ).all()
    w_now = plan_clock(plan, now)
    for task in waiting:
        task.not_before_ws = stream_clock(session.get_one(Stream, task.stream_id), w_now)
        session.add(task)
    session.flush()
    reschedule(session, plan, agent_id=agent.id)
    mark_critical_path(session, plan)
    return len(waiting)


def reassign_task(
    session: Session,
    plan: Plan,
    task: Task,
    agent: Agent,
    *,
    now: datetime,
    position: int | None = None,
    not_before_ws: int | None = None,
) -> None:
    """Give a task not yet started to another agent: last in its queue (or at ``position``),
    not planned before now (or ``not_before_ws``, an undo's); both agents' queues are re-planned."""
    lock_plan(session, plan)
    session.refresh(task)
    if task.status not in ("todo", "ready"):
        raise StateError(f"task {task.key} is {task.status}: only a task not yet started changes hands")
    previous = task.agent_id
    if position is None:
        last = session.exec(select(func.max(Task.position)).where(Task.agent_id == agent.id)).one()
        position = (last or 0) + 1
    task.agent_id, task.position = agent.id, position
    task.not_before_ws = (
        not_before_ws
        if not_before_ws is not None
        else stream_clock(session.get_one(Stream, task.stream_id), plan_clock(plan, now))
    )
    session.add(task)
    session.flush()
    for agent_id in {agent.id, previous} - {None}:
        reschedule(session, plan, agent_id=agent_id)
    mark_critical_path(session, plan)


def _why_not(task: Task, action: str, allowed_from: tuple[str, ...]) -> str:
    if task.status == "todo" and action == "start":
        waits = f"it waits for `{task.after}`" if task.after else "the plan has not started"
        return f"task {task.key} is not ready: {waits}"
    verbs = {
        "start": "started",
        "done": "marked done",
        "block": "blocked",
        "fail": "marked failed",
        "reopen": "reopened",
    }
    return f"task {task.key} is {task.status}; only a task that is {' or '.join(allowed_from)} can be {verbs[action]}"


def _type_complete(session: Session, plan: Plan, task: Task, *, now: datetime, actor: str) -> Outcome:
    event = TYPE_COMPLETE_EVENTS.get((task.type or "").lower())
    if not event:
        return Outcome()
    open_left = session.exec(
        select(func.count())
        .select_from(Task)
        .where(
            Task.stream_id == task.stream_id,
            Task.type == task.type,
            Task.status != "done",
            col(Task.archived).is_(False),
        )
    ).one()
    if open_left:
        return Outcome()
    return raise_event(session, plan, event, now=now, source="built-in", actor=actor)
