"""The sync schedule inside `serve`, on APScheduler 3.

One cron job per plan sync entry, at its wall-clock time in the plan's time
zone on the plan's working days (so it follows daylight saving); holidays are
checked when the job runs. A reconcile job picks up plans loaded, changed or
stopped while `serve` runs. Jobs live in the default in-memory store: each
process schedules for itself, and the store's unique slot rows make sure a
slot is posted once however many processes fire it.

Following the APScheduler guide: explicit job ids with replace_existing,
module-level job functions taking plain ids, explicit misfire_grace_time,
coalesce and max_instances.
"""

import logging
import os
import socket
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger
from slack_sdk import WebClient
from sqlalchemy import Engine
from sqlmodel import select

from bot.delivery import Outlets, deliver_due, escalate
from bot.metrics import SCHEDULER_JOBS
from bot.sync_post import find_posted_prompt, post_prompt, post_summary, remind
from models.db.store import session_scope
from models.db.tables import Plan, SyncSlot, id_of
from models.db.types import utcnow
from models.plan.settings import calendar_of, settings_of
from models.rules.sync import (
    SUMMARY_ENTRY,
    SyncEntry,
    ask,
    catch_up,
    check_claim_lease,
    claim,
    claim_reminder,
    claim_slot,
    forget_old_events,
    hold_claim,
    mark_posted,
    reminders_due,
    scheduled_entries,
    stale_claims,
)
from models.rules.tick import PLAN_STEPS, run_step
from models.views.sync import day_summary

log = logging.getLogger(__name__)
RECONCILE_SECONDS = 30
TICK_SECONDS = 60
DELIVER_SECONDS = 2


@dataclass
class Runtime:
    """What the job functions work with; set once per process by ``start``."""

    engine: Engine
    client: WebClient
    clock: Callable[[], datetime] = utcnow
    smtp_url: str | None = None
    sms_url: str | None = None
    name: str = field(default_factory=lambda: f"{socket.gethostname()}:{os.getpid()}")
    fingerprints: dict[str, tuple] = field(default_factory=dict)


_runtime: Runtime | None = None
_scheduler: BackgroundScheduler | None = None


def use(
    engine: Engine,
    client: WebClient,
    *,
    clock: Callable[[], datetime] = utcnow,
    smtp_url: str | None = None,
    sms_url: str | None = None,
) -> Runtime:
    """Point the job functions at a store, Slack, email and SMS, and a clock (tests call jobs directly)."""
    global _runtime
    _runtime = Runtime(engine=engine, client=client, clock=clock, smtp_url=smtp_url, sms_url=sms_url)
    return _runtime


def start(engine: Engine, client: WebClient, *, clock: Callable[[], datetime] = utcnow) -> BackgroundScheduler:
    global _scheduler
    from bot.settings import settings

    try:  # the sync claims' lease must outlast a post in flight (models/rules/sync.py)
        check_claim_lease(client.timeout)
    except ValueError as exc:
        raise SystemExit(f"orchestrate serve: {exc}") from None
    config = settings()
    use(
        engine,
        client,
        clock=clock,
        smtp_url=config.smtp_url.get_secret_value() if config.smtp_url else None,
        sms_url=config.sms_webhook_url.get_secret_value() if config.sms_webhook_url else None,
    )
    _scheduler = BackgroundScheduler(timezone=UTC)
    _scheduler.add_job(
        deliver,
        IntervalTrigger(seconds=DELIVER_SECONDS),
        id="deliver",
        replace_existing=True,
        misfire_grace_time=DELIVER_SECONDS,
        coalesce=True,
        max_instances=1,
    )
    _scheduler.add_job(
        reconcile,
        IntervalTrigger(seconds=RECONCILE_SECONDS),
        id="reconcile",
        replace_existing=True,
        misfire_grace_time=RECONCILE_SECONDS,
        coalesce=True,
        max_instances=1,
    )
    _scheduler.add_job(
        tick,
        IntervalTrigger(seconds=TICK_SECONDS),
        id="tick",
        replace_existing=True,
        misfire_grace_time=TICK_SECONDS,
        coalesce=True,
        max_instances=1,
    )
    _scheduler.start()
    reconcile()
    catch_up_all()
    return _scheduler


def stop() -> None:
    if _scheduler is not None and _scheduler.running:
        _scheduler.shutdown(wait=False)


def sync_trigger(plan: Plan, entry: SyncEntry) -> CronTrigger:
    """Fires at the entry's local time on the plan's working days, in the plan's zone."""
    hour, minute = entry.time.split(":")
    days = ",".join(settings_of(plan).working_days)
    return CronTrigger(day_of_week=days, hour=int(hour), minute=int(minute), timezone=calendar_of(plan).zone)


def job_id(plan_key: str, entry_type: str) -> str:
    return f"sync:{plan_key}:{entry_type}"


def reconcile() -> None:
    """Make the scheduled jobs match the store's running plans and their sync entries."""
    runtime = _require_runtime()
    wanted: dict[str, tuple] = {}
    with session_scope(runtime.engine) as session:
        for plan in session.exec(select(Plan).where(Plan.status == "running")):
            for entry in scheduled_entries(plan):
                fingerprint = (entry, tuple(settings_of(plan).working_days), plan.timezone)
                wanted[job_id(plan.key, entry.type)] = fingerprint
                if runtime.fingerprints.get(job_id(plan.key, entry.type)) != fingerprint and _scheduler:
                    _scheduler.add_job(
                        run_slot,
                        sync_trigger(plan, entry),
                        args=[plan.key, entry.type],
                        id=job_id(plan.key, entry.type),
                        replace_existing=True,
                        misfire_grace_time=entry.duration_s,
                        coalesce=True,
                        max_instances=1,
                    )
    for gone in set(runtime.fingerprints) - set(wanted):
        if _scheduler and _scheduler.get_job(gone):
            _scheduler.remove_job(gone)
    runtime.fingerprints = wanted
    SCHEDULER_JOBS.labels("reconcile", "ok").inc()


def catch_up_all() -> None:
    """After downtime: post today's slots missed by less than their duration; record the others as missed."""
    runtime = _require_runtime()
    now = runtime.clock()
    with session_scope(runtime.engine) as session:
        plans = [(p.key, p) for p in session.exec(select(Plan).where(Plan.status == "running"))]
        todo = []
        for key, plan in plans:
            for entry in scheduled_entries(plan):
                decision = catch_up(plan, entry, now)
                if decision == "post":
                    todo.append((key, entry.type))
                elif decision == "missed":
                    day = calendar_of(plan).local_date(now)
                    if claim_slot(session, plan, entry, day, now=now, by=runtime.name, status="missed"):
                        log.warning(
                            "sync %s of %s at %s was missed while the bot was down", entry.type, key, entry.time
                        )
    for key, entry_type in todo:
        run_slot(key, entry_type)


def run_slot(plan_key: str, entry_type: str) -> None:
    """Post today's prompt for one sync entry, if this process is the first to claim it."""
    runtime = _require_runtime()
    now = runtime.clock()
    try:
        with session_scope(runtime.engine) as session:
            plan = session.exec(select(Plan).where(Plan.key == plan_key)).first()
            if plan is None or plan.status != "running" or not plan.channel:
                return
            calendar = calendar_of(plan)
            day = calendar.local_date(now)
            if not calendar.is_working_day(day):
                return  # a holiday: cron only knows weekdays
            entry = next((e for e in scheduled_entries(plan) if e.type == entry_type), None)
            if entry is None:
                return
            claimed = claim(session, plan, entry, day, now=now, by=runtime.name)
            if claimed is None:
                SCHEDULER_JOBS.labels("sync", "already-claimed").inc()
                return
            channel, slot_id = plan.channel, id_of(claimed.slot)
            prompt = ask(session, plan, claimed.slot, entry.type, entry.required, now=now)
            summary = day_summary(session, plan, now=now) if entry.type == SUMMARY_ENTRY else None
        # Taken over from a claimer that died: the claim was left alone for the lease since its holder
        # last sent (hold_claim), longer than a post can be in flight, so its prompt is in the channel
        # now if it ever will be.
        found = find_posted_prompt(runtime.client, channel, slot_id) if claimed.taken_over else None
        if found is not None:  # the process that died had posted it: record it, do not post twice
            with session_scope(runtime.engine) as session:
                mark_posted(session, session.get_one(SyncSlot, slot_id), channel=found[0], ts=found[1], now=now)
            return
        with session_scope(runtime.engine) as session:  # the lease counts from the post being sent
            held = hold_claim(session, slot_id, by=runtime.name, now=runtime.clock())
        if not held:  # slower than the lease: another process has taken the slot over, and posts it
            SCHEDULER_JOBS.labels("sync", "taken-over").inc()
            log.warning(
                "the %s sync of %s was taken over by another process before this one posted it", entry_type, plan_key
            )
            return
        post_prompt(runtime.client, runtime.engine, prompt, channel, now=now)
        if summary is not None:
            post_summary(runtime.client, summary, channel)
        SCHEDULER_JOBS.labels("sync", "posted").inc()
    except Exception:
        SCHEDULER_JOBS.labels("sync", "error").inc()
        log.exception("posting the %s sync of %s failed", entry_type, plan_key)


def tick() -> None:
    """Every minute: reminders, risk triggers, load balancing, silent agents, escalation of unacknowledged alerts."""
    runtime = _require_runtime()
    now = runtime.clock()
    try:
        with session_scope(runtime.engine) as session:
            due = [id_of(slot) for slot in reminders_due(session, now) if claim_reminder(session, slot, now=now)]
            orphans = [(session.get_one(Plan, plan_id).key, entry) for plan_id, entry in stale_claims(session, now)]
            forget_old_events(session, now)
        for slot_id in due:
            remind(runtime.client, runtime.engine, slot_id)
        for plan_key, entry_type in orphans:  # claimed by a process that died before posting
            run_slot(plan_key, entry_type)
        with session_scope(runtime.engine) as session:
            running = session.exec(select(Plan.id, Plan.key).where(Plan.status == "running")).all()
        for plan_id, plan_key in running:
            for step in PLAN_STEPS:
                _plan_step(runtime, step, plan_id, plan_key, now)
        escalate(runtime.engine, _outlets(runtime), now)
        SCHEDULER_JOBS.labels("tick", "ok").inc()
    except Exception:
        SCHEDULER_JOBS.labels("tick", "error").inc()
        log.exception("the scheduler tick failed")


def _plan_step(runtime: Runtime, step, plan_id: int | None, plan_key: str, now: datetime) -> None:
    """One step of the tick for one plan, in a transaction of its own: a failure (logged) neither
    undoes nor stops the other plans' monitoring, nor a plan's monitoring its load balancing's."""
    try:
        with session_scope(runtime.engine) as session:
            plan = session.get(Plan, plan_id)
            if plan is not None and plan.status == "running":
                run_step(session, step, plan, now)
    except Exception:
        SCHEDULER_JOBS.labels("tick", "error").inc()
        log.exception("the tick's %s of plan %s failed", step.__name__, plan_key)


def deliver() -> None:
    """Every two seconds: send the alert deliveries that are due."""
    runtime = _require_runtime()
    try:
        deliver_due(runtime.engine, _outlets(runtime), runtime.clock)
    except Exception:
        SCHEDULER_JOBS.labels("deliver", "error").inc()
        log.exception("alert delivery failed")


def _outlets(runtime: Runtime) -> Outlets:
    return Outlets(client=runtime.client, smtp_url=runtime.smtp_url, sms_url=runtime.sms_url)


def _require_runtime() -> Runtime:
    if _runtime is None:
        raise RuntimeError("the scheduler was not started")
    return _runtime
