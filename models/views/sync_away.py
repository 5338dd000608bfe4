"""Who was away for the syncs of a range: the prompts that would have asked a person and did not, because
they were on time off (``away``, the plan's ``time-off:``) or on a day off of their own (``holidays:``).

Someone away is not asked (models/rules/sync.py ``ask``), so no answer row records their absence. It is
counted here in one SQL statement: the person's leave (the ``time_off`` rows and a small table made of
the plan's settings) joined to the slots due inside it that would have asked them (the entry requires
all agents, the agent, or its stream; an ``at: local`` entry, only its zone's people) and have no answer
row for them. ``active-agents`` entries are left out: whether someone away would have had work then is
not known.
"""

from datetime import date, datetime, time, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Integer, String, Subquery, and_, func, literal, or_, union_all
from sqlmodel import Session, col, select
from sqlmodel.sql.expression import Select

from models.db.sql import literal_rows, select_columns
from models.db.tables import Agent, Plan, Stream, SyncAnswer, SyncSlot, TimeOff
from models.db.types import UTCDateTime
from models.plan.people import agent_zones, plan_zone
from models.plan.schema import PlanSettings
from models.plan.settings import calendar_of, settings_of
from models.state.people import Availability

SUMMARY = "end-of-day"  # the entry the plan gets at closing time when it has none (models/rules/sync.py)


def away_counts(
    session: Session, plan: Plan, agents: list[ColumnElement[bool]], start: datetime, end: datetime
) -> dict[str, tuple[int, int, int]]:
    """{agent key: (stream id, position, syncs away)} for each agent of ``agents`` away for one or more of
    the syncs due in [start, end)."""
    settings = settings_of(plan)
    needs = _needs(settings)
    if not needs:
        return {}
    need = literal_rows("needs", {"name": String(), "prefix": Integer(), "need": String(), "zone": String()}, needs)
    selects = [
        select_columns(
            col(TimeOff.who).label("who"), col(TimeOff.starts_at).label("starts"), col(TimeOff.ends_at).label("ends")
        ).where(
            TimeOff.plan_id == plan.id,
            col(TimeOff.starts_at) < end,
            or_(col(TimeOff.ends_at).is_(None), col(TimeOff.ends_at) > start),
        ),
        *_planned_leave(session, plan, settings, start, end),
    ]
    leave = (union_all(*selects) if len(selects) > 1 else selects[0]).subquery("leave")
    entry, due = col(SyncSlot.entry), col(SyncSlot.due_at)
    query = (
        select_columns(Agent.key, Agent.stream_id, Agent.position, func.count(func.distinct(SyncSlot.id)))
        .select_from(leave)
        .join(Agent, or_(col(Agent.key) == leave.c.who, col(Agent.slack_user) == leave.c.who))
        .join(Stream, col(Stream.id) == Agent.stream_id)
        .join(
            SyncSlot,
            and_(
                col(SyncSlot.plan_id) == plan.id,
                due >= start,
                due < end,
                due >= leave.c.starts,
                or_(leave.c.ends.is_(None), due < leave.c.ends),
            ),
        )
        .join(
            need,
            or_(
                and_(need.c.prefix == 0, entry == need.c.name),
                and_(need.c.prefix == 1, func.substr(entry, 1, func.length(need.c.name)) == need.c.name),
            ),
        )
    )
    where = [
        col(Agent.plan_id) == plan.id,
        col(Agent.archived).is_(False),
        *agents,
        or_(need.c.need == "all-agents", need.c.need == Agent.key, need.c.need == Stream.key),
        ~select(SyncAnswer.id)
        .where(col(SyncAnswer.slot_id) == SyncSlot.id, col(SyncAnswer.agent_id) == Agent.id)
        .exists(),
    ]
    if any(row[3] for row in needs):  # an `at: local` sync: its prompt per zone asks that zone's people
        zones = _zone_of_agents(session, plan, settings)
        query = query.outerjoin(zones, zones.c.agent == Agent.key)
        where.append(or_(need.c.zone.is_(None), need.c.zone == zones.c.zone))
    rows = session.exec(query.where(*where).group_by(col(Agent.key), col(Agent.stream_id), col(Agent.position))).all()
    return {key: (stream, position, n) for key, stream, position, n in rows}


def _needs(settings: PlanSettings) -> list[tuple[str, int, str, str | None]]:
    """(slot entry, 1 when a prefix of it, requirement, zone): whom each kind of slot asks. A scheduled slot's
    entry is the sync's type (``standup (Asia/Kolkata)`` for one zone's of an ``at: local`` sync), an
    on-demand one's ``type@time``."""
    rows: list[tuple[str, int, str, str | None]] = []
    for e in settings.sync_schedule:
        needs = [n for n in e.required if n != "active-agents"]
        zones = agent_zones(settings) if e.at == "local" else [None]
        rows += [(e.type if z is None else f"{e.type} ({z})", 0, n, z) for n in needs for z in zones]
        rows += [(f"{e.type}@", 1, n, None) for n in needs]
    if not any(e.type == SUMMARY for e in settings.sync_schedule):
        rows.append((SUMMARY, 0, "all-agents", None))
    return rows


def _planned_leave(
    session: Session, plan: Plan, settings: PlanSettings, start: datetime, end: datetime
) -> list[Select[Any]]:
    """The leave the plan's settings give, as rows (who, from, until): each ``time-off:`` entry, from the
    midnight of its first day to that of the day after its last in the person's zone; and each working day
    of the plan in the range that is a day off of a person's own (their ``holidays:``)."""
    spans: list[tuple[str, date, date]] = [(t.who, t.from_, t.until) for t in settings.time_off]
    own = [who for who, spec in settings.people.items() if spec.holidays]
    if not spans and not own:
        return []
    people = Availability(session, plan, end)  # each person's calendar (their zone, hours and days off)
    if own:
        plan_days = calendar_of(plan)
        first, last = plan_days.local_date(start), plan_days.local_date(end - timedelta(seconds=1))
        days = [first + timedelta(days=n) for n in range((last - first).days + 1)]
        working = [d for d in days if plan_days.is_working_day(d)]
        spans += [(who, d, d) for who in own for d in working if not people.calendar(who).is_working_day(d)]
    rows = []
    for who, first_day, last_day in spans:
        zone = people.calendar(who).zone
        starts = datetime.combine(first_day, time(0), zone)
        ends = datetime.combine(last_day + timedelta(days=1), time(0), zone)
        if starts < end and ends > start:
            rows.append(
                select_columns(
                    literal(who, String()).label("who"),
                    literal(starts, UTCDateTime()).label("starts"),
                    literal(ends, UTCDateTime()).label("ends"),
                )
            )
    return rows


def _zone_of_agents(session: Session, plan: Plan, settings: PlanSettings) -> Subquery:
    """For an ``at: local`` sync: each agent's zone as the plan gives it (what groups its prompts), to join."""
    agents = session.exec(select(Agent.key, Agent.slack_user).where(Agent.plan_id == plan.id)).all()
    rows = [(key, plan_zone(settings, key, user)) for key, user in agents]
    return literal_rows("zones", {"agent": String(), "zone": String()}, rows or [("", settings.timezone)])
