"""Who is available: time off (``away``/``back`` and the plan's ``time-off:``) and each person's hours.

A person is an agent (by its id; its Slack user too) or a lead (by Slack user id). Away means
not to be asked, reminded, counted in health, delegated to or escalated to (docs/semantics.md,
"People and time"); outside their hours means not now, but at the start of their next working
time. ``Availability`` reads what it needs once, for one instant, so a tick over 600 agents asks
the store three questions, not 600.
"""

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlmodel import Session, col, or_, select

from models.db.tables import Agent, Plan, SlackZone, TimeOff, id_of
from models.plan.people import person_calendar, person_spec, slack_zones
from models.plan.settings import settings_of
from models.state.outcome import StateError
from models.time.calendar import WorkCalendar


@dataclass(frozen=True)
class Away:
    who: str
    until: date | None  # the last local day away; None: until they say `back`
    reason: str | None
    source: str  # "away" (the command) or "plan" (time-off: in the plan)


class Availability:
    def __init__(self, session: Session, plan: Plan, now: datetime):
        self.plan, self.now = plan, now
        self.settings = settings_of(plan)
        self._slack_of: dict[str, str | None] = dict(
            session.exec(
                select(Agent.key, Agent.slack_user).where(Agent.plan_id == plan.id, col(Agent.archived).is_(False))
            ).all()
        )
        self._zones = slack_zones(session, [*self._slack_of.values(), *self.settings.leads])
        self._rows = {row.who: row for row in _open_rows(session, plan, now)}

    def calendar(self, who: str) -> WorkCalendar:
        """The working calendar of an agent (by id) or a person (by Slack user id)."""
        slack_user = self._slack_of.get(who, who if who not in self._slack_of else None)
        return person_calendar(self.settings, who, slack_user, self._zones.get(slack_user or ""))

    def away(self, who: str) -> Away | None:
        """Whether this person is away now, until when and why."""
        names = {who, self._slack_of.get(who) or who}
        for name in names:
            row = self._rows.get(name)
            if row is not None:
                until = date.fromisoformat(row.until) if row.until else None
                return Away(who, until, row.reason, "away")
        today = self.calendar(who).local_date(self.now)
        for entry in self.settings.time_off:
            if entry.who in names and entry.from_ <= today <= entry.until:
                return Away(who, entry.until, entry.reason, "plan")
        return None

    def everyone_away(self) -> list[Away]:
        """Who is away now, by the name they were marked with (an agent's id, a lead's Slack id)."""
        names = sorted({*self._rows, *(entry.who for entry in self.settings.time_off)})
        return [away for away in map(self.away, names) if away is not None]

    def at_work(self, who: str, when: datetime | None = None) -> bool:
        """Not away, and inside their working hours at `when` (default: now)."""
        return self.away(who) is None and self.calendar(who).is_working_time(when or self.now)

    def leads_to_reach(self) -> list[str]:
        """The leads not away, in the plan's order; every lead when all are away (nothing is lost)."""
        leads = self.settings.leads
        return [lead for lead in leads if self.away(lead) is None] or list(leads)


def _open_rows(session: Session, plan: Plan, now: datetime) -> list[TimeOff]:
    return list(
        session.exec(
            select(TimeOff).where(
                TimeOff.plan_id == plan.id,
                col(TimeOff.starts_at) <= now,
                or_(col(TimeOff.ends_at).is_(None), col(TimeOff.ends_at) > now),
            )
        )
    )


def set_away(
    session: Session, plan: Plan, who: str, *, now: datetime, until: date | None, reason: str | None, set_by: str
) -> TimeOff:
    """Mark a person away from now, through the local day `until` (none: until `back`)."""
    calendar = Availability(session, plan, now).calendar(who)
    today = calendar.local_date(now)
    if until is not None and until < today:
        raise StateError(f"--until {until} is in the past (today is {today} for {who}): give today or a later day")
    ends_at = None if until is None else datetime.combine(until + timedelta(days=1), time(0), calendar.zone)
    rows = [r for r in _open_rows(session, plan, now) if r.who == who]
    row = rows[0] if rows else TimeOff(plan_id=id_of(plan), who=who, starts_at=now, set_by=set_by)
    row.ends_at, row.until, row.reason, row.set_by = ends_at, until.isoformat() if until else None, reason, set_by
    session.add(row)
    return row


def set_back(session: Session, plan: Plan, who: str, *, now: datetime) -> int:
    """End a person's time off now; a StateError when they were not away by `away`."""
    rows = [r for r in _open_rows(session, plan, now) if r.who == who]
    if not rows:
        planned = Availability(session, plan, now).away(who)
        if planned is not None and planned.source == "plan":
            raise StateError(
                f"{who} is away by the plan's time-off (through {planned.until}): change the plan file to end it"
            )
        raise StateError(f"{who} is not away: `away` marks someone away")
    for row in rows:
        row.ends_at = now
        session.add(row)
    return len(rows)


# --- the zones Slack gives (users.info), cached a day ------------------------------------------

ZONE_REFRESH = timedelta(days=1)


def zones_to_refresh(session: Session, now: datetime, limit: int = 50) -> list[str]:
    """Slack users whose zone the plan does not give and whose cached zone is missing or a day old."""
    wanted: set[str] = set()
    for plan in session.exec(select(Plan).where(Plan.status != "stopped")):
        settings = settings_of(plan)
        users = session.exec(
            select(Agent.key, Agent.slack_user).where(
                Agent.plan_id == plan.id, col(Agent.archived).is_(False), col(Agent.slack_user).is_not(None)
            )
        ).all()
        for key, user in [*users, *((lead, lead) for lead in settings.leads)]:
            if user and person_spec(settings, key, user).timezone is None:
                wanted.add(user)
    fetched = dict(session.exec(select(SlackZone.user_id, SlackZone.fetched_at)).all())
    due = [u for u in sorted(wanted) if u not in fetched or fetched[u] <= now - ZONE_REFRESH]
    return due[:limit]


def keep_zone(session: Session, user: str, zone: str | None, now: datetime) -> None:
    """Cache what Slack said of a user's zone (None: it gave none, or one this machine does not know)."""
    try:
        known = zone if zone and ZoneInfo(zone) else None
    except (ZoneInfoNotFoundError, ValueError):
        known = None
    row = session.get(SlackZone, user) or SlackZone(user_id=user, fetched_at=now)
    row.timezone, row.fetched_at = known, now
    session.add(row)
