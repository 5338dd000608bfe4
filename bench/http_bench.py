"""`/orchestrate status`, `health` and `pause` over HTTP, next to a bare Bolt app on the same stack.

The issue's targets: the ack p50 of `/orchestrate status` within 1.5x of a bare
Bolt app that only acks the same command on the same server stack, measured
side by side in one run; the answer's p99 under 100 ms on the 24,000-task
plan; `serve` under 200 MB resident with that plan loaded.

Three local servers, all on 127.0.0.1:
- `bench/bare_bolt.py`: Bolt's App configured as orchestrate's (same middleware
  chain, acks in the request thread), served by `bot.http.build_web` on uvicorn
  with the same options; its listener only acks;
- `orchestrate serve --http` (tests/serve_process.py) on a store holding the
  plan, started, played 30% of the way (bench/run.py's `play_forward`) with
  its start set so that the real clock reads it at 30%;
- FakeSlack (tests/fake_slack.py, as bench/slack.py's BenchSlack) in this
  process, as SLACK_API_URL and as the response_url the answers are POSTed to.

Requests are signed as Slack signs them (v0 HMAC, the current timestamp) and
sent over one keep-alive connection per sender, as the plan's lead
(U0LEAD0001), from the plan's channel. Per request:
- ack: the HTTP round trip of the POST to /slack/events (what Slack's 3 s limit is on);
- answer: from sending the command to its answer reaching the response_url
  (orchestrate acks first, then works), on FakeSlack's clock.
A command is complete when its answer arrived (orchestrate) or when it was
acked (the bare app, which never answers); throughput counts completed commands.

Commands: `status`; `health` (every agent); `pause` as pause → resume pairs of
one stream, so every pause finds its stream active (resume is reported too).

Phases, per plan and command (after a warm-up of everything):
1. 1 sender: the bare app and orchestrate alternate (which goes first
   alternates too), each with the same bodies; each command waits for the
   previous one to complete, so every request finds both servers idle;
2. 16 senders, each in a closed loop on completion: the bare app, then
   orchestrate. `pause` has one sender per active stream, at most 16 (each
   sender owns its stream: two senders pausing one stream would refuse each other).

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
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from slack_sdk.signature import SignatureVerifier  # noqa: E402
from sqlmodel import Session, select  # noqa: E402

from bench.report import Row, pair_ms, ratio, verdict  # noqa: E402
from bench.run import ELAPSED, open_store, percentile, play_forward  # noqa: E402
from bench.slack import BenchSlack  # noqa: E402
from models.db.tables import Plan, Stream  # noqa: E402
from models.plan.settings import calendar_of, settings_of  # noqa: E402
from tests.serve_process import BOT_TOKEN, SIGNING_SECRET, ServeProcess  # noqa: E402

BARE_BOLT = ROOT / "bench" / "bare_bolt.py"

RATIO_TARGET = 1.5  # orchestrate's status ack p50 / the bare app's, 1 sender
ANSWER_P99_TARGET_MS = 100.0  # status's answer p99 on the large plan, 1 sender
RSS_TARGET_MB = 200.0  # `serve` with the large plan loaded

COMMANDS = ("status", "health", "pause")
SENDERS = 16
ROUNDS = {  # (plan, senders) -> rounds per sender; a pause round is a pause and a resume
    ("example", 1): 300,
    ("example", SENDERS): 40,
    ("large", 1): 200,
    ("large", SENDERS): 12,
}
WARMUP_ROUNDS = 10  # per app, plan and command at 1 sender; then 2 rounds at 16 senders
PHASE_LIMIT_S = 30.0  # no phase sends for longer than this
ANSWER_TIMEOUT_S = 10.0  # per answer
SETTLE_S = 0.002  # at 1 sender, pause after an answer: the server finishes what follows it

USER, USER_NAME = "U0LEAD0001", "u0lead0001"  # a lead of both plans: pause is privileged
ERROR_PREFIXES = (":warning:", ":no_entry:", ":boom:")


# --- requests as Slack sends them ----------------------------------------------------


def command_body(response_url: str, channel_name: str, text: str) -> bytes:
    return urlencode(
        {
            "token": "legacy",
            "team_id": "T0TEST",
            "team_domain": "test",
            "channel_id": "C0BENCH01",
            "channel_name": channel_name,
            "user_id": USER,
            "user_name": USER_NAME,
            "command": "/orchestrate",
            "text": text,
            "api_app_id": "A0TEST",
            "response_url": response_url,
            "trigger_id": "1337.42.abcd",
        }
    ).encode()


_VERIFIER = SignatureVerifier(SIGNING_SECRET)


def signed_headers(body: bytes) -> dict:
    timestamp = str(int(time.time()))
    return {
        "Content-Type": "application/x-www-form-urlencoded",
        "X-Slack-Request-Timestamp": timestamp,
        "X-Slack-Signature": _VERIFIER.generate_signature(timestamp=timestamp, body=body),
    }


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


class BareProcess(ServeProcess):
    """bench/bare_bolt.py in a subprocess, on 127.0.0.1 port 0 (read back from its log, as for `serve`)."""

    def __init__(self, workdir: Path, slack_url: str):
        env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "DATABASE_URL"))}
        env.update(
            {
                "SLACK_SIGNING_SECRET": SIGNING_SECRET,
                "SLACK_BOT_TOKEN": BOT_TOKEN,
                "SLACK_API_URL": slack_url,
                "PYTHONUNBUFFERED": "1",
            }
        )
        command = [sys.executable, str(BARE_BOLT), "--host", "127.0.0.1", "--port", "0"]
        self._start(workdir, command, env, stdin=subprocess.DEVNULL)


@dataclass
class App:
    """A server under test, as the phases see it."""

    label: str
    port: int
    pid: int
    answers: bool  # orchestrate answers at the response_url; the bare app does not


def memory_mb(pid: int) -> tuple[float, float]:
    """(resident now, peak resident) of a process, in MB, from /proc (VmRSS, VmHWM)."""
    found = {}
    with open(f"/proc/{pid}/status", encoding="ascii") as status:
        for line in status:
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                found[key] = int(value.split()[0]) / 1024  # kB
    return found.get("VmRSS", float("nan")), found.get("VmHWM", float("nan"))


# --- the stores -------------------------------------------------------------------------


def build_store(directory: Path, plan_file: Path, plan_key: str) -> tuple[str, list[str]]:
    """A store with the plan loaded, started and played 30% of the way as of now:
    its database URL and its active streams (pause's targets)."""
    directory.mkdir(parents=True, exist_ok=True)
    store = open_store(directory, plan_key)
    try:
        store.run(["plan", "load", str(plan_file)])
        with Session(store.engine) as session:
            plan = session.exec(select(Plan).where(Plan.key == plan_key)).one()
            calendar = calendar_of(plan)
            span = ELAPSED * settings_of(plan).duration_days * calendar.day_s
        store.now = calendar.subtract_working(datetime.now(UTC), span)
        play_forward(store)  # starts at store.now, reads at about now; pauses the last stream
        with Session(store.engine) as session:
            active = list(
                session.exec(
                    select(Stream.key)
                    .where(Stream.plan_id == plan.id, Stream.status == "active")
                    .order_by(Stream.position)
                )
            )
    finally:
        store.engine.dispose()
    return f"sqlite:///{directory / 'bench.db'}", active


# --- one command, one request ----------------------------------------------------------------


@dataclass(frozen=True)
class Step:
    label: str  # what the figures are filed under: status, health, pause, resume
    text: str  # the slash command's text


def steps_of(command: str, stream: str) -> list[Step]:
    """One round of a command; pause goes with its resume, so the stream ends as it began."""
    if command == "pause":
        return [Step("pause", f"pause {stream} --reason bench"), Step("resume", f"resume {stream}")]
    return [Step(command, command)]


@dataclass
class Phase:
    """One app, plan, step and number of senders."""

    app: str
    plan: str
    step: str
    senders: int
    ack_ms: list[float] = field(default_factory=list)
    answer_ms: list[float] = field(default_factory=list)
    done_ms: list[float] = field(default_factory=list)  # until complete: the answer, or the bare app's ack
    first: float = float("inf")  # first request sent (monotonic)
    last: float = 0.0  # last command complete
    errors: int = 0  # non-200 acks and failed requests
    missing: int = 0  # answers owed and not received in time
    error_answers: int = 0  # answers that are refusals or failures
    error_text: str = ""
    server_ms: float = float("nan")  # mean time in the server per request, from its /metrics

    def p(self, which: str, pct: int) -> float:
        samples = {"ack": self.ack_ms, "answer": self.answer_ms, "done": self.done_ms}[which]
        if not samples:
            return float("nan")
        return statistics.median(samples) if pct == 50 else percentile(samples, pct)

    @property
    def throughput(self) -> float:
        """Completed commands per second: over the phase at 16 senders, 1 / mean at 1 sender."""
        if not self.done_ms:
            return float("nan")
        if self.senders == 1:
            return 1000 / statistics.fmean(self.done_ms)
        return len(self.done_ms) / (self.last - self.first) if self.last > self.first else float("nan")

    def merge(self, other: Phase) -> None:
        for name in ("ack_ms", "answer_ms", "done_ms"):
            getattr(self, name).extend(getattr(other, name))
        self.first, self.last = min(self.first, other.first), max(self.last, other.last)
        self.errors += other.errors
        self.missing += other.missing
        self.error_answers += other.error_answers
        self.error_text = self.error_text or other.error_text


def send(client: Client, slack: BenchSlack, app: App, phase: Phase, step: Step, channel: str, name: str) -> None:
    """One command, filed in ``phase``; for orchestrate, waits for its answer."""
    body = command_body(slack.response_url(name), channel, step.text)
    try:
        status, sent, acked = client.post(body)
    except (http.client.HTTPException, OSError):
        phase.errors += 1
        return
    if status != 200:
        phase.errors += 1
        return
    phase.ack_ms.append(1000 * (acked - sent))
    done = acked
    if app.answers:
        call = slack.answer(name, ANSWER_TIMEOUT_S)
        if call is None:
            phase.missing += 1
            return
        done = call.at
        phase.answer_ms.append(1000 * (done - sent))
        check_answer(phase, call.body)
    phase.done_ms.append(1000 * (done - sent))
    phase.first, phase.last = min(phase.first, sent), max(phase.last, done)


def check_answer(phase: Phase, body: dict) -> None:
    """An answer must be what was asked, not a refusal or an error."""
    text = str(body.get("text", ""))
    if text.startswith(ERROR_PREFIXES) or not body.get("blocks"):
        phase.error_answers += 1
        phase.error_text = phase.error_text or text[:300]


# --- the phases ---------------------------------------------------------------------------


def sequential(
    slack: BenchSlack, apps: list[App], plan: str, channel: str, command: str, stream: str, rounds: int, tag: str
) -> list[Phase]:
    """1 sender; the apps alternate with the same bodies; each command completes before the next."""
    phases: dict[tuple[str, str], Phase] = {}
    clients = {a.label: Client(a.port) for a in apps}
    deadline = time.monotonic() + PHASE_LIMIT_S
    try:
        for i in range(rounds):
            if time.monotonic() > deadline:
                print(f"  {tag}: time limit reached after {i} rounds")
                break
            for app in apps if i % 2 == 0 else apps[::-1]:
                for step in steps_of(command, stream):
                    phase = phases.setdefault((app.label, step.label), Phase(app.label, plan, step.label, 1))
                    send(clients[app.label], slack, app, phase, step, channel, f"{tag}-{i}-{app.label}-{step.label}")
                    if app.answers:
                        time.sleep(SETTLE_S)
    finally:
        for client in clients.values():
            client.close()
    return list(phases.values())


def concurrent(
    slack: BenchSlack,
    app: App,
    plan: str,
    channel: str,
    command: str,
    streams: list[str],
    senders: int,
    rounds: int,
    tag: str,
) -> list[Phase]:
    """`senders` threads, each in a closed loop on completion; pause: one sender per stream."""
    if command == "pause":
        senders = min(senders, len(streams))
    deadline = time.monotonic() + PHASE_LIMIT_S
    barrier = threading.Barrier(senders)
    tallies: list[dict[str, Phase]] = [{} for _ in range(senders)]

    def sender(n: int) -> None:
        client, mine = Client(app.port), tallies[n]
        try:
            client.connect()
            barrier.wait(timeout=10)
            for i in range(rounds):
                if time.monotonic() > deadline:
                    break
                for step in steps_of(command, streams[n % len(streams)]):
                    phase = mine.setdefault(step.label, Phase(app.label, plan, step.label, senders))
                    send(client, slack, app, phase, step, channel, f"{tag}-{n}-{i}-{step.label}")
        except (threading.BrokenBarrierError, OSError):
            mine.setdefault("failed", Phase(app.label, plan, command, senders)).errors += rounds
        finally:
            client.close()

    before = server_totals(app.port)
    threads = [threading.Thread(target=sender, args=(n,), name=f"sender-{n}", daemon=True) for n in range(senders)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=PHASE_LIMIT_S + 2 * ANSWER_TIMEOUT_S)
    after = server_totals(app.port)
    merged: dict[str, Phase] = {}
    for tally in tallies:
        for label, phase in tally.items():
            merged.setdefault(label, Phase(app.label, plan, label, senders)).merge(phase)
    if after[1] > before[1]:
        for phase in merged.values():
            phase.server_ms = 1000 * (after[0] - before[0]) / (after[1] - before[1])
    return list(merged.values())


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


# --- the whole measurement ----------------------------------------------------------------


@dataclass
class Memory:
    """Resident MB of a server: after the warm-up, and the peak at the end of its plan's phases."""

    after_warmup: float = float("nan")
    peak: float = float("nan")


@dataclass
class HttpFigures:
    phases: list[Phase] = field(default_factory=list)
    block_errors: list[str] = field(default_factory=list)
    memory: dict[tuple[str, str], Memory] = field(default_factory=dict)  # (app, plan) -> Memory
    pause_senders: dict[str, int] = field(default_factory=dict)  # plan -> senders of pause at "16"

    def get(self, app: str, plan: str, step: str, senders: int) -> Phase | None:
        return next((p for p in self.phases if (p.app, p.plan, p.step, p.senders) == (app, plan, step, senders)), None)

    def concurrent_senders(self, plan: str, step: str) -> int:
        return self.pause_senders.get(plan, SENDERS) if step in ("pause", "resume") else SENDERS


PLANS = {  # plan -> (key, channel name)
    "example": ("TR-ORCH-001", "tr-orchestration"),
    "large": ("BENCH-LARGE-001", "bench-orchestration"),
}


def collect_block_errors(slack: BenchSlack, figures: HttpFigures) -> None:
    """Keeps Block Kit errors, then forgets the calls: FakeSlack's list is scanned and grows."""
    figures.block_errors += slack.errors
    slack.reset()


def warm_up(slack: BenchSlack, apps: list[App], plan: str, channel: str, streams: list[str]) -> None:
    """First requests compile SQL, fill caches, start the thread pools and call auth.test once."""
    for command in COMMANDS:
        sequential(slack, apps, "warm-up", channel, command, streams[0], WARMUP_ROUNDS, f"{plan}-w-{command}")
        for app in apps:
            concurrent(slack, app, "warm-up", channel, command, streams, SENDERS, 2, f"{plan}-w-{command}-{app.label}")


def read_memory(figures: HttpFigures, apps: list[App], plan: str, stage: str) -> None:
    for app in apps:
        rss, peak = memory_mb(app.pid)
        memory = figures.memory.setdefault((app.label, plan), Memory())
        if stage == "after_warmup":
            memory.after_warmup = rss
        else:
            memory.peak = peak


def measure_plan(figures: HttpFigures, slack: BenchSlack, apps: list[App], plan: str, streams: list[str]) -> None:
    channel = PLANS[plan][1]
    warm_up(slack, apps, plan, channel, streams)
    read_memory(figures, apps, plan, "after_warmup")
    collect_block_errors(slack, figures)
    figures.pause_senders[plan] = min(SENDERS, len(streams))
    for command in COMMANDS:
        figures.phases += sequential(
            slack, apps, plan, channel, command, streams[0], ROUNDS[(plan, 1)], f"{plan}-s-{command}"
        )
        collect_block_errors(slack, figures)
        print(f"HTTP: {plan} plan, {command}, 1 sender done")
        for app in apps:
            figures.phases += concurrent(
                slack,
                app,
                plan,
                channel,
                command,
                streams,
                SENDERS,
                ROUNDS[(plan, SENDERS)],
                f"{plan}-c-{command}-{app.label}",
            )
            collect_block_errors(slack, figures)
        print(f"HTTP: {plan} plan, {command}, {SENDERS} senders done")
    read_memory(figures, apps, plan, "peak")


def measure_http(example_plan: Path, large_plan: Path, directory: Path) -> HttpFigures:
    figures = HttpFigures()
    stores = {"example": build_store(directory / "http-example", example_plan, PLANS["example"][0])}
    print("HTTP: example store ready")
    stores["large"] = build_store(directory / "http-large", large_plan, PLANS["large"][0])
    print("HTTP: large store ready")
    slack = BenchSlack().start()
    servers: list = []
    try:
        bare = BareProcess(directory, slack.url)
        servers.append(bare)
        bare.wait_healthy()
        for plan in ("example", "large"):
            url, streams = stores[plan]
            orchestrate = ServeProcess(directory, slack.url, url, extra_env={"ORCHESTRATE_OPEN_ENDPOINTS": "true"})
            servers.append(orchestrate)
            try:
                orchestrate.wait_healthy()
                apps = [
                    App("bare", bare.port, bare.process.pid, False),
                    App("orchestrate", orchestrate.port, orchestrate.process.pid, True),
                ]
                measure_plan(figures, slack, apps, plan, streams)
            finally:
                orchestrate.stop()
                servers.remove(orchestrate)
    except AssertionError:
        for server in servers:
            print(f"--- {server.log.name}\n{server.output()[-3000:]}", file=sys.stderr)
        raise
    finally:
        for server in servers:
            server.stop()
        slack.stop()
    return figures


# --- report ---------------------------------------------------------------------------------


def _senders_label(figures: HttpFigures, plan: str, step: str, senders: int) -> str:
    if senders == 1:
        return "1 sender"
    real = figures.concurrent_senders(plan, step)
    return f"{real} senders" + (" (one per active stream)" if real != SENDERS else "")


def phase_rows(figures: HttpFigures, plan: str, step: str, senders: int) -> list[Row]:
    """ack, answer and throughput of one step, orchestrate beside the bare app."""
    real = 1 if senders == 1 else figures.concurrent_senders(plan, step)
    orch, bare = figures.get("orchestrate", plan, step, real), figures.get("bare", plan, step, real)
    if orch is None or bare is None:
        return [Row(f"HTTP {step}, {plan} plan, {senders} sender(s)", "not measured", result="MISS")]
    where = f"HTTP `{step}`, {plan} plan, {_senders_label(figures, plan, step, senders)}"
    ack = Row(
        f"{where}: ack p50 / p99",
        pair_ms(orch.p("ack", 50), orch.p("ack", 99)),
        bare=pair_ms(bare.p("ack", 50), bare.p("ack", 99)),
        ratio=ratio(orch.p("ack", 50), bare.p("ack", 50)),
    )
    if step == "status" and senders == 1:  # the target: status p50 within 1.5x of the bare app
        within = orch.p("ack", 50) / bare.p("ack", 50) <= RATIO_TARGET
        ack = Row(ack.figure, ack.measured, f"p50 ≤ {RATIO_TARGET:g}x bare", verdict(within), ack.bare, ack.ratio)
    answer = Row(
        f"{where}: answer p50 / p99 (bare: ack)",
        pair_ms(orch.p("answer", 50), orch.p("answer", 99)),
        bare=pair_ms(bare.p("done", 50), bare.p("done", 99)),
        ratio=ratio(orch.p("answer", 50), bare.p("done", 50)),
    )
    if step == "status" and senders == 1 and plan == "large":  # the p99 target
        p99 = orch.p("answer", 99)
        answer = Row(
            answer.figure,
            answer.measured,
            f"p99 < {ANSWER_P99_TARGET_MS:g} ms",
            verdict(p99 < ANSWER_P99_TARGET_MS and not orch.missing),
            answer.bare,
            answer.ratio,
        )
    server = f"; server-side mean {orch.server_ms:.1f} / {bare.server_ms:.1f} ms" if senders > 1 else ""
    rate = Row(
        f"{where}: throughput (completed commands/s{server})",
        f"{orch.throughput:.0f} /s",
        bare=f"{bare.throughput:.0f} /s",
        ratio=ratio(orch.throughput, bare.throughput),
    )
    return [ack, answer, rate]


def memory_rows(figures: HttpFigures) -> list[Row]:
    rows = []
    for plan in ("example", "large"):
        orch = figures.memory.get(("orchestrate", plan))
        bare = figures.memory.get(("bare", plan))
        if orch is None or bare is None:
            continue
        target = plan == "large"
        for label, a, b in (
            ("after warm-up (VmRSS)", orch.after_warmup, bare.after_warmup),
            ("peak over the run (VmHWM)", orch.peak, bare.peak),
        ):
            rows.append(
                Row(
                    f"`serve --http` resident memory, {plan} plan, {label}",
                    f"{a:.0f} MB",
                    f"< {RSS_TARGET_MB:g} MB" if target else "—",
                    verdict(a < RSS_TARGET_MB) if target else "info",
                    f"{b:.0f} MB",
                    ratio(a, b),
                )
            )
    return rows


def report_rows(figures: HttpFigures) -> list[Row]:
    rows = []
    for plan in ("example", "large"):
        for step in ("status", "health", "pause", "resume"):
            for senders in (1, SENDERS):
                rows += phase_rows(figures, plan, step, senders)
    rows += memory_rows(figures)
    problems = [
        f"{p.app}/{p.plan}/{p.step}/{p.senders}: {p.errors} errors, {p.missing} answers missing, "
        f"{p.error_answers} error answers {p.error_text[:80]!r}"
        for p in figures.phases
        if p.errors or p.missing or p.error_answers
    ]
    rows.append(
        Row("HTTP errors, missing and error answers", "; ".join(problems) or "none", "none", verdict(not problems))
    )
    if figures.block_errors:
        rows.append(
            Row(
                "Block Kit errors seen by FakeSlack",
                f"{len(figures.block_errors)}: {figures.block_errors[0][:120]}",
                "none",
                "MISS",
            )
        )
    return rows


def notes() -> list[str]:
    """Lines for RESULTS.md's header: how the HTTP figures were taken."""
    return [
        "- HTTP: `orchestrate serve --http` and `bench/bare_bolt.py` (a Bolt app configured as orchestrate's "
        "that only acks, on `bot.http.build_web` and uvicorn as well) as subprocesses on 127.0.0.1; FakeSlack "
        "as Slack; signed `/orchestrate` slash commands from the plan's lead, one keep-alive connection per "
        "sender",
        f"- HTTP rounds per command: 1 sender {ROUNDS[('example', 1)]} (example) / {ROUNDS[('large', 1)]} (large), "
        f"the two apps alternating with the same body, each command complete before the next; {SENDERS} "
        f"senders × {ROUNDS[('example', SENDERS)]} (example) / {ROUNDS[('large', SENDERS)]} (large), each "
        f"sender in a closed loop on completion; `pause` rounds are pause → resume pairs of one stream, one "
        f"sender per active stream; {WARMUP_ROUNDS} + {SENDERS}×2 warm-up rounds of every command first",
        "- HTTP ack: the POST's round trip; answer: from sending to the answer reaching the response_url; "
        "complete: the answer (orchestrate) or the ack (bare app, which never answers); throughput: completed "
        "commands per second (1 sender: 1 / mean time to complete); server-side mean: bot.http's own latency "
        "histogram (/metrics) over the phase",
        "- Memory: /proc/PID/status of each server, VmRSS after every command's warm-up, VmHWM (the peak) "
        "after the plan's phases",
    ]


def main() -> int:
    import tempfile

    from bench.generate import write_plan
    from bench.report import print_rows
    from bench.run import EXAMPLE_PLAN

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
