"""Load balancing: the plan's ``load-balancing`` rules, run on every scheduler tick.

Each rule pairs a condition with one of four actions:

- ``redistribute-tasks`` (``agent-utilization > X%``): an agent over X hands its
  last queued task to the least loaded agent able to take it;
- ``allocate-backup-agent`` (``stream-delay > D``): the next queued task of the
  agent whose task is late goes to the backup for its type;
- ``prioritize-unblocking`` (``blocking-detected``): a task others wait for
  (through ``after:``) while their planned start has passed goes ahead of its
  agent's other queued work;
- ``reallocate-resources`` (``critical-path-at-risk``): when a task on the
  critical path is late, blocked or its agent DOWN, a reallocation is
  *proposed* to the leads, never made.

Besides the plan's rules, ``cover-time-off`` moves an away agent's queued work (the next
task planned to start before it is back, one a tick) to the backup for its type, else the
least loaded agent of its stream, who must not be away either.

A task is moved by a rule at most once (never again once a lead undid it;
and after an undo, that rule leaves that agent's queue alone), only when it
helps (the receiver ends up with less open work than the giver had), and only
to an agent who is not DOWN or PAUSED and is under the utilization limit.
Each move is announced in the plan channel, written to the audit log, and
kept in ``moves`` so a lead can undo it (``moves undo M1``).
"""

import functools
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Integer, bindparam, func, update
from sqlmodel import Session, col, select

from models.db.tables import Agent, Move, Plan, Stream, Task, id_of
from models.plan.coordination import DAY_COMPLETE, TYPE_COMPLETE_EVENTS
from models.plan.settings import calendar_of, plan_clock, settings_of
from models.state.alerts import PLAN_CHANNEL
from models.state.audit import audit_automatic
from models.state.events import raise_event
from models.state.locks import lock_plan
from models.state.people import Availability, Away
from models.state.tasks import reassign_task
from models.time.clocks import stream_clock_sql
from models.time.units import Condition, Quantity, format_duration, parse_condition
from models.views.agents import agent_monitor
from models.views.metrics import busy_per_agent, utilization_of

COVER_TIME_OFF = "cover-time-off"
MOVABLE = ("todo", "ready")  # not started: nobody's work is taken out of their hands
OPEN = ("todo", "ready", "in-progress", "blocked")
UNBLOCKING_PRIORITY = 2  # above a review task's 1


@dataclass
class Load:
    """An agent as the rules see it."""

    agent: Agent
    status: str
    utilization: float | None  # %
    open_ws: int  # estimate left on its open tasks
    away: bool = False

    def can_receive(self, limit: float) -> bool:
        return not self.away and self.status not in ("DOWN", "PAUSED") and (self.utilization or 0) <= limit


class Team(dict[int | None, Load]):
    """The agents' loads by agent id, indexed by agent key and by stream (rules look them up per task)."""

    def __init__(self, loads: list[Load]):
        super().__init__((load.agent.id, load) for load in loads)
        self.by_key = {load.agent.key: load for load in loads}
        self.by_stream: dict[int, list[Load]] = defaultdict(list)
        for load in loads:
            self.by_stream[load.agent.stream_id].append(load)


def balance(session: Session, plan: Plan, now: datetime) -> list[str]:
    """Run each load-balancing rule once; returns what was moved or proposed, one line each."""
    rules = settings_of(plan).load_balancing
    people = Availability(session, plan, now)
    away = people.everyone_away()
    if plan.status != "running" or not (rules or away):
        return []
    lock_plan(session, plan)
    notes: list[str] = []
    team = functools.cache(lambda: _loads(session, plan, now))  # read once a tick, and only if a rule needs it
    if away:
        notes += _cover_time_off(session, plan, people, now, team())
    for rule in rules:
        condition = parse_condition(rule.when)
        action = {
            "redistribute-tasks": _redistribute,
            "allocate-backup-agent": _allocate_backup,
            "prioritize-unblocking": _prioritize_unblocking,
            "reallocate-resources": _propose_reallocation,
        }[rule.then]
        notes += action(session, plan, condition, now, team)
    return notes


# --- time off ----------------------------------------------------------------------------------


def _cover_time_off(session: Session, plan: Plan, people: Availability, now: datetime, team: Team) -> list[str]:
    """The next queued task of each away agent that is planned to start before it is back."""
    limit = settings_of(plan).utilization_limit
    left_alone = _undone_givers(session, plan, COVER_TIME_OFF)
    next_queued = _queue_ends(session, plan, last=False)
    clocks = dict(
        session.exec(select(Stream.id, stream_clock_sql(plan_clock(plan, now))).where(Stream.plan_id == plan.id)).all()
    )
    notes = []
    for absence in people.everyone_away():
        giver = team.by_key.get(absence.who)
        if giver is None or giver.agent.id in left_alone:
            continue
        task = next_queued.get(giver.agent.id)
        back_ws = _back_on_clock(plan, people, absence, now, clocks.get(task.stream_id, 0)) if task else None
        if task is None or (back_ws is not None and task.planned_start_ws >= back_ws):
            continue  # nothing queued, or nothing due to start before it is back
        able = [load for load in _able(plan, task, team) if load.agent.id != giver.agent.id and load.can_receive(limit)]
        receiver = min(able, key=lambda load: (load.open_ws, load.agent.position), default=None)
        if receiver is None:
            continue
        until = f"through {absence.until:%a %d %b}" if absence.until else "until they are back"
        why = f"{giver.agent.key} is away {until}" + (f" ({absence.reason})" if absence.reason else "")
        notes.append(_move_task(session, plan, task, giver, receiver, COVER_TIME_OFF, why, now))
    return notes


def _back_on_clock(plan: Plan, people: Availability, absence: Away, now: datetime, stream_now: int) -> int | None:
    """When the agent is back, on its stream's clock (None: not known, until it says `back`)."""
    if absence.until is None:
        return None
    calendar = people.calendar(absence.who)
    back = datetime.combine(absence.until + timedelta(days=1), time(0), calendar.zone)
    return stream_now + calendar_of(plan).working_seconds(now, back)


# --- the four actions -------------------------------------------------------------------------


def _redistribute(
    session: Session, plan: Plan, condition: Condition, now: datetime, team: Callable[[], Team]
) -> list[str]:
    loads, limit = team(), settings_of(plan).utilization_limit
    if not any(load.can_receive(limit) for load in loads.values()):
        return []  # everyone is busy or away: nobody to hand work to
    over = [
        load
        for load in loads.values()
        if load.utilization is not None and condition.holds(Quantity(load.utilization, "%"))
    ]
    left_alone = _undone_givers(session, plan, "redistribute-tasks")
    last_queued = _queue_ends(session, plan, last=True) if over else {}
    notes = []
    for giver in sorted(over, key=lambda load: -(load.utilization or 0.0)):
        task = last_queued.get(giver.agent.id)
        if task is None or giver.agent.id in left_alone:
            continue
        receiver = _receiver(plan, loads, task, giver, limit)
        if receiver is None:
            continue
        why = (
            f"{giver.agent.key} is at {giver.utilization:g}% utilization ({rule_text(condition)}); "
            f"{receiver.agent.key} has the least open work ({_hours(receiver.open_ws)})"
        )
        notes.append(_move_task(session, plan, task, giver, receiver, "redistribute-tasks", why, now))
    return notes


def _allocate_backup(
    session: Session, plan: Plan, condition: Condition, now: datetime, team: Callable[[], Team]
) -> list[str]:
    threshold = settings_of(plan).stream_delay_threshold_s
    clock = stream_clock_sql(bindparam("w", plan_clock(plan, now), type_=Integer))
    lateness = (clock - Task.planned_due_ws).label("lateness")
    worst = session.exec(
        select(Task.stream_id, Task.agent_id, func.max(lateness))
        .join(Stream, col(Stream.id) == Task.stream_id)
        .where(
            Task.plan_id == plan.id,
            col(Task.archived).is_(False),
            col(Task.status).in_(OPEN),
            col(Task.agent_id).is_not(None),
            Stream.status == "active",
            clock - Task.planned_due_ws > threshold,
        )
        .group_by(col(Task.stream_id), col(Task.agent_id))
        .order_by(func.max(lateness).desc())
    ).all()
    if not worst:
        return []
    loads, limit = team(), settings_of(plan).utilization_limit
    left_alone = _undone_givers(session, plan, "allocate-backup-agent")
    next_queued = _queue_ends(session, plan, last=False)
    notes, streams_seen = [], set()
    for stream_id, agent_id, late_s in worst:
        if stream_id in streams_seen:
            continue  # a stream's worst agent only: the one its delay comes from
        streams_seen.add(stream_id)
        task = next_queued.get(agent_id)
        if task is None or agent_id in left_alone or not condition.holds(Quantity(late_s, "s")):
            continue
        giver = loads[agent_id]
        receiver = _receiver(plan, loads, task, giver, limit, backup_only=True)
        if receiver is None:
            continue
        stream = session.get_one(Stream, stream_id)
        why = (
            f"{stream.key} is {format_duration(late_s)} late ({rule_text(condition)}); "
            f"{receiver.agent.key} is the backup for {task.type}"
        )
        notes.append(_move_task(session, plan, task, giver, receiver, "allocate-backup-agent", why, now))
    return notes


def _prioritize_unblocking(
    session: Session, plan: Plan, condition: Condition, now: datetime, team: Callable[[], Team]
) -> list[str]:
    """Tasks whose `after:` action waits on a signal another open task raises, past their planned start."""
    actions = {rule.action: rule.trigger for _, rule in settings_of(plan).coordination_rules()}
    clock = stream_clock_sql(bindparam("w", plan_clock(plan, now), type_=Integer))
    waiting = session.exec(  # one row per action waited for, with one of its waiting tasks to name
        select(func.min(Task.key), Task.after)
        .join(Stream, col(Stream.id) == Task.stream_id)
        .where(
            Task.plan_id == plan.id,
            col(Task.archived).is_(False),
            Task.status == "todo",
            col(Task.after).is_not(None),
            clock > Task.planned_start_ws,
        )
        .group_by(col(Task.after))
    ).all()
    completing = {event: task_type for task_type, event in TYPE_COMPLETE_EVENTS.items()}
    moved = set(session.exec(select(Move.task_id).where(Move.plan_id == plan.id, col(Move.task_id).is_not(None))).all())
    notes = []
    for waiter_key, action in waiting:
        signal = actions.get(action) if action else None  # (the query reads only tasks that wait)
        if signal is None or DAY_COMPLETE.fullmatch(signal):
            continue  # nobody's work raises it: only time (or a person) can
        # The open tasks whose completion raises the signal: those that signal it, or for a built-in
        # completion event (service-complete), the open tasks of its type.
        # (coalesce: so that its negation holds for tasks with no type or signal, not NULL)
        raises_it = (
            func.lower(func.coalesce(Task.type, "")) == completing[signal]
            if signal in completing
            else func.coalesce(Task.signals, "") == signal
        )
        blockers = session.exec(
            select(Task)
            .where(
                Task.plan_id == plan.id,
                col(Task.archived).is_(False),
                raises_it,
                col(Task.status).in_(MOVABLE),
                Task.priority < UNBLOCKING_PRIORITY,
            )
            .order_by(col(Task.planned_due_ws))
            .limit(5)
        ).all()
        for blocker in blockers:
            if blocker.id in moved or not _queued_behind_other_work(session, blocker, raises_it):
                continue
            why = f"{waiter_key} waits for `{action}`, which {blocker.key} brings closer when done (`{signal}`)"
            move = _record(
                session,
                plan,
                "prioritize-unblocking",
                why,
                now,
                task_id=blocker.id,
                old_priority=blocker.priority,
                new_priority=UNBLOCKING_PRIORITY,
            )
            blocker.priority = UNBLOCKING_PRIORITY
            session.add(blocker)
            notes.append(_announce(session, plan, move, f"{blocker.key} {blocker.title!r} goes first: {why}", now))
    return notes


def _propose_reallocation(
    session: Session, plan: Plan, condition: Condition, now: datetime, team: Callable[[], Team]
) -> list[str]:
    threshold = settings_of(plan).stream_delay_threshold_s
    clock = stream_clock_sql(bindparam("w", plan_clock(plan, now), type_=Integer))
    at_risk = session.exec(
        select(Task, (clock - Task.planned_due_ws).label("late"))
        .join(Stream, col(Stream.id) == Task.stream_id)
        .where(
            Task.plan_id == plan.id,
            col(Task.archived).is_(False),
            col(Task.critical).is_(True),
            col(Task.status).in_(OPEN),
            Stream.status == "active",
        )
        .order_by(col(Task.planned_due_ws))
    ).all()
    loads = team() if at_risk else Team([])
    proposed = set(
        session.exec(select(Move.task_id).where(Move.plan_id == plan.id, Move.rule == "reallocate-resources")).all()
    )
    for task, late_s in at_risk:
        owner = loads.get(task.agent_id)
        if task.status == "blocked":
            risk = "is blocked"
        elif owner is not None and owner.status == "DOWN":
            risk = f"belongs to {owner.agent.key}, who is DOWN"
        elif late_s > threshold:
            risk = f"is {format_duration(late_s)} late"
        else:
            continue
        if task.id in proposed:
            continue  # proposed once for this task; the leads have it
        helper = _spare_agent(session, plan, loads, task)
        if helper is None:
            continue
        stream = session.get_one(Stream, task.stream_id)
        command = f"reallocate --from {helper.agent.key} --to {stream.key}"
        why = (
            f"critical path at risk: {task.key} {task.title!r} {risk}, and the plan's end moves with it; "
            f"{helper.agent.key} has the least open work outside it ({_hours(helper.open_ws)})"
        )
        move = _record(
            session,
            plan,
            "reallocate-resources",
            why,
            now,
            status="proposed",
            task_id=task.id,
            agent_id=helper.agent.id,
            from_stream_id=helper.agent.stream_id,
            to_stream_id=stream.id,
            command=command,
        )
        return [
            _announce(
                session,
                plan,
                move,
                f"Proposed: `{command}` ({why}). A lead applies it with `moves apply {move.key}`",
                now,
            )
        ]
    return []


# --- shared pieces ----------------------------------------------------------------------------


def rule_text(condition: Condition) -> str:
    if condition.comparison is not None:
        return f"{condition.metric} {condition.comparison.display()}"
    return condition.event or ""


def _hours(seconds: int) -> str:
    return f"{seconds / 3600:g}h open"


def _loads(session: Session, plan: Plan, now: datetime) -> Team:
    """Every agent's status, utilization and open work: three aggregate queries, no task read."""
    monitor = {a.key: a.status for a in agent_monitor(session, plan, now).agents}
    per_agent = busy_per_agent(plan, bindparam("w", plan_clock(plan, now), type_=Integer)).subquery()
    used = dict(session.exec(select(per_agent.c.agent_id, utilization_of(per_agent))).all())
    open_ws = dict(
        session.exec(
            select(Task.agent_id, func.coalesce(func.sum(Task.estimate_ws), 0))
            .where(Task.plan_id == plan.id, col(Task.archived).is_(False), col(Task.status).in_(OPEN))
            .group_by(col(Task.agent_id))
        ).all()
    )
    agents = session.exec(select(Agent).where(Agent.plan_id == plan.id, col(Agent.archived).is_(False))).all()
    away = {a.who for a in Availability(session, plan, now).everyone_away()}
    return Team(
        [
            Load(
                a,
                monitor.get(a.key, "IDLE"),
                round(100.0 * used[a.id], 1) if used.get(a.id) is not None else None,
                open_ws.get(a.id, 0),
                away=a.key in away or a.slack_user in away,
            )
            for a in agents
        ]
    )


def _queue_ends(session: Session, plan: Plan, *, last: bool) -> dict[int | None, Task]:
    """Per agent, its last (or next) queued task that no rule moved before: one query for all agents."""
    order = (col(Task.position).desc(), col(Task.id).desc()) if last else (col(Task.position), col(Task.id))
    moved = select(Move.task_id).where(Move.plan_id == plan.id, col(Move.task_id).is_not(None))
    ranked = (
        select(Task.id, func.row_number().over(partition_by=col(Task.agent_id), order_by=order).label("place"))
        .where(
            Task.plan_id == plan.id,
            col(Task.archived).is_(False),
            col(Task.status).in_(MOVABLE),
            col(Task.agent_id).is_not(None),
            col(Task.id).not_in(moved),
        )
        .subquery()
    )
    tasks = session.exec(select(Task).join(ranked, ranked.c.id == Task.id).where(ranked.c.place == 1)).all()
    return {task.agent_id: task for task in tasks}


def _undone_givers(session: Session, plan: Plan, rule: str) -> set[int | None]:
    """Agents a lead took back a move of this rule from: the rule leaves their queues to the leads."""
    return set(
        session.exec(
            select(Move.from_agent_id).where(Move.plan_id == plan.id, Move.rule == rule, Move.status == "undone")
        ).all()
    )


def _able(plan: Plan, task: Task, team: Team, *, backup_only: bool = False) -> list[Load]:
    """Who can take ``task``: the primary and backup of its type, else the agents of its stream."""
    row = settings_of(plan).delegation_row(task.type or "")
    if row is not None:
        keys = [row.backup] if backup_only else [row.primary, row.backup]
        return [team.by_key[key] for key in keys if key in team.by_key]
    if backup_only:
        return []
    return team.by_stream.get(task.stream_id, [])


def _receiver(plan: Plan, loads: Team, task: Task, giver: Load, limit: float, backup_only: bool = False) -> Load | None:
    able = [
        load
        for load in _able(plan, task, loads, backup_only=backup_only)
        if load.agent.id != giver.agent.id
        and load.can_receive(limit)
        and load.open_ws + task.estimate_ws < giver.open_ws
    ]  # the move must shorten the longest queue
    return min(able, key=lambda load: (load.open_ws, load.agent.position), default=None)


def _spare_agent(session: Session, plan: Plan, loads: Team, task: Task) -> Load | None:
    """The agent with the least open work in a stream with no critical task open (not DOWN or PAUSED)."""
    busy_streams = set(
        session.exec(
            select(Task.stream_id).where(
                Task.plan_id == plan.id,
                col(Task.critical).is_(True),
                col(Task.status).in_(OPEN),
                col(Task.archived).is_(False),
            )
        ).all()
    )
    # Busy or not: a proposal is for the leads to weigh, and people busy elsewhere may still be the best help.
    spare = [
        load
        for load in loads.values()
        if load.agent.stream_id not in busy_streams
        and load.agent.stream_id != task.stream_id
        and load.status not in ("DOWN", "PAUSED")
    ]
    return min(spare, key=lambda load: (load.open_ws, load.agent.position), default=None)


def _queued_behind_other_work(session: Session, task: Task, raises_it: ColumnElement[bool]) -> bool:
    """Whether its agent would do other work first, work that does not unblock anyone."""
    return (
        session.exec(
            select(Task.id).where(
                Task.agent_id == task.agent_id,
                col(Task.archived).is_(False),
                col(Task.status).in_(MOVABLE),
                Task.position < task.position,
                Task.priority <= task.priority,
                ~raises_it,
            )
        ).first()
        is not None
    )


def _move_task(
    session: Session, plan: Plan, task: Task, giver: Load, receiver: Load, rule: str, why: str, now: datetime
) -> str:
    move = _record(
        session,
        plan,
        rule,
        why,
        now,
        task_id=task.id,
        from_agent_id=giver.agent.id,
        to_agent_id=receiver.agent.id,
        old_position=task.position,
        old_not_before_ws=task.not_before_ws,
    )
    reassign_task(session, plan, task, receiver.agent, now=now, position=_ahead_of_waiting(session, receiver.agent))
    giver.open_ws -= task.estimate_ws
    receiver.open_ws += task.estimate_ws
    return _announce(
        session,
        plan,
        move,
        f"{task.key} {task.title!r} moved from {giver.agent.key} to {receiver.agent.key}: {why}",
        now,
    )


def _ahead_of_waiting(session: Session, agent: Agent) -> int | None:
    """The place for a task handed to ``agent``: before its tasks that wait for an action not yet
    fired (it can work on the task meanwhile), else the end of its queue (None)."""
    first_waiting = session.exec(
        select(func.min(Task.position)).where(
            Task.agent_id == agent.id,
            col(Task.archived).is_(False),
            Task.status == "todo",
            col(Task.after).is_not(None),
        )
    ).one()
    if first_waiting is None:
        return None
    session.exec(
        update(Task)
        .where(col(Task.agent_id) == agent.id, col(Task.position) >= first_waiting)
        .values(position=Task.position + 1)
    )
    return first_waiting


def _record(
    session: Session, plan: Plan, rule: str, why: str, now: datetime, *, status: str = "applied", **what: Any
) -> Move:
    number = session.exec(select(func.count()).select_from(Move).where(Move.plan_id == plan.id)).one() + 1
    move = Move(plan_id=id_of(plan), key=f"M{number}", rule=rule, status=status, why=why, made_at=now, **what)
    session.add(move)
    session.flush()
    return move


def _announce(session: Session, plan: Plan, move: Move, text: str, now: datetime) -> str:
    undo = "" if move.status == "proposed" else f" (undo: `moves undo {move.key}`)"
    line = f"{move.key} · {move.rule}: {text}{undo}"
    raise_event(
        session,
        plan,
        "load-balancing",
        now=now,
        source="balancer",
        actor="load-balancer",
        level="info",
        detail={"move": move.key, "message": line},
        destinations=(PLAN_CHANNEL,),
        grouped=False,
    )
    audit_automatic(
        session, plan, actor="load-balancer", command=f"load-balancing {move.rule} ({move.key})", message=line, now=now
    )
    return line
