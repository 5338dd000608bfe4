"""A plan's whole story once it is done or stopped: on time or not, each stream's success criteria, the
gates, the quality metrics at the end, and the burn-up of the whole plan (the report's own figures)."""

from dataclasses import dataclass
from datetime import date, datetime

from sqlmodel import Session, col, func, select

from models.db.sql import select_columns
from models.db.tables import CriterionVerdict, MetricReading, Plan, Task
from models.plan.settings import calendar_of, settings_of
from models.time.units import Quantity, parse_target
from models.views.metrics import meets
from models.views.report import Report, Scope, default_range, report


@dataclass(frozen=True)
class Criterion:
    """A stream's success criterion and what is known of it: judged by the metrics it names, or by a lead."""

    stream: str
    text: str
    judgement: str  # "met (code-coverage 93%; target > 90%)", "to confirm (no metric reported)", "met"
    for_the_leads: bool  # no metric judges it: the leads say Met / Not met
    verdict: bool | None = None  # met or not, when known
    said_by: str | None = None  # the lead who gave the verdict (their name; their Slack user below)
    said_by_user: str | None = None
    said_on: date | None = None

    def line(self, who: str | None = None) -> str:
        """As a person reads it; ``who``: how to name the lead (a Slack mention), else their name."""
        said = f", said {who or self.said_by} on {self.said_on:%a %d %b}" if self.said_on else ""
        return f"{self.stream}: “{self.text}” — {self.judgement}{said}"


@dataclass(frozen=True)
class Retrospective:
    plan: str
    channel: str
    lines: list[str]  # the ending, then the burn-up's line
    criteria: list[Criterion]
    report: Report  # the whole plan's: its gates, its metrics, its chart
    ending: str  # "done" or "stopped"

    @property
    def waiting(self) -> list[Criterion]:
        """The criteria still to confirm with the leads."""
        return [c for c in self.criteria if c.for_the_leads and c.verdict is None]


def retrospective(
    session: Session, plan: Plan, now: datetime, *, told: tuple[date, date, str] | None = None
) -> Retrospective:
    """The story as it stands; ``told``: the range and ending of the one posted (first, last, ending), to
    draw it again with the verdicts the leads gave since."""
    settings, calendar = settings_of(plan), calendar_of(plan)
    first, last = told[:2] if told else default_range(plan, now)
    ending = told[2] if told else ("stopped" if plan.status == "stopped" else "done")
    body = report(session, Scope(plan), first, last, now)
    start = plan.started_at or plan.loaded_at
    day_n = calendar.working_day_number(start, last)
    done, total = session.exec(
        select_columns(func.count().filter(col(Task.status) == "done"), func.count()).where(
            col(Task.plan_id) == plan.id, col(Task.archived).is_(False)
        )
    ).one()
    due = settings.duration_days
    if ending == "stopped":
        told_ending = (
            f"Stopped on {last:%a %d %b} ({plan.stop_reason or 'no reason given'}), working day {day_n} of {due}"
        )
        told_ending += f", with {done} of {total} tasks done"
    elif day_n <= due:
        told_ending = f"Delivered on time: all {total} tasks done on {last:%a %d %b}, working day {day_n} of {due}"
    else:
        told_ending = f"Delivered late: all {total} tasks done on {last:%a %d %b}, working day {day_n} of {due}"
        told_ending += f" ({day_n - due} working days over)"
    lines = [told_ending, *body.headline[1:2]]  # the burn-up's line
    verdicts = {
        v.stream: v for v in session.exec(select(CriterionVerdict).where(CriterionVerdict.plan_id == plan.id)).all()
    }
    criteria = [
        criterion(session, plan, stream, text, verdicts.get(stream))
        for stream, text in settings.success_criteria.items()
    ]
    return Retrospective(plan.key, plan.channel or "", lines, criteria, body, ending)


def criterion(session: Session, plan: Plan, stream: str, text: str, verdict: CriterionVerdict | None) -> Criterion:
    """Met or not from the last reading of each metric the criterion names (by its name, hyphens as
    spaces), held against the plan's target; a criterion naming none is left to the leads, and says
    their verdict once given."""
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
        if verdict is None:
            return Criterion(stream, text, "to confirm (no metric reported)", True)
        judgement = "met" if verdict.met else "not met"
        on = calendar_of(plan).local_date(verdict.at)
        return Criterion(stream, text, judgement, True, verdict.met, verdict.by, verdict.slack_user, on)
    met_all = all(met for _, _, met in verdicts)
    readings = ", ".join(f"{m} {v.display()}" for m, v, _ in verdicts)
    judgement = f"{'met' if met_all else 'not met'} ({readings}; {_targets(verdicts, targets)})"
    return Criterion(stream, text, judgement, False, met_all)


def _targets(verdicts: list[tuple[str, Quantity, bool]], targets: dict[str, str]) -> str:
    return ("target " if len(verdicts) == 1 else "targets ") + ", ".join(targets[m] for m, _, _ in verdicts)
