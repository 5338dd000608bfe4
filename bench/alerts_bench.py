"""Alert delivery: 1,000 alerts to 10 Slack channels, none lost or repeated.

One store, one small generated plan whose `alerts` routes send ten families
of events to ten Slack destinations (#bench-alerts-0 … 9). 1,000 distinct
events are raised with the `event` command (so none is grouped into
another): 1,000 alerts, each with one delivery row, 100 per channel. Then
`bot.delivery.deliver_due` (what `serve`'s delivery job calls) runs back to
back, through the WebClient `serve` builds (bot.app.web_client; the delivery
path puts a 429's row back for its Retry-After) and FakeSlack, until no row is due.

Counted: every alert's successful chat.postMessage in FakeSlack ("alert #N ·"
in its blocks): each exactly once, and every row marked sent. Then 100 more
alerts go while FakeSlack refuses four posts in a row with 429 (Retry-After
1 s: each puts its row back for a second, and the worker goes on)
and one with 500: still each exactly once.

Baseline: the same 1,000 messages posted back to back with the same client,
no store. `serve` itself runs deliver_due every DELIVER_SECONDS for at most
BATCH rows (bot/delivery.py, bot/scheduler.py); that ceiling is reported too.
"""

from __future__ import annotations

import collections
import json
import re
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sqlalchemy import func  # noqa: E402
from sqlmodel import Session, select  # noqa: E402

from bench.generate import small_plan, write_document  # noqa: E402
from bench.report import Row, ratio, verdict  # noqa: E402
from bench.run import open_store  # noqa: E402
from bench.slack import BenchSlack  # noqa: E402
from bot.app import web_client  # noqa: E402
from bot.delivery import BATCH, Outlets, deliver_due  # noqa: E402
from bot.scheduler import DELIVER_SECONDS  # noqa: E402
from models.db.tables import Alert, AlertDelivery  # noqa: E402
from models.db.types import utcnow  # noqa: E402
from tests.serve_process import BOT_TOKEN  # noqa: E402

PLAN_KEY = "ALERTS-001"
ALERTS, CHANNELS = 1000, 10
FAILING_ALERTS = 100  # the second round, with 429s and a 500
DELIVER_LIMIT_S = 60.0  # per round
ALERT_ID = re.compile(r"alert #(\d+) ·")


def event_name(channel: int, number: int) -> str:
    return f"incident-{channel}-{number:04d}"


def alert_plan() -> dict:
    """A small plan whose alert routes spread the benchmark's events over ten channels."""
    plan = small_plan(PLAN_KEY, "#bench-alerts")
    per_channel = (ALERTS + FAILING_ALERTS) // CHANNELS
    plan["alerts"] = [
        {"level": "info", "channel": [f"alerts-{c}"], "events": [event_name(c, n) for n in range(per_channel)]}
        for c in range(CHANNELS)
    ]
    plan["destinations"] = {f"alerts-{c}": {"slack": f"#bench-alerts-{c}"} for c in range(CHANNELS)}
    del plan["risk-triggers"]  # only the benchmark's alerts: no risk alert on top
    return plan


def raise_alerts(store, numbers: range) -> float:
    """Raise one event per number, round-robin over the channels; seconds it took."""
    began = time.perf_counter()
    for n in numbers:
        store.run(["event", event_name(n % CHANNELS, n // CHANNELS), "--plan", PLAN_KEY])
    return time.perf_counter() - began


def due_rows(engine) -> int:
    with Session(engine) as session:
        return session.exec(
            select(func.count()).select_from(AlertDelivery).where(AlertDelivery.status.in_(("pending", "update")))
        ).one()


def deliver_all(engine, outlets: Outlets) -> float:
    """deliver_due back to back until no row is left to send; seconds it took."""
    began = time.monotonic()
    deadline = began + DELIVER_LIMIT_S
    while time.monotonic() < deadline:
        if deliver_due(engine, outlets, utcnow):
            continue
        if not due_rows(engine):
            break
        time.sleep(0.05)  # rows waiting for their retry time
    return time.monotonic() - began


def posted_alert_ids(slack: BenchSlack) -> list[int]:
    ids = []
    for call in slack.calls_to("chat.postMessage", include_failed=False):
        found = ALERT_ID.search(json.dumps(call.body.get("blocks", ""), ensure_ascii=False))
        if found:
            ids.append(int(found.group(1)))
    return ids


@dataclass
class Round:
    """One round of deliveries and what FakeSlack received."""

    alerts: int
    raise_s: float = 0.0
    deliver_s: float = 0.0
    lost: list[int] = field(default_factory=list)
    repeated: list[int] = field(default_factory=list)
    not_sent: int = 0  # rows not marked sent in the store
    failed_calls: int = 0  # posts FakeSlack refused on purpose
    per_channel: dict[str, int] = field(default_factory=dict)

    @property
    def rate(self) -> float:
        return self.alerts / self.deliver_s if self.deliver_s else float("nan")


def check_round(engine, slack: BenchSlack, result: Round, ids: set[int]) -> None:
    counts = collections.Counter(i for i in posted_alert_ids(slack) if i in ids)
    result.lost = sorted(ids - set(counts))
    result.repeated = sorted(i for i, n in counts.items() if n > 1)
    with Session(engine) as session:
        result.not_sent = session.exec(
            select(func.count())
            .select_from(AlertDelivery)
            .where(AlertDelivery.alert_id.in_(ids), AlertDelivery.status != "sent")
        ).one()
    result.failed_calls = sum(1 for c in slack.calls_to("chat.postMessage") if c.failed)
    result.per_channel = dict(
        collections.Counter(c.body.get("channel") for c in slack.calls_to("chat.postMessage", include_failed=False))
    )


def alert_ids(engine) -> set[int]:
    with Session(engine) as session:
        return set(session.exec(select(Alert.id)))


def run_round(store, slack: BenchSlack, outlets: Outlets, numbers: range, inject: bool) -> Round:
    result = Round(len(numbers))
    before = alert_ids(store.engine)
    result.raise_s = raise_alerts(store, numbers)
    ids = alert_ids(store.engine) - before
    slack.reset()
    if inject:
        slack.fail_next("chat.postMessage", 429, retry_after=1, times=4)  # one more than the SDK retries
        slack.fail_next("chat.postMessage", 500)
    result.deliver_s = deliver_all(store.engine, outlets)
    check_round(store.engine, slack, result, ids)
    return result


def bare_round(slack: BenchSlack, client) -> float:
    """The same number of messages, to the same channels, with no store: seconds."""
    slack.reset()
    began = time.monotonic()
    for n in range(ALERTS):
        client.chat_postMessage(
            channel=f"#bench-alerts-{n % CHANNELS}",
            text=f"[info] bare alert {n}",
            blocks=[
                {"type": "section", "text": {"type": "mrkdwn", "text": f":information_source: *INFO* · bare\n{n}"}},
                {"type": "context", "elements": [{"type": "mrkdwn", "text": f"bare #{n} · open"}]},
            ],
        )
    return time.monotonic() - began


@dataclass
class AlertFigures:
    clean: Round
    failing: Round
    bare_s: float


def measure_alerts(directory: Path) -> AlertFigures:
    directory.mkdir(parents=True, exist_ok=True)
    store = open_store(directory, PLAN_KEY)
    slack = BenchSlack().start()
    try:
        store.run(["plan", "load", str(write_document(directory / "alerts.yml", alert_plan()))])
        store.run(["start", PLAN_KEY])
        client = web_client(BOT_TOKEN, slack.url)
        client.auth_test()  # the first call's set-up is not the deliveries'
        outlets = Outlets(client=client)
        clean = run_round(store, slack, outlets, range(ALERTS), inject=False)
        print(f"alerts: {ALERTS} delivered in {clean.deliver_s:.2f} s")
        failing = run_round(store, slack, outlets, range(ALERTS, ALERTS + FAILING_ALERTS), inject=True)
        print(f"alerts: {FAILING_ALERTS} more, with failures injected, in {failing.deliver_s:.2f} s")
        bare_s = bare_round(slack, client)
    finally:
        slack.stop()
        store.engine.dispose()
    return AlertFigures(clean, failing, bare_s)


def _intact(r: Round) -> bool:
    return not (r.lost or r.repeated or r.not_sent)


def _faults(r: Round) -> str:
    return f"{len(r.lost)} lost, {len(r.repeated)} repeated, {r.not_sent} rows not sent"


def report_rows(figures: AlertFigures) -> list[Row]:
    c, f = figures.clean, figures.failing
    ceiling = BATCH / DELIVER_SECONDS
    spread = f"{min(c.per_channel.values(), default=0)}–{max(c.per_channel.values(), default=0)}"
    return [
        Row(
            f"Alert delivery: {ALERTS} alerts to {CHANNELS} Slack channels, time to deliver all",
            f"{c.deliver_s:.2f} s",
            bare=f"{figures.bare_s:.2f} s",
            ratio=ratio(c.deliver_s, figures.bare_s),
        ),
        Row(
            "Alert delivery: messages per second",
            f"{c.rate:.0f} /s",
            bare=f"{ALERTS / figures.bare_s:.0f} /s",
            ratio=ratio(c.rate, ALERTS / figures.bare_s),
        ),
        Row(
            f"Alert delivery: {ALERTS} alerts, lost / repeated (messages per channel {spread})",
            _faults(c),
            "none",
            verdict(_intact(c)),
        ),
        Row(
            f"Alert delivery: {FAILING_ALERTS} more with {f.failed_calls} posts refused (4×429 in a row, 1×500)",
            f"{_faults(f)}; {f.deliver_s:.2f} s",
            "none",
            verdict(_intact(f) and f.failed_calls == 5),
        ),
        Row(f"Alert delivery: raising the {ALERTS} alerts (`event` command, in-process)", f"{c.raise_s:.2f} s"),
        Row(
            f"Alert delivery: `serve`'s pace (deliver job every {DELIVER_SECONDS} s, ≤ {BATCH} rows)",
            f"≤ {ceiling:.0f} /s: {ALERTS} alerts in ≥ {ALERTS / ceiling:.0f} s",
            "— (Slack: ~1/s per channel)",
            "info",
        ),
    ]


def notes() -> list[str]:
    return [
        f"- Alert delivery: {ALERTS} distinct events raised with the `event` command on one plan whose routes "
        f"send them to {CHANNELS} Slack destinations; `bot.delivery.deliver_due` back to back through "
        f"`bot.app.web_client` and FakeSlack (in this process) until no row is due; each alert's posts counted "
        f"in FakeSlack; then {FAILING_ALERTS} more with 4×429 (Retry-After 1 s) and 1×500 injected; baseline: "
        f"{ALERTS} plain chat.postMessage calls with the same client",
    ]


def main() -> int:
    import tempfile

    from bench.report import print_rows

    with tempfile.TemporaryDirectory(prefix="orchestrate-alerts-") as tmp:
        figures = measure_alerts(Path(tmp))
    print_rows(report_rows(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
