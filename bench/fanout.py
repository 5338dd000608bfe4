"""Scheduler fan-out: 200 plans whose sync prompt falls in the same minute.

One store holds 200 small generated plans, all running, each with its own
channel and one sync entry (a standup at 09:30, Paris time). In `serve`,
bot.scheduler gives each entry a cron job, and APScheduler runs the jobs due
at one minute on its default executor (10 threads). The benchmark does the
same without waiting for a wall-clock minute: one APScheduler
BackgroundScheduler, default executor, 200 jobs with one run date a second
ahead, each calling `bot.scheduler.run_slot` as the cron job would, with
bot.scheduler pointed (`scheduler.use`) at the store, at FakeSlack through
the WebClient `serve` builds (bot.app.web_client), and at a clock that reads
09:30 on a Monday.

Measured: time from the run date until every prompt is in FakeSlack. The
baseline is the same scheduler posting 200 plain messages (no store, no
prompt): what Slack calls alone cost. Slack allows about one message per
second per channel; 200 plans with a channel each post one message per
channel, which the benchmark checks.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from apscheduler.schedulers.background import BackgroundScheduler  # noqa: E402
from apscheduler.triggers.date import DateTrigger  # noqa: E402
from sqlalchemy import func  # noqa: E402
from sqlmodel import Session, select  # noqa: E402

from bench.generate import small_plan, write_document  # noqa: E402
from bench.report import Row, ratio, verdict  # noqa: E402
from bench.run import open_store  # noqa: E402
from bench.slack import BenchSlack  # noqa: E402
from bot import scheduler  # noqa: E402
from bot.app import web_client  # noqa: E402
from models.db.tables import SyncSlot  # noqa: E402
from tests.serve_process import BOT_TOKEN  # noqa: E402

PLANS = 200
SYNC_TIME = "09:30"
# Monday 5 January 2026, 09:30 in Paris: the minute every plan's standup is due.
DUE = datetime(2026, 1, 5, 8, 30, tzinfo=UTC)
POST_LIMIT_S = 60.0  # every prompt must be posted within this, or the run is reported short
SLACK_PER_CHANNEL_PER_S = 1  # about what Slack allows chat.postMessage per channel


def plan_key(number: int) -> str:
    return f"FANOUT-{number:03d}"


def channel_of(number: int) -> str:
    return f"#bench-fanout-{number:03d}"


def build_store(directory: Path):
    """200 small plans, loaded and started at 09:00, each with a standup at 09:30; the engine."""
    directory.mkdir(parents=True, exist_ok=True)
    store = open_store(directory, plan_key(0))
    for number in range(PLANS):
        plan = small_plan(plan_key(number), channel_of(number), seed=number)
        plan["sync-schedule"] = [
            {"time": SYNC_TIME, "type": "standup", "duration": "15min", "required": ["all-agents"]}
        ]
        path = write_document(directory / f"{plan_key(number)}.yml", plan)
        store.run(["plan", "load", str(path)])
        store.run(["start", plan_key(number)])
    return store.engine


@dataclass
class Fanout:
    """One fan-out: when each message arrived, from the jobs' run date."""

    arrived_s: list[float] = field(default_factory=list)
    per_channel_1s: int = 0  # most messages to one channel within one second
    posted_slots: int = 0  # slot rows marked posted in the store (orchestrate only)

    @property
    def all_s(self) -> float:
        return max(self.arrived_s, default=float("nan"))


def fan_out(slack: BenchSlack, jobs: list[tuple], is_message) -> Fanout:
    """Run the jobs (function, args) at one run date on APScheduler's default executor, as `serve` does."""
    slack.reset()
    runner = BackgroundScheduler(timezone=UTC)
    run_date = datetime.now(UTC) + timedelta(seconds=1)
    origin = time.monotonic() + (run_date - datetime.now(UTC)).total_seconds()
    for number, (function, args) in enumerate(jobs):
        runner.add_job(
            function,
            DateTrigger(run_date=run_date),
            args=args,
            id=f"fanout-{number}",
            misfire_grace_time=900,
            coalesce=True,
            max_instances=1,
        )
    runner.start()
    try:
        deadline = time.monotonic() + POST_LIMIT_S
        while len(_messages(slack, is_message)) < len(jobs) and time.monotonic() < deadline:
            time.sleep(0.02)
    finally:
        runner.shutdown(wait=True)  # each job is bounded by the WebClient's timeout
    messages = _messages(slack, is_message)
    return Fanout(arrived_s=[call.at - origin for call in messages], per_channel_1s=_busiest_second(messages))


def _messages(slack: BenchSlack, is_message) -> list:
    return [c for c in slack.calls_to("chat.postMessage", include_failed=False) if is_message(c.body)]


def _busiest_second(messages) -> int:
    """The most messages any one channel received within one second."""
    by_channel: dict[str, list[float]] = {}
    for call in messages:
        by_channel.setdefault(call.body.get("channel"), []).append(call.at)
    busiest = 0
    for times in by_channel.values():
        times.sort()
        start = 0
        for end, at in enumerate(times):
            while at - times[start] >= 1.0:
                start += 1
            busiest = max(busiest, end - start + 1)
    return busiest


def bare_post(client, channel: str) -> None:
    """The baseline job: one plain message, no store."""
    client.chat_postMessage(
        channel=channel,
        text="Sync: standup (bare)",
        blocks=[{"type": "section", "text": {"type": "mrkdwn", "text": "*Standup* (bare)"}}],
    )


@dataclass
class FanoutFigures:
    orchestrate: Fanout
    bare: Fanout


def measure_fanout(directory: Path) -> FanoutFigures:
    engine = build_store(directory / "fanout")
    print(f"fan-out: {PLANS} plans loaded")
    slack = BenchSlack().start()
    try:
        client = web_client(BOT_TOKEN, slack.url)
        scheduler.use(engine, client, clock=lambda: DUE)
        warm = fan_out(slack, [(bare_post, (client, "#warm-up"))], lambda body: True)  # auth, pools, imports
        del warm
        orchestrate = fan_out(
            slack,
            [(scheduler.run_slot, (plan_key(n), "standup")) for n in range(PLANS)],
            lambda body: str(body.get("text", "")).startswith("Sync: standup"),
        )
        with Session(engine) as session:
            orchestrate.posted_slots = session.exec(
                select(func.count()).select_from(SyncSlot).where(SyncSlot.status == "posted")
            ).one()
        bare = fan_out(
            slack,
            [(bare_post, (client, channel_of(n))) for n in range(PLANS)],
            lambda body: body.get("text") == "Sync: standup (bare)",
        )
    finally:
        slack.stop()
        engine.dispose()
    return FanoutFigures(orchestrate, bare)


def report_rows(figures: FanoutFigures) -> list[Row]:
    o, b = figures.orchestrate, figures.bare
    complete = len(o.arrived_s) == PLANS and o.posted_slots == PLANS
    rows = [
        Row(
            f"Scheduler fan-out: {PLANS} plans' sync at one minute, time until every prompt is posted",
            f"{o.all_s:.2f} s",
            f"all {PLANS} posted",
            verdict(complete),
            f"{b.all_s:.2f} s",
            ratio(o.all_s, b.all_s),
        ),
        Row(
            "Scheduler fan-out: prompts posted (FakeSlack) / slots marked posted (store)",
            f"{len(o.arrived_s)} / {o.posted_slots}",
            bare=f"{len(b.arrived_s)} / —",
        ),
        Row(
            "Scheduler fan-out: first / median prompt after the run date",
            f"{min(o.arrived_s, default=float('nan')):.2f} / {_median(o.arrived_s):.2f} s",
            bare=f"{min(b.arrived_s, default=float('nan')):.2f} / {_median(b.arrived_s):.2f} s",
        ),
        Row(
            "Scheduler fan-out: most messages to one channel within 1 s",
            str(o.per_channel_1s),
            f"≤ {SLACK_PER_CHANNEL_PER_S} (Slack: ~1/s per channel)",
            verdict(o.per_channel_1s <= SLACK_PER_CHANNEL_PER_S),
            str(b.per_channel_1s),
        ),
    ]
    return rows


def _median(values: list[float]) -> float:
    return sorted(values)[len(values) // 2] if values else float("nan")


def notes() -> list[str]:
    return [
        f"- Scheduler fan-out: {PLANS} small generated plans (3 streams, 6 agents, 18 tasks) in one store, "
        f"each with its own channel and a standup at {SYNC_TIME} Paris time; {PLANS} jobs with one run date "
        f"on APScheduler's BackgroundScheduler (default executor, 10 threads, as in `serve`), each calling "
        f"`bot.scheduler.run_slot` with the clock at that minute; FakeSlack in this process; baseline: the "
        f"same jobs posting one plain message each",
    ]


def main() -> int:
    import tempfile

    from bench.report import print_rows

    with tempfile.TemporaryDirectory(prefix="orchestrate-fanout-") as tmp:
        figures = measure_fanout(Path(tmp))
    print_rows(report_rows(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
