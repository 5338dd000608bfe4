"""A fault campaign (issue 15, "How it is checked"): three `serve` replicas on a throwaway PostgreSQL, under
load and faults, and a ledger of everything sent and acked, compared with what happened at the end.

Load: slash commands (`event fc-N`, each raising an alert to a Slack channel, an email and an SMS; now
and then an on-demand `sync`), a scheduled sync, and the agents' replies in each prompt's thread, sent
the moment the prompt lands. Faults, at times drawn from the seed: a replica killed with SIGKILL (and
a fresh one started in its place) every ``kill_every`` seconds, bursts of 429 and of 500 from Slack,
posts that Slack takes and whose answer is then lost, SMTP down then up, a PostgreSQL restart; all
along the stand-in holds Slack's limits (one post a second per channel, conversations.history one call
per ``history_window_s`` and 15 messages a page).

The verdict (``Campaign.violations``): no acked command lost (applied once, or its user told that
nothing was done), none applied twice, every Slack alert posted exactly once, every email and SMS sent
at least once, every sync slot posted exactly once, every answer recorded, every replica healthy; all
within ``drain_s`` of the faults stopping. ``tests/test_fault_campaign.py`` runs a bounded one (its
clock scaled down), ``bench/fault_campaign.py`` the full one, over seeds.
"""

from __future__ import annotations

import collections
import json
import random
import re
import threading
import time
import urllib.error
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import yaml
from sqlmodel import Session, func, select

from commands.core.dispatch import execute
from models.db.store import make_engine, upgrade
from models.db.tables import Agent, Alert, AlertDelivery, Event, SyncAnswer, SyncSlot
from tests import pg
from tests.fake_slack import FakeSlack
from tests.outlets import Mailbox, SmsGateway
from tests.serve_process import ServeProcess
from tests.slack_app import OPERATOR

PLAN, CHANNEL, ALERTS = "FC-1", "C0FCPLAN1", "C0FCALRTA"
LEAD = "U0LEAD0001"
AGENTS = {f"a{n}": f"U0FCAG{n:03d}" for n in range(1, 4)}
NOTHING_DONE = re.compile(r"nothing was (done|changed)")


@dataclass(frozen=True)
class Settings:
    seed: int = 1
    faults_s: float = 180.0  # how long load and faults go on
    kill_every: tuple[float, float] = (30.0, 45.0)
    history_window_s: float = 60.0  # Slack's: one conversations.history call a minute
    drain_s: float = 180.0  # after the faults stop, everything must be done within this
    command_every_s: float = 1.0
    smtp_down_s: float = 30.0
    lease_s: int = 15  # the deliveries', commands' leases; the sync claims' is this plus the margin


@dataclass
class Sent:
    """One slash command: what was asked, where, and what came back."""

    number: int
    text: str
    replica: int
    status: int | None = None
    ack: str = ""


@dataclass
class Campaign:
    settings: Settings
    directory: Path
    sent: list[Sent] = field(default_factory=list)
    replies: dict[tuple[str, str], str] = field(default_factory=dict)  # (prompt ts, user) -> text, acked
    unacked_replies: int = 0
    faults: list[tuple[float, str]] = field(default_factory=list)
    figures: dict = field(default_factory=dict)
    violations: list[str] = field(default_factory=list)

    # --- running ---------------------------------------------------------------------------

    def run(self) -> Campaign:
        rng = random.Random(self.settings.seed)
        with pg.Server() as server, Mailbox() as mailbox, SmsGateway() as sms, FakeSlack() as slack:
            slack.posts_per_second = 1.0
            slack.history_window_s = self.settings.history_window_s
            slack._server.handle_error = lambda request, address: None  # a killed replica's broken pipes
            name = server.create_database()
            engine = make_engine(server.url(name))
            try:
                upgrade(engine)
                fire = self._load(engine)
                env = self._env(mailbox, sms)
                self._url = server.url(name)
                replicas = [ServeProcess(self.directory, slack.url, self._url, extra_env=env) for _ in range(3)]
                self._live = replicas
                try:
                    for replica in replicas:
                        replica.wait_healthy(timeout=60)
                    begin = time.monotonic()
                    self._go(rng, server, slack, mailbox, sms, engine, begin)
                    faults_over = time.monotonic()
                    drained = self._drain(engine, slack, mailbox, sms, faults_over)
                    worker, answering = self._answering
                    answering.set()
                    worker.join(timeout=30)
                    self._judge(engine, slack, mailbox, sms, fire)
                    self.figures.update(
                        drain_s=round(drained - faults_over, 1),
                        run_s=round(time.monotonic() - begin, 1),
                        slack_429=sum(1 for c in slack.calls if c.failed),
                        history_calls=len(slack.calls_to("conversations.history", include_failed=False)),
                    )
                finally:
                    self.logs = [r.output() for r in self._live]
                    for replica in self._live:
                        replica.stop()
            finally:
                engine.dispose()
        return self

    def _load(self, engine) -> datetime:
        now = datetime.now(UTC)
        fire = (now + timedelta(seconds=40)).replace(second=0, microsecond=0) + timedelta(minutes=1)
        document = {
            "id": PLAN,
            "timezone": "UTC",
            "channel": CHANNEL,
            "working-days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"],
            "working-hours": ["00:00", "23:59"],
            "roles": {"leads": [LEAD]},
            "streams": [{"id": "s1"}],
            "agents": {
                key: {"stream": "s1", "slack-user": user, "tasks": [f"Task of {key}"]} for key, user in AGENTS.items()
            },
            "sync-schedule": [
                {"time": f"{fire:%H:%M}", "type": "standup", "duration": "15min", "required": ["all-agents"]}
            ],
            "destinations": {
                "alerts": {"slack": ALERTS},
                "mail": {"email": ["oncall@example.com"]},
                "phone": {"sms": ["+15550100"]},
            },
            "alerts": [
                {"level": level, "channel": ["alerts", "mail", "phone"]} for level in ("info", "warning", "critical")
            ],
        }
        path = self.directory / "fc.yml"
        path.write_text(yaml.safe_dump(document))
        execute(engine, ["plan", "load", str(path)], OPERATOR)
        execute(engine, ["start", PLAN], OPERATOR)
        return fire

    def _env(self, mailbox, sms) -> dict:
        lease = self.settings.lease_s
        return {
            "SMTP_URL": mailbox.url,
            "SMS_WEBHOOK_URL": sms.url,
            "ORCHESTRATE_SLACK_TIMEOUT_SECONDS": "5",
            "ORCHESTRATE_DELIVERY_LEASE_SECONDS": str(lease),
            "ORCHESTRATE_COMMAND_LEASE_SECONDS": str(lease),
            "ORCHESTRATE_SYNC_CLAIM_LEASE_SECONDS": str(lease + 5 + 15),
            # The replicas take turns at Slack's one look a minute: the stand-in's minute is scaled.
            "ORCHESTRATE_HISTORY_LOOK_SECONDS": str(self.settings.history_window_s),
        }

    def _note(self, begin: float, what: str) -> None:
        self.faults.append((round(time.monotonic() - begin, 1), what))

    def _go(self, rng, server, slack, mailbox, sms, engine, begin: float) -> None:
        s = self.settings
        stop, answering = threading.Event(), threading.Event()  # the agents answer until the drain is over
        workers = [
            threading.Thread(target=self._commands, args=(rng.random(), slack, stop), daemon=True),
            threading.Thread(target=self._answers, args=(rng.random(), slack, answering), daemon=True),
        ]
        for worker in workers:
            worker.start()
        env = self._env_used = self._env(mailbox, sms)
        span = s.faults_s
        events = [(rng.uniform(0.1, 0.9) * span, kind) for kind in ("429", "500", "lost", "lost", "smtp", "pg")]
        at = rng.uniform(*s.kill_every)
        while at < span:
            events.append((at, "kill"))
            at += rng.uniform(*s.kill_every)
        smtp_up_at = None
        for at, kind in sorted(events):
            while time.monotonic() < begin + at:
                self._supervise(slack, env, begin)
                if smtp_up_at is not None and time.monotonic() >= smtp_up_at:
                    mailbox.up()
                    smtp_up_at = None
                    self._note(begin, "SMTP up")
                time.sleep(min(0.5, max(begin + at - time.monotonic(), 0)))
            if kind == "kill":
                index = rng.randrange(len(self._live))
                victim = self._live[index]
                victim.process.kill()
                victim.process.wait()
                self._live[index] = ServeProcess(self.directory, slack.url, self._url, extra_env=env)
                self._note(begin, f"replica {index} killed, another started")
            elif kind == "429":
                slack.fail_next("chat.postMessage", status=429, retry_after=rng.randint(1, 5), times=6)
                self._note(begin, "6 × 429 on chat.postMessage")
            elif kind == "500":
                slack.fail_next("chat.postMessage", status=500, times=6)
                self._note(begin, "6 × 500 on chat.postMessage")
            elif kind == "lost":
                slack.lose_answer_next("chat.postMessage", times=2)
                self._note(begin, "2 posts taken, their answers lost")
            elif kind == "smtp":
                mailbox.down()
                smtp_up_at = time.monotonic() + s.smtp_down_s
                self._note(begin, "SMTP down")
            elif kind == "pg":
                server.stop("fast")
                time.sleep(1.0)
                server.start()
                self._note(begin, "PostgreSQL restarted")
        time.sleep(max(begin + span - time.monotonic(), 0))
        if smtp_up_at is not None:
            time.sleep(max(smtp_up_at - time.monotonic(), 0))
            mailbox.up()
            self._note(begin, "SMTP up")
        stop.set()
        workers[0].join(timeout=30)
        self._answering = (workers[1], answering)

    def _supervise(self, slack, env: dict, begin: float | None = None) -> None:
        """As a process supervisor would: a replica that exited (one started while PostgreSQL restarted
        stops, saying the store does not answer) is started again."""
        for index, replica in enumerate(self._live):
            if replica.process.poll() is not None:
                self._live[index] = ServeProcess(self.directory, slack.url, self._url, extra_env=env)
                if begin is not None:
                    self._note(begin, f"replica {index} had exited: started again")

    def _replica(self, rng) -> tuple[int, ServeProcess]:
        index = rng.randrange(len(self._live))
        return index, self._live[index]

    def _commands(self, seed: float, slack, stop: threading.Event) -> None:
        """Slash commands at a steady pace, each from a thread of its own (Slack's do not wait for each other)."""
        rng = random.Random(seed)
        number = 0
        with ThreadPoolExecutor(max_workers=8) as senders:
            while not stop.is_set():
                number += 1
                text = f"sync --type check-{number}" if number % 20 == 0 else f"event fc-{number}"
                index, replica = self._replica(rng)
                sent = Sent(number, text, index)
                self.sent.append(sent)
                senders.submit(self._send, replica, sent, slack)
                stop.wait(self.settings.command_every_s * rng.uniform(0.5, 1.5))

    @staticmethod
    def _send(replica: ServeProcess, sent: Sent, slack) -> None:
        try:
            url = slack.response_url(f"cmd{sent.number}")
            sent.status, sent.ack = replica.slash(sent.text, url, user=LEAD, channel=CHANNEL, channel_name="fc")
        except (OSError, AssertionError):  # a replica killed, or not up: Slack tells the person it failed
            sent.status = None

    def _answers(self, seed: float, slack, stop: threading.Event) -> None:
        rng = random.Random(seed)
        answered: set[str] = set()
        serial = 0
        while not stop.is_set():
            for message in slack.messages(CHANNEL):
                if not str(message.get("text", "")).startswith("Sync:") or message["ts"] in answered:
                    continue
                answered.add(message["ts"])
                for user in AGENTS.values():
                    serial += 1
                    text = f"answer {serial} from {user}"
                    event = {
                        "type": "message",
                        "channel": CHANNEL,
                        "user": user,
                        "text": text,
                        "ts": f"{time.time():.6f}",
                        "thread_ts": message["ts"],
                    }
                    if self._deliver_event(rng, event, f"Ev0FC{serial:06d}"):
                        self.replies[(message["ts"], user)] = text
                    else:
                        self.unacked_replies += 1
            stop.wait(0.2)

    def _deliver_event(self, rng, event: dict, event_id: str) -> bool:
        """As Slack delivers an event: to a replica; with no 200 back, sent again (up to 3 retries)."""
        for attempt in range(4):
            _, replica = self._replica(rng)
            try:
                status, _ = replica.event(event, event_id=event_id, retry_num=attempt or None)
            except (OSError, AssertionError):  # killed, or not up yet
                status = None
            if status == 200:
                return True
            time.sleep(1.0)
        return False

    # --- after ---------------------------------------------------------------------------

    def _drain(self, engine, slack, mailbox, sms, since: float) -> float:
        deadline = since + self.settings.drain_s
        while time.monotonic() < deadline:
            self._supervise(slack, self._env_used)
            if not self._pending(engine, slack) and all(_healthy(r) for r in self._live):
                return time.monotonic()
            time.sleep(1.0)
        return time.monotonic()

    def _pending(self, engine, slack) -> list[str]:
        with Session(engine) as session:
            deliveries = session.exec(
                select(func.count()).select_from(AlertDelivery).where(AlertDelivery.status != "sent")
            ).one()
            slots = session.exec(select(func.count()).select_from(SyncSlot).where(SyncSlot.status != "posted")).one()
            standup = session.exec(select(SyncSlot.id).where(SyncSlot.entry == "standup")).first()
            answered = session.exec(
                select(func.count()).select_from(SyncAnswer).where(SyncAnswer.answered_at.is_not(None))
            ).one()
        pending = []
        if deliveries:
            pending.append(f"{deliveries} deliveries")
        if slots or not standup:
            pending.append(f"{slots} slots" if standup else "the standup, not yet due")
        if answered < len(self.replies):
            pending.append(f"{len(self.replies) - answered} answers")
        unanswered = [s for s in self.sent if s.status == 200 and not _acked_refusal(s) and not answers(slack, s)]
        if unanswered:
            pending.append(f"{len(unanswered)} commands")
        return pending

    def _judge(self, engine, slack, mailbox, sms, fire: datetime) -> None:
        v = self.violations
        with Session(engine) as session:
            events = collections.Counter(session.exec(select(Event.name)).all())
            alerts = session.exec(select(Alert.id, Alert.event_name)).all()
            alert_texts = dict(session.exec(select(Alert.event_name, Alert.text)).all())
            not_sent = session.exec(select(AlertDelivery).where(AlertDelivery.status != "sent")).all()
            slots = session.exec(select(SyncSlot)).all()
            stored = {
                (slot.message_ts, row.agent_id): row
                for slot in slots
                for row in session.exec(select(SyncAnswer).where(SyncAnswer.slot_id == slot.id))
            }
            agent_ids = dict(session.exec(select(Agent.slack_user, Agent.id)).all())
        acked = [s for s in self.sent if s.status == 200]
        lost, twice, refused = [], [], 0
        for s in acked:
            name = s.text.split()[1] if s.text.startswith("event") else None
            texts = " ".join(answers(slack, s)) + " " + s.ack
            if name is None:
                continue
            applied = events.get(name, 0)
            if applied > 1:
                twice.append(s.text)
            elif applied == 0:
                if NOTHING_DONE.search(texts):
                    refused += 1
                else:
                    lost.append(s.text)
            elif not answers(slack, s):
                lost.append(f"{s.text} (done, never answered)")
        if lost:
            v.append(f"acked commands lost: {lost}")
        if twice:
            v.append(f"commands applied twice: {twice}")
        posts = collections.Counter(
            ((m.get("metadata") or {}).get("event_payload") or {}).get("alert_id") for m in slack.messages(ALERTS)
        )
        alert_ids = [a for a, _ in alerts]
        doubled = {a: n for a, n in posts.items() if n > 1}
        missing = [a for a in alert_ids if posts.get(a, 0) == 0]
        if doubled:
            v.append(f"alerts posted more than once: {doubled}")
        if missing:
            v.append(f"alerts never posted in Slack: {missing}")
        if not_sent:
            v.append(
                f"deliveries not sent after the drain: {[(d.alert_id, d.destination, d.status) for d in not_sent]}"
            )
        mailed = collections.Counter(
            int(m) for msg in mailbox.messages for m in re.findall(r"Alert #(\d+)", msg["data"])
        )
        # An SMS is the alert's level, plan and text (bot/delivery.py): matched by the text the store has.
        by_text = {f": {text}": name for name, text in alert_texts.items()}
        texted = collections.Counter(
            by_text[ending] for body in sms.received for ending in by_text if body["text"].endswith(ending)
        )
        if [a for a in alert_ids if not mailed.get(a)]:
            v.append(f"alerts never emailed: {[a for a in alert_ids if not mailed.get(a)]}")
        if [n for _, n in alerts if not texted.get(n)]:
            v.append(f"alerts never sent by SMS: {[n for _, n in alerts if not texted.get(n)]}")
        prompts = collections.Counter(
            (
                ((m.get("metadata") or {}).get("event_payload") or {}).get("slot_id"),
                ((m.get("metadata") or {}).get("event_payload") or {}).get("part"),
            )
            for m in slack.messages(CHANNEL)
            if (m.get("metadata") or {}).get("event_type") == "orchestrate_sync_prompt"
        )
        for slot in slots:
            if slot.status != "posted":
                v.append(f"sync slot {slot.id} ({slot.entry}) ended {slot.status}")
            elif prompts.get((slot.id, "prompt"), 0) != 1:
                v.append(f"sync slot {slot.id} ({slot.entry}) posted {prompts.get((slot.id, 'prompt'), 0)} times")
        if not any(slot.entry == "standup" for slot in slots):
            v.append(f"the standup due at {fire:%H:%M} was never claimed")
        unrecorded = [
            key
            for key, text in self.replies.items()
            if (
                stored.get((key[0], agent_ids.get(key[1]))) is None
                or (stored[(key[0], agent_ids[key[1]])].answer or {}).get("reply") != text
            )
        ]
        if unrecorded:
            v.append(f"answers not recorded: {unrecorded}")
        unhealthy = [i for i, r in enumerate(self._live) if not _healthy(r)]
        if unhealthy:
            v.append(f"replicas not healthy at the end: {unhealthy}")
        self.figures.update(
            seed=self.settings.seed,
            commands_sent=len(self.sent),
            commands_acked=len(acked),
            refused_and_said=refused,
            alerts=len(alert_ids),
            emails=sum(mailed.values()),
            sms=sum(texted.values()),
            slots=len(slots),
            answers=len(self.replies),
            answers_unacked=self.unacked_replies,
            kills=sum(1 for _, what in self.faults if "killed" in what),
        )


def answers(slack, sent: Sent) -> list[str]:
    """The texts of what was posted to a command's response_url."""
    found = []
    for call in slack.calls_to(f"response:cmd{sent.number}", include_failed=False):
        found.append(json.dumps(call.body, ensure_ascii=False))
    return found


def _acked_refusal(sent: Sent) -> bool:
    return bool(NOTHING_DONE.search(sent.ack))


def _healthy(replica: ServeProcess) -> bool:
    try:
        return replica.get("/healthz", timeout=5)[0] == 200
    except (OSError, urllib.error.URLError):
        return False
