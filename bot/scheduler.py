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
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, time, timedelta
from functools import cached_property
from zoneinfo import ZoneInfo

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.interval import IntervalTrigger
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from sqlalchemy import Engine

from bot.delivery import CONNECTION_LOST, Outlets, deliver_due, escalate, never_waiting
from bot.history import CannotLook
from bot.metrics import SCHEDULER_JOBS
from bot.settings import replica_name
from bot.story_posts import StoryPoster, digest_story, redraw_retrospectives, retrospective_story
from bot.sync_post import find_posted, post_prompt, post_summary, remind, remind_held
from bot.zones import refresh_zones
from models.db.types import utcnow
from models.rules.digest import digest_due, retrospectives_due
from models.rules.quiet_hours import HeldDue, held_reminders_due
from models.rules.sync import (
    OpenedSlot,
    ScheduledSync,
    adopt_claim,
    check_claim_lease,
    due_now,
    give_up_slot,
    keep_claim,
    open_slot,
    record_posted,
    resume_slot,
    scheduled_syncs,
    summary_of_slot,
    take_over_slot,
)
from models.rules.sync import (
    catch_up_all as catch_up,
)
from models.rules.tick import PLAN_STEPS, run_plan_step, running_plans
from models.state.outbox import check_lease
from models.time.calendar import WEEKDAYS, next_wall_instant
from models.views.sync import DaySummary

log = logging.getLogger(__name__)
RECONCILE_SECONDS = 30
TICK_SECONDS = 60
ZONES_SECONDS = 600  # Slack time zones: a round every ten minutes, each zone asked again after a day
DELIVER_SECONDS = 2
RETRY_SECONDS = 2  # how often the posts of sync slots that failed are looked at
FRONT_JOBS_SECONDS = 2  # how often the Slack front's follow-ups run (unfinished commands, early replies)
MAX_BACKOFF_S = 60  # below the sync claim's lease (120 s): the claimer keeps its slot while it waits
LOOK_AFTER_S = 15  # how long after a post whose answer was lost it is looked for


@dataclass(frozen=True)
class PendingPost:
    """A post of a slot this process claimed that failed, to try again at ``at``, within its sync."""

    slot_id: int
    part: str  # "prompt", or "summary" (the end-of-day's, after its prompt)
    label: str  # "the standup sync of TR-ORCH-001", for the log
    at: datetime
    attempt: int
    ends_at: datetime
    doubt_since: datetime | None = None  # an attempt whose answer was lost was sent then: look first
    doubt_until: datetime | None = None  # and its post (if Slack took it) made by then


@dataclass
class Runtime:
    """What the job functions work with; set once per process by ``start``."""

    engine: Engine
    client: WebClient
    clock: Callable[[], datetime] = utcnow
    smtp_url: str | None = None
    sms_url: str | None = None
    name: str = field(default_factory=replica_name)
    fingerprints: dict[str, tuple] = field(default_factory=dict)
    pending: dict[tuple[int, str], PendingPost] = field(default_factory=dict)
    stories: StoryPoster = field(default_factory=StoryPoster)  # the digests and retrospectives it claimed
    lock: threading.Lock = field(default_factory=threading.Lock)

    @cached_property
    def slack(self) -> WebClient:
        """The client sync posts and looks go through: a 429 comes back to the caller, which tries
        again later (``PendingPost``), instead of a thread of the pool sleeping through it."""
        return never_waiting(self.client)


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


def start(
    engine: Engine,
    client: WebClient,
    *,
    clock: Callable[[], datetime] = utcnow,
    front_jobs: Sequence[Callable[[datetime, str], object]] = (),
) -> BackgroundScheduler:
    """Run the jobs. ``front_jobs``, each called (now, this replica's name) every two seconds: the Slack
    front's follow-ups (commands other replicas acked and left unfinished, thread replies kept until their
    prompt's ts was recorded)."""
    global _scheduler
    from bot.settings import settings

    try:  # a delivery's lease shorter than a post in flight: a row could be sent or looked for twice
        check_lease(client.timeout)
    except ValueError as exc:
        log.warning("%s", exc)
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
    _every(deliver, DELIVER_SECONDS, "deliver")
    _every(retry_posts, RETRY_SECONDS, "sync-retry")
    _every(reconcile, RECONCILE_SECONDS, "reconcile")
    _every(tick, TICK_SECONDS, "tick")
    if front_jobs:
        _every(lambda: _run_front_jobs(front_jobs), FRONT_JOBS_SECONDS, "front-jobs")
    _every(slack_zones, ZONES_SECONDS, "slack-zones")
    _scheduler.start()
    # The first reconcile and the catch-up of missed syncs post to Slack, which may ask us to wait
    # (429 Retry-After): they run once in the scheduler's pool, so the web server starts at once and
    # answers Slack's acks and /healthz while they wait.
    _scheduler.add_job(_start_up, id="start-up", misfire_grace_time=None)
    return _scheduler


def _every(job: Callable[[], None], seconds: int, job_id: str) -> None:
    """A job run every `seconds`, one at a time; runs missed while the last one ran are dropped, not queued."""
    assert _scheduler is not None
    _scheduler.add_job(
        job,
        IntervalTrigger(seconds=seconds),
        id=job_id,
        replace_existing=True,
        misfire_grace_time=seconds,
        coalesce=True,
        max_instances=1,
    )


def _run_front_jobs(jobs: Sequence[Callable[[datetime, str], object]]) -> None:
    runtime = _require_runtime()
    for job in jobs:  # one failing (logged) never stops the others
        try:
            job(runtime.clock(), runtime.name)
        except Exception:
            SCHEDULER_JOBS.labels("front", "error").inc()
            log.exception("the Slack front's follow-up %s failed", getattr(job, "__name__", job))


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
        # Taken over from a claimer that died: the claim was left alone for the lease since its holder
        # last sent (hold_claim), longer than a post can be in flight, so its prompt is in the channel
        # now if it ever will be: it is looked for among the messages since the slot was due.
        doubt = opened.due_at if opened.taken_over else None
        _post_slot(runtime, opened, f"the {entry_type} sync of {plan_key}", attempt=0, doubt_since=doubt)
    except Exception:
        SCHEDULER_JOBS.labels("sync", "error").inc()
        log.exception("posting the %s sync of %s failed", entry_type, plan_key)
    _post_digest(runtime, plan_key, entry_type, now)


def _post_digest(runtime: Runtime, plan_key: str, entry_type: str, now: datetime) -> None:
    """After the sync the plan names, on the day it names: the weekly digest, by whichever replica claims it."""
    try:
        digest = digest_due(runtime.engine, plan_key, entry_type, now=now)
        if digest is not None:
            runtime.stories.post(runtime.slack, runtime.engine, digest_story(digest), runtime.clock())
    except Exception:
        log.exception("the weekly digest of %s failed", plan_key)


def post_on_demand(slot_id: int, channel: str, label: str) -> bool:
    """Post an on-demand prompt (`sync`) the way scheduled ones go: never sleeping through a 429, tried
    again with backoff within its sync if it fails. False when this process runs no scheduler."""
    runtime = _runtime
    if runtime is None:
        return False
    now = runtime.clock()
    if adopt_claim(runtime.engine, slot_id, by=runtime.name, now=now, channel=channel):
        opened = resume_slot(runtime.engine, slot_id, by=runtime.name, now=now)
        if opened is not None:
            _post_slot(runtime, opened, label, attempt=0, doubt_since=None)
    return True


def _post_slot(
    runtime: Runtime,
    opened: OpenedSlot,
    label: str,
    *,
    attempt: int,
    doubt_since: datetime | None,
    doubt_until: datetime | None = None,
) -> None:
    """Post a claimed slot's prompt (then its summary); a failure is tried again with backoff (retry_posts)."""
    retry = PendingPost(
        opened.slot_id, "prompt", label, runtime.clock(), attempt, _ends(opened), doubt_since, doubt_until
    )
    if doubt_since is not None:
        until = doubt_until or runtime.clock()
        try:
            found = find_posted(
                runtime.slack,
                runtime.engine,
                opened.channel,
                opened.slot_id,
                since=doubt_since,
                until=until,
                now=runtime.clock(),
            )
        except CannotLook as exc:  # not an answer: the claimer keeps its claim, and looks again later
            keep_claim(runtime.engine, opened.slot_id, by=runtime.name, now=runtime.clock())
            _later(runtime, replace(retry, doubt_until=exc.seen_down_to or until), exc, after=exc.after)
            return
        if found is not None:  # it had been posted: record it, do not post twice
            record_posted(runtime.engine, opened.slot_id, channel=found[0], ts=found[1], now=runtime.clock())
            _post_day_summary(runtime, opened, label)
            return
    # The lease counts from the post being sent.
    sent_at = runtime.clock()
    if not keep_claim(runtime.engine, opened.slot_id, by=runtime.name, now=sent_at):
        # Slower than the lease: another process has taken the slot over, and posts it.
        SCHEDULER_JOBS.labels("sync", "taken-over").inc()
        log.warning("%s was taken over by another process before this one posted it", label)
        return
    try:
        post_prompt(runtime.slack, runtime.engine, opened.prompt, opened.channel, now=sent_at)
    except Exception as exc:  # noqa: BLE001 - tried again within the sync, looked for first if its answer was lost
        _later(runtime, replace(retry, attempt=attempt + 1, doubt_since=None, doubt_until=None), exc, sent_at=sent_at)
        return
    SCHEDULER_JOBS.labels("sync", "posted").inc()
    _post_day_summary(runtime, opened, label)


def _post_day_summary(runtime: Runtime, opened: OpenedSlot, label: str) -> None:
    if opened.summary is not None:
        _post_summary_of(runtime, opened.slot_id, opened.channel, opened.summary, label, attempt=0, ends=_ends(opened))


def _post_summary_of(
    runtime: Runtime, slot_id: int, channel: str, summary: DaySummary, label: str, *, attempt: int, ends: datetime
) -> None:
    retry = PendingPost(slot_id, "summary", label, runtime.clock(), attempt, ends)
    if attempt > 0:  # a summary that failed may have landed (its chart failing after): looked for first
        try:
            now = runtime.clock()
            since = now - timedelta(minutes=30)
            if find_posted(
                runtime.slack, runtime.engine, channel, slot_id, since=since, until=now, now=now, part="summary"
            ):
                return
        except CannotLook as exc:
            _later(runtime, retry, exc, after=exc.after)
            return
    try:
        post_summary(runtime.slack, summary, channel, slot_id)
    except Exception as exc:  # noqa: BLE001 - tried again within the sync
        _later(runtime, replace(retry, attempt=attempt + 1), exc)


def _ends(opened: OpenedSlot) -> datetime:
    if opened.ends_at is not None:
        return opened.ends_at
    return (opened.due_at or datetime.now(UTC)) + timedelta(minutes=15)


def _later(
    runtime: Runtime,
    retry: PendingPost,
    error: Exception,
    *,
    after: float | None = None,
    sent_at: datetime | None = None,
) -> None:
    """Try the post again after a backoff (or Slack's Retry-After); a post whose answer was lost is looked
    for first, once it has surely landed. Past the end of its sync the slot is recorded as missed."""
    now = runtime.clock()
    wait = after if after is not None else float(min(2**retry.attempt, MAX_BACKOFF_S))
    if isinstance(error, SlackApiError) and error.response.status_code == 429:
        wait = float(error.response.headers.get("Retry-After", wait))
    doubt, until = retry.doubt_since, retry.doubt_until
    if sent_at is not None and isinstance(error, CONNECTION_LOST):
        # Slack may have it, posted by the time the connection failed: looked for a little later.
        doubt, until = sent_at, now
        wait = max(wait, LOOK_AFTER_S)
    at = now + timedelta(seconds=wait)
    if at >= retry.ends_at:
        log.error("%s: its %s could not be posted within the sync (%s); given up", retry.label, retry.part, error)
        if retry.part == "prompt":
            give_up_slot(runtime.engine, retry.slot_id, by=runtime.name)
        return
    log.warning("%s: posting its %s failed (%s); trying again in %g s", retry.label, retry.part, error, wait)
    with runtime.lock:
        runtime.pending[(retry.slot_id, retry.part)] = replace(retry, at=at, doubt_since=doubt, doubt_until=until)


def retry_posts() -> None:
    """Every two seconds: try again the posts of slots (and the digests and retrospectives) this process
    claimed whose post failed."""
    runtime = _require_runtime()
    now = runtime.clock()
    runtime.stories.retry_due(runtime.slack, runtime.engine, now)
    with runtime.lock:
        due = [p for p in runtime.pending.values() if p.at <= now]
        for post in due:
            del runtime.pending[(post.slot_id, post.part)]
    for post in due:
        try:
            _retry_one(runtime, post, now)
        except Exception:
            SCHEDULER_JOBS.labels("sync", "error").inc()
            log.exception("trying %s's %s again failed", post.label, post.part)


def _retry_one(runtime: Runtime, post: PendingPost, now: datetime) -> None:
    if post.part == "summary":
        posted = summary_of_slot(runtime.engine, post.slot_id, now=now)
        if posted is not None:
            channel, summary = posted
            _post_summary_of(
                runtime, post.slot_id, channel, summary, post.label, attempt=post.attempt, ends=post.ends_at
            )
        return
    opened = resume_slot(runtime.engine, post.slot_id, by=runtime.name, now=now)
    if opened is None:  # posted, taken over, or its sync over (then recorded as missed)
        if now >= post.ends_at:
            give_up_slot(runtime.engine, post.slot_id, by=runtime.name)
        return
    _post_slot(
        runtime, opened, post.label, attempt=post.attempt, doubt_since=post.doubt_since, doubt_until=post.doubt_until
    )


# Reminder DMs go out paced by Slack's limits (a minute for 50 people): never inside the tick.
REMINDERS = ThreadPoolExecutor(max_workers=1, thread_name_prefix="reminders")


def _remind_logged(runtime: Runtime, slot_id: int) -> None:
    try:
        remind(runtime.client, runtime.engine, slot_id)
    except Exception:
        log.exception("the reminders of sync slot %s failed", slot_id)


def _remind_held_logged(runtime: Runtime, held: HeldDue) -> None:
    try:
        remind_held(runtime.client, held)
    except Exception:
        log.exception("the held reminder to %s failed", held.key)


def tick() -> None:
    """Every minute: reminders, risk triggers, load balancing, silent agents, escalation of unacknowledged alerts."""
    runtime = _require_runtime()
    now = runtime.clock()
    try:
        reminders, orphans, on_demand = due_now(runtime.engine, now=now)
        for slot_id in reminders:  # paced fan-outs: on their own thread, the tick goes on
            REMINDERS.submit(_remind_logged, runtime, slot_id)
        for held in held_reminders_due(runtime.engine, now=now):  # quiet hours over: their reminders
            REMINDERS.submit(_remind_held_logged, runtime, held)
        for plan_key, entry_type in orphans:  # claimed by a process that died before posting
            run_slot(plan_key, entry_type)
        for slot_id in on_demand:  # an on-demand prompt whose poster died: looked for, then posted
            opened = take_over_slot(runtime.engine, slot_id, by=runtime.name, now=now)
            if opened is not None:
                label = f"the on-demand {opened.prompt.sync_type} sync of {opened.prompt.plan}"
                _post_slot(runtime, opened, label, attempt=0, doubt_since=opened.due_at)
        for plan_id, plan_key in running_plans(runtime.engine):
            for step in PLAN_STEPS:
                _plan_step(runtime, step, plan_id, plan_key, now)
        escalate(runtime.engine, _outlets(runtime), now)
        for retro in retrospectives_due(runtime.engine, now=now):
            runtime.stories.post(runtime.slack, runtime.engine, retrospective_story(retro), now)
        redraw_retrospectives(runtime.slack, runtime.engine, now)  # verdicts given from the CLI
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


def slack_zones() -> None:
    """Every ten minutes: the time zones Slack gives for people the plan gives none (cached a day)."""
    runtime = _require_runtime()
    try:
        refresh_zones(runtime.engine, runtime.client, runtime.clock())
    except Exception:
        SCHEDULER_JOBS.labels("slack-zones", "error").inc()
        log.exception("refreshing the Slack time zones failed")


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
