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
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.interval import IntervalTrigger
from slack_sdk import WebClient
from sqlalchemy import Engine

from bot.delivery import Outlets, deliver_due, escalate
from bot.metrics import SCHEDULER_JOBS
from bot.sync_post import find_posted_prompt, post_prompt, post_summary, remind
from models.db.types import utcnow
from models.rules.sync import (
    ScheduledSync,
    check_claim_lease,
    due_now,
    keep_claim,
    open_slot,
    record_posted,
    scheduled_syncs,
)
from models.rules.sync import (
    catch_up_all as catch_up,
)
from models.rules.tick import PLAN_STEPS, run_plan_step, running_plans
from models.time.calendar import WEEKDAYS, next_wall_instant

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
    # The first reconcile and the catch-up of missed syncs post to Slack, which may ask us to wait
    # (429 Retry-After): they run once in the scheduler's pool, so the web server starts at once and
    # answers Slack's acks and /healthz while they wait.
    _scheduler.add_job(_start_up, id="start-up", misfire_grace_time=None)
    return _scheduler


def _start_up() -> None:
    reconcile()
    catch_up_all()


def stop() -> None:
    if _scheduler is not None and _scheduler.running:
        _scheduler.shutdown(wait=False)


class WallClockTrigger(BaseTrigger):
    """Fires at a local wall-clock time on some weekdays, once a day, by the rules of time
    (models.time.calendar.wall_instant: a time in a gap at the gap's end, one in an overlap at its
    first occurrence). APScheduler's CronTrigger fires a time in a gap an hour late, skips a day
    whose midnight does not exist, fires twice in an overlap, and skipped 00:00 the day after a
    spring-forward in New York (tests/test_rules_of_time.py walks three years of eight zones).
    """

    def __init__(self, wall: time, zone: ZoneInfo, weekdays: frozenset[int]):
        self.wall, self.zone, self.weekdays = wall, zone, weekdays

    def get_next_fire_time(self, previous_fire_time: datetime | None, now: datetime) -> datetime | None:
        start = now if previous_fire_time is None else min(now, previous_fire_time + timedelta(microseconds=1))
        if previous_fire_time is not None and start <= previous_fire_time:
            start = previous_fire_time + timedelta(microseconds=1)
        return next_wall_instant(start, self.wall, self.zone, self.weekdays)

    def __str__(self) -> str:
        return f"wall clock {self.wall:%H:%M} {self.zone.key}"


def sync_trigger(sync: ScheduledSync) -> WallClockTrigger:
    """Fires at the entry's local time on the plan's working days, in the plan's zone."""
    weekdays = frozenset(WEEKDAYS.index(day) for day in sync.working_days)
    return WallClockTrigger(time.fromisoformat(sync.entry.time), ZoneInfo(sync.timezone), weekdays)


def job_id(plan_key: str, entry_type: str) -> str:
    return f"sync:{plan_key}:{entry_type}"


def reconcile() -> None:
    """Make the scheduled jobs match the store's running plans and their sync entries."""
    runtime = _require_runtime()
    wanted: dict[str, tuple] = {}
    for sync in scheduled_syncs(runtime.engine):
        key = job_id(sync.plan_key, sync.entry.type)
        fingerprint = (sync.entry, sync.working_days, sync.timezone)
        wanted[key] = fingerprint
        if runtime.fingerprints.get(key) != fingerprint and _scheduler:
            _scheduler.add_job(
                run_slot,
                sync_trigger(sync),
                args=[sync.plan_key, sync.entry.type],
                id=key,
                replace_existing=True,
                misfire_grace_time=sync.entry.duration_s,
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
    to_post, missed = catch_up(runtime.engine, now=runtime.clock(), by=runtime.name)
    for what in missed:
        log.warning("%s was missed while the bot was down", what)
    for key, entry_type in to_post:
        run_slot(key, entry_type)


def run_slot(plan_key: str, entry_type: str) -> None:
    """Post today's prompt for one sync entry, if this process is the first to claim it."""
    runtime = _require_runtime()
    now = runtime.clock()
    try:
        opened = open_slot(runtime.engine, plan_key, entry_type, now=now, by=runtime.name)
        if opened is None:
            SCHEDULER_JOBS.labels("sync", "not-posted").inc()
            return
        slot_id = opened.slot_id
        # Taken over from a claimer that died: the claim was left alone for the lease since its holder
        # last sent (hold_claim), longer than a post can be in flight, so its prompt is in the channel
        # now if it ever will be.
        found = find_posted_prompt(runtime.client, opened.channel, slot_id) if opened.taken_over else None
        if found is not None:  # the process that died had posted it: record it, do not post twice
            record_posted(runtime.engine, slot_id, channel=found[0], ts=found[1], now=now)
            return
        # The lease counts from the post being sent.
        if not keep_claim(runtime.engine, slot_id, by=runtime.name, now=runtime.clock()):
            # Slower than the lease: another process has taken the slot over, and posts it.
            SCHEDULER_JOBS.labels("sync", "taken-over").inc()
            log.warning(
                "the %s sync of %s was taken over by another process before this one posted it", entry_type, plan_key
            )
            return
        post_prompt(runtime.client, runtime.engine, opened.prompt, opened.channel, now=now)
        if opened.summary is not None:
            post_summary(runtime.client, opened.summary, opened.channel)
        SCHEDULER_JOBS.labels("sync", "posted").inc()
    except Exception:
        SCHEDULER_JOBS.labels("sync", "error").inc()
        log.exception("posting the %s sync of %s failed", entry_type, plan_key)


def tick() -> None:
    """Every minute: reminders, risk triggers, load balancing, silent agents, escalation of unacknowledged alerts."""
    runtime = _require_runtime()
    now = runtime.clock()
    try:
        reminders, orphans = due_now(runtime.engine, now=now)
        for slot_id in reminders:
            remind(runtime.client, runtime.engine, slot_id)
        for plan_key, entry_type in orphans:  # claimed by a process that died before posting
            run_slot(plan_key, entry_type)
        for plan_id, plan_key in running_plans(runtime.engine):
            for step in PLAN_STEPS:
                _plan_step(runtime, step, plan_id, plan_key, now)
        escalate(runtime.engine, _outlets(runtime), now)
        SCHEDULER_JOBS.labels("tick", "ok").inc()
    except Exception:
        SCHEDULER_JOBS.labels("tick", "error").inc()
        log.exception("the scheduler tick failed")


def _plan_step(runtime: Runtime, step, plan_id: int, plan_key: str, now: datetime) -> None:
    """One step of the tick for one plan, in a transaction of its own: a failure (logged) neither
    undoes nor stops the other plans' monitoring, nor a plan's monitoring its load balancing's."""
    try:
        run_plan_step(runtime.engine, step, plan_id, now)
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
