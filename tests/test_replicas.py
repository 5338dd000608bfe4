"""Three replicas of `orchestrate serve --http` sharing one PostgreSQL, one Slack stand-in.

Each replica runs its own scheduler (sync slots, alert delivery, ticks) and answers
its share of Slack's requests, as behind a load balancer. What must hold:

- a sync slot is posted once, whichever replicas fire it;
- an alert is delivered once per destination, whichever delivery workers run;
- concurrent commands spread over the replicas lose nothing and leave the store in a
  state some serial order of the successful ones would have produced;
- a replica killed with SIGKILL mid-work leaves nothing half-done for the others.

Real processes, real HTTP, a real database: the whole module takes about two minutes,
most of it waiting for the next minute's sync. It skips, saying how to start the server,
when PostgreSQL is not running locally.
"""

from __future__ import annotations

import collections
import json
import os
import random
import re
import signal
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest
import yaml
from sqlalchemy import func
from sqlalchemy.exc import OperationalError
from sqlmodel import Session, select

from commands.core.dispatch import execute
from models.db.store import current_revision, head_revision, make_engine, upgrade
from models.db.tables import (
    Agent,
    Alert,
    AlertDelivery,
    AuditEntry,
    Event,
    Plan,
    Stream,
    SyncAnswer,
    SyncSlot,
    Task,
    TaskEvent,
)
from models.rules.sync import CLAIM_LEASE_MARGIN
from tests import pg
from tests.fake_slack import FakeSlack
from tests.serve_process import ServeProcess
from tests.slack_app import OPERATOR

# Every test of the replicas runs on PostgreSQL only (the one in-process test runs on both stores).
replicas_on_postgresql = pytest.mark.postgresql

LEAD = "U0LEAD0001"
REPLICAS = 3
ALERTS = 60  # raised before the replicas start, each to two Slack channels
COMMANDS = 300


class SetupProblem(Exception):
    """The scenario did not happen as designed (not a finding about the product)."""


# --- the shared pieces ----------------------------------------------------------------------------


class SlowSlack(FakeSlack):
    """FakeSlack that answers chosen calls slowly, so a replica can be caught in the middle of one."""

    def __init__(self) -> None:
        super().__init__()
        self.slow: list[tuple[Callable[[str, dict], bool], float]] = []  # (matches(method, body), seconds)

    def start(self) -> SlowSlack:
        super().start()
        # A killed replica never reads its answer: the broken pipe is expected, not worth a traceback.
        self._server.handle_error = lambda request, address: None
        return self

    def handle(self, path, body, headers, raw):
        method = path.strip("/").replace("api/", "", 1)
        for matches, seconds in self.slow:
            if matches(method, body):
                time.sleep(seconds)
                break
        return super().handle(path, body, headers, raw)


def plan_document(
    key: str,
    channel: str,
    *,
    agents: int = 2,
    tasks_per_agent: int = 2,
    streams: int = 1,
    sync: list[dict] | None = None,
    alert_channels: tuple[str, ...] = (),
) -> dict:
    """A plan working around the clock, every day: whatever time the test runs, it is working time."""
    stream_ids = [f"s{n + 1}" for n in range(streams)]
    document = {
        "id": key,
        "timezone": "UTC",
        "channel": channel,
        "working-days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"],
        "working-hours": ["00:00", "23:59"],
        "roles": {"leads": [LEAD]},
        "streams": [{"id": s} for s in stream_ids],
        "agents": {
            f"a{n + 1}": {
                "stream": stream_ids[n % streams],
                "slack-user": f"U0{key[-3:]}A{n + 1:03d}",
                "tasks": [f"Task {t + 1} of a{n + 1}" for t in range(tasks_per_agent)],
            }
            for n in range(agents)
        },
        "sync-schedule": sync or [],
    }
    if alert_channels:
        document["destinations"] = {f"d{n}": {"slack": c} for n, c in enumerate(alert_channels)}
        document["alerts"] = [
            {"level": level, "channel": list(document["destinations"])} for level in ("info", "warning", "critical")
        ]
    return document


def load(engine, directory, document: dict) -> None:
    path = directory / f"{document['id']}.yml"
    path.write_text(yaml.safe_dump(document))
    execute(engine, ["plan", "load", str(path)], OPERATOR)
    execute(engine, ["start", document["id"]], OPERATOR)


def fresh_store():
    """A fresh database brought to head by the migrations, as `orchestrate serve` would."""
    reason = pg.unreachable()
    if reason:
        pytest.skip(reason)
    name = pg.create_database()
    engine = make_engine(pg.url(name))
    upgrade(engine)
    return name, engine


def drop_store(name: str, engine) -> None:
    engine.dispose()
    pg.drop_database(name)


def start_replicas(directory, slack, name: str, count: int = REPLICAS, env: dict | None = None) -> list[ServeProcess]:
    return [ServeProcess(directory, slack.url, pg.url(name), extra_env=env) for _ in range(count)]


def stop_all(replicas) -> None:
    for replica in replicas:
        replica.stop()


def tracebacks(replicas) -> list[str]:
    return [r.output() for r in replicas if "Traceback" in r.output()]


def alert_posts(slack, channels) -> collections.Counter:
    """(channel, alert id) -> how many times it was posted (updates of a message are not posts)."""
    counts = collections.Counter()
    for call in slack.calls_to("chat.postMessage", include_failed=False):
        if call.body.get("channel") not in channels:
            continue
        match = re.search(r"alert #(\d+) ·", json.dumps(call.body.get("blocks", ""), ensure_ascii=False))
        if match:
            counts[(call.body["channel"], int(match.group(1)))] += 1
    return counts


def wait_until(condition, timeout: float, step: float = 0.2) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(step)
    return condition()


def undelivered(engine) -> int:
    with Session(engine) as session:
        return session.exec(select(func.count()).select_from(AlertDelivery).where(AlertDelivery.status != "sent")).one()


def send_all(
    replicas, slack, requests: list[tuple[str, str, str, str]], threads: int = 24, pace: float = 0.0
) -> list[tuple[str, int | None]]:
    """Send (text, response name, user, channel) slash commands from threads, round-robin over the replicas
    (request i goes to replica i mod n), each ``pace`` seconds after the one before.

    Returns (response name, HTTP status, or None when the replica could not be reached), in sending order.
    """
    replicas = list(replicas[:REPLICAS])
    begin = time.monotonic()

    def one(numbered):
        index, (text, name, user, channel) = numbered
        if pace:
            time.sleep(max(begin + index * pace - time.monotonic(), 0))
        try:
            status, _ = replicas[index % len(replicas)].slash(
                text, slack.response_url(name), user=user, channel=channel, channel_name=channel.lower()
            )
        except OSError:
            status = None
        return name, status

    with ThreadPoolExecutor(max_workers=threads) as pool:
        return list(pool.map(one, enumerate(requests)))


# =================================================================================================
# One deployment: three replicas, three plans (sync, alerts, commands), one database
# =================================================================================================

SYNC_PLAN, SYNC_CHANNEL = "RC-SYN", "C0RCSYNC1"
SYNC_TYPES = ["standup", "planning", "review", "retro", "end-of-day"]  # all due at the same minute
ALERT_PLAN, ALERT_CHANNEL, ALERT_CHANNELS = "RC-ALR", "C0RCALRT0", ("C0RCALRTA", "C0RCALRTB")
COMMAND_PLAN, COMMAND_CHANNEL, COMMAND_ALERTS = "RC-CMD", "C0RCCMD01", ("C0RCCMDAL",)


@pytest.fixture(scope="module")
def fire() -> datetime:
    """The minute at which both deployments' syncs are due: far enough for everything else to run first."""
    now = datetime.now(UTC)
    fire = (now + timedelta(minutes=1)).replace(second=0, microsecond=0)
    if fire - now < timedelta(seconds=30):
        fire += timedelta(minutes=1)
    return fire


@pytest.fixture(scope="module")
def kill_scenario(tmp_path_factory, fire):
    """Started at once (in the background) so that its wait for the minute overlaps the other tests'."""
    reason = pg.unreachable()
    if reason:
        pytest.skip(reason)
    scenario = KillScenario(tmp_path_factory.mktemp("killed"), fire)
    scenario.start()
    yield scenario
    scenario.close()


@pytest.fixture(scope="module")
def deployment(tmp_path_factory, fire, kill_scenario):
    directory = tmp_path_factory.mktemp("replicas")
    name, engine = fresh_store()
    sync = [{"time": f"{fire:%H:%M}", "type": t, "duration": "15min", "required": ["all-agents"]} for t in SYNC_TYPES]
    load(engine, directory, plan_document(SYNC_PLAN, SYNC_CHANNEL, agents=3, sync=sync))
    load(engine, directory, plan_document(ALERT_PLAN, ALERT_CHANNEL, alert_channels=ALERT_CHANNELS))
    load(
        engine,
        directory,
        plan_document(
            COMMAND_PLAN, COMMAND_CHANNEL, agents=6, tasks_per_agent=4, streams=2, alert_channels=COMMAND_ALERTS
        ),
    )
    for number in range(ALERTS):  # distinct events, so none is grouped into another
        execute(engine, ["event", f"incident-{number}", "--plan", ALERT_PLAN], OPERATOR)
    with SlowSlack() as slack:
        # A little slowness on alert posts keeps every replica's worker busy at the same time.
        slack.slow.append((lambda m, b: m == "chat.postMessage" and b.get("channel") in ALERT_CHANNELS, 0.05))
        replicas = start_replicas(directory, slack, name)
        try:
            for replica in replicas:
                replica.wait_healthy(timeout=30)
            yield SimpleNamespace(engine=engine, slack=slack, replicas=replicas, fire=fire)
        finally:
            stop_all(replicas)
            drop_store(name, engine)


@replicas_on_postgresql
def test_alerts_are_delivered_once_per_destination_with_every_replica_delivering(deployment):
    engine, slack = deployment.engine, deployment.slack
    with Session(engine) as session:
        plan_id = session.exec(select(Plan.id).where(Plan.key == ALERT_PLAN)).one()
        alert_ids = session.exec(select(Alert.id).where(Alert.plan_id == plan_id)).all()
    assert len(alert_ids) == ALERTS
    wanted = {(channel, alert) for channel in ALERT_CHANNELS for alert in alert_ids}
    assert wait_until(lambda: set(alert_posts(slack, ALERT_CHANNELS)) >= wanted, timeout=60), (
        f"{len(wanted - set(alert_posts(slack, ALERT_CHANNELS)))} deliveries never arrived"
    )
    time.sleep(3)  # one more round of every worker: a late double would show now
    counts = alert_posts(slack, ALERT_CHANNELS)
    assert set(counts) == wanted  # nothing lost, nothing sent elsewhere
    assert {key: n for key, n in counts.items() if n > 1} == {}  # nothing repeated
    with Session(engine) as session:
        rows = session.exec(
            select(AlertDelivery).join(Alert, Alert.id == AlertDelivery.alert_id).where(Alert.plan_id == plan_id)
        ).all()
    assert len(rows) == 2 * ALERTS and {r.status for r in rows} == {"sent"}
    assert all(r.external_ref and r.external_ref.split("|")[0] in ALERT_CHANNELS for r in rows)


# --- 300 concurrent commands ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def commands(deployment):
    """300 signed slash commands from 24 threads, round-robin over the replicas; every answer awaited."""
    engine, slack, replicas = deployment.engine, deployment.slack, deployment.replicas
    with Session(engine) as session:
        plan = session.exec(select(Plan).where(Plan.key == COMMAND_PLAN)).one()
        owners = dict(
            session.exec(
                select(Task.key, Agent.slack_user).join(Agent, Agent.id == Task.agent_id).where(Task.plan_id == plan.id)
            ).all()
        )
    rng = random.Random(20260105)
    hot = ["T1", "T2", "T5", "T6", "T9", "T13"]  # several commands each, from several replicas at once
    distinct = sorted(set(owners) - set(hot), key=lambda k: int(k[1:]))
    texts: list[str] = []
    for n in range(40):  # the same stream paused and resumed, over and over
        texts.append("pause s2 --reason r" + str(n) if n % 2 == 0 else "resume s2")
    for key in distinct:  # each of these tasks once through: start, block, start, done
        texts += [f"task start {key}", f"task block {key} --reason stuck", f"task start {key}", f"task done {key}"]
    while len(texts) < COMMANDS:
        action = rng.choice(["start", "start", "done", "block", "reopen"])
        texts.append(f"task {action} {rng.choice(hot)}" + (" --reason busy" if action == "block" else ""))
    rng.shuffle(texts)
    requests = []
    for number, text in enumerate(texts):
        words = text.split()
        # Agents move their own tasks half the time; the lead does the rest (and every pause).
        user = owners[words[2]] if words[0] == "task" and number % 2 else LEAD
        requests.append((text, f"cmd{number}z", user, COMMAND_CHANNEL))
    started = time.monotonic()
    sent = send_all(replicas, slack, requests)
    acked = [name for name, status in sent if status == 200]

    def answered() -> collections.Counter:
        return collections.Counter(
            c.method.removeprefix("response:") for c in slack.calls if c.method.startswith("response:cmd")
        )

    wait_until(lambda: all(answered()[n] for n in acked), timeout=90, step=0.5)
    took = time.monotonic() - started
    time.sleep(2)  # a late second answer would show now
    return SimpleNamespace(
        engine=engine,
        plan_id=plan.id,
        requests=requests,
        sent=sent,
        acked=acked,
        answers=answered(),
        took=took,
        replicas=replicas,
        slack=slack,
    )


@replicas_on_postgresql
def test_every_command_is_acked_and_answered_exactly_once(commands):
    assert len(commands.acked) == COMMANDS, [s for s in commands.sent if s[1] != 200][:5]
    counts = {name: commands.answers[name] for _, name, _, _ in commands.requests}
    assert {name: n for name, n in counts.items() if n != 1} == {}


@replicas_on_postgresql
def test_every_command_is_audited_once_and_none_failed_inside(commands):
    with Session(commands.engine) as session:
        entries = session.exec(
            select(AuditEntry.command, AuditEntry.outcome, AuditEntry.message).where(
                AuditEntry.plan_key == COMMAND_PLAN, AuditEntry.source.startswith("slack")
            )
        ).all()
    assert sorted(c for c, _, _ in entries) == sorted(t for t, _, _, _ in commands.requests)
    assert [e for e in entries if e[1] not in ("ok", "refused")] == []


@replicas_on_postgresql
def test_each_task_is_where_its_history_ends_and_its_history_is_unbroken(commands):
    """No two successful changes of a task started from the same state: some serial order explains them."""
    with Session(commands.engine) as session:
        tasks = session.exec(select(Task).where(Task.plan_id == commands.plan_id)).all()
        history = collections.defaultdict(list)
        for event in session.exec(
            select(TaskEvent)
            .join(Task, Task.id == TaskEvent.task_id)
            .where(Task.plan_id == commands.plan_id)
            .order_by(TaskEvent.id)
        ):
            history[event.task_id].append(event)
    assert sum(len(h) for h in history.values()) >= 60, "too few changes succeeded: the scenario did not run"
    broken, wrong_end = {}, {}
    for task in tasks:
        chain = ["ready"] + [e.to_status for e in history[task.id]]
        starts = [e.from_status for e in history[task.id]]
        if starts != chain[:-1]:
            broken[task.key] = [f"{e.from_status}->{e.to_status}" for e in history[task.id]]
        if task.status != chain[-1]:
            wrong_end[task.key] = (task.status, chain[-1])
    assert wrong_end == {}
    assert broken == {}


@replicas_on_postgresql
def test_each_done_count_is_the_number_of_its_done_events(commands):
    with Session(commands.engine) as session:
        done_events = dict(
            session.exec(
                select(Task.key, func.count(TaskEvent.id))
                .join(TaskEvent, TaskEvent.task_id == Task.id)
                .where(Task.plan_id == commands.plan_id, TaskEvent.to_status == "done")
                .group_by(Task.key)
            ).all()
        )
        counts = dict(session.exec(select(Task.key, Task.done_count).where(Task.plan_id == commands.plan_id)).all())
    assert {k: (n, done_events.get(k, 0)) for k, n in counts.items() if n != done_events.get(k, 0)} == {}


@replicas_on_postgresql
def test_each_agents_in_progress_counter_is_its_number_of_tasks_in_progress(commands):
    with Session(commands.engine) as session:
        counters = dict(
            session.exec(select(Agent.key, Agent.in_progress).where(Agent.plan_id == commands.plan_id)).all()
        )
        actual = dict(
            session.exec(
                select(Agent.key, func.count(Task.id))
                .join(Task, Task.agent_id == Agent.id)
                .where(Agent.plan_id == commands.plan_id, Task.status == "in-progress")
                .group_by(Agent.key)
            ).all()
        )
    assert {k: (n, actual.get(k, 0)) for k, n in counters.items() if n != actual.get(k, 0)} == {}


@replicas_on_postgresql
def test_the_stream_is_where_its_successful_pauses_and_resumes_alternate_to(commands):
    with Session(commands.engine) as session:
        moves = [
            c.split()[0]
            for c in session.exec(
                select(AuditEntry.command)
                .where(
                    AuditEntry.plan_key == COMMAND_PLAN,
                    AuditEntry.outcome == "ok",
                    AuditEntry.command.startswith("pause") | AuditEntry.command.startswith("resume"),
                )
                .order_by(AuditEntry.id)
            )
        ]
        status = session.exec(select(Stream.status).where(Stream.plan_id == commands.plan_id, Stream.key == "s2")).one()
    assert moves, "no pause or resume succeeded: the scenario did not run"
    expected = ["pause", "resume"] * len(moves)
    assert moves == expected[: len(moves)]
    assert status == ("paused" if moves[-1] == "pause" else "active")


@replicas_on_postgresql
def test_grouped_alerts_count_every_event(commands):
    """An event repeating within the group window adds one to its alert's count: none is lost."""
    with Session(commands.engine) as session:
        events = dict(
            session.exec(
                select(Event.name, func.count(Event.id)).where(Event.plan_id == commands.plan_id).group_by(Event.name)
            ).all()
        )
        counted = dict(
            session.exec(
                select(Alert.event_name, func.sum(Alert.group_count))
                .where(Alert.plan_id == commands.plan_id)
                .group_by(Alert.event_name)
            ).all()
        )
    assert {name: int(counted.get(name, 0)) for name in events} == events


@replicas_on_postgresql
def test_no_replica_logged_a_traceback_under_load(commands):
    assert tracebacks(commands.replicas) == []


# --- the sync slots, fired by every replica at the same minute --------------------------------------


@replicas_on_postgresql
def test_each_sync_slot_is_posted_once_whichever_replicas_fire_it(deployment):
    engine, slack = deployment.engine, deployment.slack
    wait = (deployment.fire - datetime.now(UTC)).total_seconds()
    wanted = sorted(f"Sync: {kind} ({SYNC_PLAN})" for kind in SYNC_TYPES)

    def posted(prefix: str) -> list:
        return [
            c
            for c in slack.calls_to("chat.postMessage")
            if c.body.get("channel") == SYNC_CHANNEL and str(c.body.get("text", "")).startswith(prefix)
        ]

    wait_until(lambda: len(posted("Sync: ")) >= len(wanted), timeout=max(wait, 0) + 30, step=0.5)
    wait_until(lambda: slack.calls_to("files.completeUploadExternal"), timeout=15)  # the summary's chart
    time.sleep(3)  # every replica fired at the same second: give the late ones time to (not) post
    with Session(engine) as session:
        slots = session.exec(
            select(SyncSlot).join(Plan, Plan.id == SyncSlot.plan_id).where(Plan.key == SYNC_PLAN)
        ).all()
        asked = dict(session.exec(select(SyncAnswer.slot_id, func.count()).group_by(SyncAnswer.slot_id)).all())
    logs = "\n".join(
        line
        for r in deployment.replicas
        for line in r.output().splitlines()
        if "sync" in line.lower() or "Error" in line
    )
    assert sorted(c.body["text"] for c in posted("Sync: ")) == wanted, (
        f"slots: {[(s.entry, s.status, s.claimed_by) for s in slots]}\nlogs:\n{logs[-3000:]}"
    )
    assert len(posted("End of day")) == 1 and len(slack.calls_to("files.completeUploadExternal")) == 1
    assert sorted(s.entry for s in slots) == sorted(SYNC_TYPES)
    assert [s.entry for s in slots if s.status != "posted" or not s.message_ts] == []
    assert {s.entry: asked.get(s.id) for s in slots} == {t: 3 for t in SYNC_TYPES}  # each agent asked once
    assert len({s.message_ts for s in slots}) == len(SYNC_TYPES)
    pids = {str(r.process.pid) for r in deployment.replicas}
    assert {s.claimed_by.rsplit(":", 1)[1] for s in slots} <= pids
    assert slack.errors == []
    assert tracebacks(deployment.replicas) == []


# =================================================================================================
# A replica killed with SIGKILL mid-work
# =================================================================================================

KILL_PLAN, KILL_CHANNEL, KILL_ALERTS = "RC-KIL", "C0RCKILL1", ("C0RCKILLA", "C0RCKILLB")
KILL_TYPES = ["standup"]
IN_FLIGHT = 45
PROMPT_DELAY = 5.0  # Slack's answer to a prompt post: the window in which its replica is killed
LEASE_S = 3  # the deliveries' lease in this scenario
# The sync claims' lease: the shortest `serve` accepts, the Slack client's request timeout plus the margin
# (models/rules/sync.py check_claim_lease). The victim's post, sent at its claim, lands PROMPT_DELAY later.
SLACK_TIMEOUT_S = 10  # the replicas' Slack client timeout here: longer than any delayed post below
SYNC_LEASE_S = SLACK_TIMEOUT_S + CLAIM_LEASE_MARGIN.total_seconds()


class KillScenario(threading.Thread):
    """Three replicas of a second deployment, started with the first one, their sync due at the same minute.

    At that minute: every replica fires the slots (Slack answers prompt posts slowly), 60 alerts held back
    until then fall due on every delivery worker, and event commands arrive on every replica. The replica
    that claimed a slot is killed with SIGKILL while it is posting it, with deliveries and commands in
    flight; a replacement starts, as an orchestrator would restart it; everyone gets time to finish.
    """

    def __init__(self, directory, fire: datetime):
        super().__init__(name="kill-scenario", daemon=True)
        self.directory, self.fire = directory, fire
        self.name_, self.engine = fresh_store()
        sync = [
            {"time": f"{fire:%H:%M}", "type": t, "duration": "15min", "required": ["all-agents"]} for t in KILL_TYPES
        ]
        load(
            self.engine,
            directory,
            plan_document(KILL_PLAN, KILL_CHANNEL, agents=2, sync=sync, alert_channels=KILL_ALERTS),
        )
        for number in range(ALERTS):
            execute(self.engine, ["event", f"incident-{number}"], OPERATOR)
        with Session(self.engine) as session:  # held back: they fall due at the sync's minute
            for delivery in session.exec(select(AlertDelivery)):
                delivery.next_attempt_at = fire
                session.add(delivery)
            session.commit()
        self.slack = SlowSlack().start()
        self.slack.slow += [
            (lambda m, b: m == "chat.postMessage" and str(b.get("text", "")).startswith("Sync: "), PROMPT_DELAY),
            (lambda m, b: m == "chat.postMessage" and b.get("channel") in KILL_ALERTS, 0.1),
        ]
        # Short leases, so that work a dead replica held passes to the others within the test: the
        # deliveries' can be 3 s (the survivors' posts take less than that); the sync claims' cannot be
        # shorter than a post may be in flight, the Slack client's timeout (10 s here) and a margin: 25 s.
        self.env = {
            "ORCHESTRATE_DELIVERY_LEASE_SECONDS": str(LEASE_S),
            "ORCHESTRATE_SLACK_TIMEOUT_SECONDS": str(SLACK_TIMEOUT_S),
            "ORCHESTRATE_SYNC_CLAIM_LEASE_SECONDS": f"{SYNC_LEASE_S:g}",
        }
        self.replicas = start_replicas(directory, self.slack, self.name_, env=self.env)
        self.flight: list[tuple[str, int | None]] = []
        self.victim = self.victim_index = self.slot_id = None
        self.error: BaseException | None = None
        self.notes: list[str] = []
        self.cancelled = threading.Event()  # set when the module ends before the scenario ran

    def run(self) -> None:
        try:
            self._run()
        except BaseException as exc:  # noqa: BLE001 - handed to the tests by the fixture
            self.error = exc

    def _claimed(self):
        with Session(self.engine) as session:
            return session.exec(select(SyncSlot).where(SyncSlot.status == "claimed")).first()

    def _run(self) -> None:
        for replica in self.replicas:
            replica.wait_healthy(timeout=30)
        if self.cancelled.wait(max((self.fire - datetime.now(UTC)).total_seconds() - 2, 0)):
            return
        requests = [(f"event flight-{n}", f"flight{n}z", LEAD, KILL_CHANNEL) for n in range(IN_FLIGHT)]
        sender = threading.Thread(
            target=lambda: self.flight.extend(send_all(self.replicas, self.slack, requests, threads=1, pace=0.12))
        )
        sender.start()
        try:
            limit = (self.fire - datetime.now(UTC)).total_seconds() + 20
            if not wait_until(lambda: self._claimed() is not None, timeout=limit, step=0.05):
                raise SetupProblem("no replica claimed a slot:\n" + "\n".join(r.output() for r in self.replicas))
            slot = self._claimed()
            claimed_at = time.monotonic()
            by_pid = {r.process.pid: r for r in self.replicas}
            self.victim = by_pid.get(int(slot.claimed_by.rsplit(":", 1)[1]))
            if self.victim is None:
                raise SetupProblem(f"slot claimed by {slot.claimed_by}, not one of {sorted(by_pid)}")
            self.victim_index, self.slot_id = self.replicas.index(self.victim), slot.id
            # Let the deliveries get going everywhere, well inside the prompt's slow post.
            wait_until(
                lambda: (
                    len(alert_posts(self.slack, KILL_ALERTS)) >= 20 or time.monotonic() - claimed_at > PROMPT_DELAY / 2
                ),
                timeout=PROMPT_DELAY,
                step=0.05,
            )
            with Session(self.engine) as session:
                still_claimed = session.get(SyncSlot, slot.id).status == "claimed"
                in_flight = session.exec(
                    select(func.count())
                    .select_from(AlertDelivery)
                    .where(AlertDelivery.status == "pending", AlertDelivery.attempts > 0)
                ).one()
            os.kill(self.victim.process.pid, signal.SIGKILL)
            self.victim.process.wait()
            self.notes.append(
                f"killed replica {self.victim_index} {time.monotonic() - claimed_at:.2f}s after "
                f"its claim, {len(alert_posts(self.slack, KILL_ALERTS))} alert posts done, "
                f"{in_flight} deliveries claimed and unsent"
            )
            if not still_claimed:
                raise SetupProblem("the victim finished posting its slot before it was killed")
        finally:
            sender.join(timeout=60)
        # Restarted, as an orchestrator would, once the victim's claim is past its lease: its catch-up at
        # start-up may take the slot over (or a survivor's tick does).
        time.sleep(max(claimed_at + SYNC_LEASE_S + 0.5 - time.monotonic(), 0))
        replacement = ServeProcess(self.directory, self.slack.url, pg.url(self.name_), extra_env=self.env)
        self.replicas.append(replacement)
        replacement.wait_healthy(timeout=30)
        # Posts the victim had in flight are in doubt: each channel's are settled by one look in its history,
        # and Slack lets the app look once a minute, shared with the slot's taker: up to a few minutes.
        wait_until(lambda: undelivered(self.engine) == 0, timeout=240)
        time.sleep(5)  # past one more lease: anything still in flight would show up now

    def close(self) -> None:
        self.cancelled.set()  # no test asked for it (say, -k chose others): do not wait for the minute
        self.join(timeout=420)
        stop_all(self.replicas)
        self.slack.stop()
        drop_store(self.name_, self.engine)


@pytest.fixture(scope="module")
def killed(kill_scenario):
    kill_scenario.join(timeout=420)
    if kill_scenario.is_alive():
        raise SetupProblem("the kill scenario did not finish in 7 minutes")
    if kill_scenario.error is not None:
        raise kill_scenario.error
    return kill_scenario


@replicas_on_postgresql
def test_after_a_kill_every_alert_is_delivered_once_per_destination(killed):
    with Session(killed.engine) as session:
        rows = session.exec(select(AlertDelivery)).all()
    assert len(rows) >= 2 * ALERTS and [r.id for r in rows if r.status != "sent"] == []
    wanted = {(KILL_ALERTS[int(r.destination[1:])], r.alert_id) for r in rows}
    counts = alert_posts(killed.slack, KILL_ALERTS)
    assert set(counts) == wanted, killed.notes  # nothing lost
    assert {key: n for key, n in counts.items() if n > 1} == {}, killed.notes  # nothing doubled


@replicas_on_postgresql
def test_after_a_kill_each_command_happened_whole_or_not_at_all(killed):
    """A command the dead replica had acked is never half-applied (another replica completes it once:
    tests/test_command_takeover.py); the others answer every command they acked, once. One the dead
    replica answered just before dying, before it could record that, is answered again by the replica
    that takes it over, with a note that it was done (never done again)."""
    acked_by_others = [
        name
        for index, (name, status) in enumerate(killed.flight)
        if status == 200 and index % REPLICAS != killed.victim_index
    ]
    assert len(killed.flight) == IN_FLIGHT and len(acked_by_others) >= IN_FLIGHT // 2
    answers = collections.Counter(
        c.method.removeprefix("response:") for c in killed.slack.calls if c.method.startswith("response:flight")
    )
    assert {n: answers[n] for n in acked_by_others if answers[n] != 1} == {}
    for name in [n for n, c in answers.items() if c > 1]:
        texts = [json.dumps(c.body) for c in killed.slack.calls if c.method == f"response:{name}"]
        notes = [t for t in texts if "was done (the bot restarted before it could answer)" in t]
        assert len(notes) == len(texts) - 1, texts
    with Session(killed.engine) as session:
        events = set(session.exec(select(Event.name).where(Event.name.startswith("flight-"))).all())
        audited = {
            c.split()[1]
            for c in session.exec(
                select(AuditEntry.command).where(
                    AuditEntry.command.startswith("event flight-"), AuditEntry.outcome == "ok"
                )
            ).all()
        }
        alerted = set(session.exec(select(Alert.event_name).where(Alert.event_name.startswith("flight-"))).all())
    assert events == audited == alerted
    assert {f"flight-{name[6:-1]}" for name in acked_by_others} <= events


@replicas_on_postgresql
def test_after_a_kill_no_slot_is_left_claimed_but_unposted(killed):
    """The victim died with its prompt's post in flight: Slack still got it, and it lands a few seconds
    later. The replica that takes the claim over after its lease finds it in the channel, and records it
    instead of posting a second one."""

    def settled():
        with Session(killed.engine) as session:
            return all(s.status == "posted" for s in session.exec(select(SyncSlot)))

    # The taker's look in the channel may be refused (conversations.history: one call a minute for the
    # app, which the replicas' looks for alerts in doubt share): it looks again after the Retry-After.
    wait_until(settled, timeout=180)
    prompts = collections.Counter(
        c.body.get("text")
        for c in killed.slack.calls_to("chat.postMessage")
        if str(c.body.get("text", "")).startswith("Sync: ")
    )
    assert prompts == {f"Sync: {t} ({KILL_PLAN})": 1 for t in KILL_TYPES}  # each once, the victim's too
    with Session(killed.engine) as session:
        slots = session.exec(select(SyncSlot)).all()
    assert {s.entry: s.status for s in slots} == {t: "posted" for t in KILL_TYPES}
    assert all(s.message_ts for s in slots)
    # Recorded by the replica that took the claim over, from the channel: the victim died before it could.
    taker = next(s.claimed_by for s in slots if s.id == killed.slot_id)
    assert taker.rsplit(":", 1)[1] != str(killed.victim.process.pid)


@replicas_on_postgresql
def test_the_others_logged_no_traceback(killed):
    assert tracebacks([r for r in killed.replicas if r is not killed.victim]) == []


# =================================================================================================
# Starting together on an empty database
# =================================================================================================


@replicas_on_postgresql
def test_three_replicas_started_together_on_an_empty_database_all_come_up(tmp_path):
    with pg.empty_database() as (name, engine), FakeSlack() as slack:
        replicas = start_replicas(tmp_path, slack, name)
        try:
            problems = []
            for replica in replicas:
                try:
                    replica.wait_healthy(timeout=30)
                except AssertionError as exc:
                    errors = [line for line in str(exc).splitlines() if "Error:" in line]
                    problems.append(errors[-1][:300] if errors else str(exc)[-500:])
        finally:
            stop_all(replicas)
        assert problems == []
        assert current_revision(engine) == head_revision()


# =================================================================================================
# Found with the replicas, shown on one process: runs on both stores
# =================================================================================================


def test_a_plans_second_prompt_of_the_day_is_posted(started, engine):
    """The standup at 09:00, then the progress check at 13:00: both posted. (The second prompt reads the
    agents' health, which counts the answers to the first.)"""
    from slack_sdk import WebClient

    from bot import scheduler

    with FakeSlack() as slack:
        scheduler.use(engine, WebClient(token="xoxb-test", base_url=slack.url), clock=lambda: started.now)
        try:
            scheduler.run_slot("TR-ORCH-001", "standup")
            started.advance(hours=4)
            scheduler.run_slot("TR-ORCH-001", "progress-check")
        finally:
            scheduler._runtime = None
        texts = [c.body.get("text") for c in slack.calls_to("chat.postMessage")]
    assert texts == ["Sync: standup (TR-ORCH-001)", "Sync: progress-check (TR-ORCH-001)"]


def test_a_slot_taken_over_from_a_dead_claim_is_not_posted_twice(started, engine):
    """A replica claims the standup and posts it, then dies before recording where (its store is gone):
    the one that takes the stale claim over finds the prompt in the channel instead of posting it again."""
    from slack_sdk import WebClient

    import models.rules.sync
    from bot import scheduler
    from bot.sync_post import post_prompt
    from models.plan.settings import calendar_of
    from models.rules.sync import ask, claim_slot, scheduled_entries

    with FakeSlack() as slack:
        slack.clock = lambda: started.now.timestamp()  # Slack's clock and the bot's agree
        client = WebClient(token="xoxb-test", base_url=slack.url)
        with Session(engine) as session:  # the dead replica's work, up to its post
            plan = session.exec(select(Plan).where(Plan.key == "TR-ORCH-001")).one()
            entry = next(e for e in scheduled_entries(plan) if e.type == "standup")
            slot = claim_slot(
                session, plan, entry, calendar_of(plan).local_date(started.now), now=started.now, by="dead:1"
            )
            prompt = ask(session, plan, slot, entry.type, entry.required, now=started.now)
            channel, slot_id = plan.channel, slot.id
            session.commit()
        unreachable = make_engine("sqlite:////nonexistent-directory/store.db")
        with pytest.raises(OperationalError):  # posted, then it could not record the post: as if killed
            post_prompt(client, unreachable, prompt, channel, now=started.now)
        unreachable.dispose()
        assert len(slack.calls_to("chat.postMessage")) == 1

        scheduler.use(engine, client, clock=lambda: started.now)
        try:
            started.advance(
                seconds=getattr(models.rules.sync, "CLAIM_LEASE", timedelta(minutes=2)).total_seconds() + 60
            )
            scheduler.tick()
            scheduler.tick()
        finally:
            scheduler._runtime = None
        prompts = [c for c in slack.calls_to("chat.postMessage") if str(c.body.get("text", "")).startswith("Sync: ")]
    with Session(engine) as session:
        slot = session.get(SyncSlot, slot_id)
    assert slot.status == "posted" and slot.message_ts  # taken over
    assert len(prompts) == 1  # and not posted twice


def test_serve_refuses_a_sync_claim_lease_shorter_than_a_post_may_be_in_flight(tmp_path):
    """A lease shorter than the Slack client's timeout (30 s) plus the margin would let a replica look for a
    dead one's prompt before it lands: `serve` says so and does not start."""
    with FakeSlack() as slack:
        replica = ServeProcess(
            tmp_path,
            slack.url,
            f"sqlite:///{tmp_path / 'store.db'}",
            extra_env={"ORCHESTRATE_SYNC_CLAIM_LEASE_SECONDS": "30"},
        )
        try:
            assert replica.process.wait(timeout=30) == 1
        finally:
            replica.stop()
    assert "ORCHESTRATE_SYNC_CLAIM_LEASE_SECONDS is 30: it must be at least 45" in replica.output()
    assert "Traceback" not in replica.output()


def test_a_taken_over_slot_whose_prompt_asked_nobody_is_not_posted_twice(started, engine):
    """The 13:00 progress check asks the active agents: nobody, this early. The dead claimer posted it all
    the same; the replica that takes it over finds it in the channel rather than posting a second one."""
    from slack_sdk import WebClient

    import models.rules.sync
    from bot import scheduler
    from bot.blocks import render_body_dicts
    from models.plan.settings import calendar_of
    from models.rules.sync import ask, claim_slot, scheduled_entries

    started.advance(hours=4)
    with FakeSlack() as slack:
        slack.clock = lambda: started.now.timestamp()  # Slack's clock and the bot's agree
        client = WebClient(token="xoxb-test", base_url=slack.url)
        with Session(engine) as session:  # the dead replica's work, its post included
            plan = session.exec(select(Plan).where(Plan.key == "TR-ORCH-001")).one()
            entry = next(e for e in scheduled_entries(plan) if e.type == "progress-check")
            slot = claim_slot(
                session, plan, entry, calendar_of(plan).local_date(started.now), now=started.now, by="dead:1"
            )
            prompt = ask(session, plan, slot, entry.type, entry.required, now=started.now)
            channel = plan.channel
            session.commit()
        assert prompt.agents == []
        client.chat_postMessage(
            channel=channel, text="Sync: progress-check (TR-ORCH-001)", blocks=render_body_dicts(prompt)
        )
        scheduler.use(engine, client, clock=lambda: started.now)
        try:
            started.advance(seconds=models.rules.sync.CLAIM_LEASE.total_seconds() + 30)
            scheduler.tick()
            scheduler.tick()
        finally:
            scheduler._runtime = None
        prompts = [c for c in slack.calls_to("chat.postMessage") if str(c.body.get("text", "")).startswith("Sync: ")]
    with Session(engine) as session:
        assert session.get(SyncSlot, prompt.slot_id).status == "posted"
    assert len(prompts) == 1


def test_a_claimer_slower_than_its_lease_does_not_post_once_taken_over(started, engine):
    """Right before posting, the claimer checks that the claim is still its own (and restarts its lease)."""
    from models.plan.settings import calendar_of
    from models.rules.sync import CLAIM_LEASE, claim, hold_claim, scheduled_entries

    with Session(engine) as session:
        plan = session.exec(select(Plan).where(Plan.key == "TR-ORCH-001")).one()
        entry = next(e for e in scheduled_entries(plan) if e.type == "standup")
        day = calendar_of(plan).local_date(started.now)
        first = claim(session, plan, entry, day, now=started.now, by="slow:1")
        session.commit()
        assert first is not None and not first.taken_over
        assert claim(session, plan, entry, day, now=started.now + CLAIM_LEASE / 2, by="other:2") is None
        assert hold_claim(session, first.slot.id, by="slow:1", now=started.now + CLAIM_LEASE / 2)  # restarts it
        assert claim(session, plan, entry, day, now=started.now + CLAIM_LEASE, by="other:2") is None
        later = started.now + CLAIM_LEASE * 2
        second = claim(session, plan, entry, day, now=later, by="other:2")
        session.commit()
        assert second is not None and second.taken_over
        assert not hold_claim(session, first.slot.id, by="slow:1", now=later)  # no longer its own: no post
        assert hold_claim(session, first.slot.id, by="other:2", now=later)
