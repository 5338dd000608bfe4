"""PostgreSQL restarted under three running `orchestrate serve --http` replicas.

What the scale-out promises (README, "Running several replicas"): each replica keeps a bounded
pool, and a PostgreSQL restart during operation costs errors on the requests in flight only; the
replicas reconnect by themselves. So, with commands arriving all along:

- nothing acknowledged before or during the restart is lost;
- a command that meets the restart gets an answer saying it failed (never silence, never a crash);
- once the server is back, every replica answers every command, unrestarted;
- no replica ever holds more connections than its pool allows.

The server is one of the test's own (tests/pg.py ``Server``): restarting the shared one would break
whatever else is using it. Real processes, real HTTP, a real restart: about 15 seconds. Run with -s
to see what the restart cost (commands sent while the server was down, how many failed, how long the
replicas took to answer again, the most connections each held).
"""

from __future__ import annotations

import collections
import re
import threading
import time
import urllib.error
from concurrent.futures import ThreadPoolExecutor
from types import SimpleNamespace

import psycopg
import pytest
from sqlmodel import Session, func, select

from models.db.store import make_engine, upgrade
from models.db.tables import AcceptedRequest, Alert, AlertDelivery, AuditEntry, Event, Plan, Stream, Task
from tests import pg
from tests.fake_slack import FakeSlack
from tests.serve_process import ServeProcess
from tests.slack_app import body_of, texts
from tests.test_api import TOKEN, call
from tests.test_replicas import (
    LEAD,
    REPLICAS,
    alert_posts,
    load,
    plan_document,
    replicas_on_postgresql,
    send_all,
    undelivered,
    wait_until,
)

PLAN, CHANNEL, ALERTS = "RS-PGR", "C0RSPGR01", "C0RSPGRAL"
POOL_LIMIT = 10  # models/db/store.py make_engine: pool_size=5 + max_overflow=5
BURST = 60  # status commands from 24 threads (a replica works on 5 commands at a time)...
API_BURST = 240  # ... and API calls from 60 threads at the same time (the web server's pool has 40 threads)
PACE = 0.05  # seconds between two commands of the steady stream
COMMAND_LEASE_S = 10  # after which another replica completes a command acked and not marked answered
DOWN_S = 1.0  # how long the server stays down: commands keep arriving meanwhile

# How a command that fails inside tells its user (commands/core/dispatch.py).
FAILED = re.compile(r"something went wrong on our side running `\w+`; nothing was changed")
# What a lost or refused connection raises, as the replicas' logs show it (tracebacks, chains included).
CONNECTION_LOST = {
    "psycopg.OperationalError",
    "psycopg.errors.AdminShutdown",
    "sqlalchemy.exc.OperationalError",
    "sqlalchemy.exc.InvalidatePoolError",
}
# Log lines, not exceptions: the log levels, and the fields PostgreSQL adds under its message
# (an AdminShutdown met while a statement ran says where, on a "CONTEXT:" line).
LEVELS = {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL", "DETAIL", "HINT", "CONTEXT"}


def answer_of(slack, name: str) -> str | None:
    """The text of the answer to a command sent with response URL ``name``, once it came."""
    calls = slack.calls_to(f"response:{name}")
    if not calls:
        return None
    body = body_of(calls[-1])
    return (body.get("text") or "") + "\n" + texts(body.get("blocks") or [])


def answers(slack, prefix: str) -> collections.Counter:
    return collections.Counter(
        c.method.removeprefix("response:") for c in slack.calls if c.method.startswith(f"response:{prefix}")
    )


def command(replica, slack, text: str, name: str, timeout: float = 15) -> str:
    """Send one signed slash command and return the answer's text."""
    status, _ = replica.slash(text, slack.response_url(name), user=LEAD, channel=CHANNEL, channel_name=CHANNEL.lower())
    assert status == 200, f"{text}: HTTP {status}"
    assert wait_until(lambda: answer_of(slack, name) is not None, timeout=timeout), f"{text}: no answer"
    return answer_of(slack, name)


def health(replica) -> int | None:
    """The HTTP status of the replica's /healthz (None: no answer)."""
    try:
        return replica.get("/healthz")[0]
    except urllib.error.HTTPError as exc:
        return exc.code
    except OSError:
        return None


def healthy(replica) -> bool:
    return health(replica) == 200


class ConnectionCounter(threading.Thread):
    """Samples pg_stat_activity: the most connections each replica (by application_name) held at once."""

    def __init__(self, url: str, database: str):
        super().__init__(name="connection-counter", daemon=True)
        self.url, self.database = url, database
        self.most: collections.Counter = collections.Counter()
        self.samples = 0
        self.done = threading.Event()

    def run(self) -> None:
        connection = None
        while not self.done.wait(0.05):
            try:
                if connection is None or connection.closed:
                    connection = psycopg.connect(self.url.replace("+psycopg", ""), autocommit=True, connect_timeout=2)
                rows = connection.execute(
                    "SELECT application_name, count(*) FROM pg_stat_activity WHERE datname = %s "
                    "GROUP BY application_name",
                    (self.database,),
                ).fetchall()
            except psycopg.Error:  # the server is restarting: sample again once it is back
                connection = None
                continue
            self.samples += 1
            for name, count in rows:
                self.most[name] = max(self.most[name], count)
        if connection is not None:
            connection.close()


class CommandStream(threading.Thread):
    """`event probe-N` commands at a steady pace, round-robin over the replicas, until stopped."""

    def __init__(self, replicas, slack):
        super().__init__(name="command-stream", daemon=True)
        self.replicas, self.slack = replicas, slack
        self.sent: list[tuple[int, float, int | None]] = []  # (n, monotonic time sent, HTTP status)
        self.acks: dict[int, str] = {}  # n -> the ack's body (a refusal at the ack says so in it)
        self.done = threading.Event()

    def run(self) -> None:
        n = 0
        while not self.done.is_set():
            at = time.monotonic()
            try:
                status, self.acks[n] = self.replicas[n % len(self.replicas)].slash(
                    f"event probe-{n}",
                    self.slack.response_url(f"probe{n}z"),
                    user=LEAD,
                    channel=CHANNEL,
                    channel_name=CHANNEL.lower(),
                )
            except OSError:
                status = None
            self.sent.append((n, at, status))
            n += 1
            time.sleep(max(at + PACE - time.monotonic(), 0))


def refused_at_ack(run, n: int) -> bool:
    """The command met the store down at its ack, whose text said that nothing was done (bot/slash.py)."""
    return "nothing was done" in run.acks.get(n, "")


def unfinished_commands(engine) -> int:
    with Session(engine) as session:
        return session.exec(
            select(func.count()).select_from(AcceptedRequest).where(AcceptedRequest.finished_at.is_(None))
        ).one()


def unsent_rows(engine) -> list[dict]:
    """The deliveries not sent, as the store has them: what an assertion about them should show."""
    fields = ("id", "status", "attempts", "last_error", "next_attempt_at", "doubt_since", "doubt_until")
    with Session(engine) as session:
        rows = session.exec(select(AlertDelivery).where(AlertDelivery.status != "sent")).all()
        return [{name: getattr(row, name) for name in fields} for row in rows]


def history_looks(slack, since: float) -> list[str]:
    """Each conversations.history call after ``since`` (monotonic): seconds after it, channel, answer."""
    return [
        f"{c.at - since:.1f}s {c.body.get('channel')} {'refused' if c.failed else 'ok'}"
        for c in slack.calls_to("conversations.history", include_failed=True)
        if c.at >= since
    ]


def alert_count(engine) -> int:
    with Session(engine) as session:
        return session.exec(select(func.count()).select_from(Alert)).one()


def api_burst(replicas) -> list[int]:
    """HTTP statuses of API_BURST metric reports, round-robin over the replicas, from 60 threads."""

    def one(n: int) -> int:
        try:
            return call(
                replicas[n % len(replicas)].base,
                "POST",
                "/api/v1/metrics",
                {"name": "load", "value": f"{n % 100}%", "plan": PLAN},
            )[0]
        except OSError:
            return 0

    with ThreadPoolExecutor(max_workers=60) as pool:
        return list(pool.map(one, range(API_BURST)))


def figures(run) -> dict:
    """What the restart cost, for the record (-s shows it)."""
    failed = [(n, at) for n, at, _ in run.stream if run.probes.get(n) and FAILED.search(run.probes[n])]
    return {
        "down_s": round(run.up_at - run.down_at, 2),
        "recovered_s_after_up": round(run.healthy_at - run.up_at, 2),
        "commands": len(run.stream),
        "sent_while_down": sum(run.down_at <= at < run.up_at for _, at, _ in run.stream),
        "failed": len(failed),
        "refused_at_ack": sum(refused_at_ack(run, n) for n, _, _ in run.stream),
        "failed_sent_at_s_from_down": [round(at - run.down_at, 2) for _, at in failed],
        "pool_most": dict(run.counter.most),
        "a_failure": run.probes[failed[0][0]] if failed else None,
    }


@pytest.fixture(scope="module")
def restarted(tmp_path_factory):
    """Three replicas on a server of the test's own; commands before, during and after its restart."""
    directory = tmp_path_factory.mktemp("pg-restart")
    with pg.Server() as server:
        name = server.create_database()
        engine = make_engine(server.url(name))
        upgrade(engine)
        load(engine, directory, plan_document(PLAN, CHANNEL, agents=4, streams=2, alert_channels=(ALERTS,)))
        with FakeSlack() as slack:
            replicas = [
                ServeProcess(
                    directory,
                    slack.url,
                    server.url(name, application_name=f"orch-replica-{i}"),
                    extra_env={
                        "ORCHESTRATE_API_TOKEN": TOKEN,
                        "ORCHESTRATE_DELIVERY_LEASE_SECONDS": "3",
                        # A command left unfinished is taken over within the run (what would run again shows)
                        "ORCHESTRATE_COMMAND_LEASE_SECONDS": str(COMMAND_LEASE_S),
                    },
                )
                for i in range(REPLICAS)
            ]
            counter = ConnectionCounter(server.url(), name)
            stream = CommandStream(replicas, slack)
            try:
                for replica in replicas:
                    replica.wait_healthy(timeout=30)
                counter.start()
                run = SimpleNamespace(engine=engine, slack=slack, replicas=replicas, counter=counter, server=server)

                # Before: changes acknowledged to their users.
                run.before = [
                    command(replicas[0], slack, "task start T1", "before1z"),
                    command(replicas[1], slack, "pause s2 --reason before-the-restart", "before2z"),
                    command(replicas[2], slack, "event before-the-restart", "before3z"),
                ]

                # A burst of commands and API calls at once, more than the pools hold.
                with ThreadPoolExecutor(max_workers=1) as aside:
                    api = aside.submit(api_burst, replicas)
                    requests = [("status", f"burst{n}z", LEAD, CHANNEL) for n in range(BURST)]
                    run.burst = send_all(replicas, slack, requests, threads=24)
                    run.api_burst = api.result()
                wait_until(lambda: len(answers(slack, "burst")) >= BURST, timeout=30)

                # The restart, with commands arriving all along.
                stream.start()
                time.sleep(1.0)
                run.down_at = time.monotonic()
                server.stop("fast")
                run.healthz_down = [health(r) for r in replicas]  # what a load balancer's check sees now
                time.sleep(max(run.down_at + DOWN_S - time.monotonic(), 0))
                server.start()
                run.up_at = time.monotonic()
                wait_until(lambda: all(healthy(r) for r in replicas), timeout=30, step=0.05)
                run.healthy_at = time.monotonic()
                time.sleep(1.5)  # commands after the recovery...
                # ...until the run has raised enough alerts to judge delivery by (fewer get sent on a busy machine)
                wait_until(lambda: alert_count(engine) >= 45, timeout=60)
                stream.done.set()
                stream.join(timeout=15)
                run.stream, run.acks = stream.sent, stream.acks
                acked = [n for n, _, status in stream.sent if status == 200 and not refused_at_ack(run, n)]
                wait_until(lambda: all(answers(slack, f"probe{n}z")[f"probe{n}z"] for n in acked), timeout=30)
                # Every command acked is marked answered, or taken over once its lease runs out: past the
                # lease, whatever another replica would run again has run.
                wait_until(lambda: unfinished_commands(engine) == 0, timeout=COMMAND_LEASE_S + 30)
                run.probes = {n: answer_of(slack, f"probe{n}z") for n, _, _ in stream.sent}
                run.figures = figures(run)
                print(run.figures)

                # After: the replicas, never restarted, answer again.
                run.healthz = [healthy(r) for r in replicas]
                run.after = [
                    command(replicas[0], slack, "pause s1 --reason after-the-restart", "after1z"),
                    command(replicas[1], slack, "status", "after2z"),
                    command(replicas[2], slack, "resume s1", "after3z"),
                    command(replicas[0], slack, "status", "after4z"),
                ]
                # Every event raises an alert: the delivery workers, never restarted, send them all.
                # A post in doubt after the restart is settled by a look in its channel's history, which
                # Slack allows the app once a minute: allow a few minutes, done as soon as it is.
                run.settling_from = time.monotonic()
                wait_until(lambda: undelivered(engine) == 0, timeout=180)
                run.settled_s = round(time.monotonic() - run.settling_from, 1)
                run.unsent, run.looks = unsent_rows(engine), history_looks(slack, run.down_at)
                time.sleep(1)  # a late second answer or post, or a late failure in a log, would show now
                run.alive = [r.process.poll() is None for r in replicas]
                run.logs = [r.output() for r in replicas]
                yield run
            finally:
                stream.done.set()
                counter.done.set()
                for replica in replicas:
                    replica.stop()
                engine.dispose()


@replicas_on_postgresql
def test_changes_acknowledged_before_the_restart_are_all_there_after_it(restarted):
    assert "T1 'Task 1 of a1' is now in-progress." in restarted.before[0], restarted.before[0]
    assert "Paused s2" in restarted.before[1], restarted.before[1]
    assert "Event before-the-restart raised." in restarted.before[2], restarted.before[2]
    with Session(restarted.engine) as session:
        plan = session.exec(select(Plan).where(Plan.key == PLAN)).one()
        t1 = session.exec(select(Task.status).where(Task.plan_id == plan.id, Task.key == "T1")).one()
        s2 = session.exec(select(Stream.status).where(Stream.plan_id == plan.id, Stream.key == "s2")).one()
        events = set(session.exec(select(Event.name).where(Event.plan_id == plan.id)).all())
        audited = session.exec(
            select(AuditEntry.command).where(AuditEntry.plan_key == PLAN, AuditEntry.outcome == "ok")
        ).all()
    assert (t1, s2) == ("in-progress", "paused")
    assert "before-the-restart" in events
    assert {"task start T1", "pause s2 --reason before-the-restart", "event before-the-restart"} <= set(audited)


@replicas_on_postgresql
def test_a_command_that_meets_the_restart_fails_aloud_and_one_that_succeeded_is_kept(restarted):
    acked = [n for n, _, status in restarted.stream if status == 200]
    assert len(acked) == len(restarted.stream) >= 40  # every one was acked...
    # ...those that met the store down at their ack by saying so (the command is recorded before its ack)
    refused = [n for n in acked if refused_at_ack(restarted, n)]
    unanswered = [n for n in acked if n not in refused and restarted.probes[n] is None]
    assert unanswered == []
    failed = refused + [n for n in acked if n not in refused and FAILED.search(restarted.probes[n])]
    succeeded = [n for n in acked if n not in refused and f"Event probe-{n} raised." in restarted.probes[n]]
    assert sorted(failed + succeeded) == acked, {n: restarted.probes[n] for n in set(acked) - set(failed + succeeded)}
    with Session(restarted.engine) as session:
        stored = set(session.exec(select(Event.name).where(Event.name.startswith("probe-"))).all())
    assert {f"probe-{n}" for n in succeeded} <= stored  # every success the user saw is in the store
    assert {f"probe-{n}" for n in failed} & stored == set()  # and a failure changed nothing, as it says
    # Each command once: no answer twice, none repeated in the store.
    assert {n: c for n, c in answers(restarted.slack, "probe").items() if c > 1} == {}
    with Session(restarted.engine) as session:
        names = session.exec(select(Event.name).where(Event.name.startswith("probe-"))).all()
    assert len(names) == len(set(names))


@replicas_on_postgresql
def test_once_the_server_is_back_every_replica_answers_every_command_unrestarted(restarted):
    assert restarted.alive == [True] * REPLICAS
    assert 200 not in restarted.healthz_down  # while the server was down, no replica said it was healthy
    assert restarted.healthz == [True] * REPLICAS
    after_recovery = [n for n, at, _ in restarted.stream if at >= restarted.healthy_at]
    assert len(after_recovery) >= 10
    assert {
        n: restarted.probes[n] for n in after_recovery if f"Event probe-{n} raised." not in restarted.probes[n]
    } == {}
    paused, status_paused, resumed, status_resumed = restarted.after
    assert "Paused s1" in paused, paused
    assert re.search(r"s1\b.*Paused", status_paused) and re.search(r"s2\b.*Paused", status_paused), status_paused
    assert "Resumed s1" in resumed, resumed
    assert re.search(r"s1\b.*Starting", status_resumed), status_resumed
    assert re.search(r"s2\b.*Paused", status_resumed), status_resumed
    with Session(restarted.engine) as session:
        plan = session.exec(select(Plan).where(Plan.key == PLAN)).one()
        streams = dict(session.exec(select(Stream.key, Stream.status).where(Stream.plan_id == plan.id)).all())
    assert streams == {"s1": "active", "s2": "paused"}


@replicas_on_postgresql
def test_every_alert_raised_around_the_restart_is_delivered_once(restarted):
    """The delivery workers lost their connections too (a post may have gone out with its row left unmarked):
    each alert is posted once all the same."""
    with Session(restarted.engine) as session:
        alerts = set(session.exec(select(Alert.id)).all())
        statuses = collections.Counter(session.exec(select(AlertDelivery.status)).all())
    diagnosis = {"unsent": restarted.unsent, "history looks since the restart": restarted.looks}
    assert len(alerts) >= 40 and statuses == {"sent": len(alerts)}, diagnosis
    posts = alert_posts(restarted.slack, (ALERTS,))
    assert {alert for _, alert in posts} == alerts
    assert {key: n for key, n in posts.items() if n > 1} == {}


@replicas_on_postgresql
def test_no_replica_holds_more_connections_than_its_pool(restarted):
    assert [status for _, status in restarted.burst] == [200] * BURST
    assert restarted.api_burst == [201] * API_BURST  # none timed out waiting for a connection
    burst = [answer_of(restarted.slack, f"burst{n}z") or "" for n in range(BURST)]
    assert [a for a in burst if PLAN not in a] == []  # every status answered, none timed out on the pool
    assert restarted.counter.samples > 20
    most = {f"orch-replica-{i}": restarted.counter.most[f"orch-replica-{i}"] for i in range(REPLICAS)}
    assert all(0 < n <= POOL_LIMIT for n in most.values()), most


@replicas_on_postgresql
def test_the_replicas_logged_nothing_but_the_lost_connections_of_the_commands_that_met_the_restart(restarted):
    """Each command that met the restart logs its failure, with the lost or refused connection behind it.
    Nothing else failed: no other command, no request the web server could not answer."""
    failed = {f"event probe-{n}" for n, answer in restarted.probes.items() if answer and FAILED.search(answer)}
    logged, raised = set(), collections.Counter()
    for log in restarted.logs:
        logged |= set(re.findall(r"^ERROR commands\.core\.dispatch: command failed \(audit #\w+\): (.+)$", log, re.M))
        raised.update(name for name in re.findall(r"^([A-Za-z_][\w.]*): ", log, re.M) if name not in LEVELS)
    assert logged == failed
    assert set(raised) <= CONNECTION_LOST, raised


@replicas_on_postgresql
def test_a_command_that_meets_the_restart_is_not_told_of_an_audit_entry_that_does_not_exist(restarted):
    failures = [a for a in restarted.probes.values() if a and FAILED.search(a)]
    assert failures and [a for a in failures if "#None" in a] == []


@replicas_on_postgresql
def test_a_health_check_while_the_server_is_down_says_so_without_a_traceback(restarted):
    assert restarted.healthz_down == [503] * REPLICAS
    assert [log for log in restarted.logs if "Exception in ASGI application" in log] == []
