"""The sync schedule: slots claimed exactly once, answers, reminders, the day's summary.

A slot is one (plan, sync entry, local date). Whatever process posts it first
claims it by inserting its row under a unique constraint; every other process
(or a restarted one) sees the row and leaves the slot alone. Each agent a
prompt asks gets a ``SyncAnswer`` row with no answer yet: answering fills it,
and the rows still empty are what reminders, health and the summary count.
"""

import os
from dataclasses import dataclass, replace
from datetime import date, datetime, time, timedelta
from typing import Any, cast
from zoneinfo import ZoneInfo

from sqlalchemy import Engine, delete, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from models.db.store import session_scope
from models.db.tables import Agent, EarlyReply, Plan, SyncAnswer, SyncSlot, id_of
from models.plan.people import agent_zones, plan_zone
from models.plan.settings import calendar_of, settings_of
from models.rules.quiet_hours import hold_reminders
from models.state.people import Availability
from models.state.requests import first_time, forget_old
from models.time.calendar import wall_instant
from models.views.agents import agent_monitor
from models.views.checkpoints import checkpoints_due_on
from models.views.sync import DaySummary, SyncPrompt, day_summary, prompt_for_slot, required_agents, unanswered

SUMMARY_ENTRY = "end-of-day"
# A claim not posted within this long belongs to a process that died: another may take it over.
CLAIM_LEASE = timedelta(seconds=float(os.environ.get("ORCHESTRATE_SYNC_CLAIM_LEASE_SECONDS", "120")))
# What the lease must exceed the Slack client's request timeout by. A post its claimer had sent may land
# until that timeout, even if the claimer died meanwhile (Slack goes on with a request it has); the margin
# covers clocks that disagree a little (one replica stamps a claim, another judges it) and a slow Slack.
CLAIM_LEASE_MARGIN = timedelta(seconds=15)


def check_claim_lease(request_timeout_s: float, lease: timedelta | None = None) -> None:
    """Raise ValueError unless the lease outlasts any post its holder can have in flight.

    A process takes a stale claim over by looking for the dead holder's prompt in the channel, and posts
    only if it is not there. That look is right only once the holder's post has landed or failed: a post
    is sent just after its claim is stamped (``hold_claim``) and is over within the Slack client's request
    timeout, so the lease must be longer than that timeout, by a margin.
    """
    lease = CLAIM_LEASE if lease is None else lease
    least = timedelta(seconds=request_timeout_s) + CLAIM_LEASE_MARGIN
    if lease < least:
        raise ValueError(
            f"ORCHESTRATE_SYNC_CLAIM_LEASE_SECONDS is {lease.total_seconds():g}: it must be at least "
            f"{least.total_seconds():g} (the Slack client's request timeout, ORCHESTRATE_SLACK_TIMEOUT_SECONDS, "
            f"{request_timeout_s:g} s, plus "
            f"{CLAIM_LEASE_MARGIN.total_seconds():g} s), or a replica taking over the sync slot of one that "
            f"died while posting its prompt could look for it in the channel before it lands, and post it "
            f"a second time. Unset it (default 120) or raise it."
        )


@dataclass(frozen=True)
class SyncEntry:
    type: str
    time: str  # HH:MM, local to the plan
    duration_s: int
    required: tuple[str, ...]
    zone: str | None = None  # an `at: local` entry's group: those whose zone this is ("standup (Asia/Kolkata)")
    base: str | None = None  # then, the entry's own type ("standup")

    @property
    def reminder_after(self) -> timedelta:
        return timedelta(seconds=self.duration_s / 2)

    def local_date(self, plan: Plan, now: datetime) -> date:
        """Today in the zone the entry keeps time in."""
        return now.astimezone(ZoneInfo(self.zone)).date() if self.zone else calendar_of(plan).local_date(now)


def sync_entries(plan: Plan) -> list[SyncEntry]:
    """The plan's sync entries; an `at: local` one becomes one entry per zone of the plan's agents."""
    settings = settings_of(plan)
    entries = []
    for e in settings.sync_schedule:
        if e.at == "local":
            entries += [
                SyncEntry(f"{e.type} ({zone})", e.time, e.duration_s, tuple(e.required), zone, e.type)
                for zone in agent_zones(settings)
            ]
        else:
            entries.append(SyncEntry(e.type, e.time, e.duration_s, tuple(e.required)))
    return entries


def summary_entry(plan: Plan) -> SyncEntry:
    """The plan's end-of-day sync, or a summary at closing time when it has none."""
    for entry in sync_entries(plan):
        if entry.type == SUMMARY_ENTRY:
            return entry
    closes = settings_of(plan).working_hours[1]
    return SyncEntry(SUMMARY_ENTRY, closes, 15 * 60, ("all-agents",))


def scheduled_entries(plan: Plan) -> list[SyncEntry]:
    """The entries that post on their own: the plan's, plus the summary when it has no end-of-day."""
    entries = sync_entries(plan)
    if not any(e.type == SUMMARY_ENTRY for e in entries):
        entries.append(summary_entry(plan))
    return entries


def due_at(plan: Plan, entry: SyncEntry, day: date) -> datetime:
    return wall_instant(
        day, time.fromisoformat(entry.time), ZoneInfo(entry.zone) if entry.zone else calendar_of(plan).zone
    )


def catch_up(plan: Plan, entry: SyncEntry, now: datetime) -> str:
    """What to do with today's slot at start-up: ``post`` (missed by less than its
    duration), ``missed`` (by more), ``wait`` (still to come) or ``none`` (no slot today)."""
    calendar = calendar_of(plan)
    today = entry.local_date(plan, now)
    if plan.status != "running" or not calendar.is_working_day(today):
        return "none"
    due = due_at(plan, entry, today)
    if now < due:
        return "wait"
    return "post" if now - due < timedelta(seconds=entry.duration_s) else "missed"


@dataclass(frozen=True)
class Claim:
    slot: SyncSlot
    taken_over: bool  # from a claimer that died: its prompt may be in the channel already


def claim(
    session: Session, plan: Plan, entry: SyncEntry, day: date, *, now: datetime, by: str, status: str = "claimed"
) -> Claim | None:
    """The slot, if this caller is the first to claim it or takes over a dead claim; else None."""
    slot = SyncSlot(
        plan_id=id_of(plan),
        entry=entry.type,
        local_date=day.isoformat(),
        due_at=due_at(plan, entry, day),
        duration_s=entry.duration_s,
        status=status,
        claimed_by=by,
        claimed_at=now,
    )
    try:
        with session.begin_nested():
            session.add(slot)
    except IntegrityError:
        taken = _take_over(session, plan, entry.type, day, now=now, by=by)
        return Claim(taken, taken_over=True) if taken is not None else None
    return Claim(slot, taken_over=False)


def claim_slot(
    session: Session, plan: Plan, entry: SyncEntry, day: date, *, now: datetime, by: str, status: str = "claimed"
) -> SyncSlot | None:
    """The slot's row if this caller is the first to claim it (or takes over a dead claim), else None."""
    claimed = claim(session, plan, entry, day, now=now, by=by, status=status)
    return claimed.slot if claimed is not None else None


def _take_over(session: Session, plan: Plan, entry: str, day: date, *, now: datetime, by: str) -> SyncSlot | None:
    """A claim left unposted for longer than the lease passes to this caller (one caller wins)."""
    where = (
        col(SyncSlot.plan_id) == plan.id,
        col(SyncSlot.entry) == entry,
        col(SyncSlot.local_date) == day.isoformat(),
    )
    taken = session.exec(
        update(SyncSlot)
        .where(*where, col(SyncSlot.status) == "claimed", col(SyncSlot.claimed_at) < now - CLAIM_LEASE)
        .values(claimed_by=by, claimed_at=now)
    ).rowcount
    return session.exec(select(SyncSlot).where(*where)).one() if taken == 1 else None


def hold_claim(session: Session, slot_id: int, *, by: str, now: datetime) -> bool:
    """Right before posting a claimed slot's prompt: whether ``by`` still holds the claim, which then
    counts from ``now``. A holder slower than its lease may have been taken over: then it must not post."""
    return (
        session.exec(
            update(SyncSlot)
            .where(col(SyncSlot.id) == slot_id, col(SyncSlot.status) == "claimed", col(SyncSlot.claimed_by) == by)
            .values(claimed_at=now)
        ).rowcount
        == 1
    )


def stale_claims(session: Session, now: datetime) -> list[tuple[int, str]]:
    """(plan id, entry) of scheduled slots claimed, never posted, past the lease, still within their sync."""
    rows = session.exec(
        select(SyncSlot).where(SyncSlot.status == "claimed", col(SyncSlot.claimed_at) < now - CLAIM_LEASE)
    ).all()
    return [
        (s.plan_id, s.entry) for s in rows if "@" not in s.entry and now < s.due_at + timedelta(seconds=s.duration_s)
    ]


def stale_on_demand(session: Session, now: datetime) -> list[int]:
    """Ids of on-demand slots (`sync`) claimed, never posted, past the lease, still within their sync: the
    process posting them died."""
    rows = session.exec(
        select(SyncSlot).where(SyncSlot.status == "claimed", col(SyncSlot.claimed_at) < now - CLAIM_LEASE)
    ).all()
    return [id_of(s) for s in rows if "@" in s.entry and now < s.due_at + timedelta(seconds=s.duration_s)]


def expire_claims(session: Session, now: datetime) -> int:
    """Slots still claimed, unposted, when their sync is over (their claimer died, or never got
    Slack to take the prompt) are recorded as missed: no slot ends claimed and unposted."""
    rows = session.exec(
        select(SyncSlot).where(SyncSlot.status == "claimed", col(SyncSlot.claimed_at) < now - CLAIM_LEASE)
    ).all()
    over = [s for s in rows if now >= s.due_at + timedelta(seconds=s.duration_s)]
    for slot in over:
        slot.status = "missed"
        session.add(slot)
    return len(over)


def open_adhoc_slot(session: Session, plan: Plan, sync_type: str, *, now: datetime, by: str) -> SyncSlot:
    """An on-demand prompt gets its own slot, so answers and reminders work the same."""
    entry = next((e for e in sync_entries(plan) if sync_type in (e.type, e.base)), None)
    duration = entry.duration_s if entry else 15 * 60
    slot = SyncSlot(
        plan_id=id_of(plan),
        entry=f"{sync_type}@{now:%H%M%S%f}",
        local_date=calendar_of(plan).local_date(now).isoformat(),
        due_at=now,
        duration_s=duration,
        status="claimed",
        claimed_by=by,
        claimed_at=now,
    )
    session.add(slot)
    session.flush()
    return slot


def ask(
    session: Session,
    plan: Plan,
    slot: SyncSlot,
    entry_type: str,
    required: tuple[str, ...] | list[str],
    *,
    now: datetime,
    zone: str | None = None,
) -> SyncPrompt:
    """The prompt for a slot; records whom it asks: never a paused stream's agents nor anyone away,
    and for a scheduled sync only those inside their working hours (a lead's `sync` asks everyone)."""
    monitor = agent_monitor(session, plan, now)
    people = Availability(session, plan, now)
    scheduled = "@" not in slot.entry  # an on-demand slot is "type@time" (open_adhoc_slot)
    asked = [
        a
        for a in required_agents(monitor, list(required))
        if not a.away
        and (not scheduled or people.at_work(a.key))
        and (zone is None or plan_zone(people.settings, a.key, a.slack_user) == zone)  # `at: local`: its group
    ]
    ids = cast(  # ids read back from the store are never NULL
        dict[str, int],
        dict(
            session.exec(
                select(Agent.key, Agent.id).where(Agent.plan_id == plan.id, col(Agent.key).in_([a.key for a in asked]))
            ).all()
        ),
    )
    already = set(session.exec(select(SyncAnswer.agent_id).where(SyncAnswer.slot_id == slot.id)).all())
    for agent in asked:
        if ids[agent.key] not in already:  # a slot taken over from a dead claim was asked already
            session.add(SyncAnswer(slot_id=id_of(slot), agent_id=ids[agent.key], asked_at=now, answered_at=None))
    session.flush()
    return SyncPrompt(
        plan=plan.key,
        sync_type=entry_type,
        agents=asked,
        checkpoints_due=checkpoints_due_on(session, plan, now),
        slot_id=slot.id,
    )


def mark_posted(session: Session, slot: SyncSlot, *, channel: str | None, ts: str | None, now: datetime) -> None:
    slot.status, slot.channel, slot.message_ts, slot.posted_at = "posted", channel, ts, now
    session.add(slot)


# --- answers -------------------------------------------------------------------------


def record_answer(
    session: Session, slot: SyncSlot, agent: Agent, answer: dict[str, Any], *, now: datetime, source: str
) -> bool:
    """Store an agent's answer (the last one wins); returns whether it was its first."""
    row = session.exec(select(SyncAnswer).where(SyncAnswer.slot_id == slot.id, SyncAnswer.agent_id == agent.id)).first()
    if row is None:  # not asked (say, a paused stream's agent), but answers are welcome
        row = SyncAnswer(slot_id=id_of(slot), agent_id=id_of(agent), asked_at=now)
    first = row.answered_at is None
    row.answered_at, row.answer, row.source = now, answer, source
    session.add(row)
    return first


def withdraw_answer(session: Session, slot: SyncSlot, agent: Agent, *, now: datetime) -> None:
    """The agent's answer taken back (its reply deleted): asked, and silent again."""
    row = session.exec(select(SyncAnswer).where(SyncAnswer.slot_id == slot.id, SyncAnswer.agent_id == agent.id)).first()
    if row is not None:
        row.answered_at, row.answer = None, {}
        session.add(row)


def first_delivery(engine: Engine, event_id: str, *, now: datetime) -> bool:
    """A unit of work of its own for an event that is no command (an App Home open): recorded once,
    so Slack's retries of it, on this replica or another, are seen as such."""
    with Session(engine) as session:
        first = first_time(session, event_id, now=now)
        session.commit()
        return first


def slot_for_thread(session: Session, channel: str, thread_ts: str) -> SyncSlot | None:
    return session.exec(select(SyncSlot).where(SyncSlot.channel == channel, SyncSlot.message_ts == thread_ts)).first()


# --- replies that come before their prompt is known ------------------------------------------
#
# A prompt's ts is recorded once Slack's answer to its post is back, or, when that answer was lost,
# once the post is found in the channel (a minute or more: conversations.history is rationed). A
# reply in its thread may come before: it is kept, and run as its answer once the ts is recorded.

EARLY_REPLY_KEPT = timedelta(days=1)


def keep_early_reply(engine: Engine, request_id: str, event: dict[str, Any], *, now: datetime) -> str:
    """A reply in a thread that was no prompt's a moment ago: "prompt" when it is one's now (run it
    again), "kept" while a prompt is being posted (some slot claimed, not yet recorded), else "none"."""
    channel, thread_ts = _thread_of(event)
    with session_scope(engine) as session:
        if slot_for_thread(session, channel, thread_ts) is not None:
            return "prompt"
        posting = session.exec(select(SyncSlot.id).where(SyncSlot.status == "claimed").limit(1)).first()
        if posting is None:
            return "none"
        try:
            with session.begin_nested():
                session.add(
                    EarlyReply(
                        request_id=request_id[:100], channel=channel, thread_ts=thread_ts, event=event, received_at=now
                    )
                )
        except IntegrityError:
            pass  # Slack's retry of a reply kept already
        return "kept"


def _thread_of(event: dict[str, Any]) -> tuple[str, str]:
    message = event.get("message") or event.get("previous_message") or event
    return str(event.get("channel")), str(message.get("thread_ts"))


def early_replies_due(engine: Engine) -> list[tuple[str, dict[str, Any]]]:
    """(request id, event) of the kept replies whose thread is now a recorded prompt's, oldest first."""
    with session_scope(engine) as session:
        rows = session.exec(
            select(EarlyReply.request_id, EarlyReply.event)
            .join(
                SyncSlot,
                (col(SyncSlot.channel) == col(EarlyReply.channel))
                & (col(SyncSlot.message_ts) == col(EarlyReply.thread_ts)),
            )
            .order_by(col(EarlyReply.received_at))
            .limit(100)
        ).all()
        return [(request_id, dict(event)) for request_id, event in rows]


def drop_early_reply(engine: Engine, request_id: str) -> None:
    """A kept reply has been run as its answer (or refused as one): it is not run again."""
    with session_scope(engine) as session:
        session.exec(delete(EarlyReply).where(col(EarlyReply.request_id) == request_id))


def forget_early_replies(session: Session, now: datetime) -> int:
    """Replies kept for a prompt that was never recorded (its post failed for good, or it was no prompt's)."""
    return session.exec(delete(EarlyReply).where(col(EarlyReply.received_at) < now - EARLY_REPLY_KEPT)).rowcount


# --- reminders -------------------------------------------------------------------------


def reminders_due(session: Session, now: datetime) -> list[SyncSlot]:
    """Posted slots half-way through their duration, not yet reminded, not yet over."""
    candidates = session.exec(
        select(SyncSlot).where(SyncSlot.status == "posted", col(SyncSlot.reminded_at).is_(None), SyncSlot.due_at <= now)
    ).all()
    return [
        s
        for s in candidates
        if s.due_at + timedelta(seconds=s.duration_s / 2) <= now < s.due_at + timedelta(seconds=s.duration_s)
    ]


def claim_reminder(session: Session, slot: SyncSlot, *, now: datetime) -> bool:
    """One process sends a slot's reminders: the one whose update finds it unreminded."""
    result = session.exec(
        update(SyncSlot).where(col(SyncSlot.id) == slot.id, col(SyncSlot.reminded_at).is_(None)).values(reminded_at=now)
    )
    return result.rowcount == 1


# --- units of work of the transport jobs (bot/sync_post.py): each in a transaction of its own ------------


@dataclass(frozen=True)
class PostedPrompt:
    channel: str
    ts: str
    prompt: SyncPrompt


@dataclass(frozen=True)
class Reminder:
    plan: str
    sync_type: str
    channel: str | None
    ts: str | None
    silent: list[tuple[str, str]]  # (agent key, Slack user) of each agent asked who has not answered


def record_posted(engine: Engine, slot_id: int, *, channel: str, ts: str, now: datetime) -> None:
    """Where a slot's prompt landed, so that answers can redraw it."""
    with session_scope(engine) as session:
        slot = session.get(SyncSlot, slot_id)
        if slot is not None:
            mark_posted(session, slot, channel=channel, ts=ts, now=now)


def posted_prompt(engine: Engine, slot_id: int, *, now: datetime) -> PostedPrompt | None:
    """A posted prompt as it reads now (None before it is posted)."""
    with session_scope(engine) as session:
        slot = session.get(SyncSlot, slot_id)
        if slot is None or not slot.message_ts or not slot.channel:
            return None
        prompt = prompt_for_slot(session, session.get_one(Plan, slot.plan_id), slot, now=now)
        return PostedPrompt(slot.channel, slot.message_ts, prompt)


def reminder(engine: Engine, slot_id: int) -> Reminder:
    """Whom a slot's reminder goes to: the agents it asked who have not answered (and have a Slack user)."""
    with session_scope(engine) as session:
        slot = session.get_one(SyncSlot, slot_id)
        plan = session.get_one(Plan, slot.plan_id)
        # Reminders skip people who went away since they were asked, and hold (models/rules/quiet_hours.py)
        # those of people outside their working hours.
        people = Availability(session, plan, slot.reminded_at or slot.due_at)  # the tick that claimed it
        silent = [(a.key, a.slack_user) for a in unanswered(session, slot) if a.slack_user and people.at_work(a.key)]
        return Reminder(plan.key, slot.entry.split("@")[0], slot.channel, slot.message_ts, silent)


# --- units of work of the scheduler (bot/scheduler.py) -----------------------------------------------


@dataclass(frozen=True)
class ScheduledSync:
    """One cron job the scheduler keeps: a running plan's sync entry, at its local time on its working days."""

    plan_key: str
    entry: SyncEntry
    working_days: tuple[str, ...]
    timezone: str

    @classmethod
    def of(cls, plan: Plan, entry: SyncEntry) -> "ScheduledSync":
        settings = settings_of(plan)
        return cls(plan.key, entry, tuple(settings.working_days), entry.zone or settings.timezone)


@dataclass(frozen=True)
class OpenedSlot:
    """A slot this process has just claimed, with what to post."""

    channel: str
    slot_id: int
    prompt: SyncPrompt
    summary: DaySummary | None  # the end-of-day summary that follows the prompt
    taken_over: bool  # from a claimer that died: its prompt may be in the channel already
    due_at: datetime | None = None  # when the slot was due: no prompt of it is older
    ends_at: datetime | None = None  # when its sync is over: no use posting it later


def scheduled_syncs(engine: Engine) -> list[ScheduledSync]:
    with session_scope(engine) as session:
        return [
            ScheduledSync.of(plan, entry)
            for plan in session.exec(select(Plan).where(Plan.status == "running"))
            for entry in scheduled_entries(plan)
        ]


def catch_up_all(engine: Engine, *, now: datetime, by: str) -> tuple[list[tuple[str, str]], list[str]]:
    """After downtime: today's slots missed by less than their duration, to post now (plan key, entry), and
    the ones missed by more, recorded as missed (described, for the log)."""
    to_post, missed = [], []
    with session_scope(engine) as session:
        for plan in session.exec(select(Plan).where(Plan.status == "running")):
            for entry in scheduled_entries(plan):
                decision = catch_up(plan, entry, now)
                if decision == "post":
                    to_post.append((plan.key, entry.type))
                elif decision == "missed":
                    day = entry.local_date(plan, now)
                    if claim_slot(session, plan, entry, day, now=now, by=by, status="missed"):
                        missed.append(f"sync {entry.type} of {plan.key} at {entry.time}")
    return to_post, missed


def open_slot(engine: Engine, plan_key: str, entry_type: str, *, now: datetime, by: str) -> OpenedSlot | None:
    """Claim today's slot of a sync entry and record whom it asks; None when there is nothing to post
    (no such running plan or entry, no channel, a day off, or another process has the slot)."""
    with session_scope(engine) as session:
        plan = session.exec(select(Plan).where(Plan.key == plan_key)).first()
        if plan is None or plan.status != "running" or not plan.channel:
            return None
        entry = next((e for e in scheduled_entries(plan) if e.type == entry_type), None)
        if entry is None:
            return None
        day = entry.local_date(plan, now)
        if not calendar_of(plan).is_working_day(day):
            return None  # a holiday: cron only knows weekdays
        claimed = claim(session, plan, entry, day, now=now, by=by)
        if claimed is None:
            return None
        prompt = ask(session, plan, claimed.slot, entry.type, entry.required, now=now, zone=entry.zone)
        summary = day_summary(session, plan, now=now) if entry.type == SUMMARY_ENTRY else None
        return OpenedSlot(
            plan.channel, id_of(claimed.slot), prompt, summary, claimed.taken_over, *_window(claimed.slot)
        )


def _window(slot: SyncSlot) -> tuple[datetime, datetime]:
    return slot.due_at, slot.due_at + timedelta(seconds=slot.duration_s)


def resume_slot(engine: Engine, slot_id: int, *, by: str, now: datetime) -> OpenedSlot | None:
    """A slot ``by`` claimed and has not posted yet, to try its post again; None when it is no longer
    its to post (posted, taken over by another process, its sync over, its plan stopped)."""
    with session_scope(engine) as session:
        slot = session.get(SyncSlot, slot_id)
        if slot is None or slot.status != "claimed" or slot.claimed_by != by:
            return None
        plan = session.get_one(Plan, slot.plan_id)
        channel = slot.channel or plan.channel  # an on-demand prompt's: where it was asked for
        if plan.status != "running" or not channel or now >= _window(slot)[1]:
            return None
        prompt = prompt_for_slot(session, plan, slot, now=now)
        summary = day_summary(session, plan, now=now) if slot.entry == SUMMARY_ENTRY else None
        return OpenedSlot(channel, slot_id, prompt, summary, False, *_window(slot))


def take_over_slot(engine: Engine, slot_id: int, *, by: str, now: datetime) -> OpenedSlot | None:
    """A slot whose claimer died (past the lease), for ``by`` to post; None when another took it first."""
    with session_scope(engine) as session:
        taken = session.exec(
            update(SyncSlot)
            .where(
                col(SyncSlot.id) == slot_id,
                col(SyncSlot.status) == "claimed",
                col(SyncSlot.claimed_at) < now - CLAIM_LEASE,
            )
            .values(claimed_by=by, claimed_at=now)
        ).rowcount
    if taken != 1:
        return None
    opened = resume_slot(engine, slot_id, by=by, now=now)
    return replace(opened, taken_over=True) if opened is not None else None


def summary_of_slot(engine: Engine, slot_id: int, *, now: datetime) -> tuple[str, DaySummary] | None:
    """(channel, the day's summary) of a posted end-of-day slot, to post its summary again."""
    with session_scope(engine) as session:
        slot = session.get(SyncSlot, slot_id)
        if slot is None or slot.status != "posted" or not slot.channel:
            return None
        return slot.channel, day_summary(session, session.get_one(Plan, slot.plan_id), now=now)


def give_up_slot(engine: Engine, slot_id: int, *, by: str) -> bool:
    """A slot ``by`` could not post within its sync is recorded as missed, not left claimed."""
    with session_scope(engine) as session:
        return (
            session.exec(
                update(SyncSlot)
                .where(col(SyncSlot.id) == slot_id, col(SyncSlot.status) == "claimed", col(SyncSlot.claimed_by) == by)
                .values(status="missed")
            ).rowcount
            == 1
        )


def adopt_claim(engine: Engine, slot_id: int, *, by: str, now: datetime, channel: str) -> bool:
    """An on-demand prompt's slot (claimed by the command that asked for it) passes to the process that
    posts it in ``channel`` (where it was asked for), which tries it again as its own if the post fails
    (``resume_slot``)."""
    with session_scope(engine) as session:
        return (
            session.exec(
                update(SyncSlot)
                .where(col(SyncSlot.id) == slot_id, col(SyncSlot.status) == "claimed")
                .values(claimed_by=by, claimed_at=now, channel=channel)
            ).rowcount
            == 1
        )


def keep_claim(engine: Engine, slot_id: int, *, by: str, now: datetime) -> bool:
    """``hold_claim`` in a transaction of its own: right before posting."""
    with session_scope(engine) as session:
        return hold_claim(session, slot_id, by=by, now=now)


def due_now(engine: Engine, *, now: datetime) -> tuple[list[int], list[tuple[str, str]], list[int]]:
    """The tick's sync work: the slots whose reminders this process claimed, and the slots claimed by a process
    that died before posting, to take over: scheduled ones (plan key, entry), on-demand ones (slot ids).
    Records of requests that can no longer come again are forgotten (models.state.requests)."""
    with session_scope(engine) as session:
        claimed = [slot for slot in reminders_due(session, now) if claim_reminder(session, slot, now=now)]
        for slot in claimed:  # the silent outside their hours get theirs at the start of their day
            hold_reminders(session, slot, now=now)
        reminders = [id_of(slot) for slot in claimed]
        orphans = [(session.get_one(Plan, plan_id).key, entry) for plan_id, entry in stale_claims(session, now)]
        on_demand = stale_on_demand(session, now)
        expire_claims(session, now)
        forget_old(session, now)
        forget_early_replies(session, now)
        return reminders, orphans, on_demand
