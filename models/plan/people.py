"""Each person's working time: their zone, hours and holidays, from the plan, else Slack, else the plan's.

A person is an agent (by its id) or a lead (by their Slack user id). What the plan says of them
(``people:`` in the settings, where the loader also put each agent's and stream's ``timezone:``,
``hours:``, ``holidays:``) comes first; a zone the plan does not give comes from Slack's
``users.info`` (cached in ``slack_zones``), else the plan's own. Hours "24/7" work every day
around the clock, with no holidays but the person's own.
"""

from collections.abc import Iterable
from datetime import date
from functools import lru_cache

from sqlmodel import Session, col, select

from models.db.tables import SlackZone
from models.plan.schema import AROUND_THE_CLOCK, SLACK_USER_ID, PersonSpec, PlanSettings
from models.time.calendar import WEEKDAYS, WorkCalendar


def person_spec(settings: PlanSettings, key: str | None, slack_user: str | None = None) -> PersonSpec:
    """What the plan says of a person: under their agent id, else under their Slack user id."""
    found = [settings.people[k] for k in (key, slack_user) if k and k in settings.people]
    merged = {
        field: next((getattr(spec, field) for spec in found if getattr(spec, field) is not None), None)
        for field in PersonSpec.model_fields
    }
    return PersonSpec.model_validate(merged)


def person_calendar(
    settings: PlanSettings, key: str | None, slack_user: str | None = None, slack_zone: str | None = None
) -> WorkCalendar:
    """The working calendar of a person (see the module's docstring for the order)."""
    spec = person_spec(settings, key, slack_user)
    zone = spec.timezone or slack_zone or settings.timezone
    own_dates = tuple(spec.holidays) if isinstance(spec.holidays, list) else ()
    own_country = spec.holidays if isinstance(spec.holidays, str) else None
    if spec.hours == AROUND_THE_CLOCK:
        return _calendar(zone, WEEKDAYS, ("00:00", "24:00"), own_dates, own_country)
    hours = tuple(spec.hours.split("-")) if spec.hours else settings.working_hours
    return _calendar(
        zone,
        tuple(settings.working_days),
        (hours[0], hours[1]),
        tuple(settings.holidays) + own_dates,
        own_country or settings.holiday_calendar,
    )


@lru_cache(maxsize=1024)
def _calendar(
    zone: str, days: tuple[str, ...], hours: tuple[str, str], holidays: tuple[date, ...], country: str | None
) -> WorkCalendar:
    return WorkCalendar(zone, days, hours, holidays, country)


def slack_zones(session: Session, users: Iterable[str | None]) -> dict[str, str]:
    """The zones Slack gave for these users (those it gave one for)."""
    wanted = sorted({u for u in users if u})
    if not wanted:
        return {}
    rows = session.exec(select(SlackZone).where(col(SlackZone.user_id).in_(wanted)))
    return {row.user_id: row.timezone for row in rows if row.timezone}


def plan_zone(settings: PlanSettings, key: str | None, slack_user: str | None = None) -> str:
    """A person's zone as the plan alone gives it (its own, else the plan's): what groups the
    prompts of an `at: local` sync, the same on every process whatever Slack's cache holds."""
    return person_spec(settings, key, slack_user).timezone or settings.timezone


def agent_zones(settings: PlanSettings) -> list[str]:
    """The zones an `at: local` sync is asked in: the plan's, and each agent's own."""
    own = {spec.timezone for key, spec in settings.people.items() if spec.timezone and not _is_slack_id(key)}
    return sorted(own | {settings.timezone})


def _is_slack_id(key: str) -> bool:
    return bool(SLACK_USER_ID.match(key))
