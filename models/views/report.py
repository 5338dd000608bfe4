"""A plan's history over a range of days: what was done, how late, the gates, the syncs, the metrics,
the moves and the alerts; and the burn-up of estimate done against the plan.

Every figure is aggregated in SQL; Python walks only the days of the range, the rows a section
shows (one per stream, agent, gate, metric, move, level) and the task events it lists.
"""

import csv
import io
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from sqlalchemy import ColumnElement, Integer, String, and_, case, exists, func, literal, or_, type_coerce
from sqlmodel import Session, col, select

from models.db.sql import literal_rows, seconds_between, select_columns, sum_if
from models.db.tables import (
    Agent,
    Alert,
    Checkpoint,
    Event,
    MetricReading,
    Move,
    Plan,
    Stream,
    SyncAnswer,
    SyncSlot,
    Task,
    TaskEvent,
)
from models.db.types import UTCDateTime
from models.plan.settings import calendar_of, settings_of
from models.time.calendar import WorkCalendar
from models.time.units import Quantity, parse_target
from models.views.burnup import DONE, REOPENED, BurnPoint, burnup_points
from models.views.metrics import meets
from models.views.reply import Body, Table
from models.views.sync_away import away_counts

H = 3600.0
SHOWN_EVENTS = 20  # task events a text or Slack summary lists; the CSV has them all


class Report(Body):
    kind: str = "report"
    plan: str
    title: str
    start: date
    end: date
    stream: str | None = None
    agent: str | None = None
    headline: list[str]
    burnup: list[BurnPoint]
    scope_h: float = 0.0  # the estimate of every task in scope, done or not
    sections: list[Table]

    def section(self, name: str) -> Table:
        return next(s for s in self.sections if s.title == name)


@dataclass(frozen=True)
class Scope:
    """Which tasks (and people) a report is about: the plan's, one stream's, or one agent's."""

    plan: Plan
    stream: Stream | None = None
    agent: Agent | None = None

    def tasks(self) -> list[ColumnElement[bool]]:
        where = [col(Task.plan_id) == self.plan.id, col(Task.archived).is_(False)]
        if self.stream is not None:
            where.append(col(Task.stream_id) == self.stream.id)
        if self.agent is not None:
            where.append(col(Task.agent_id) == self.agent.id)
        return where

    def agents(self) -> list[ColumnElement[bool]]:
        where = [col(Agent.plan_id) == self.plan.id]
        if self.stream is not None:
            where.append(col(Agent.stream_id) == self.stream.id)
        if self.agent is not None:
            where.append(col(Agent.id) == self.agent.id)
        return where


def default_range(plan: Plan, now: datetime) -> tuple[date, date]:
    """The plan so far: from the day it started (or was loaded) to today, in its timezone."""
    calendar = calendar_of(plan)
    return calendar.local_date(plan.started_at or plan.loaded_at), calendar.local_date(now)


def report(session: Session, scope: Scope, first: date, last: date, now: datetime) -> Report:
    calendar = calendar_of(scope.plan)
    start = datetime.combine(first, time(0), calendar.zone)
    end = datetime.combine(last + timedelta(days=1), time(0), calendar.zone)
    until = min(end, now)  # what is still open is counted up to here
    working_days = [d for d in _days(first, last) if calendar.is_working_day(d) and calendar.window(d)[0] < until]

    events = _task_events(session, scope, start, end, until)
    flows = _flow(events)
    streams = _throughput(session, scope, start, end, Stream, len(working_days))
    agents = _throughput(session, scope, start, end, Agent, len(working_days))
    burnup = burnup_points(session, scope.tasks(), scope.plan.started_at, calendar, working_days)
    gates = _gates(session, scope.plan, calendar, start, end, until)
    syncs = _participation(session, scope, start, end)
    metrics = _metrics(session, scope.plan, start, end)
    moves = _moves(session, scope, start, end)
    alerts = _alerts(session, scope, start, end)

    scope_s = session.exec(select_columns(func.coalesce(func.sum(Task.estimate_ws), 0)).where(*scope.tasks())).one()[0]
    narrowed = scope.stream is not None or scope.agent is not None
    headline = _headline(flows, events, streams, burnup, scope_s / H, gates, syncs, moves, alerts, narrowed)
    who = scope.agent.key if scope.agent else scope.stream.key if scope.stream else None
    return Report(
        plan=scope.plan.key,
        title=f"Report of {scope.plan.key}{f' ({who})' if who else ''}, {first} to {last}",
        start=first,
        end=last,
        stream=scope.stream.key if scope.stream else None,
        agent=scope.agent.key if scope.agent else None,
        headline=headline,
        burnup=burnup,
        scope_h=round(scope_s / H, 2),
        sections=[events, streams, agents, gates, syncs, metrics, moves, alerts],
    )


def _headline(
    flows: dict[str, int],
    events: Table,
    streams: Table,
    burnup: list[BurnPoint],
    scope_h: float,
    gates: Table,
    syncs: Table,
    moves: Table,
    alerts: Table,
    narrowed: bool = False,
) -> list[str]:
    """The report in a few sentences, from its sections' figures. A report of one stream or agent says that its
    gates are the plan's."""
    blocked_h = sum(float(row[6] or 0) for row in events.rows if row[3] == "blocked")
    done_h = sum(float(row[2]) for row in streams.rows)
    blocked = f"{flows['blocked']} blocked" + (f" ({blocked_h:.1f} working hours blocked)" if flows["blocked"] else "")
    lines = [f"{_n(flows['done'], 'task')} done ({done_h:.1f} h of estimate), {flows['reopened']} reopened, {blocked}"]
    if burnup:
        point = burnup[-1]
        ahead = f" ({point.done_h / point.planned_h:.0%} of plan)" if point.planned_h else ""
        lines.append(
            f"Burn-up: {point.done_h:.1f} h done by {point.day:%a %d %b} against {point.planned_h:.1f} h planned"
            f"{ahead}, of {scope_h:.1f} h in all"
        )
    if gates.rows:
        outcome = [r[3] for r in gates.rows]
        missed_first = [float(r[6]) for r in gates.rows if r[6] and r[3] != "missed"]
        whose = " (the plan's)" if narrowed else ""  # gates are plan-wide: a stream's report shows them all
        text = f"Gates{whose}: {outcome.count('passed')} passed, {outcome.count('forced')} forced"
        if missed_first:
            text += f" ({len(missed_first)} after being missed, {sum(missed_first):.1f} working hours in all)"
        if outcome.count("missed"):
            text += f", {outcome.count('missed')} missed and still open"
        lines.append(text)
    asked = sum(int(r[1]) for r in syncs.rows)
    away = sum(int(r[5]) for r in syncs.rows)
    if asked or away:
        answered = sum(int(r[2]) for r in syncs.rows)
        late_n = sum(int(r[3]) for r in syncs.rows)
        missed = asked - answered - late_n
        lines.append(
            f"Syncs: {_n(asked, 'answer')} asked, {answered} in time, {late_n} late, {missed} missed"
            + (f"; {away} not asked (away)" if away else "")
        )
    if moves.rows:
        outcomes = {o: sum(1 for r in moves.rows if r[3] == o) for o in ("applied", "undone", "proposed")}
        lines.append(
            f"Load balancing: {_n(len(moves.rows), 'move')} ("
            + ", ".join(f"{n} {o}" for o, n in outcomes.items() if n)
            + ")"
        )
    if alerts.rows:
        raised = sum(int(r[1]) for r in alerts.rows)
        critical = next((r for r in alerts.rows if r[0] == "critical"), None)
        told = ""
        if critical is not None:
            told = f", {critical[1]} critical ({critical[2]} acknowledged" + (
                f", after {float(critical[4]) / 60:.1f} h on average)" if critical[4] else ")"
            )
        lines.append(f"Alerts: {raised} raised{told}")
    return lines


def _n(count: int, what: str) -> str:
    return f"{count} {what}{'' if count == 1 else 's'}"


def _days(first: date, last: date) -> Iterable[date]:
    day = first
    while day <= last:
        yield day
        day += timedelta(days=1)


def hours(seconds: float | None) -> str:
    return f"{(seconds or 0) / H:.2f}"


class LocalTimes:
    """UTC instants as local times to the minute (2026-01-05 14:00), the zone's offset looked up once an hour:
    zoneinfo's astimezone took a quarter of a second for a report's 7,000 events."""

    def __init__(self, calendar: WorkCalendar):
        self.zone = calendar.zone
        self.offsets: dict[datetime, timedelta] = {}

    def __call__(self, at: datetime | None) -> str:
        if at is None:
            return ""
        hour = at.replace(minute=0, second=0, microsecond=0)  # offsets change on the hour, if at all
        offset = self.offsets.get(hour)
        if offset is None:
            offset = self.offsets[hour] = at.astimezone(self.zone).utcoffset() or timedelta(0)
        return (at + offset).replace(tzinfo=None).isoformat(" ", "minutes")


def _when(at: datetime | None, calendar: WorkCalendar) -> str:
    return LocalTimes(calendar)(at)


_DONE, _REOPENED = DONE, REOPENED
_BLOCKED = col(TaskEvent.to_status) == "blocked"


def _task_events(session: Session, scope: Scope, start: datetime, end: datetime, until: datetime) -> Table:
    """Every task done, reopened or blocked in the range, with when; a block with how long it lasted (working
    hours, up to the task's next change, the range's end or now)."""
    later = TaskEvent.__table__.alias("later")  # type: ignore[attr-defined]
    next_at = (
        select_columns(func.min(later.c.at))
        .where(later.c.task_id == TaskEvent.task_id, later.c.id > TaskEvent.id)
        .scalar_subquery()
    )
    kind = case((_DONE, "done"), (col(TaskEvent.from_status) == "done", "reopened"), else_="blocked")
    rows = (
        session.connection()
        .execute(  # Core rows: the ORM's loading cost more than the query
            select_columns(
                Task.key,
                Stream.key,
                Agent.key,
                kind,
                TaskEvent.at,
                type_coerce(case((_BLOCKED, next_at)), UTCDateTime()),  # looked up for blocks only
                TaskEvent.reason,
            )
            .join(Task, col(Task.id) == TaskEvent.task_id)
            .join(Stream, col(Stream.id) == Task.stream_id)
            .outerjoin(Agent, col(Agent.id) == Task.agent_id)
            .where(*scope.tasks(), col(TaskEvent.at) >= start, col(TaskEvent.at) < end, _DONE | _REOPENED | _BLOCKED)
            .order_by(col(TaskEvent.at), col(TaskEvent.id))
        )
        .all()
    )
    calendar = calendar_of(scope.plan)
    local = LocalTimes(calendar)
    table = []
    for task, stream, agent, what, at, next_at, reason in rows:
        blocked = ""
        if what == "blocked":
            blocked = hours(calendar.working_seconds(at, min(next_at or until, until)))
        table.append([task, stream, agent or "", what, local(at), reason or "", blocked])
    return Table(
        title="Tasks",
        columns=["Task", "Stream", "Agent", "What", "When", "Reason", "Blocked for (working h)"],
        rows=table,
        total=len(table),
        empty="no task was done, reopened or blocked in the range",
    )


def _flow(events: Table) -> dict[str, int]:
    """How many distinct tasks were done, reopened and blocked in the range: counted from the events listed
    (another pass over the store's events cost as much as the listing)."""
    return {what: len({row[0] for row in events.rows if row[3] == what}) for what in ("done", "reopened", "blocked")}


def _throughput(
    session: Session, scope: Scope, start: datetime, end: datetime, by: type[Stream] | type[Agent], days: int
) -> Table:
    """Per stream (or agent): the tasks that are done and were done in the range, their estimate, and
    how late they finished on their stream's working clock (hours past their planned due)."""
    late = col(Task.since_ws) - col(Task.planned_due_ws)  # a done task's clock stopped when it was done
    key = Task.stream_id if by is Stream else Task.agent_id
    rows = session.exec(
        select_columns(
            by.key,
            func.count(col(Task.id)),
            func.coalesce(func.sum(Task.estimate_ws), 0),
            sum_if(late > 0),
            sum_if(late > 0, late),
            func.coalesce(func.max(case((late > 0, late), else_=0)), 0),
        )
        .select_from(Task)
        .join(by, col(by.id) == key)
        .where(*scope.tasks(), Task.status == "done", col(Task.done_at) >= start, col(Task.done_at) < end)
        .group_by(col(by.key), col(by.position))
        .order_by(col(by.position), col(by.key))
    ).all()
    table = [
        [
            name,
            str(done),
            hours(estimate),
            f"{done / days:.2f}" if days else "",
            str(late_n),
            hours(late_s / late_n) if late_n else "0.00",
            hours(worst),
        ]
        for name, done, estimate, late_n, late_s, worst in rows
    ]
    title = "Streams" if by is Stream else "Agents"
    return Table(
        title=title,
        columns=[
            title[:-1],
            "Done",
            "Estimate done (h)",
            "Done a working day",
            "Late",
            "Mean lateness (h)",
            "Worst (h)",
        ],
        rows=table,
        total=len(table),
        empty="nothing was done in the range",
    )


def _gates(
    session: Session, plan: Plan, calendar: WorkCalendar, start: datetime, end: datetime, until: datetime
) -> Table:
    """The gates passed or missed in the range: how (passed, forced), by whom, and how long they stayed missed
    (working hours from the miss to the pass, or to now)."""
    gates = session.exec(
        select(Checkpoint)
        .where(
            Checkpoint.plan_id == plan.id,
            col(Checkpoint.archived).is_(False),
            or_(*(and_(at >= start, at < end) for at in (col(Checkpoint.passed_at), col(Checkpoint.missed_at)))),
        )
        .order_by(col(Checkpoint.position))
    ).all()
    rows = []
    for gate in gates:
        outcome = "forced" if gate.forced else "passed" if gate.passed_at else "missed"
        due = calendar.end_of_working_day(plan.started_at, gate.day) if plan.started_at else None
        missed_for = ""
        if gate.missed_at is not None:
            missed_for = hours(calendar.working_seconds(gate.missed_at, min(gate.passed_at or until, until)))
        rows.append(
            [
                gate.key,
                gate.name,
                _when(due, calendar),
                outcome,
                _when(gate.passed_at, calendar),
                gate.passed_by or "",
                missed_for,
                gate.force_reason or "",
            ]
        )
    return Table(
        title="Gates",
        columns=["Gate", "Name", "Due", "Outcome", "Passed", "By", "Missed for (h)", "Forced because"],
        rows=rows,
        total=len(rows),
        empty="no gate was passed or missed in the range",
    )


def _participation(session: Session, scope: Scope, start: datetime, end: datetime) -> Table:
    """Per person asked or away in the range: prompts asked, answered in the sync's window, answered after it,
    missed; and the syncs they were away for, not asked (models/views/sync_away.py)."""
    away = away_counts(session, scope.plan, scope.agents(), start, end)
    slots = session.exec(
        select_columns(SyncSlot.id, SyncSlot.due_at, SyncSlot.duration_s).where(
            SyncSlot.plan_id == scope.plan.id, col(SyncSlot.due_at) >= start, col(SyncSlot.due_at) < end
        )
    ).all()
    asked: list[tuple[str, int, int, int, int, int, int]] = []
    if slots:
        windows = literal_rows(
            "windows",
            {"slot": Integer(), "closes": UTCDateTime()},
            [(slot, due + timedelta(seconds=duration)) for slot, due, duration in slots],
        )
        answered = col(SyncAnswer.answered_at).is_not(None)
        asked = [
            tuple(row)
            for row in session.exec(
                select_columns(
                    Agent.key,
                    Agent.stream_id,
                    Agent.position,
                    func.count(),
                    sum_if(and_(answered, col(SyncAnswer.answered_at) <= windows.c.closes)),
                    sum_if(and_(answered, col(SyncAnswer.answered_at) > windows.c.closes)),
                    sum_if(col(SyncAnswer.answered_at).is_(None)),
                )
                .select_from(windows)
                .join(SyncAnswer, col(SyncAnswer.slot_id) == windows.c.slot)
                .join(Agent, col(Agent.id) == SyncAnswer.agent_id)
                .where(*scope.agents())
                .group_by(col(Agent.key), col(Agent.position), col(Agent.stream_id))
            ).all()
        ]
    people = {key: (stream, position, [n, ok, late, missed, 0]) for key, stream, position, n, ok, late, missed in asked}
    for key, (stream, position, n) in away.items():
        people.setdefault(key, (stream, position, [0, 0, 0, 0, 0]))[2][4] = n
    order = sorted(people.items(), key=lambda item: (item[1][0], item[1][1]))
    return _participation_table([[key, *map(str, counts)] for key, (_, _, counts) in order])


def _participation_table(rows: list[list[str]]) -> Table:
    return Table(
        title="Syncs",
        columns=["Agent", "Asked", "Answered", "Late", "Missed", "Away"],
        rows=rows,
        total=len(rows),
        empty="no sync asked anyone in the range, and nobody was away for one",
    )


def _metrics(session: Session, plan: Plan, start: datetime, end: datetime) -> Table:
    """Each metric reported in the range: its first and last reading, its low and high, against its target."""
    in_range = [col(MetricReading.plan_id) == plan.id, col(MetricReading.at) >= start, col(MetricReading.at) < end]
    first = func.min(MetricReading.id).label("first")
    last = func.max(MetricReading.id).label("last")
    spans = (
        select_columns(
            MetricReading.name,
            func.count().label("n"),
            func.min(MetricReading.value).label("low"),
            func.max(MetricReading.value).label("high"),
            first,
            last,
        )
        .where(*in_range)
        .group_by(MetricReading.name)
        .subquery()
    )
    first_r = MetricReading.__table__.alias("first_r")  # type: ignore[attr-defined]
    last_r = MetricReading.__table__.alias("last_r")  # type: ignore[attr-defined]
    rows = session.exec(
        select_columns(
            spans.c.name, spans.c.n, spans.c.low, spans.c.high, first_r.c.value, last_r.c.value, last_r.c.unit
        )
        .select_from(spans)
        .join(first_r, first_r.c.id == spans.c.first)
        .join(last_r, last_r.c.id == spans.c.last)
    ).all()
    targets = settings_of(plan).targets
    order = {name: n for n, name in enumerate(targets)}
    table = []
    for name, n, low, high, first_v, last_v, unit in sorted(rows, key=lambda r: (order.get(r[0], len(order)), r[0])):
        target = parse_target(targets[name]) if name in targets else None
        met = meets(Quantity(last_v, unit), target)
        table.append(
            [
                name,
                str(n),
                Quantity(first_v, unit).display(),
                Quantity(last_v, unit).display(),
                Quantity(low, unit).display(),
                Quantity(high, unit).display(),
                target.display() if target else "",
                "" if met is None else "yes" if met else "no",
            ]
        )
    return Table(
        title="Metrics",
        columns=["Metric", "Readings", "First", "Last", "Low", "High", "Target", "Met"],
        rows=table,
        total=len(table),
        empty="no metric was reported in the range",
    )


def _moves(session: Session, scope: Scope, start: datetime, end: datetime) -> Table:
    """Load balancing's moves made in the range, and how they came out: kept, undone or only proposed,
    and where the task they moved is now."""
    rows = session.exec(
        select_columns(Move.key, Move.made_at, Move.rule, Move.status, Task.key, Task.status, Move.why)
        .select_from(Move)
        .outerjoin(Task, col(Task.id) == Move.task_id)
        .where(*_moves_where(scope, start, end))
        .order_by(col(Move.id))
    ).all()
    calendar = calendar_of(scope.plan)
    table = [
        [key, _when(made, calendar), rule, status, task or "", task_status or "", why]
        for key, made, rule, status, task, task_status, why in rows
    ]
    return Table(
        title="Moves",
        columns=["Move", "When", "Rule", "Outcome", "Task", "Task now", "Why"],
        rows=table,
        total=len(table),
        empty="load balancing moved nothing in the range",
    )


def _moves_where(scope: Scope, start: datetime, end: datetime) -> list[ColumnElement[bool]]:
    """The moves a report lists: made in the range; of a stream, those of its tasks or into it; of an agent,
    those from it, to it, or of it (a reallocation)."""
    where: list[ColumnElement[bool]] = [
        col(Move.plan_id) == scope.plan.id,
        col(Move.made_at) >= start,
        col(Move.made_at) < end,
    ]
    if scope.stream is not None:
        of_stream = col(Move.task_id).in_(select_columns(Task.id).where(col(Task.stream_id) == scope.stream.id))
        where.append(or_(of_stream, col(Move.to_stream_id) == scope.stream.id))
    if scope.agent is not None:
        agent = scope.agent.id
        where.append(or_(col(Move.from_agent_id) == agent, col(Move.to_agent_id) == agent, col(Move.agent_id) == agent))
    return where


def _alerts(session: Session, scope: Scope, start: datetime, end: datetime) -> Table:
    """Alerts raised in the range by level: how many, how many acknowledged and still open, and how long
    acknowledging took (wall clock, mean and longest). A stream's or agent's report counts the alerts about it
    (``_about``)."""
    acked = col(Alert.acked_at).is_not(None)
    wait = seconds_between(col(Alert.created_at), col(Alert.acked_at), session.get_bind().dialect.name)
    where: list[ColumnElement[bool]] = [
        col(Alert.plan_id) == scope.plan.id,
        col(Alert.created_at) >= start,
        col(Alert.created_at) < end,
    ]
    if scope.stream is not None or scope.agent is not None:
        where.append(_about(scope, start, end))
    rows = session.exec(
        select_columns(
            Alert.level,
            func.count(),
            sum_if(acked),
            sum_if(col(Alert.status) == "open"),
            func.avg(case((acked, wait))),
            func.max(case((acked, wait))),
        )
        .where(*where)
        .group_by(Alert.level)
    ).all()
    order = {"critical": 0, "warning": 1, "info": 2}
    table = [
        [level, str(n), str(n_acked), str(n_open), _minutes(mean), _minutes(worst)]
        for level, n, n_acked, n_open, mean, worst in sorted(rows, key=lambda r: order.get(r[0], 3))
    ]
    return Table(
        title="Alerts",
        columns=["Level", "Raised", "Acknowledged", "Open", "Mean to acknowledge (min)", "Longest (min)"],
        rows=table,
        total=len(table),
        empty="no alert was raised in the range",
    )


def _about(scope: Scope, start: datetime, end: datetime) -> ColumnElement[bool]:
    """An alert about a stream or agent: its event names (in its detail) a task of the report's (``task``, or
    one of ``tasks``: "T22, T18", "T1, T2 and 3 more"), one of its agents (``agent``), the stream itself
    (``stream``), or a move the report lists (``move``). The rest (gates, days' summaries, the risk rules'
    alerts, metrics) are the plan's, and left out."""
    detail = col(Event.detail)
    task, tasks = detail["task"].as_string(), detail["tasks"].as_string()
    listed = literal(", ", String) + func.replace(tasks, " and ", ", ") + literal(",", String)
    named_task = exists().where(
        *scope.tasks(), or_(col(Task.key) == task, listed.like(literal("%, ", String) + col(Task.key) + ",%"))
    )
    named_agent = exists().where(*scope.agents(), col(Agent.key) == detail["agent"].as_string())
    moves = _moves_where(scope, start, end)
    named_move = exists().where(*moves, col(Move.key) == detail["move"].as_string())
    about = [named_task, named_agent, named_move]
    if scope.stream is not None:
        about.append(detail["stream"].as_string() == scope.stream.key)
    events = select_columns(Event.id).where(col(Event.plan_id) == scope.plan.id, or_(*about))
    return col(Alert.event_id).in_(events)


def _minutes(seconds: float | None) -> str:
    return "" if seconds is None else f"{float(seconds) / 60:.1f}"


def as_csv(body: Report) -> str:
    """The whole report as one CSV: each section its title on a line, its header, its rows, then a blank line;
    the burn-up first."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([body.title])
    writer.writerow(["Burn-up"])
    writer.writerow(["Day", "Planned (h)", "Done (h)"])
    writer.writerows([[str(p.day), f"{p.planned_h:.2f}", f"{p.done_h:.2f}"] for p in body.burnup])
    for section in body.sections:
        writer.writerow([])
        writer.writerow([section.title])
        writer.writerow(section.columns)
        writer.writerows(section.rows)
    return out.getvalue()
