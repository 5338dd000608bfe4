"""The critical path: the chain of tasks that decides when the plan can finish.

The planned window of each task (``planned_start_ws``/``planned_due_ws``) is
domain.md's schedule: an agent's tasks back to back in queue order. The
critical path adds what that schedule leaves out, the ``after:`` waits: a task
cannot start before the action it waits for fires, and an action fires when
its coordination trigger is raised, which is planned as:

- ``day-N-complete``: the end of working day N;
- a task's ``signals:`` event: that task's end (the earliest, if several);
- ``service-complete`` / ``components-ready``: the end of the last task of that
  type in the first stream to finish them;
- any other event (raised by hand or by the API): not plannable, no wait.

Each task then starts at the later of its queue predecessor's end and its
wait, and the path is walked back from the task that ends last through
whichever of the two held it. This reads one row per task, so it runs when a
plan is loaded or its queues change, never on the dashboard's path.
"""

from collections import defaultdict
from dataclasses import dataclass

from sqlalchemy import bindparam, update
from sqlmodel import Session, col, select

from models.db.sql import select_columns
from models.db.tables import Plan, Task
from models.plan.coordination import DAY_COMPLETE, TYPE_COMPLETE_EVENTS
from models.plan.schema import CoordinationRule
from models.plan.settings import calendar_of, settings_of


@dataclass
class Slot:
    id: int
    agent_id: int | None
    stream_id: int
    estimate: int
    not_before: int
    after: str | None
    signals: str | None
    type: str | None
    start: int = 0
    end: int = 0


@dataclass
class CriticalPath:
    """The critical path: its tasks' ids, first to last, and when it ends (working seconds)."""

    ids: list[int]
    end_ws: int


def critical_path(slots: list[Slot], coordination: list[CoordinationRule], day_s: int) -> CriticalPath:
    """Plan ``slots`` (given in queue order per agent) with their waits, and walk the critical path back."""
    triggers_of: dict[str, list[str]] = defaultdict(list)
    for rule in coordination:
        triggers_of[rule.action].append(rule.trigger)
    queues: dict[int | None, list[Slot]] = defaultdict(list)
    for slot in slots:
        queues[slot.agent_id].append(slot)

    signalling: dict[str, list[Slot]] = defaultdict(list)
    typed: dict[str, list[Slot]] = defaultdict(list)
    for slot in slots:
        if slot.signals:
            signalling[slot.signals].append(slot)
        typed[(slot.type or "").lower()].append(slot)
    completing = {event: task_type for task_type, event in TYPE_COMPLETE_EVENTS.items()}

    def fired(trigger: str) -> tuple[int, Slot | None]:
        """When ``trigger`` is planned to be raised, and the task that raises it."""
        if match := DAY_COMPLETE.fullmatch(trigger):
            return int(match.group(1)) * day_s, None
        if trigger in signalling:
            first = min(signalling[trigger], key=lambda s: s.end)
            return first.end, first
        last_per_stream: dict[int, Slot] = {}
        for s in typed.get(completing.get(trigger, ""), []) if trigger in completing else []:
            if s.end >= last_per_stream.get(s.stream_id, s).end:
                last_per_stream[s.stream_id] = s
        if last_per_stream:
            first = min(last_per_stream.values(), key=lambda s: s.end)
            return first.end, first
        return 0, None

    def wait(slot: Slot) -> tuple[int, Slot | None]:
        if not slot.after:
            return 0, None
        return max((fired(t) for t in triggers_of.get(slot.after, [])), key=lambda f: f[0], default=(0, None))

    # Waits move ends, which move waits: repeat until nothing moves (a chain of n waits takes n rounds;
    # a wait on itself, a cycle, would grow for ever, so the rounds are bounded).
    for _ in range(sum(1 for s in slots if s.after) + 1):
        moved = False
        for queue in queues.values():
            cursor = 0
            for slot in queue:
                start = max(cursor, slot.not_before, wait(slot)[0])
                moved |= (start, start + slot.estimate) != (slot.start, slot.end)
                slot.start, slot.end = start, start + slot.estimate
                cursor = slot.end
        if not moved:
            break

    if not slots:
        return CriticalPath([], 0)
    # Each slot with the one before it in its queue (None for the first).
    previous = {s.id: p for queue in queues.values() for p, s in zip([None, *queue], queue, strict=False)}
    path: list[int] = []
    on_path: Slot | None = max(slots, key=lambda s: (s.end, -s.id))
    while on_path is not None and len(path) < len(slots):
        path.append(on_path.id)
        held_at, holder = wait(on_path)
        before = previous[on_path.id]
        if holder is not None and held_at == on_path.start and (before is None or held_at > before.end):
            on_path = holder
        elif before is not None and before.end == on_path.start and on_path.start > 0:
            on_path = before
        else:
            on_path = None
    return CriticalPath(path[::-1], max(s.end for s in slots))


def plan_critical_path(session: Session, plan: Plan) -> CriticalPath:
    rows = session.exec(
        select_columns(
            Task.id,
            Task.agent_id,
            Task.stream_id,
            Task.estimate_ws,
            Task.not_before_ws,
            Task.after,
            Task.signals,
            Task.type,
        )
        .where(Task.plan_id == plan.id, col(Task.archived).is_(False))
        .order_by(col(Task.agent_id), col(Task.position), col(Task.id))
    ).all()
    return critical_path(
        [Slot(*row) for row in rows],
        [rule for _, rule in settings_of(plan).coordination_rules()],
        calendar_of(plan).day_s,
    )


def mark_critical_path(session: Session, plan: Plan) -> CriticalPath:
    """Store which of the plan's tasks are on its critical path."""
    path = plan_critical_path(session, plan)
    session.connection().execute(
        update(Task).where(col(Task.plan_id) == plan.id, col(Task.critical).is_(True)).values(critical=False)
    )
    if path.ids:
        session.connection().execute(
            update(Task).where(col(Task.id) == bindparam("task_id")).values(critical=True),
            [{"task_id": task_id} for task_id in path.ids],
        )
    return path


def describe_path(session: Session, plan: Plan, path: CriticalPath) -> str:
    """One line: the path's tasks and where it ends against the plan's duration."""
    keys = dict(session.exec(select(Task.id, Task.key).where(col(Task.id).in_(path.ids))).all()) if path.ids else {}
    day_s = calendar_of(plan).day_s
    chain = " → ".join(keys[i] for i in path.ids[:12]) + (" → …" if len(path.ids) > 12 else "")
    days, duration = path.end_ws / day_s, settings_of(plan).duration_days
    line = f"critical path: {chain or '(no task)'}, ending after {days:g} working days"
    if duration and days > duration:
        line += f": {days - duration:g} past duration-days ({duration}); the waits (`after:`) do not fit the plan"
    return line


# --- the planned schedule ----------------------------------------------------


def reschedule(session: Session, plan: Plan, agent_id: int | None = None) -> int:
    """Lay each agent's tasks (or one agent's) back to back in queue order; returns how many moved.

    This reads one row per task, so it runs on loads and reassignments, never
    on the dashboard's path.
    """
    query = (
        select_columns(
            Task.id, Task.agent_id, Task.estimate_ws, Task.not_before_ws, Task.planned_start_ws, Task.planned_due_ws
        )
        .where(Task.plan_id == plan.id, col(Task.archived).is_(False))
        .order_by(col(Task.agent_id), col(Task.position), col(Task.id))
    )
    if agent_id is not None:
        query = query.where(Task.agent_id == agent_id)
    rows = session.exec(query).all()
    cursor: dict[int | None, int] = {}
    moved = []
    for task_id, agent_id, estimate, not_before, start, due in rows:
        new_start = max(cursor.get(agent_id, 0), not_before)
        cursor[agent_id] = new_start + estimate
        if (start, due) != (new_start, new_start + estimate):
            moved.append({"task_id": task_id, "start": new_start, "due": new_start + estimate})
    if moved:
        session.connection().execute(
            update(Task)
            .where(col(Task.id) == bindparam("task_id"))
            .values(planned_start_ws=bindparam("start"), planned_due_ws=bindparam("due")),
            moved,
        )
    return len(moved)
