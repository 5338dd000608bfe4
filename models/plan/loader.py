"""Loading a plan file into the store, and previewing what a load would change.

A reload applies what changed *in the file* since the last load, and nothing
else: the run state (task status and history, ticked criteria, paused
streams, an agent moved by ``reallocate``) of everything whose id did not
change is kept. Things removed from the file are archived, not deleted, so
their history stays in the store; tasks added by ``task add`` are not in the
file and are never touched by a reload.
"""

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import insert, update
from sqlmodel import Session, col, select

from models.db.tables import Agent, Checkpoint, Criterion, Plan, PlanDocument, RiskTrigger, Stream, Task, id_of
from models.plan.coordination import initial_status
from models.plan.schedule import CriticalPath, mark_critical_path, reschedule
from models.plan.schema import PlanFile
from models.time.calendar import WorkCalendar
from models.time.units import parse_duration


@dataclass(frozen=True)
class Change:
    action: str  # add | update | remove
    kind: str  # plan | stream | agent | task | checkpoint | risk-trigger | section
    key: str
    fields: tuple[str, ...] = ()

    def describe(self) -> str:
        sign = {"add": "+", "remove": "-", "update": "~"}[self.action]
        detail = f" ({', '.join(self.fields)})" if self.fields else ""
        return f"{sign} {self.kind} {self.key}{detail}"


@dataclass
class LoadResult:
    plan: Plan
    created: bool
    changes: list[Change] = field(default_factory=list)
    critical_path: CriticalPath | None = None


# --- what the file says, entity by entity ---------------------------------

# One entity as the file gives it (field -> value, in the store's terms), by its key in the file.
Spec = dict[str, Any]
Specs = dict[str, Spec]


def _task_rows(doc: PlanFile, calendar: WorkCalendar) -> Specs:
    """The file's tasks with their defaults filled in (estimate, type), in one pass."""
    plan_s = doc.duration_days * calendar.day_s
    type_of = {row.primary: row.task_type for row in reversed(doc.delegation_matrix)}
    shares: dict[str, int] = {}
    for agent_id, agent in doc.agents.items():
        given = sum(parse_duration(t.estimate, day_s=calendar.day_s) for t in agent.tasks if t.estimate)
        unestimated = sum(1 for t in agent.tasks if not t.estimate)
        # The agent's unestimated tasks share what is left of the plan's length.
        left = plan_s - given
        shares[agent_id] = left // unestimated if unestimated and left > 0 else plan_s // max(len(agent.tasks), 1)
    return {
        key: {
            "title": task.title,
            "agent": agent_id,
            "position": index,
            "type": task.type or type_of.get(agent_id),
            "estimate_ws": parse_duration(task.estimate, day_s=calendar.day_s) if task.estimate else shares[agent_id],
            "after": task.after,
            "signals": task.signals,
        }
        for key, agent_id, index, task in doc.task_list()
    }


def _entities(doc: PlanFile | None) -> dict[str, Specs]:
    if doc is None:
        return {kind: {} for kind in ("stream", "agent", "task", "checkpoint", "risk-trigger")}
    calendar = doc.calendar()
    return {
        "stream": {s.id: {"type": s.type, "priority": s.priority, "position": i} for i, s in enumerate(doc.streams)},
        "agent": {
            key: {
                "name": a.name or key,
                "stream": a.stream,
                "position": i,
                "slack_user": a.slack_user,
                "skills": list(a.skills),
                "heartbeat_interval_s": parse_duration(a.heartbeat_interval) if a.heartbeat_interval else None,
            }
            for i, (key, a) in enumerate(doc.agents.items())
        },
        "task": _task_rows(doc, calendar),
        "checkpoint": {
            c.id: {
                "name": c.name,
                "day": c.day,
                "blocker": c.blocker,
                "position": i,
                "criteria": [(cr.text, cr.metric) for cr in c.criteria],
            }
            for i, c in enumerate(doc.checkpoints)
        },
        "risk-trigger": {
            f"{t.condition} → {t.action}": {
                "condition": t.condition,
                "action": t.action,
                "severity": t.severity,
                "repeat_s": parse_duration(t.repeat) if t.repeat else None,
                "position": i,
            }
            for i, t in enumerate(doc.risk_triggers)
        },
    }


_PLAN_FIELDS = (
    "title",
    "timezone",
    "working-days",
    "working-hours",
    "holidays",
    "holiday-calendar",
    "duration-days",
    "channel",
)
_SECTIONS = (
    "roles",
    "orchestration",
    "sync-schedule",
    "coordination",
    "delegation-matrix",
    "load-balancing",
    "targets",
    "success-criteria",
    "alerts",
    "destinations",
    "digest",
    "escalate-after",
    "escalate-limit",
)


def plan_settings(doc: PlanFile) -> dict[str, Any]:
    """The file's settings as ``Plan.spec`` stores them (read back by ``models.plan.settings``)."""
    return doc.settings().model_dump(mode="json", by_alias=True)


def diff_documents(
    old: PlanFile | None, new: PlanFile, entities: tuple[dict[str, Specs], dict[str, Specs]] | None = None
) -> list[Change]:
    """What loading ``new`` over ``old`` changes, in a stable order.

    ``entities`` is ``(_entities(old), _entities(new))`` when the caller has them already.
    """
    changes: list[Change] = []
    old_doc = plan_settings(old) if old else {}
    new_doc = plan_settings(new)
    if old is None:
        changes.append(Change("add", "plan", new.id))
    else:
        changed = tuple(f for f in _PLAN_FIELDS if old_doc.get(f) != new_doc.get(f))
        if changed:
            changes.append(Change("update", "plan", new.id, changed))
        changes += [Change("update", "section", s) for s in _SECTIONS if old_doc.get(s) != new_doc.get(s)]
    before, after = entities or (_entities(old), _entities(new))
    for kind in after:
        for key, spec in after[kind].items():
            if key not in before[kind]:
                changes.append(Change("add", kind, key))
            elif spec != before[kind][key]:
                changed = tuple(_label(f) for f in spec if spec[f] != before[kind][key].get(f) and f != "position")
                if changed or spec != before[kind][key]:
                    changes.append(Change("update", kind, key, changed or ("order",)))
        changes += [Change("remove", kind, key) for key in before[kind] if key not in after[kind]]
    return changes


def assign_task_ids(old: PlanFile | None, new: PlanFile) -> PlanFile:
    """Give every task of ``new`` a stable id, reusing the ids ``old`` gave them.

    On a first load a task without an id is ``T<n>``, n its place in the file.
    On a reload, a task without an id keeps the id of the old task with the
    same agent and title, else of the old task at the same place of the same
    agent (a renamed task); only a task new to the file gets a new number, after
    every number used so far. So removing a task renumbers nothing.
    """
    data = new.model_dump(mode="json", by_alias=True, exclude_none=True)
    if old is None:
        for task_key, agent_id, index, _ in new.task_list():
            data["agents"][agent_id]["tasks"][index]["id"] = task_key
        return PlanFile.model_validate(data)
    old_tasks = old.task_list()
    by_title = {(agent, task.title): key for key, agent, _, task in old_tasks}
    by_place = {(agent, index): key for key, agent, index, _ in old_tasks}
    explicit = {task.id for _, _, _, task in new.task_list() if task.id}
    claimed = set(explicit)
    pending: list[tuple[str, int]] = []  # (agent, index) of the tasks left without an id
    for _, agent_id, index, task in new.task_list():
        if task.id:
            continue
        key = by_title.get((agent_id, task.title))
        if key is None or key in claimed:
            pending.append((agent_id, index))
            continue
        claimed.add(key)
        data["agents"][agent_id]["tasks"][index]["id"] = key
    numbers = [int(k[1:]) for k in claimed | {k for k, *_ in old_tasks} if k[:1] == "T" and k[1:].isdigit()]
    next_number = max(numbers, default=0) + 1
    for agent_id, index in pending:
        key = by_place.get((agent_id, index))
        if key is None or key in claimed:
            key, next_number = f"T{next_number}", next_number + 1
        claimed.add(key)
        data["agents"][agent_id]["tasks"][index]["id"] = key
    return PlanFile.model_validate(data)


def _label(field_name: str) -> str:
    """A stored field as the plan file names it: estimate_ws -> estimate."""
    return field_name.removesuffix("_ws").removesuffix("_s").replace("_", "-")


def stored_document(session: Session, plan: Plan) -> PlanFile | None:
    """The whole document as last loaded, with every task's id: for reloads and diffs only."""
    row = session.get(PlanDocument, plan.id)
    return PlanFile.model_validate(row.document) if row else None


# --- applying a load -------------------------------------------------------


def load_plan(session: Session, doc: PlanFile, *, now: datetime, source_path: str | None = None) -> LoadResult:
    plan = session.exec(select(Plan).where(Plan.key == doc.id)).one_or_none()
    created = plan is None
    old = None if plan is None else stored_document(session, plan)
    doc = assign_task_ids(old, doc)
    before, after = _entities(old), _entities(doc)
    changes = diff_documents(old, doc, (before, after))
    if plan is not None and not changes:
        return LoadResult(plan, created=False)

    spec = plan_settings(doc)
    if plan is None:
        plan = Plan(
            key=doc.id,
            title=doc.title or doc.id,
            timezone=doc.timezone,
            channel=doc.channel,
            spec=spec,
            source_path=source_path,
            loaded_at=now,
            updated_at=now,
        )
        session.add(plan)
        session.flush()
        session.add(PlanDocument(plan_id=id_of(plan), document={}))
    else:
        plan.title, plan.timezone, plan.channel = doc.title or doc.id, doc.timezone, doc.channel
        plan.spec, plan.source_path, plan.updated_at = spec, source_path or plan.source_path, now
        session.add(plan)

    document = session.get_one(PlanDocument, plan.id)
    document.document = doc.model_dump(mode="json", by_alias=True, exclude_none=True)
    session.add(document)
    streams = _apply_streams(session, plan, before["stream"], after["stream"])
    agents = _apply_agents(session, plan, streams, before["agent"], after["agent"])
    _apply_tasks(session, plan, streams, agents, before["task"], after["task"])
    _apply_checkpoints(session, plan, before["checkpoint"], after["checkpoint"])
    _apply_triggers(session, plan, before["risk-trigger"], after["risk-trigger"])
    session.flush()
    reschedule(session, plan)
    return LoadResult(plan, created=created, changes=changes, critical_path=mark_critical_path(session, plan))


_Keyed = TypeVar("_Keyed", Stream, Agent, Checkpoint)


def _rows_by_key(session: Session, model: type[_Keyed], plan: Plan) -> dict[str, _Keyed]:
    return {row.key: row for row in session.exec(select(model).where(model.plan_id == plan.id))}


def _archive_removed(session: Session, rows: dict[str, Any], before: Specs, after: Specs) -> None:
    """What the file no longer has is archived: off the dashboard, history kept."""
    for key in before.keys() - after.keys():
        if key in rows:
            rows[key].archived = True
            session.add(rows[key])


def _apply_streams(session: Session, plan: Plan, before: Specs, after: Specs) -> dict[str, Stream]:
    rows = _rows_by_key(session, Stream, plan)
    for key, spec in after.items():
        row = rows.get(key)
        if row is None:
            row = rows[key] = Stream(plan_id=id_of(plan), key=key)
        if row.archived or before.get(key) != spec:
            row.type, row.priority, row.position, row.archived = spec["type"], spec["priority"], spec["position"], False
            session.add(row)
    _archive_removed(session, rows, before, after)
    session.flush()
    return rows


def _apply_agents(
    session: Session, plan: Plan, streams: dict[str, Stream], before: Specs, after: Specs
) -> dict[str, Agent]:
    rows = _rows_by_key(session, Agent, plan)
    for key, spec in after.items():
        row = rows.get(key)
        old = before.get(key)
        if row is None:
            row = rows[key] = Agent(
                plan_id=id_of(plan), key=key, name=spec["name"], stream_id=id_of(streams[spec["stream"]])
            )
        elif old is None or old["stream"] != spec["stream"]:
            row.stream_id = id_of(streams[spec["stream"]])  # the file moved it; else keep reallocate's move
        if row.archived or old != spec:
            row.name, row.position, row.slack_user = spec["name"], spec["position"], spec["slack_user"]
            row.skills, row.heartbeat_interval_s, row.archived = spec["skills"], spec["heartbeat_interval_s"], False
            session.add(row)
    _archive_removed(session, rows, before, after)
    session.flush()
    return rows


def _apply_tasks(
    session: Session, plan: Plan, streams: dict[str, Stream], agents: dict[str, Agent], before: Specs, after: Specs
) -> None:
    existing = {
        key: (task_id, archived)
        for key, task_id, archived in session.exec(
            select(Task.key, Task.id, Task.archived).where(Task.plan_id == plan.id)
        )
    }
    new_rows = []
    for key, spec in after.items():
        agent = agents[spec["agent"]]
        values = {
            "title": spec["title"],
            "type": spec["type"],
            "estimate_ws": spec["estimate_ws"],
            "after": spec["after"],
            "signals": spec["signals"],
            "position": spec["position"],
        }
        if key not in existing:
            new_rows.append(
                {
                    **values,
                    "plan_id": plan.id,
                    "key": key,
                    "agent_id": agent.id,
                    "stream_id": agent.stream_id,
                    "origin": "file",
                    "status": initial_status(session, plan, spec["after"]),
                }
            )
            continue
        task_id, archived = existing[key]
        old = before.get(key)
        if archived or old != spec:
            if old is None or old["agent"] != spec["agent"]:
                values.update(agent_id=agent.id, stream_id=agent.stream_id)
            values["archived"] = False
            session.exec(update(Task).where(col(Task.id) == task_id).values(**values))
    if new_rows:
        session.exec(insert(Task), params=new_rows)
    gone = [key for key in before.keys() - after.keys() if key in existing]
    if gone:
        session.exec(
            update(Task)
            .where(col(Task.plan_id) == plan.id, col(Task.key).in_(gone), col(Task.origin) == "file")
            .values(archived=True)
        )


def _apply_checkpoints(session: Session, plan: Plan, before: Specs, after: Specs) -> None:
    rows = _rows_by_key(session, Checkpoint, plan)
    for key, spec in after.items():
        row = rows.get(key)
        if row is not None and not row.archived and before.get(key) == spec:
            continue
        if row is None:
            row = rows[key] = Checkpoint(plan_id=id_of(plan), key=key, name=spec["name"], day=spec["day"])
        row.name, row.day, row.blocker, row.position, row.archived = (
            spec["name"],
            spec["day"],
            spec["blocker"],
            spec["position"],
            False,
        )
        session.add(row)
        session.flush()
        criteria = {c.position: c for c in session.exec(select(Criterion).where(Criterion.checkpoint_id == row.id))}
        for position, (text, metric) in enumerate(spec["criteria"], start=1):
            criterion = criteria.pop(position, None)
            if criterion is None:
                criterion = Criterion(checkpoint_id=id_of(row), position=position, text=text)
            elif (criterion.text, criterion.metric) != (text, metric):
                criterion.met_at = criterion.met_by = None  # a new criterion is not met yet
            criterion.text, criterion.metric = text, metric
            session.add(criterion)
        for leftover in criteria.values():
            session.delete(leftover)
    _archive_removed(session, rows, before, after)


def _apply_triggers(session: Session, plan: Plan, before: Specs, after: Specs) -> None:
    rows = {
        f"{t.condition} → {t.action}": t
        for t in session.exec(select(RiskTrigger).where(RiskTrigger.plan_id == plan.id))
    }
    for key, spec in after.items():
        row = rows.get(key) or RiskTrigger(plan_id=id_of(plan), **spec)
        row.severity, row.repeat_s, row.position, row.archived = (
            spec["severity"],
            spec["repeat_s"],
            spec["position"],
            False,
        )
        session.add(row)
    _archive_removed(session, rows, before, after)
