"""`/orchestrate status` over HTTP, next to a bare Bolt app on the same server stack.

The Slack issue's targets: ack p50 of `/orchestrate status` on the example plan
within 1.5x of a bare Bolt app that only acks the same command on the same
stack, measured side by side in one run; the answer's p99 under 100 ms on the
24,000-task plan.

Three local servers, all on 127.0.0.1:
- `bench/bare_bolt.py`: Bolt's App with the same middleware chain, served by
  `bot.http.build_web` on uvicorn with the same options; its listener only acks;
- `orchestrate serve --http` (tests/serve_process.py) on a store holding the
  plan, started, played 30% of the way (bench/run.py's `play_forward`) with
  its start set so that the real clock reads it at 30%;
- FakeSlack (tests/fake_slack.py) in this process, as SLACK_API_URL and as
  the response_url the dashboard is POSTed to.

Requests are signed as Slack signs them (v0 HMAC, the current timestamp) and
sent over one keep-alive connection per sender. Latencies:
- ack: the HTTP round trip of the POST to /slack/events (what Slack's 3 s limit is on);
- answer: from sending the command to the dashboard's POST reaching the
  response_url (the bot acks first, then works), on FakeSlack's clock.

Phases (after a warm-up of both apps):
1. 1 sender, example plan: the bare app and orchestrate alternate (which goes first
   alternates too), each with the same body; before the next request, orchestrate's
   answer is awaited, so every request finds both servers idle;
2. 16 senders, each in a closed loop on the ack (the next request goes as soon as
   the ack is back): the bare app, then orchestrate; the answers orchestrate owes
   are awaited at the end (bounded), so under this load they include the backlog;
3. the same two phases on the generated 24,000-task plan (fewer requests at 16
   senders: each answer costs tens of ms of CPU there).

Every loop is bounded in count and time; every subprocess is stopped in `finally`.
Run alone: `python bench/http_bench.py` (generates the large plan itself).
"""

from __future__ import annotations

import http.client
import os
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from slack_sdk.signature import SignatureVerifier  # noqa: E402
from sqlmodel import Session, select  # noqa: E402

from bench.run import ELAPSED, open_store, percentile, play_forward  # noqa: E402
from models.lifecycle import calendar_of  # noqa: E402
from models.tables import Plan  # noqa: E402
from tests.fake_slack import FakeSlack  # noqa: E402
from tests.serve_process import BOT_TOKEN, SIGNING_SECRET, ServeProcess, free_port  # noqa: E402

BARE_BOLT = ROOT / "bench" / "bare_bolt.py"

RATIO_TARGET = 1.5  # orchestrate's ack p50 / the bare app's, 1 sender, example plan
ANSWER_P99_TARGET_MS = 100.0  # the dashboard's answer p99 on the large plan, 1 sender

WARMUP = 20  # sequential requests to each app before anything is timed (and a 16×3 burst)
SEQUENTIAL = 200  # per app and plan
SENDERS = 16
PER_SENDER = {"example": 50, "large": 20}
PHASE_LIMIT_S = 40.0  # no phase sends for longer than this
ANSWER_WAIT_S = 60.0  # how long owed answers are awaited after a phase
ANSWER_TIMEOUT_S = 5.0  # per answer, at 1 sender

USER, USER_NAME = "U0LEAD0001", "u0lead0001"


# --- requests as Slack sends them ----------------------------------------------------

def status_body(response_url: str, channel_name: str) -> bytes:
    return urlencode({
        "token": "legacy", "team_id": "T0TEST", "team_domain": "test", "channel_id": "C0BENCH01",
        "channel_name": channel_name, "user_id": USER, "user_name": USER_NAME, "command": "/orchestrate",
        "text": "status", "api_app_id": "A0TEST", "response_url": response_url, "trigger_id": "1337.42.abcd",
    }).encode()


_VERIFIER = SignatureVerifier(SIGNING_SECRET)


def signed_headers(body: bytes) -> dict:
    timestamp = str(int(time.time()))
    return {"Content-Type": "application/x-www-form-urlencoded", "X-Slack-Request-Timestamp": timestamp,
            "X-Slack-Signature": _VERIFIER.generate_signature(timestamp=timestamp, body=body)}


class Client:
    """One sender's keep-alive connection to one server."""

    def __init__(self, port: int):
        self.port = port
        self.connection: http.client.HTTPConnection | None = None

    def connect(self) -> None:
        if self.connection is None:
            self.connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
            self.connection.connect()

    def post(self, body: bytes) -> tuple[int, float, float]:
        """(HTTP status, sent, acked) on time.monotonic(); reconnects once if the server closed the connection."""
        headers = signed_headers(body)
        for attempt in (0, 1):
            self.connect()
            sent = time.monotonic()
            try:
                self.connection.request("POST", "/slack/events", body=body, headers=headers)
                response = self.connection.getresponse()
                response.read()
                return response.status, sent, time.monotonic()
            except (http.client.HTTPException, OSError):
                self.close()
                if attempt:
                    raise
        raise AssertionError("unreachable")

    def close(self) -> None:
        if self.connection is not None:
            self.connection.close()
            self.connection = None


# --- the servers ------------------------------------------------------------------------

class BareProcess:
    """bench/bare_bolt.py in a subprocess, on 127.0.0.1."""

    def __init__(self, workdir: Path, slack_url: str):
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "DATABASE_URL"))}
        env.update({"SLACK_SIGNING_SECRET": SIGNING_SECRET, "SLACK_BOT_TOKEN": BOT_TOKEN,
                    "SLACK_API_URL": slack_url, "PYTHONUNBUFFERED": "1"})
        self.log = workdir / f"bare-{self.port}.log"
        self.process = subprocess.Popen(
            [sys.executable, str(BARE_BOLT), "--host", "127.0.0.1", "--port", str(self.port)],
            cwd=workdir, env=env, stdout=self.log.open("w"), stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)

    wait_healthy = ServeProcess.wait_healthy
    output = ServeProcess.output
    stop = ServeProcess.stop


@dataclass
class App:
    """A server under test, as the phases see it."""

    label: str
    port: int
    answers: bool  # orchestrate answers at the response_url; the bare app does not


# --- the stores -------------------------------------------------------------------------

def build_store(directory: Path, plan_file: Path, plan_key: str) -> str:
    """A store with the plan loaded, started and played 30% of the way as of now; its database URL."""
    directory.mkdir(parents=True, exist_ok=True)
    store = open_store(directory, plan_key)
    try:
        store.run(["plan", "load", str(plan_file)])
        with Session(store.engine) as session:
            plan = session.exec(select(Plan).where(Plan.key == plan_key)).one()
            calendar = calendar_of(plan)
            span = ELAPSED * plan.spec["duration-days"] * calendar.day_s
        store.now = calendar.subtract_working(datetime.now(timezone.utc), span)
        play_forward(store)  # starts at store.now, reads at about now
    finally:
        store.engine.dispose()
    return f"sqlite:///{directory / 'bench.db'}"


# --- the phases ---------------------------------------------------------------------------

@dataclass
class Phase:
    """One app, one plan, one number of senders."""

    app: str
    plan: str
    senders: int
    ack_ms: list[float] = field(default_factory=list)
    answer_ms: list[float] = field(default_factory=list)
    rps: float = 0.0  # acks per second over the phase's wall time
    errors: int = 0  # non-200 acks and failed requests
    missing: int = 0  # answers owed and not received in time
    server_ms: float = float("nan")  # mean time in the server, from its /metrics (16 senders only)
    first_answer: dict | None = None

    def p(self, which: str, pct: int) -> float:
        samples = self.ack_ms if which == "ack" else self.answer_ms
        if not samples:
            return float("nan")
        return statistics.median(samples) if pct == 50 else percentile(samples, pct)


def server_totals(port: int) -> tuple[float, float]:
    """(seconds, requests) the server's own /metrics counts for /slack/events (bot.http's middleware)."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        text = response.read().decode()
    found = {}
    for line in text.splitlines():
        for suffix in ("_sum", "_count"):
            if line.startswith(f'orchestrate_http_request_seconds{suffix}{{route="/slack/events"}}'):
                found[suffix] = float(line.rsplit(" ", 1)[1])
    return found.get("_sum", 0.0), found.get("_count", 0.0)


def sequential(slack: FakeSlack, apps: list[App], plan: str, channel: str, count: int, tag: str) -> dict[str, Phase]:
    """1 sender; the apps alternate with the same body; orchestrate's answer is awaited before going on."""
    phases = {a.label: Phase(a.label, plan, 1) for a in apps}
    clients = {a.label: Client(a.port) for a in apps}
    deadline = time.monotonic() + PHASE_LIMIT_S
    began = time.monotonic()
    try:
        for i in range(count):
            if time.monotonic() > deadline:
                print(f"  {tag}: time limit reached after {i} rounds")
                break
            name = f"{tag}-{i}"
            body = status_body(slack.response_url(name), channel)
            for app in (apps if i % 2 == 0 else apps[::-1]):
                phase = phases[app.label]
                try:
                    status, sent, acked = clients[app.label].post(body)
                except (http.client.HTTPException, OSError):
                    phase.errors += 1
                    continue
                if status != 200:
                    phase.errors += 1
                    continue
                phase.ack_ms.append(1000 * (acked - sent))
                if app.answers:
                    try:
                        [call] = slack.wait_for(f"response:{name}", timeout=ANSWER_TIMEOUT_S)[:1]
                    except AssertionError:
                        phase.missing += 1
                        continue
                    phase.answer_ms.append(1000 * (call.at - sent))
                    phase.first_answer = phase.first_answer or call.body
                time.sleep(0.002)  # let the server finish what follows the answer
    finally:
        for client in clients.values():
            client.close()
    wall = time.monotonic() - began
    for phase in phases.values():
        phase.rps = len(phase.ack_ms) / wall if wall else 0.0  # both apps share the wall time: info only
    return phases


def concurrent(slack: FakeSlack, app: App, plan: str, channel: str, senders: int, per_sender: int,
               tag: str) -> Phase:
    """`senders` threads, each in a closed loop on the ack; orchestrate's answers are collected afterwards."""
    phase = Phase(app.label, plan, senders)
    sent_at: dict[str, float] = {}
    lock = threading.Lock()
    barrier = threading.Barrier(senders)
    deadline = time.monotonic() + PHASE_LIMIT_S

    def sender(n: int) -> None:
        client = Client(app.port)
        try:
            client.connect()
            barrier.wait(timeout=10)
            for i in range(per_sender):
                if time.monotonic() > deadline:
                    break
                name = f"{tag}-{n}-{i}"
                try:
                    status, sent, acked = client.post(status_body(slack.response_url(name), channel))
                except (http.client.HTTPException, OSError):
                    with lock:
                        phase.errors += 1
                    continue
                with lock:
                    if status == 200:
                        phase.ack_ms.append(1000 * (acked - sent))
                        sent_at[name] = sent
                        first[0] = min(first[0], sent)
                        last[0] = max(last[0], acked)
                    else:
                        phase.errors += 1
        except threading.BrokenBarrierError:
            with lock:
                phase.errors += per_sender
        finally:
            client.close()

    first, last = [float("inf")], [0.0]
    before = server_totals(app.port)
    threads = [threading.Thread(target=sender, args=(n,), name=f"sender-{n}", daemon=True) for n in range(senders)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=PHASE_LIMIT_S + 15)
    if last[0] > first[0]:
        phase.rps = len(phase.ack_ms) / (last[0] - first[0])
    after = server_totals(app.port)
    if after[1] > before[1]:
        phase.server_ms = 1000 * (after[0] - before[0]) / (after[1] - before[1])
    if app.answers and sent_at:
        until = time.monotonic() + ANSWER_WAIT_S
        pending = dict(sent_at)
        while pending and time.monotonic() < until:
            arrived = {c.method[len("response:"):]: c for c in slack.calls if c.method.startswith("response:")}
            for name in [n for n in pending if n in arrived]:
                call = arrived[name]
                phase.answer_ms.append(1000 * (call.at - pending.pop(name)))
                phase.first_answer = phase.first_answer or call.body
            if pending:
                time.sleep(0.05)
        phase.missing = len(pending)
    return phase


def warm_up(slack: FakeSlack, apps: list[App], channel: str, tag: str) -> None:
    """First requests compile SQL, fill caches, start the thread pools and call auth.test once."""
    sequential(slack, apps, "warm-up", channel, WARMUP, f"{tag}-w")
    for app in apps:
        concurrent(slack, app, "warm-up", channel, SENDERS, 3, f"{tag}-w-{app.label}")


def check_answer(phase: Phase) -> None:
    """The answer must be the dashboard, not an error."""
    body = phase.first_answer
    if phase.answer_ms and body is not None:
        text = str(body.get("text", ""))
        if text.startswith((":warning:", ":no_entry:", ":boom:")) or not body.get("blocks"):
            raise AssertionError(f"{phase.app} on the {phase.plan} plan answered an error: {text[:300]}")


# --- the whole measurement ----------------------------------------------------------------

@dataclass
class HttpFigures:
    phases: list[Phase] = field(default_factory=list)
    block_errors: list[str] = field(default_factory=list)

    def get(self, app: str, plan: str, senders: int) -> Phase:
        return next(p for p in self.phases if (p.app, p.plan, p.senders) == (app, plan, senders))


PLANS = {  # plan -> (key, channel name)
    "example": ("TR-ORCH-001", "tr-orchestration"),
    "large": ("BENCH-LARGE-001", "bench-orchestration"),
}


def measure_http(example_plan: Path, large_plan: Path, directory: Path) -> HttpFigures:
    figures = HttpFigures()
    urls = {"example": build_store(directory / "http-example", example_plan, PLANS["example"][0])}
    print("HTTP: example store ready")
    urls["large"] = build_store(directory / "http-large", large_plan, PLANS["large"][0])
    print("HTTP: large store ready")
    slack = FakeSlack().start()
    servers: list = []
    try:
        bare = BareProcess(directory, slack.url)
        servers.append(bare)
        bare.wait_healthy()
        for plan in ("example", "large"):
            channel = PLANS[plan][1]
            orchestrate = ServeProcess(directory, slack.url, urls[plan])
            servers.append(orchestrate)
            try:
                orchestrate.wait_healthy()
                apps = [App("bare", bare.port, False), App("orchestrate", orchestrate.port, True)]
                warm_up(slack, apps, channel, plan)
                figures.block_errors += slack.errors
                slack.reset()  # keeps FakeSlack's list of calls short: it is scanned for each answer
                found = sequential(slack, apps, plan, channel, SEQUENTIAL, f"{plan}-s")
                figures.phases += found.values()
                print(f"HTTP: {plan} plan, 1 sender done")
                for app in apps:
                    figures.block_errors += slack.errors
                    slack.reset()
                    figures.phases.append(concurrent(slack, app, plan, channel, SENDERS, PER_SENDER[plan],
                                                     f"{plan}-c-{app.label}"))
                    print(f"HTTP: {plan} plan, {SENDERS} senders, {app.label} done")
                figures.block_errors += slack.errors
            finally:
                orchestrate.stop()
                servers.remove(orchestrate)
            for phase in figures.phases:
                if phase.plan == plan:
                    check_answer(phase)
    except AssertionError as exc:
        for server in servers:
            print(f"--- {server.log.name}\n{server.output()[-3000:]}", file=sys.stderr)
        raise exc
    finally:
        for server in servers:
            server.stop()
        slack.stop()
    return figures


# --- report ---------------------------------------------------------------------------------

def verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


def _pair(a: float, b: float) -> str:
    return f"{a:.1f} / {b:.1f} ms"


def report_rows(figures: HttpFigures) -> list[tuple[str, str, str, str]]:
    """(figure, measured, target, PASS/MISS or info), in bench/run.py's format."""
    rows = []
    seq_bare, seq_orch = figures.get("bare", "example", 1), figures.get("orchestrate", "example", 1)
    ratio = seq_orch.p("ack", 50) / seq_bare.p("ack", 50)
    rows.append(("HTTP status ack p50, 1 sender, example plan: orchestrate / bare",
                 f"{seq_orch.p('ack', 50):.1f} / {seq_bare.p('ack', 50):.1f} ms", "—", "info"))
    rows.append(("HTTP status ack p50 ratio orchestrate / bare, 1 sender, example plan", f"{ratio:.2f}x",
                 f"≤ {RATIO_TARGET:g}x", verdict(ratio <= RATIO_TARGET)))
    rows.append(("HTTP status ack p99, 1 sender, example plan: orchestrate / bare",
                 f"{seq_orch.p('ack', 99):.1f} / {seq_bare.p('ack', 99):.1f} ms", "—", "info"))
    for plan in ("example", "large"):
        orch = figures.get("orchestrate", plan, 1)
        p99 = orch.p("answer", 99)
        if plan == "large":
            bare = figures.get("bare", plan, 1)
            rows.append((f"HTTP status ack p50 / p99, 1 sender, large plan: orchestrate",
                         _pair(orch.p("ack", 50), orch.p("ack", 99)), "—",
                         f"info (bare {bare.p('ack', 50):.1f} / {bare.p('ack', 99):.1f})"))
            rows.append(("HTTP status answer p99, 1 sender, large plan", f"{p99:.1f} ms",
                         f"< {ANSWER_P99_TARGET_MS:g} ms", verdict(p99 < ANSWER_P99_TARGET_MS and not orch.missing)))
            rows.append(("HTTP status answer p50 / max, 1 sender, large plan",
                         _pair(orch.p("answer", 50), max(orch.answer_ms, default=float("nan"))), "—", "info"))
        else:
            rows.append((f"HTTP status answer p50 / p99, 1 sender, {plan} plan",
                         _pair(orch.p("answer", 50), p99), "—", "info"))
        for app in ("bare", "orchestrate"):
            phase = figures.get(app, plan, SENDERS)
            rows.append((f"HTTP ack p50 / p99, {SENDERS} senders, {plan} plan: {app}",
                         _pair(phase.p("ack", 50), phase.p("ack", 99)), "—",
                         f"info (server-side mean {phase.server_ms:.1f} ms)"))
            rows.append((f"HTTP acks per second, {SENDERS} senders, {plan} plan: {app}", f"{phase.rps:.0f} req/s",
                         "—", "info"))
        phase = figures.get("orchestrate", plan, SENDERS)
        rows.append((f"HTTP status answer p50 / p99, {SENDERS} senders, {plan} plan "
                     f"({len(phase.answer_ms)} answers)", _pair(phase.p("answer", 50), phase.p("answer", 99)),
                     "—", "info"))
    problems = [f"{p.app}/{p.plan}/{p.senders}: {p.errors} errors, {p.missing} answers missing"
                for p in figures.phases if p.errors or p.missing]
    rows.append(("HTTP errors and missing answers", "; ".join(problems) or "none", "none",
                 verdict(not problems)))
    if figures.block_errors:
        rows.append(("Block Kit errors seen by FakeSlack", str(len(figures.block_errors)), "none", "MISS"))
    return rows


def notes() -> list[str]:
    """Lines for RESULTS.md's header: how the HTTP figures were taken."""
    return [
        f"- HTTP: `orchestrate serve --http` and `bench/bare_bolt.py` (a Bolt app that only acks, on "
        f"`bot.http.build_web` and uvicorn as well) as subprocesses on 127.0.0.1; FakeSlack as Slack; "
        f"signed `/orchestrate status` slash commands, one keep-alive connection per sender",
        f"- HTTP, 1 sender: {SEQUENTIAL} requests per app and plan, the two apps alternating with the same body, "
        f"orchestrate's answer awaited before the next request; {SENDERS} senders: "
        f"{SENDERS}×{PER_SENDER['example']} (example) / {SENDERS}×{PER_SENDER['large']} (large) requests, "
        f"each sender in a closed loop on the ack, answers awaited after; {WARMUP} + {SENDERS}×3 warm-up "
        f"requests first",
        "- HTTP ack: the POST's round trip; answer: from sending to the dashboard reaching the response_url; "
        "server-side mean: bot.http's own latency histogram (/metrics) over the phase",
        f"- HTTP, {SENDERS} senders: closed loops on the ack keep the server busy, so an app that works after "
        f"acking shows its ack latency at about {SENDERS} / its commands per second (CPU-bound, one GIL)",
    ]


def main() -> int:
    import tempfile

    from bench.generate import write_plan
    from bench.run import EXAMPLE_PLAN, print_rows

    began = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="orchestrate-http-bench-") as tmp:
        tmp = Path(tmp)
        plan_file = write_plan(tmp / "large.yml")
        figures = measure_http(EXAMPLE_PLAN, plan_file, tmp)
    print()
    print_rows(report_rows(figures))
    print(f"\n{time.perf_counter() - began:.0f} s in all")
    return 0


if __name__ == "__main__":
    sys.exit(main())
