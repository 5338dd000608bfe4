"""Exports of a plan's history over a range, as CSV or a JSON array, streamed: rows come from the store a
batch at a time (a server-side cursor on PostgreSQL) and leave as text as they come, so a year of a large
plan never sits in memory whole.

    tasks     every status change of the plan's tasks (the task's key, title, stream and agent beside it)
    answers   every sync answer asked for in the range (answered or not), with the answer's fields
    readings  every metric reading
    alerts    every alert raised, with who acknowledged and resolved it, and when
    audit     every command given on the plan (refusals included)
"""

import csv
import io
import json
from collections.abc import Iterator
from datetime import date, datetime, time, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo

from sqlalchemy import Engine
from sqlmodel import col

from models.db.sql import select_columns
from models.db.tables import (
    Agent,
    Alert,
    AuditEntry,
    MetricReading,
    Plan,
    Stream,
    SyncAnswer,
    SyncSlot,
    Task,
    TaskEvent,
)
from models.views.reply import Body

KINDS = ("tasks", "answers", "readings", "alerts", "audit")
BATCH = 1000  # rows fetched from the store at a time


class Export(Body):
    """What to stream: a front end sends it on with ``stream``. The command only checked it."""

    kind: Literal["export"] = "export"
    title: str
    what: Literal["tasks", "answers", "readings", "alerts", "audit"]
    plan: str
    plan_id: int
    first: date  # the range's days, in the plan's timezone, and the instants they open and close
    last: date
    start: datetime
    end: datetime
    format: Literal["csv", "json"]

    @property
    def filename(self) -> str:
        return f"{self.plan}-{self.what}-{self.first}-{self.last}.{self.format}"

    @property
    def media_type(self) -> str:
        return "text/csv" if self.format == "csv" else "application/json"


def _query(export: Export) -> tuple[list[str], Any]:
    """The columns, and the statement that reads them in order."""
    start, end, plan = export.start, export.end, export.plan_id
    if export.what == "tasks":
        return ["at", "task", "title", "stream", "agent", "from", "to", "by", "reason"], (
            select_columns(
                TaskEvent.at,
                Task.key,
                Task.title,
                Stream.key,
                Agent.key,
                TaskEvent.from_status,
                TaskEvent.to_status,
                TaskEvent.actor,
                TaskEvent.reason,
            )
            .join(Task, col(Task.id) == TaskEvent.task_id)
            .join(Stream, col(Stream.id) == Task.stream_id)
            .outerjoin(Agent, col(Agent.id) == Task.agent_id)
            .where(col(Task.plan_id) == plan, col(TaskEvent.at) >= start, col(TaskEvent.at) < end)
            .order_by(col(TaskEvent.id))
        )
    if export.what == "answers":
        return ["due", "sync", "agent", "asked_at", "answered_at", "source", "answer"], (
            select_columns(
                SyncSlot.due_at,
                SyncSlot.entry,
                Agent.key,
                SyncAnswer.asked_at,
                SyncAnswer.answered_at,
                SyncAnswer.source,
                SyncAnswer.answer,
            )
            .join(SyncSlot, col(SyncSlot.id) == SyncAnswer.slot_id)
            .join(Agent, col(Agent.id) == SyncAnswer.agent_id)
            .where(col(SyncSlot.plan_id) == plan, col(SyncSlot.due_at) >= start, col(SyncSlot.due_at) < end)
            .order_by(col(SyncAnswer.id))
        )
    if export.what == "readings":
        columns = ["at", "metric", "value", "unit", "source", "reported_by"]
        return columns, (
            select_columns(
                MetricReading.at,
                MetricReading.name,
                MetricReading.value,
                MetricReading.unit,
                MetricReading.source,
                MetricReading.reported_by,
            )
            .where(col(MetricReading.plan_id) == plan, col(MetricReading.at) >= start, col(MetricReading.at) < end)
            .order_by(col(MetricReading.id))
        )
    if export.what == "alerts":
        columns = ["number", "raised", "level", "event", "text", "status"]
        columns += ["acknowledged", "acknowledged_by", "resolved", "resolved_by"]
        return columns, (
            select_columns(
                Alert.id,
                Alert.created_at,
                Alert.level,
                Alert.event_name,
                Alert.text,
                Alert.status,
                Alert.acked_at,
                Alert.acked_by,
                Alert.resolved_at,
                Alert.resolved_by,
            )
            .where(col(Alert.plan_id) == plan, col(Alert.created_at) >= start, col(Alert.created_at) < end)
            .order_by(col(Alert.id))
        )
    return ["number", "at", "actor", "name", "source", "command", "outcome", "message"], (
        select_columns(
            AuditEntry.id,
            AuditEntry.at,
            AuditEntry.actor,
            AuditEntry.actor_name,
            AuditEntry.source,
            AuditEntry.command,
            AuditEntry.outcome,
            AuditEntry.message,
        )
        .where(col(AuditEntry.plan_key) == export.plan, col(AuditEntry.at) >= start, col(AuditEntry.at) < end)
        .order_by(col(AuditEntry.id))
    )


def rows(engine: Engine, export: Export) -> Iterator[tuple[Any, ...]]:
    """The export's rows, BATCH at a time, on a connection of their own (held until the last row is read)."""
    _, statement = _query(export)
    with engine.connect() as connection:
        result = connection.execution_options(stream_results=True, yield_per=BATCH).execute(statement)
        for batch in result.partitions():
            yield from batch


def stream(engine: Engine, export: Export) -> Iterator[str]:
    """The export as text, a batch of rows a chunk: CSV with a header line, or a JSON array of objects."""
    columns, _ = _query(export)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    if export.format == "csv":
        writer.writerow(columns)
    else:
        buffer.write("[")
    first = True
    for count, row in enumerate(rows(engine, export), start=1):
        values = [_plain(v) for v in row]
        if export.format == "csv":
            writer.writerow(["" if v is None else json.dumps(v) if isinstance(v, dict) else v for v in values])
        else:
            buffer.write(("\n" if first else ",\n") + json.dumps(dict(zip(columns, values, strict=True))))
            first = False
        if count % BATCH == 0:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    if export.format == "json":
        buffer.write("\n]\n" if not first else "]\n")
    yield buffer.getvalue()


def _plain(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime) else value


def plan_export(plan: Plan, what: str, first: date, last: date, fmt: str, zone: ZoneInfo) -> Export:
    if plan.id is None:
        raise ValueError("the plan is not stored yet")
    return Export(
        title=f"{what} of {plan.key}, {first} to {last}",
        what=what,
        plan=plan.key,
        plan_id=plan.id,
        first=first,
        last=last,
        start=datetime.combine(first, time(0), zone),
        end=datetime.combine(last + timedelta(days=1), time(0), zone),
        format=fmt,
    )
