"""A plan's whole story once it is done or stopped: on time or not, each stream's success criteria, the
gates, the quality metrics at the end, and the burn-up of the whole plan (the report's own figures)."""

from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session, col, func, select

from models.db.sql import select_columns
from models.db.tables import MetricReading, Plan, Task
from models.plan.settings import calendar_of, settings_of
from models.time.units import Quantity, parse_target
from models.views.metrics import meets
from models.views.report import Report, Scope, default_range, report


@dataclass(frozen=True)
class Retrospective:
    plan: str
    channel: str
    lines: list[str]  # the story, one line each
    report: Report  # the whole plan's: its gates, its metrics, its chart


def retrospective(session: Session, plan: Plan, now: datetime) -> Retrospective:
    settings, calendar = settings_of(plan), calendar_of(plan)
    first, last = default_range(plan, now)
    body = report(session, Scope(plan), first, last, now)
    start = plan.started_at or plan.loaded_at
    day_n = calendar.working_day_number(start, last)
    done, total = session.exec(
        select_columns(func.count().filter(col(Task.status) == "done"), func.count()).where(
            col(Task.plan_id) == plan.id, col(Task.archived).is_(False)
        )
    ).one()
    due = settings.duration_days
    if plan.status == "stopped":
        ending = f"Stopped on {last:%a %d %b} ({plan.stop_reason or 'no reason given'}), working day {day_n} of {due}"
        ending += f", with {done} of {total} tasks done"
    elif day_n <= due:
        ending = f"Delivered on time: all {total} tasks done on {last:%a %d %b}, working day {day_n} of {due}"
    else:
        ending = f"Delivered late: all {total} tasks done on {last:%a %d %b}, working day {day_n} of {due}"
        ending += f" ({day_n - due} working days over)"
    lines = [ending, *body.headline[1:2]]  # the burn-up's line
    lines += [_criterion(session, plan, stream, text) for stream, text in settings.success_criteria.items()]
    return Retrospective(plan.key, plan.channel or "", lines, body)


def _criterion(session: Session, plan: Plan, stream: str, text: str) -> str:
    """Met or not from the last reading of each metric the criterion names (by its name, hyphens as
    spaces), held against the plan's target; a criterion naming none is left to the leads."""
    targets = settings_of(plan).targets
    named = [m for m in targets if m.replace("-", " ") in text.lower() or m in text.lower()]
    verdicts = []
    for metric in named:
        reading = session.exec(
            select(MetricReading)
            .where(MetricReading.plan_id == plan.id, MetricReading.name == metric)
            .order_by(col(MetricReading.id).desc())
        ).first()
        if reading is None:
            continue
        value = Quantity(reading.value, reading.unit)
        met = meets(value, parse_target(targets[metric]))
        if met is not None:
            verdicts.append((metric, value, met))
    if not verdicts:
        return f"{stream}: “{text}” — to confirm with the leads (no metric it names was reported)"
    met_all = all(met for _, _, met in verdicts)
    readings = ", ".join(f"{m} {v.display()}" for m, v, _ in verdicts)
    return f"{stream}: “{text}” — {'met' if met_all else 'not met'} ({readings}; {_targets(verdicts, targets)})"


def _targets(verdicts: list[tuple[str, Quantity, bool]], targets: dict[str, str]) -> str:
    return ("target " if len(verdicts) == 1 else "targets ") + ", ".join(targets[m] for m, _, _ in verdicts)
