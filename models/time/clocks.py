"""The working clocks, each in its Python form and its SQL form side by side.

A plan's clock counts working seconds since it started, in its working days and
hours. A stream's clock is the plan's clock less the time the stream spent
paused (frozen while it is paused). Tasks and agents keep their times on their
stream's clock (the ``*_ws`` columns of ``models/db/tables.py``), so lateness,
busy time and planned progress are linear expressions any SQL engine can sum.
"""

from datetime import datetime

from sqlalchemy import func
from sqlalchemy.sql import case
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import col

from models.db.tables import Plan, Stream
from models.time.calendar import WorkCalendar


def silent_too_long(calendar: WorkCalendar, since: datetime, now: datetime, interval_s: int) -> bool:
    """Whether an agent heard from last at `since` has been silent for more than its heartbeat
    interval, counted in working time: a night or a weekend without heartbeats costs nothing."""
    return calendar.working_seconds(since, now) > interval_s


def plan_clock(plan: Plan, now: datetime, calendar: WorkCalendar) -> int:
    """Working seconds since the plan started (0 before it starts)."""
    if plan.started_at is None:
        return 0
    return calendar.working_seconds(plan.started_at, now)


def stream_clock(stream: Stream, plan_ws: int) -> int:
    """The plan clock less the time this stream spent paused."""
    if stream.status == "paused" and stream.paused_since_ws is not None:
        return stream.paused_since_ws - stream.paused_ws
    return plan_ws - stream.paused_ws


def stream_clock_sql(plan_ws: int | ColumnElement[int]) -> ColumnElement[int]:
    """``stream_clock`` in SQL, for the row's stream, given the plan clock ``plan_ws``."""
    return case(
        (col(Stream.status) == "paused", func.coalesce(Stream.paused_since_ws, 0) - Stream.paused_ws),
        else_=plan_ws - Stream.paused_ws,
    )
