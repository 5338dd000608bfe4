"""The burn-up: estimate done (less what was reopened) against estimate planned due, by working day; for a
report's range (models/views/report.py) and as it stands now (the Home tab). Two SQL statements whatever the
number of tasks or days: Python adds up their grouped rows along the days."""

from datetime import date, datetime, time, timedelta
from typing import Any

from pydantic import BaseModel
from sqlalchemy import ColumnElement, and_, case, func
from sqlmodel import Session, col

from models.db.sql import epoch_bucket, select_columns
from models.db.tables import Plan, Task, TaskEvent
from models.plan.settings import calendar_of
from models.time.calendar import WorkCalendar

H = 3600.0
QUARTER = 900  # seconds
DONE = col(TaskEvent.to_status) == "done"  # a task event into done
REOPENED = and_(col(TaskEvent.from_status) == "done", col(TaskEvent.to_status) != "done")  # out of done


class BurnPoint(BaseModel):
    day: date
    planned_h: float  # estimate planned to be done by the day's close (cumulative, from the plan's start)
    done_h: float  # estimate done by then, less what was reopened


def burnup_points(
    session: Session,
    tasks: list[ColumnElement[bool]],
    started_at: datetime | None,
    calendar: WorkCalendar,
    days: list[date],
) -> list[BurnPoint]:
    """Per working day: estimate done by its close (less what was reopened) against estimate planned due by then,
    of the tasks ``tasks`` selects."""
    if not days or started_at is None:
        return []
    done, planned = _burnup_rows(session, tasks)
    return _points(started_at, calendar, days, done, planned)


def _burnup_rows(session: Session, tasks: list[ColumnElement[bool]]) -> tuple[list[Any], list[Any]]:
    """The two statements of a burn-up: (quarter of an hour, estimate done net of reopened) and (hour of the
    stream clock, estimate planned due in it), each in order; the second's estimates add up to the scope's."""
    # Done: summed per quarter of an hour (every timezone's offset is whole quarters), the quarters then added up
    # to each day's midnight: one pass over the events, however many days.
    net = case((DONE, col(Task.estimate_ws)), (REOPENED, -col(Task.estimate_ws)), else_=0)
    quarter = epoch_bucket(col(TaskEvent.at), QUARTER, session.get_bind().dialect.name).label("q")
    done = (
        session.connection()
        .execute(
            select_columns(quarter, func.sum(net))
            .join(Task, col(Task.id) == TaskEvent.task_id)
            .where(*tasks, DONE | REOPENED)
            .group_by(quarter)
            .order_by(quarter)
        )
        .all()
    )
    # Planned: by the hour its planned due falls in (on the stream's clock), added up to each close.
    hour = ((col(Task.planned_due_ws) + 3599) / 3600).label("hour")
    planned = session.exec(
        select_columns(hour, func.sum(Task.estimate_ws)).where(*tasks).group_by(hour).order_by(hour)
    ).all()
    return list(done), list(planned)


def _points(
    started_at: datetime, calendar: WorkCalendar, days: list[date], done: list[Any], planned: list[Any]
) -> list[BurnPoint]:
    closes = [calendar.window(d)[1] for d in days]
    points: list[BurnPoint] = []
    done_s, planned_s, i, j = 0, 0, 0, 0
    w, last_close = 0, started_at
    for day, close in zip(days, closes, strict=True):
        midnight = datetime.combine(day + timedelta(days=1), time(0), calendar.zone).timestamp()
        while j < len(done) and (done[j][0] + 1) * QUARTER <= midnight:
            done_s += done[j][1]
            j += 1
        w += calendar.working_seconds(last_close, close)  # the plan clock at the day's close, day by day
        last_close = max(last_close, close)
        while i < len(planned) and planned[i][0] * 3600 <= w:
            planned_s += planned[i][1]
            i += 1
        points.append(BurnPoint(day=day, planned_h=round(planned_s / H, 2), done_h=round(done_s / H, 2)))
    return points


class BurnUpNow(BaseModel):
    """A plan's burn-up as it stands: the last point of its report over the plan so far, and its ceiling."""

    day: date  # the latest working day begun
    planned_h: float
    done_h: float
    total_h: float  # the estimate of every task of the plan, done or not


def burnup_now(session: Session, plan: Plan, now: datetime) -> BurnUpNow | None:
    """The burn-up's point for the plan so far (what `report` ends on), in two statements: the Home tab draws
    it at each open. None before the plan starts, or before its first working day has begun."""
    if plan.started_at is None:
        return None
    calendar = calendar_of(plan)
    first, day = calendar.local_date(plan.started_at), calendar.local_date(now)
    while day >= first and not (calendar.is_working_day(day) and calendar.window(day)[0] < now):
        day -= timedelta(days=1)  # a weekend or a holiday: back to the last working day begun
    if day < first:
        return None
    done, planned = _burnup_rows(session, [col(Task.plan_id) == plan.id, col(Task.archived).is_(False)])
    [point] = _points(plan.started_at, calendar, [day], done, planned)
    total_h = round(sum(estimate for _, estimate in planned) / H, 2)
    return BurnUpNow(day=day, planned_h=point.planned_h, done_h=point.done_h, total_h=total_h)
