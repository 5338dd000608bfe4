"""Security, end to end over real sockets: the rows of SECURITY.md's threat model, checked.

Two `orchestrate serve --http` processes, each with its own local stand-in for Slack:

- the *roles* server holds SEC-LED (one lead, two agents linked to Slack users) and
  SEC-NOLEADS (no roles.leads at all). It checks signatures, who may do what by slash
  command and by button, Slack's retries, and is fuzzed by a stranger;
- the *end-to-end* server runs with distinctive secret values (bot token, signing secret,
  API token, SMTP password, SMS gateway token) and the SEC-INJ plan, whose alerts go to a
  Slack channel, email and SMS. Every free-text field is filled with mentions and links;
  then the whole log, everything posted to Slack and the store are scanned for secrets.

Tests marked ``xfail(strict=True)`` pin a defect found while writing these checks (see
SECURITY.md, "Known gaps"): each asserts the behaviour the threat model asks for, so it
starts failing (XPASS) the day the defect is fixed, and the marker can go.
"""

import argparse
import functools
import itertools
import json
import operator
import os
import pty
import re
import shlex
import subprocess
import time
import urllib.error
import urllib.request
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from urllib.parse import urlencode

import pytest
from apscheduler.jobstores.memory import MemoryJobStore
from hypothesis import HealthCheck, Phase, event, given, settings
from hypothesis import strategies as st
from slack_sdk import WebClient
from slack_sdk.signature import SignatureVerifier
from sqlalchemy import PickleType
from sqlalchemy import select as sa_select
from sqlalchemy import text as sql
from sqlmodel import Session, SQLModel, select

from bot import scheduler
from bot.modals import confirm_modal
from commands.core.context import Actor
from commands.core.dispatch import Invocation, execute
from commands.core.errors import CommandError
from commands.core.grammar import tokenize
from commands.core.registry import grammar
from models.db.store import make_engine, upgrade
from models.db.tables import AlertDelivery, AuditEntry, MetricReading, ProcessedEvent, Stream, SyncAnswer
from tests.conftest import ROOT
from tests.conftest import STRANGER as STRANGER_ACTOR
from tests.fake_slack import FakeSlack
from tests.outlets import Mailbox, SmsGateway
from tests.serve_process import ORCHESTRATE, SIGNING_SECRET, ServeProcess, block_action
from tests.test_commands import snapshot

OPERATOR = Invocation(actor=Actor(id="cli:setup", name="setup", source="cli", operator=True))

LEAD = "U0LEAD0001"  # lead of SEC-LED
INJ_LEAD = "U0LEAD0002"  # lead of SEC-INJ (so a <@U0LEAD0001> there can only come from input)
AGENT_X, AGENT_Y, AGENT_N = "U0AGENT001", "U0AGENT002", "U0AGENT003"
AGENT_P, AGENT_Q = "U0AGENT101", "U0AGENT102"
STRANGER = "U0NOBODY01"  # in the workspace, in no plan

LED_CHANNEL = {"channel": "C0SECLED1", "channel_name": "sec-led"}
NOLEADS_CHANNEL = {"channel": "C0SECNOL1", "channel_name": "sec-noleads"}
INJ_CHANNEL = {"channel": "C0SECINJ1", "channel_name": "sec-inj"}


def night_zone() -> str:
    """A zone where it is now about 03:00: no sync of the day (09:00, 13:00, the 17:00 summary) falls
    within the run, so the scheduler of a live `serve` changes nothing while a test compares the store
    before and after a request (the run at 17:11 UTC saw the day's summary posted mid-test)."""
    offset = (3 - datetime.now(UTC).hour + 12) % 24 - 12  # hours east of UTC, -12 to +11
    return f"Etc/GMT{-offset:+d}" if offset else "UTC"  # Etc/GMT+5 is five hours WEST of UTC


NIGHT_ZONE = night_zone()

PLAN_LED = f"""
id: SEC-LED
title: Roles under test
channel: "#sec-led"
timezone: {NIGHT_ZONE}
roles:
  leads: [U0LEAD0001]
streams:
  - id: stream-x
  - id: stream-y
agents:
  agent-x:
    stream: stream-x
    slack-user: U0AGENT001
    tasks: [Write the parser, Review the parser]
  agent-y:
    stream: stream-y
    slack-user: U0AGENT002
    tasks: [Write the docs]
checkpoints:
  - id: cp-1
    name: Gate one
    day: 5
    criteria: [First thing, Second thing]
"""

PLAN_NOLEADS = f"""
id: SEC-NOLEADS
title: A plan that names no leads
channel: "#sec-noleads"
timezone: {NIGHT_ZONE}
streams:
  - id: stream-n
agents:
  agent-n:
    stream: stream-n
    slack-user: U0AGENT003
    tasks: [Something]
"""

PLAN_INJ = """
id: SEC-INJ
title: Injection under test
channel: "#sec-inj"
roles:
  leads: [U0LEAD0002]
streams:
  - id: stream-p
  - id: stream-q
agents:
  agent-p:
    stream: stream-p
    slack-user: U0AGENT101
    tasks: [Parse input, Render output]
  agent-q:
    stream: stream-q
    slack-user: U0AGENT102
    tasks: [Ship it]
checkpoints:
  - id: cp-1
    name: Gate one
    day: 5
    criteria: [First thing, Second thing]
alerts:
  - level: warning
    channel: [slack-alerts, email, sms]
    events: [task-blocked, plan-stopped, stream-paused, checkpoint-passed]
destinations:
  slack-alerts: {slack: "#sec-alerts"}
  email: {email: ["oncall@example.com"]}
  sms: {sms: ["+15550100"]}
"""

# What an attacker types into every free-text field: channel and here pings, a forged ping of
# someone who is in no way part of SEC-INJ, a forged link, and the plain-text form.
PAYLOAD = "<!channel> <!here> <@U0LEAD0001> <https://evil.example|click> @channel"
FORBIDDEN = ("<!channel>", "<!here>", "<@U0LEAD0001>", "<https://evil")

# Distinctive secrets for the end-to-end server: none may show up anywhere but where it is used.
E2E_BOT_TOKEN = "xoxb-SECRET-bot-token-7c1e9a"
E2E_SIGNING_SECRET = "SECRET-signing-secret-4b8d21"
E2E_API_TOKEN = "SECRET-api-token-9f3a6e0d2c5b"
E2E_SMTP_PASSWORD = "SECRET-smtp-pw-5e2f"
E2E_SMS_TOKEN = "SECRET-sms-token-1d7c"

_names = itertools.count(1)


def fresh(prefix: str) -> str:
    """A response URL name no other request uses (the trailing z keeps r1 from matching r10)."""
    return f"{prefix}{next(_names)}z"


# --- servers -----------------------------------------------------------------------------------


def load_store(directory: Path, plans: dict[str, str]) -> tuple[str, object]:
    url = f"sqlite:///{directory / 'store.db'}"
    engine = make_engine(url)
    upgrade(engine)
    for key, text in plans.items():
        path = directory / f"{key}.yml"
        path.write_text(text)
        execute(engine, ["plan", "load", str(path)], OPERATOR)
        execute(engine, ["start", key], OPERATOR)
    return url, engine


class E2EServe(ServeProcess):
    """`serve` whose requests are signed with the end-to-end signing secret."""

    def post(self, body, content_type, *, secret=E2E_SIGNING_SECRET, **kw):
        return super().post(body, content_type, secret=secret, **kw)


@pytest.fixture(scope="module")
def roles(tmp_path_factory):
    directory = tmp_path_factory.mktemp("roles")
    url, engine = load_store(directory, {"SEC-LED": PLAN_LED, "SEC-NOLEADS": PLAN_NOLEADS})
    with FakeSlack() as slack:
        server = ServeProcess(directory, slack.url, url)
        try:
            server.wait_healthy()
            yield SimpleNamespace(server=server, slack=slack, engine=engine)
        finally:
            server.stop()
            engine.dispose()


@pytest.fixture(scope="module")
def e2e(tmp_path_factory):
    directory = tmp_path_factory.mktemp("e2e")
    url, engine = load_store(directory, {"SEC-INJ": PLAN_INJ})
    with FakeSlack() as slack, Mailbox() as mailbox, SmsGateway() as sms:
        sms.fail_next = 1  # one failure first: the failure path must not leak the URL either
        smtp_url = mailbox.url.replace("smtp://", f"smtp://alerts%40example.com:{E2E_SMTP_PASSWORD}@")
        server = E2EServe(
            directory,
            slack.url,
            url,
            extra_env={
                "SLACK_BOT_TOKEN": E2E_BOT_TOKEN,
                "SLACK_SIGNING_SECRET": E2E_SIGNING_SECRET,
                "ORCHESTRATE_API_TOKEN": E2E_API_TOKEN,
                "SMTP_URL": smtp_url,
                "SMS_WEBHOOK_URL": f"{sms.url}?token={E2E_SMS_TOKEN}",
            },
        )
        try:
            server.wait_healthy()
            yield SimpleNamespace(server=server, slack=slack, engine=engine, mailbox=mailbox, sms=sms, api_answers=[])
        finally:
            server.stop()
            engine.dispose()


# --- helpers -------------------------------------------------------------------------------------


def wait_until(check, timeout: float = 30.0, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


def as_dict(value):
    return json.loads(value) if isinstance(value, str) else value


def answer_to(slack: FakeSlack, name: str, timeout: float = 30.0) -> tuple[str, dict]:
    """The bot's answer to one request: ("response", what it posted to the response URL) or
    ("modal", the view it opened, whose private metadata carries that response URL)."""
    url = slack.response_url(name)

    def find():
        for call in slack.calls:
            if call.method == f"response:{name}":
                return "response", call.body
            if call.method == "views.open" and url in json.dumps(call.body.get("view")):
                return "modal", as_dict(call.body["view"])
        return None

    return wait_until(find, timeout, f"an answer at {url}")


def reply_to(slack: FakeSlack, name: str, timeout: float = 10.0) -> dict:
    """The message the bot posted to a response URL (after any modal)."""
    return slack.wait_for(f"response:{name}", timeout=timeout)[-1].body


def modal_for(slack: FakeSlack, name: str) -> dict:
    kind, view = answer_to(slack, name)
    assert kind == "modal", f"expected a confirmation modal, the bot answered: {view}"
    return view


def submit(server, view: dict, user: str, reason: str):
    """Confirm a modal as Slack sends it: the view the bot opened, with the reason typed in."""
    return server.interaction(
        {
            "type": "view_submission",
            "team": {"id": "T0TEST"},
            "api_app_id": "A0TEST",
            "user": {"id": user, "username": user.lower()},
            "view": {
                **view,
                "id": "V0SEC",
                "state": {"values": {"reason": {"value": {"type": "plain_text_input", "value": reason}}}},
            },
        }
    )


def mrkdwn_texts(node) -> list[str]:
    """Every mrkdwn text in blocks or a view: what Slack parses for mentions and links."""
    found = []
    if isinstance(node, dict):
        if node.get("type") == "mrkdwn" and isinstance(node.get("text"), str):
            found.append(node["text"])
        for value in node.values():
            found += mrkdwn_texts(value)
    elif isinstance(node, list):
        for value in node:
            found += mrkdwn_texts(value)
    return found


def displayed(body: dict) -> list[str]:
    """The mrkdwn a message or view shows: its blocks' (or view's); a message without blocks shows its text."""
    blocks, view = as_dict(body.get("blocks")), as_dict(body.get("view"))
    if blocks or view:
        return mrkdwn_texts(blocks or []) + mrkdwn_texts(view or {})
    return [body.get("text") or ""]


def shown(body: dict) -> str:
    return "\n".join(displayed(body))


def last_audit(engine, user: str, line: str) -> AuditEntry | None:
    command = shlex.join(tokenize(line))
    with Session(engine) as session:
        return session.exec(
            select(AuditEntry)
            .where(AuditEntry.actor == f"slack:{user}", AuditEntry.command == command)
            .order_by(AuditEntry.id.desc())
        ).first()


def audit_count(engine) -> int:
    with engine.connect() as connection:
        return connection.execute(sql("SELECT count(*) FROM audit_log")).scalar_one()


def rows(engine, *tables: str) -> dict:
    """The rows of some tables, for invariants over what a stranger may never change."""
    with engine.connect() as connection:
        return {t: connection.execute(sql(f"SELECT * FROM {t} ORDER BY id")).all() for t in tables}


def stream_status(engine, key: str) -> str:
    with Session(engine) as session:
        return session.exec(select(Stream.status).where(Stream.key == key)).one()


def task_status(engine, plan_key: str, key: str) -> str:
    with engine.connect() as connection:
        return connection.execute(
            sql("SELECT t.status FROM tasks t JOIN plans p ON p.id = t.plan_id WHERE p.key = :plan AND t.key = :task"),
            {"plan": plan_key, "task": key},
        ).scalar_one()


def raw_post(server, body: bytes, headers: dict) -> tuple[int, str]:
    request = urllib.request.Request(f"{server.base}/slack/events", data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def api(server, method: str, path: str, body: dict | None = None, token: str | None = E2E_API_TOKEN):
    headers = {"Content-Type": "application/json"}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(f"{server.base}{path}", data=data, headers=headers, method=method)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


class LogMark:
    """The part of the serve log written since this mark."""

    def __init__(self, server):
        self.server, self.at = server, len(server.output())

    def since(self) -> str:
        return self.server.output()[self.at :]


# =================================================================================================
# (a) Requests: a missing, forged or stale signature gets 401 and changes nothing
# =================================================================================================


def _unsigned(server, body: str, **_):
    return raw_post(server, body.encode(), {"Content-Type": "application/x-www-form-urlencoded"})


def _forged(server, body: str, **_):
    return server.post(body, "application/x-www-form-urlencoded", secret="not-the-signing-secret")


def _stale(server, body: str, **_):
    return server.post(body, "application/x-www-form-urlencoded", timestamp=int(time.time()) - 6 * 60)


def _tampered(server, body: str, **_):
    """Signed for another body: a captured signature reused on a changed request."""
    stamp = int(time.time())
    signature = SignatureVerifier(SIGNING_SECRET).generate_signature(timestamp=str(stamp), body="text=status")
    return server.post(body, "application/x-www-form-urlencoded", timestamp=stamp, signature=signature)


def _slash_body(text: str, response_url: str, user: str) -> str:
    """A slash command's body, as Slack sends it (to sign, or not, by hand)."""
    return urlencode(
        {
            "token": "legacy",
            "team_id": "T0TEST",
            "team_domain": "test",
            "channel_id": LED_CHANNEL["channel"],
            "channel_name": LED_CHANNEL["channel_name"],
            "user_id": user,
            "user_name": user.lower(),
            "command": "/orchestrate",
            "text": text,
            "api_app_id": "A0TEST",
            "response_url": response_url,
            "trigger_id": "1337.42.abcd",
        }
    )


@pytest.mark.parametrize(
    "send", [_unsigned, _forged, _stale, _tampered], ids=["missing", "forged", "stale", "tampered"]
)
@pytest.mark.parametrize("kind", ["slash", "button"])
def test_a_request_without_a_valid_signature_gets_401_and_changes_nothing(roles, send, kind):
    name = fresh("sig")
    if kind == "slash":  # the lead's own pause: it would act if it were signed
        body = _slash_body("pause stream-x", roles.slack.response_url(name), LEAD)
    else:
        payload = block_action(
            "stream_pause",
            "SEC-LED|stream-x",
            roles.slack.response_url(name),
            user=LEAD,
            channel=LED_CHANNEL["channel"],
        )
        body = urlencode({"payload": json.dumps(payload)})
    before, audited = snapshot(roles.engine), audit_count(roles.engine)
    status, answer = send(roles.server, body)
    assert status == 401, answer
    time.sleep(0.3)  # anything the request had set off would have begun by now
    assert roles.slack.calls_to(f"response:{name}") == []
    assert snapshot(roles.engine) == before and audit_count(roles.engine) == audited
    assert stream_status(roles.engine, "stream-x") == "active"


def test_the_same_request_signed_with_the_secret_acts(roles):
    """The control for the test above: it is the signature that was refused, not the request."""
    name = fresh("ok")
    body = _slash_body("pause stream-x", roles.slack.response_url(name), LEAD)
    assert roles.server.post(body, "application/x-www-form-urlencoded") == (200, "")
    assert "Paused stream-x" in shown(reply_to(roles.slack, name))
    assert stream_status(roles.engine, "stream-x") == "paused"
    name = fresh("ok")
    roles.server.slash("resume stream-x", roles.slack.response_url(name), user=LEAD, **LED_CHANNEL)
    assert "Resumed stream-x" in shown(reply_to(roles.slack, name))
    assert stream_status(roles.engine, "stream-x") == "active"


@pytest.mark.parametrize(
    "body,headers",
    [
        (
            b"text=status",
            {
                "Content-Type": "application/x-www-form-urlencoded",
                "X-Slack-Request-Timestamp": "not-a-number",
                "X-Slack-Signature": "v0=00",
            },
        ),
        (b"{not json", {"Content-Type": "application/json"}),
        (b"payload=%5B1%5D", {"Content-Type": "application/x-www-form-urlencoded"}),
    ],
    ids=["timestamp-not-a-number", "invalid-json", "payload-not-an-object"],
)
def test_an_unsigned_malformed_request_gets_401_without_a_traceback(roles, body, headers):
    mark = LogMark(roles.server)
    status, _ = raw_post(roles.server, body, headers)
    time.sleep(0.2)
    assert status == 401 and "Traceback" not in mark.since()


def test_what_an_unsigned_request_carries_stays_out_of_the_log(roles):
    mark = LogMark(roles.server)
    status, _ = raw_post(
        roles.server, b"text=UNSIGNED-MARKER-6f1d" + b"x" * 4096, {"Content-Type": "application/x-www-form-urlencoded"}
    )
    assert status == 401
    time.sleep(0.2)
    assert "UNSIGNED-MARKER-6f1d" not in mark.since()


def newest_ts(slack: FakeSlack, channel: str) -> str:
    """The ts of the newest message in a channel, as conversations.history gives it."""
    return WebClient(token="xoxb-test", base_url=slack.url).conversations_history(channel=channel)["messages"][0]["ts"]


def test_slacks_retry_of_an_event_acts_once(roles):
    """A reply in a sync prompt's thread, delivered again with X-Slack-Retry-Num: recorded once."""
    name = fresh("sync")
    roles.server.slash("sync", roles.slack.response_url(name), user=LEAD, **LED_CHANNEL)
    reply_to(roles.slack, name)
    prompt_ts = newest_ts(roles.slack, LED_CHANNEL["channel"])
    updates = len(roles.slack.calls_to("chat.update"))
    event = {
        "type": "message",
        "channel": LED_CHANNEL["channel"],
        "user": AGENT_X,
        "text": "first",
        "ts": "1800000000.000100",
        "thread_ts": prompt_ts,
    }
    assert roles.server.event(event, event_id="EvSecRetry1")[0] == 200
    roles.slack.wait_for("chat.update", count=updates + 1, timeout=30)
    # Slack's retries: the same event id again (with other text here, to tell them apart).
    assert roles.server.event({**event, "text": "second"}, event_id="EvSecRetry1", retry_num=1)[0] == 200
    assert roles.server.event({**event, "text": "third"}, event_id="EvSecRetry1", retry_num=2)[0] == 200
    time.sleep(0.5)
    assert len(roles.slack.calls_to("chat.update")) == updates + 1
    with Session(roles.engine) as session:
        answers = session.exec(select(SyncAnswer.answer)).all()
        replies = [answer.get("reply") for answer in answers]
        assert "first" in replies and "second" not in replies and "third" not in replies
        assert len(session.exec(select(ProcessedEvent).where(ProcessedEvent.event_id == "EvSecRetry1")).all()) == 1


def test_a_replayed_signed_slash_command_acts_once(roles):
    name = fresh("replay")
    body = _slash_body("metric replayed-reading 5", roles.slack.response_url(name), LEAD)
    stamp = int(time.time())
    signature = SignatureVerifier(SIGNING_SECRET).generate_signature(timestamp=str(stamp), body=body)
    for _ in range(2):
        assert (
            roles.server.post(body, "application/x-www-form-urlencoded", timestamp=stamp, signature=signature)[0] == 200
        )
    roles.slack.wait_for(f"response:{name}")
    time.sleep(0.5)
    with Session(roles.engine) as session:
        readings = session.exec(select(MetricReading).where(MetricReading.name == "replayed-reading")).all()
    assert len(readings) == 1


# =================================================================================================
# (b) Roles: privileged commands and buttons from non-leads are refused, say who may, change
#     nothing, and are audited; a plan without leads allows no privileged command at all
# =================================================================================================

PRIVILEGED = [
    "start SEC-LED",
    "execute SEC-LED --start-now",
    "pause stream-x",
    "pause --stream stream-y --reason because",
    "resume stream-x",
    "reallocate --from agent-x --to stream-y",
    "stop --reason 'not yours to stop'",
    "task add 'Sneaky task' --type Dev --agent agent-x",
    "task start T3",  # agent-y's task: not the stranger's, nor agent-x's
    "task block T3 --reason nope",
    "unblock-deployment --reason trust-me",
]


def assert_refused(engine, slack, name: str, user: str, line: str, *, leads_shown: str) -> dict:
    refusal = reply_to(slack, name)
    assert refusal["response_type"] == "ephemeral" and refusal.get("replace_original") is False
    assert refusal["text"].startswith(":no_entry: only a lead of "), refusal["text"]
    assert leads_shown in refusal["text"]  # says who may do it
    entry = last_audit(engine, user, line)
    assert entry is not None and entry.outcome == "refused", entry
    return refusal


@pytest.mark.parametrize("user", [STRANGER, AGENT_X], ids=["stranger", "agent"])
@pytest.mark.parametrize("line", PRIVILEGED)
def test_a_privileged_slash_command_from_a_non_lead_is_refused(roles, line, user):
    name = fresh("priv")
    before = snapshot(roles.engine)
    status, body = roles.server.slash(line, roles.slack.response_url(name), user=user, **LED_CHANNEL)
    assert (status, body) == (200, "")
    assert_refused(roles.engine, roles.slack, name, user, line, leads_shown=f"leads: <@{LEAD}>")
    assert snapshot(roles.engine) == before


@pytest.mark.parametrize(
    "action_id,value",
    [
        ("stream_pause", "SEC-LED|stream-x"),
        ("stream_resume", "SEC-LED|stream-y"),
    ],
    ids=["pause", "resume"],
)
@pytest.mark.parametrize("where", ["plan-channel", "forwarded-elsewhere"])
def test_a_privileged_button_from_a_non_lead_is_refused(roles, action_id, value, where):
    """The button checks the same permission as the command, wherever the message was clicked."""
    name = fresh("btn")
    channel = LED_CHANNEL["channel"] if where == "plan-channel" else "D0STRANGER"
    before = snapshot(roles.engine)
    status, _ = roles.server.interaction(
        block_action(action_id, value, roles.slack.response_url(name), user=STRANGER, channel=channel)
    )
    assert status == 200
    verb, (plan, stream) = action_id.split("_")[1], value.split("|")
    assert_refused(
        roles.engine, roles.slack, name, STRANGER, f"{verb} {stream} --plan {plan}", leads_shown=f"leads: <@{LEAD}>"
    )
    time.sleep(0.2)  # no dashboard refresh follows a refusal
    assert len(roles.slack.calls_to(f"response:{name}")) == 1
    assert snapshot(roles.engine) == before


@pytest.mark.parametrize(
    "line",
    ["stop --emergency --reason 'I think so'", "validate --checkpoint cp-1 --force --reason 'trust me'"],
    ids=["emergency-stop", "forced-gate"],
)
def test_a_confirmed_risky_command_from_a_non_lead_is_refused(roles, line):
    """Permission first (issue 14.7): a stranger's risky command is refused at once, and no modal opens;
    a confirmation forged for it (the modal the bot would have opened, submitted anyway) is refused too."""
    name = fresh("risky")
    before, modals = snapshot(roles.engine), len(roles.slack.calls_to("views.open"))
    roles.server.slash(line, roles.slack.response_url(name), user=STRANGER, **LED_CHANNEL)
    refusal = reply_to(roles.slack, name)
    assert refusal["response_type"] == "ephemeral" and f"leads: <@{LEAD}>" in refusal["text"]
    assert len(roles.slack.calls_to("views.open")) == modals
    assert snapshot(roles.engine) == before
    channel = {"id": LED_CHANNEL["channel"], "name": LED_CHANNEL["channel_name"]}
    context = {"channel": channel, "response_url": roles.slack.response_url(name)}
    forged = confirm_modal(line, None, context, title="Emergency stop", prompt="forged")
    assert submit(roles.server, forged, STRANGER, "because I can")[0] == 200
    refused = roles.slack.wait_for(f"response:{name}", count=2)[-1].body
    assert refused["response_type"] == "ephemeral" and f"leads: <@{LEAD}>" in refused["text"]
    assert snapshot(roles.engine) == before
    with Session(roles.engine) as session:
        entry = session.exec(
            select(AuditEntry).where(AuditEntry.actor == f"slack:{STRANGER}").order_by(AuditEntry.id.desc())
        ).first()
    assert entry.outcome == "refused" and "--reason 'because I can'" in entry.command


def test_the_pass_button_of_an_unmet_gate_refuses_a_stranger_before_any_modal(roles):
    name = fresh("pass")
    before, modals = snapshot(roles.engine), len(roles.slack.calls_to("views.open"))
    roles.server.interaction(
        block_action(
            "checkpoint_pass",
            "SEC-LED|cp-1",
            roles.slack.response_url(name),
            user=STRANGER,
            channel=LED_CHANNEL["channel"],
        )
    )
    refusal = reply_to(roles.slack, name)
    assert refusal["response_type"] == "ephemeral"
    assert "only the leads and agents of SEC-LED may tick or pass a checkpoint" in refusal["text"]
    assert len(roles.slack.calls_to("views.open")) == modals  # no modal opened for a stranger
    assert snapshot(roles.engine) == before


@pytest.mark.parametrize("user", [LEAD, AGENT_N], ids=["lead-of-another-plan", "agent-of-this-plan"])
@pytest.mark.parametrize(
    "line",
    [
        "pause stream-n --plan SEC-NOLEADS",
        "stop --reason x --plan SEC-NOLEADS",
        "start SEC-NOLEADS",
        "reallocate --from agent-n --to stream-n --plan SEC-NOLEADS",
    ],
)
def test_a_plan_without_leads_allows_no_privileged_command_from_slack(roles, line, user):
    name = fresh("deny")
    before = snapshot(roles.engine)
    roles.server.slash(line, roles.slack.response_url(name), user=user, **NOLEADS_CHANNEL)
    refusal = assert_refused(
        roles.engine, roles.slack, name, user, line, leads_shown="leads: nobody yet: add roles.leads to the plan file"
    )
    assert "<@" not in refusal["text"]
    assert snapshot(roles.engine) == before


def test_a_plan_without_leads_refuses_its_buttons_too(roles):
    name = fresh("denybtn")
    before = snapshot(roles.engine)
    roles.server.interaction(
        block_action(
            "stream_pause",
            "SEC-NOLEADS|stream-n",
            roles.slack.response_url(name),
            user=LEAD,
            channel=NOLEADS_CHANNEL["channel"],
        )
    )
    assert_refused(
        roles.engine,
        roles.slack,
        name,
        LEAD,
        "pause stream-n --plan SEC-NOLEADS",
        leads_shown="add roles.leads to the plan file",
    )
    assert snapshot(roles.engine) == before


# --- confirmations at a terminal: the CLI asks before an emergency stop or a forced gate --------------


def at_terminal(cwd: Path, args: list[str], typed: str) -> tuple[int, str, str]:
    """Run the installed CLI with a terminal as its stdin, typing ``typed`` into it."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "DATABASE_URL"))}
    env["DATABASE_URL"] = f"sqlite:///{cwd / 'store.db'}"
    controller, terminal = pty.openpty()
    try:
        process = subprocess.Popen(
            [str(ORCHESTRATE), *args],
            cwd=cwd,
            env=env,
            stdin=terminal,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        os.close(terminal)
        os.write(controller, typed.encode())
        out, err = process.communicate(timeout=60)
    finally:
        os.close(controller)
    return process.returncode, out, err


def test_the_cli_asks_at_a_terminal_before_an_emergency_stop_or_a_forced_gate(tmp_path):
    _, engine = load_store(tmp_path, {"SEC-LED": PLAN_LED})
    before = snapshot(engine)
    code, out, err = at_terminal(tmp_path, ["stop", "--emergency", "--reason", "fire"], "n\n")
    assert code == 1 and "Really run `stop --emergency --reason fire`? [y/N]" in out
    assert "cancelled; nothing changed" in err
    assert snapshot(engine) == before
    code, out, err = at_terminal(tmp_path, ["validate", "--checkpoint", "cp-1", "--force"], "the demo\ny\n")
    assert code == 0, err
    assert "Why force this checkpoint?" in out and "FORCED past 2 unmet criteria" in out and "the demo" in out
    code, out, err = at_terminal(tmp_path, ["stop", "--emergency", "--reason", "fire"], "y\n")
    assert code == 0 and "EMERGENCY STOP: SEC-LED is stopped" in out, err
    engine.dispose()


# =================================================================================================
# (c) Agents may change their own tasks, and only theirs
# =================================================================================================


def test_an_agent_may_start_and_finish_its_own_task_but_not_anothers(roles):
    name = fresh("own")
    roles.server.slash("task start T1", roles.slack.response_url(name), user=AGENT_X, **LED_CHANNEL)
    started = reply_to(roles.slack, name)
    assert started["response_type"] == "in_channel"
    assert "T1 'Write the parser' is now in-progress." in shown(started)
    assert f"by <@{AGENT_X}>" in shown(started)
    assert task_status(roles.engine, "SEC-LED", "T1") == "in-progress"

    name = fresh("own")
    roles.server.slash("task done T1", roles.slack.response_url(name), user=AGENT_X, **LED_CHANNEL)
    assert "T1 'Write the parser' is now done." in shown(reply_to(roles.slack, name))
    assert task_status(roles.engine, "SEC-LED", "T1") == "done"
    assert last_audit(roles.engine, AGENT_X, "task done T1").outcome == "ok"

    for line in ("task start T3", "task done T3"):  # agent-y's
        name = fresh("other")
        before = snapshot(roles.engine)
        roles.server.slash(line, roles.slack.response_url(name), user=AGENT_X, **LED_CHANNEL)
        refusal = assert_refused(roles.engine, roles.slack, name, AGENT_X, line, leads_shown=f"leads: <@{LEAD}>")
        assert "may change another agent's task" in refusal["text"]
        assert snapshot(roles.engine) == before
    assert task_status(roles.engine, "SEC-LED", "T3") == "ready"


# --- "everyone else can read": what a stranger can still change ---------------------------------------

PLAN_OPEN = """
id: SEC-OPEN
roles: {leads: [U0LEAD0001]}
streams: [{id: s1}]
agents:
  a1: {stream: s1, slack-user: U0AGENT001, tasks: [{title: Waits for go, after: go}]}
checkpoints: [{id: cp-1, name: Gate, day: 1, criteria: [One], blocker: true}]
risk-triggers:
  - {condition: "test-coverage < 80%", action: block-deployment, severity: high}
  - {condition: "critical-bug-found", action: all-hands-alert, severity: critical}
coordination:
  s1: [{trigger: api-ready, action: go}]
alerts:
  - {level: critical, channel: [email, sms], events: [critical-bug-found]}
destinations:
  email: {email: [oncall@example.com]}
  sms: {sms: ["+15550100"]}
"""


@pytest.mark.parametrize(
    "line",
    [
        "metric test-coverage 10%",
        "event critical-bug-found",
        "event api-ready",
        "validate --checkpoint cp-1 --criterion 1",
    ],
)
def test_a_stranger_can_only_read(run, tmp_path, line):
    """In process (the permission is the dispatcher's, whatever the front end): a Slack user in no role."""
    path = tmp_path / "open.yml"
    path.write_text(PLAN_OPEN)
    run(f"plan load {path}")
    run("start SEC-OPEN")
    before = snapshot(run.engine)
    with pytest.raises(CommandError):
        run(line, actor=STRANGER_ACTOR, front="slack")
    assert snapshot(run.engine) == before


# =================================================================================================
# (e) Fuzz: arbitrary command texts and interaction payloads from a stranger, through the server
# =================================================================================================


def grammar_words() -> list[str]:
    """Every subcommand, action and flag the Slack grammar knows."""
    words: set[str] = set()
    for name in grammar("slack").specs:
        stack = [grammar("slack").subparser(name)]
        words.add(name)
        while stack:
            parser = stack.pop()
            for action in parser._actions:
                words.update(action.option_strings)
                if isinstance(action, argparse._SubParsersAction):
                    words.update(action.choices)
                    stack.extend(action.choices.values())
    return sorted(words)


OBJECT_NAMES = [
    "SEC-LED",
    "SEC-NOLEADS",
    "TR-ORCH-001",
    "stream-x",
    "stream-y",
    "stream-n",
    "stream",
    "agent-x",
    "agent-y",
    "agent-n",
    "T1",
    "T2",
    "T3",
    "T999",
    "cp-1",
    "cp",
    "#1",
    "1",
    "2",
    "0",
    "-1",
    "1,2",
    "4h",
    "2d",
    "78%",
    "620ms",
    "1.5 hours",
    "3/day",
    "all",
    "standup",
    "ad-hoc",
    "/etc/passwd",
    "../../x.yml",
    "<!channel>",
    "<@U0LEAD0001>",
    "<https://evil.example|x>",
    "'",
    '"',
    "\\",
    "--",
    "“",
    "”",
    "é",
    "\u00a0",
    "&amp;",
    "*bold*",
    "`code`",
]
WORDS = grammar_words() + OBJECT_NAMES
SUBCOMMANDS = sorted(grammar("slack").specs)


def avoids_pinned_defects(text: str) -> bool:
    """False for text with a number the store cannot take: that defect is pinned on its own by
    test_a_number_the_store_cannot_take_gets_a_readable_refusal, so the fuzz is kept away from it."""
    for token in re.split(r"[\s|]+", text):
        digits = token.strip("'\"").lstrip("#")
        if digits.isdigit() and (not digits.isascii() or len(digits) > 18):
            return False
    return True


texts = st.text(min_size=1, max_size=20).filter(avoids_pinned_defects)
word = st.one_of(st.sampled_from(WORDS), texts)
value = st.one_of(st.sampled_from(OBJECT_NAMES), texts)


def grammar_guided(name: str):
    """A command line the grammar nearly accepts: the subcommand, its action, its own flags with values."""
    parser = grammar("slack").subparser(name)
    actions = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    choices = sorted(actions[0].choices) if actions else [None]

    def line(action):
        inner = actions[0].choices[action] if action else parser
        flags = sorted({f for a in inner._actions for f in a.option_strings if f not in ("-h", "--help")})
        pieces = [value.map(lambda v: [v])]
        if flags:
            pieces.append(st.tuples(st.sampled_from(flags), value).map(list))
            pieces.append(st.sampled_from(flags).map(lambda f: [f]))
        head = [name] + ([action] if action else [])
        return st.lists(st.one_of(*pieces), max_size=4).map(
            lambda parts: shlex.join(head + functools.reduce(operator.iadd, parts, []))
        )

    return st.sampled_from(choices).flatmap(line)


# Commands that parse, read-only or privileged, each of which a test above runs as written.
TEMPLATES = [
    *PRIVILEGED,
    "status",
    "dashboard SEC-LED",
    "status SEC-NOLEADS",
    "health",
    "health --agents all",
    "task list",
    "task list --stream stream-x --status ready",
    "alerts --open",
    "audit --limit 5",
    "plan list --mine",
    "plan show SEC-LED",
    "help pause",
    "help",
    "sync --checkpoint cp-1",
    "validate --checkpoint cp-1",
    "task done T2",
    "task fail T1 --reason x",
    "ack 1",
    "resolve #1",
    "metric fuzz-reading 5",
    "event fuzz-happened",
    "stop --emergency --reason x",
    "validate --checkpoint cp-1 --force",
    "plan load /etc/passwd",
    "plan diff ../x.yml",
    "pause stream-n --plan SEC-NOLEADS",
]


def mutate(template: str, position: int, replacement: str, insert: bool) -> str:
    tokens = shlex.split(template)
    position %= len(tokens) + 1
    if insert or position == len(tokens):
        tokens.insert(position, replacement)
    else:
        tokens[position] = replacement
    return shlex.join(tokens)


def weighted(*choices):
    """One of the strategies, each as often as its weight."""
    return st.sampled_from([strategy for strategy, weight in choices for _ in range(weight)]).flatmap(lambda s: s)


grammar_command = st.sampled_from(SUBCOMMANDS).flatmap(grammar_guided)
templated = weighted(
    (st.sampled_from(TEMPLATES), 3),
    (st.builds(mutate, st.sampled_from(TEMPLATES), st.integers(0, 8), value, st.booleans()), 1),
)

command_texts = weighted(
    (st.text(max_size=80).filter(avoids_pinned_defects), 1),
    (st.lists(st.sampled_from(WORDS), min_size=1, max_size=7).map(" ".join), 1),
    (st.tuples(st.sampled_from(SUBCOMMANDS), st.lists(word, max_size=6)).map(lambda t: shlex.join([t[0], *t[1]])), 1),
    (grammar_command, 1),
    (templated, 4),
)
FUZZ = settings(
    max_examples=300,
    deadline=None,
    database=None,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

STATE_TABLES = ("plans", "streams", "agents", "tasks")  # what only leads (and agents, their own tasks) change


@pytest.fixture(scope="module")
def fuzz_watch(roles):
    """State, log and Block Kit errors before the fuzz, checked after it in test_the_fuzz_left_no_trace."""
    return SimpleNamespace(
        rows=rows(roles.engine, *STATE_TABLES), log=LogMark(roles.server), errors=len(roles.slack.errors)
    )


def readable(kind: str, body: dict) -> None:
    """A modal with a title, or a message with text: never a crash report."""
    if kind == "modal":
        assert body["type"] == "modal" and body["title"]["text"]
        return
    text = body.get("text")
    assert isinstance(text, str) and text.strip(), body
    assert ":boom:" not in text and "Traceback" not in text, text


def outcome(kind: str, body: dict) -> str:
    """What kind of answer it was, for hypothesis's statistics (--hypothesis-show-statistics)."""
    if kind == "modal":
        return "confirmation modal"
    text = body.get("text") or ""
    for mark, label in (
        (":no_entry: only a lead", "refused: not a lead"),
        (":no_entry:", "refused"),
        (":warning:", "usage error"),
    ):
        if text.startswith(mark):
            return label
    return "answered (" + body.get("response_type", "?") + ")"


@FUZZ
@given(text=command_texts)
def test_fuzz_slash_command_texts_from_a_stranger(roles, fuzz_watch, text):
    name = fresh("fz")
    status, body = roles.server.slash(text, roles.slack.response_url(name), user=STRANGER, **LED_CHANNEL)
    assert (status, body) == (200, ""), (text, status, body)
    answer = answer_to(roles.slack, name)
    readable(*answer)
    event(outcome(*answer))


KNOWN_ACTIONS = (
    "stream_pause",
    "stream_resume",
    "dashboard_refresh",
    "criterion_tick",
    "checkpoint_pass",
    "page_more",
    "alert_ack",
    "alert_resolve",
    "sync_answer",
    "move_undo",
    "move_apply",
    "blocker_close",
    "retro_met",
    "retro_not_met",
)
part = st.one_of(st.sampled_from(OBJECT_NAMES), st.text(max_size=20).filter(avoids_pinned_defects))
small_int = st.integers(min_value=0, max_value=10**6)


def joined(count: int):
    return st.lists(part, min_size=count, max_size=count).map("|".join)


# Values in the shapes the bot's own buttons carry, with anything at all in each slot.
action_values = {
    "stream_pause": joined(2),
    "stream_resume": joined(2),
    "dashboard_refresh": part,
    "criterion_tick": joined(3),
    "checkpoint_pass": joined(2),
    "page_more": st.fixed_dictionaries(
        {"command": st.one_of(st.sampled_from(SUBCOMMANDS), part), "plan": part, "offset": small_int},
        optional={"page": st.one_of(small_int, part)},  # health's pages
    ).map(json.dumps),
    "alert_ack": st.one_of(small_int.map(str), small_int.map(lambda n: f"#{n}"), part),
    "alert_resolve": st.one_of(small_int.map(str), part),
    "sync_answer": small_int.map(str),
    "move_undo": joined(2),
    "move_apply": joined(2),
    "blocker_close": joined(2),
    "retro_met": joined(2),
    "retro_not_met": joined(2),
}
known_click = st.sampled_from(KNOWN_ACTIONS).flatmap(
    lambda action_id: action_values[action_id].map(lambda value: ("click", action_id, value))
)
unknown_click = st.tuples(
    st.just("click"), st.text(min_size=1, max_size=30).filter(lambda a: a not in KNOWN_ACTIONS), st.text(max_size=30)
)
confirmation = st.tuples(st.just("confirm"), st.one_of(grammar_command, templated), st.text(max_size=40))
unknown_view = st.tuples(
    st.just("view"), st.text(min_size=1, max_size=30).filter(lambda c: c != "confirm_command"), st.text(max_size=60)
)
interactions = weighted((known_click, 3), (confirmation, 2), (unknown_click, 1), (unknown_view, 1))


@FUZZ
@given(interaction=interactions)
def test_fuzz_interaction_payloads_from_a_stranger(roles, fuzz_watch, interaction):
    """Well-formed Slack payloads (the shape Slack sends) with arbitrary ids, values and views.

    A listener nobody registered is answered 404 by Bolt ("unhandled request"); every
    registered one is acked 200 and answers with a readable message or a modal.
    """
    kind, first, second = interaction
    name = fresh("fi")
    url = roles.slack.response_url(name)
    if kind == "click":
        payload = block_action(first, second, url, user=STRANGER, channel=LED_CHANNEL["channel"])
    else:
        metadata = (
            json.dumps(
                {"text": first, "channel": {"id": LED_CHANNEL["channel"], "name": "sec-led"}, "response_url": url}
            )
            if kind == "confirm"
            else second
        )
        payload = {
            "type": "view_submission",
            "team": {"id": "T0TEST"},
            "api_app_id": "A0TEST",
            "user": {"id": STRANGER, "username": "stranger"},
            "view": {
                "id": "V0FUZZ",
                "type": "modal",
                "private_metadata": metadata,
                "callback_id": "confirm_command" if kind == "confirm" else first,
                "state": {"values": {"reason": {"value": {"type": "plain_text_input", "value": second}}}},
            },
        }
    status, body = roles.server.interaction(payload)
    registered = (kind == "click" and first in KNOWN_ACTIONS) or kind == "confirm"
    if not registered:
        assert status == 404, (interaction, status, body)
        event("unregistered: 404")
        return
    assert status == 200, (interaction, status, body)
    if kind == "confirm" and not second.strip():
        assert json.loads(body)["response_action"] == "errors"  # the modal says a reason is needed
        event("confirmation without a reason: asked again")
        return
    answer = answer_to(roles.slack, name)
    readable(*answer)
    event(f"{first if kind == 'click' else 'confirm_command'}: {outcome(*answer)}")


def test_the_fuzz_left_no_trace(roles, fuzz_watch):
    """After both fuzzers: no traceback, no Block Kit Slack would refuse, and no change to the
    plans, streams, agents or tasks (a stranger may only read those)."""
    time.sleep(0.5)
    assert "Traceback" not in fuzz_watch.log.since()
    assert roles.slack.errors[fuzz_watch.errors :] == []
    assert rows(roles.engine, *STATE_TABLES) == fuzz_watch.rows


# --- defects the fuzzers were kept away from, pinned one by one -------------------------------------


@pytest.mark.parametrize(
    "line",
    [
        "ack 99999999999999999999",
        "task list --limit 99999999999999999999",
        "alerts --limit 99999999999999999999",
        "audit --limit 99999999999999999999",
        "ack ²",
        "resolve '#¹'",
    ],
)
def test_a_number_the_store_cannot_take_gets_a_readable_refusal(roles, line):
    name = fresh("big")
    mark = LogMark(roles.server)
    roles.server.slash(line, roles.slack.response_url(name), user=STRANGER, **LED_CHANNEL)
    readable(*answer_to(roles.slack, name))
    assert "Traceback" not in mark.since()


@pytest.mark.parametrize(
    "action_id,value",
    [
        ("stream_pause", "stream-x"),
        ("criterion_tick", "SEC-LED|cp-1"),
        ("page_more", "status"),
        ("sync_answer", "slot-1"),
    ],
)
def test_a_button_with_an_unexpected_value_gets_a_readable_answer(roles, action_id, value):
    name = fresh("odd")
    mark = LogMark(roles.server)
    roles.server.interaction(
        block_action(action_id, value, roles.slack.response_url(name), user=STRANGER, channel=LED_CHANNEL["channel"])
    )
    try:
        readable(*answer_to(roles.slack, name, timeout=1.5))
    finally:
        assert "Traceback" not in mark.since()


def test_a_long_reason_still_gets_a_confirmation_or_an_answer(roles):
    name = fresh("long")
    errors = len(roles.slack.errors)
    roles.server.slash(
        f"stop --emergency --reason '{'x' * 2990}'", roles.slack.response_url(name), user=LEAD, **LED_CHANNEL
    )
    readable(*answer_to(roles.slack, name, timeout=3))
    assert roles.slack.errors[errors:] == []


# =================================================================================================
# (d) Injection: every free-text field, from people and machines, stays text in Slack
# =================================================================================================


@pytest.fixture(scope="module")
def injection(e2e):
    """Fill every free-text field of SEC-INJ with PAYLOAD, from Slack and from the API, and keep
    what the bot sent, place by place."""
    server, slack = e2e.server, e2e.slack
    places: dict[str, list[dict]] = {}

    def slash(place: str, line: str, user: str) -> None:
        name = fresh("inj")
        assert server.slash(line, slack.response_url(name), user=user, **INJ_CHANNEL)[0] == 200
        places[place] = [reply_to(slack, name)]

    def confirmed(place: str, line: str, user: str) -> None:
        name = fresh("inj")
        server.slash(line, slack.response_url(name), user=user, **INJ_CHANNEL)
        view = modal_for(slack, name)
        places[place + " (modal)"] = [{"view": view}]
        assert submit(server, view, user, PAYLOAD)[0] == 200  # the reason typed in the modal
        places[place] = [reply_to(slack, name)]

    # Sync: a prompt, an answer through the Answer button's modal, a reply in its thread.
    slash("sync prompt", "sync", INJ_LEAD)
    prompt = [c for c in slack.calls_to("chat.postMessage") if c.body.get("channel") == INJ_CHANNEL["channel"]][-1]
    slot = next(
        e["value"]
        for b in as_dict(prompt.body["blocks"])
        for e in b.get("elements", [])
        if e.get("action_id") == "sync_answer"
    )
    prompt_ts = newest_ts(slack, INJ_CHANNEL["channel"])
    updates = len(slack.calls_to("chat.update"))
    name = fresh("inj")
    server.interaction(
        block_action("sync_answer", slot, slack.response_url(name), user=AGENT_P, channel=INJ_CHANNEL["channel"])
    )
    answer_view = as_dict(
        wait_until(
            lambda: [c for c in slack.calls_to("views.open") if "sync_answer_submit" in json.dumps(c.body)],
            what="the answer modal",
        )[-1].body["view"]
    )
    server.interaction(
        {
            "type": "view_submission",
            "team": {"id": "T0TEST"},
            "api_app_id": "A0TEST",
            "user": {"id": AGENT_P, "username": "agent-p"},
            "view": {
                **answer_view,
                "id": "V0ANS",
                "state": {
                    "values": {
                        "update": {"value": {"type": "plain_text_input", "value": PAYLOAD}},
                        "blockers": {"value": {"type": "plain_text_input", "value": ""}},
                    }
                },
            },
        }
    )
    server.event(
        {
            "type": "message",
            "channel": INJ_CHANNEL["channel"],
            "user": AGENT_Q,
            "text": PAYLOAD,
            "ts": "1800000000.000200",
            "thread_ts": prompt_ts,
        },
        event_id="EvSecInj1",
    )
    # Redraws of one prompt are coalesced (at most one every 3 s): the second comes a few seconds on.
    redraws = slack.wait_for("chat.update", count=updates + 2, timeout=30)
    places["sync answers"] = [c.body for c in redraws[updates:]]

    # People's text in commands.
    slash("task reason", "task start T1", AGENT_P)
    slash("task reason", f"task block T1 --reason {shlex.quote(PAYLOAD)}", AGENT_P)
    slash("pause reason", f"pause stream-q --reason {shlex.quote(PAYLOAD)}", INJ_LEAD)
    slash("task title", f"task add {shlex.quote(PAYLOAD)} --type Dev --agent agent-p", INJ_LEAD)
    confirmed("forced gate reason", f"validate --checkpoint cp-1 --force --reason {shlex.quote(PAYLOAD)}", INJ_LEAD)
    # Machines' text: the API's task reason (announced through the alert it raises).
    e2e.api_answers.append(api(server, "PATCH", "/api/v1/tasks/T2", {"status": "blocked", "reason": PAYLOAD}))
    assert e2e.api_answers[-1][0] == 200, e2e.api_answers[-1]
    # Names are validated; what is refused is echoed back escaped.
    slash("unknown stream", f"pause {shlex.quote(PAYLOAD)}", INJ_LEAD)
    slash("metric name", "metric '<!channel>' 5", AGENT_P)
    slash("metric value", "metric code-coverage '<https://evil.example|click>'", AGENT_P)
    slash("event name", "event '<!here>'", AGENT_P)
    slash("unknown task", "task start '<@U0LEAD0001>'", AGENT_P)
    # The emergency stop: its reason as typed in the confirmation modal.
    confirmed("stop reason", f"stop --emergency --reason {shlex.quote(PAYLOAD)}", INJ_LEAD)
    # Where all that text is shown again.
    slash("dashboard", "status", INJ_LEAD)
    slash("audit log", "audit --limit 50", INJ_LEAD)
    slash("task list", "task list", INJ_LEAD)
    slash("alert list", "alerts", INJ_LEAD)
    server.event(
        {"type": "app_home_opened", "user": INJ_LEAD, "channel": "D0LEAD2", "tab": "home"}, event_id="EvSecHome1"
    )
    places["home tab"] = [slack.wait_for("views.publish")[-1].body]

    # The alerts the events raised, delivered to #sec-alerts (a reason shows in each).
    def alert_posts():
        posts = [
            c.body
            for c in slack.calls
            if c.method in ("chat.postMessage", "chat.update")
            and "alert #" in json.dumps(as_dict(c.body.get("blocks")) or [])
        ]
        return posts if any("Emergency stop" in p.get("text", "") for p in posts) else None

    places["alerts posted"] = wait_until(alert_posts, timeout=20, what="the plan-stopped alert")
    return SimpleNamespace(places=places, calls=slack.calls)


OUTGOING = (
    "chat.postMessage",
    "chat.update",
    "chat.postEphemeral",
    "views.open",
    "views.update",
    "views.push",
    "views.publish",
)


def outgoing(calls) -> list:
    return [c for c in calls if c.method in OUTGOING or c.method.startswith("response:")]


def test_no_mention_or_link_from_input_in_anything_the_bot_showed(injection):
    checked = 0
    for call in outgoing(injection.calls):
        for text in displayed(call.body) + mrkdwn_texts(as_dict(call.body.get("attachments")) or []):
            checked += 1
            for bad in FORBIDDEN:
                assert bad not in text, f"{call.method} showed {bad!r}: {text!r}"
    assert checked > 30


ALL_ESCAPED = ("&lt;!channel&gt;", "&lt;!here&gt;", "&lt;@U0LEAD0001&gt;", "&lt;https://evil.example|click&gt;")


@pytest.mark.parametrize(
    "place",
    [
        "task reason",
        "pause reason",
        "task title",
        "forced gate reason (modal)",
        "forced gate reason",
        "stop reason (modal)",
        "stop reason",
        "sync answers",
        "unknown stream",
        "unknown task",
        "dashboard",
        "audit log",
        "task list",
        "home tab",
        "alerts posted",
    ],
)
def test_the_text_is_shown_escaped_where_it_is_shown(injection, place):
    """Not dropped, not mangled: the reason, title or answer is there, as text (&lt;!channel&gt;)."""
    if place.endswith("(modal)"):
        # The modal shows the typed reason only as its input's pre-filled value: plain text,
        # which Slack never parses for mentions or links; its mrkdwn does not repeat it.
        views = [as_dict(body.get("view")) or {} for body in injection.places[place]]
        prefilled = [
            b["element"].get("initial_value", "")
            for v in views
            for b in v.get("blocks", [])
            if b.get("type") == "input"
        ]
        assert any("<!channel>" in value for value in prefilled), prefilled
        assert all("<!channel>" not in text for body in injection.places[place] for text in displayed(body))
        return
    texts = "\n".join(shown(body) for body in injection.places[place])
    expected = ("&lt;@U0LEAD0001&gt;",) if place == "unknown task" else ALL_ESCAPED
    for escaped in expected:
        assert escaped in texts, f"{place}: {escaped} not in {texts[:600]!r}"


@pytest.mark.parametrize(
    "place,expected",
    [
        ("metric name", "is not a metric name"),
        ("metric value", "is not a value"),
        ("event name", "is not an event name"),
    ],
)
def test_names_are_validated_and_refusals_escape_what_was_given(injection, place, expected):
    [body] = injection.places[place]
    assert body["response_type"] == "ephemeral" and expected in body["text"]
    for bad in FORBIDDEN:
        assert bad not in body["text"]


def test_the_bot_never_asks_slack_to_turn_names_into_mentions(injection):
    for call in outgoing(injection.calls):
        assert str(call.body.get("link_names", "")).lower() not in ("1", "true"), call.method
        assert call.body.get("parse") != "full", call.method


def test_the_notification_text_of_every_message_is_escaped_too(injection):
    raw = []
    for call in outgoing(injection.calls):
        if not (as_dict(call.body.get("blocks")) or as_dict(call.body.get("view"))):
            continue  # no blocks: the text is what is shown, checked above
        text = call.body.get("text") or ""
        raw.extend(f"{call.method}: {text[:120]!r}" for bad in FORBIDDEN[:1] if bad in text)
    assert raw == []


# =================================================================================================
# (f) Secrets: after a full end-to-end run, no secret in the log, in Slack, in API answers or the store
# =================================================================================================


def test_no_secret_reaches_the_log_slack_the_api_or_the_store(e2e, injection):
    server, slack = e2e.server, e2e.slack
    # A few more commands, failing ones among them.
    for line, user in [
        ("status", INJ_LEAD),
        ("paws", INJ_LEAD),
        ("pause stream-p", STRANGER),
        ("task start T404", AGENT_P),
        ("metric code-coverage lots", AGENT_P),
        ("help", STRANGER),
    ]:
        name = fresh("sec")
        server.slash(line, slack.response_url(name), user=user, **INJ_CHANNEL)
        readable(*answer_to(slack, name))
    assert server.slash("status", slack.response_url(fresh("forged")), secret="wrong")[0] == 401
    answers = list(e2e.api_answers)
    answers.append(api(server, "POST", "/api/v1/metrics", {"name": "code-coverage", "value": "93%"}))
    assert answers[-1][0] == 201, answers[-1]
    answers.append(
        api(server, "POST", "/api/v1/metrics", {"name": "code-coverage", "value": "93%"}, token=E2E_API_TOKEN[:-1])
    )
    assert answers[-1][0] == 401
    answers.append(api(server, "POST", "/api/v1/events", {"name": "x"}, token=None))
    assert answers[-1][0] == 401
    answers.append(api(server, "POST", "/api/v1/agents/agent-zz/heartbeat", {}))
    assert answers[-1][0] == 404
    # The alerts went out by email and SMS, through the configured URLs (the password and token were used).
    wait_until(lambda: e2e.mailbox.messages or _attempted(e2e.engine, "email"), timeout=20, what="an email attempt")
    wait_until(lambda: e2e.sms.received, timeout=20, what="an SMS (after one failure)")

    secrets = {
        "bot token": E2E_BOT_TOKEN,
        "signing secret": E2E_SIGNING_SECRET,
        "API token": E2E_API_TOKEN,
        "SMTP password": E2E_SMTP_PASSWORD,
        "SMS token": E2E_SMS_TOKEN,
    }
    log = server.output()
    assert "Listening on http://127.0.0.1:" in log  # the log was read (Bolt now logs at WARNING: it is short)
    posted = [(c.method, c.raw.decode("utf-8", "replace") + json.dumps(c.body, default=str)) for c in slack.calls]
    store = json.dumps({table: [list(map(str, row)) for row in rows] for table, rows in _all_rows(e2e.engine).items()})
    for what, secret in secrets.items():
        assert secret not in log, f"the {what} is in the serve log"
        for method, body in posted:
            assert secret not in body, f"the {what} was sent to Slack ({method})"
        for status, body in answers:
            assert secret not in body, f"the {what} is in an API answer ({status})"
        assert secret not in store, f"the {what} is in the store"
        for message in e2e.mailbox.messages:
            assert secret not in message["data"], f"the {what} is in an email"
        for sms in e2e.sms.received:
            assert secret not in json.dumps(sms), f"the {what} is in an SMS"
    # The bot token goes to Slack only as the Authorization header, as it must.
    assert all(
        c.headers.get("authorization") == f"Bearer {E2E_BOT_TOKEN}"
        for c in slack.calls
        if c.method in ("chat.postMessage", "views.open")
    )


def _attempted(engine, destination: str) -> bool:
    with Session(engine) as session:
        return any(
            d.attempts > 0 and d.last_error
            for d in session.exec(select(AlertDelivery).where(AlertDelivery.destination == destination))
        )


def _all_rows(engine) -> dict:
    with engine.connect() as connection:
        return {t.name: connection.execute(sa_select(t)).all() for t in SQLModel.metadata.sorted_tables}


# =================================================================================================
# (g) Files and formats: .env is ignored, YAML is read safely, nothing is unpickled
# =================================================================================================


def test_dotenv_is_ignored_by_git():
    lines = [line.strip() for line in (ROOT / ".gitignore").read_text().splitlines()]
    assert ".env" in lines


def test_the_readme_says_how_to_rotate_secrets():
    readme = (ROOT / "README.md").read_text()
    assert re.search(r"rotate a secret.*restart .*revoke the old one", readme, re.S | re.I)


# The plan loader refusing `!!python/object` is tests/test_planfile.py::test_yaml_cannot_build_python_objects;
# this one checks that nothing else in the code reads YAML, pickles or evaluates text.
UNSAFE = [
    r"\bpickle\b",
    r"\bcPickle\b",
    r"\bshelve\b",
    r"\bmarshal\.loads?\b",
    r"PickleType",
    r"SQLAlchemyJobStore",
    r"yaml\.unsafe_load",
    r"yaml\.(Full|Unsafe)?Loader\b",
    r"yaml\.load\((?![^)]*Loader=_Loader)",
    r"\beval\(",
    r"\bexec\((?!\s*select)",
    r"shell\s*=\s*True",
]


def test_no_unsafe_deserialisation_in_the_code():
    found = []
    for path in sorted(p for d in ("bot", "commands", "models") for p in (ROOT / d).rglob("*.py")):
        for number, line in enumerate(path.read_text().splitlines(), 1):
            code = line.split("#", 1)[0]
            if re.search(r"session\.exec\(|connection\.exec", code):
                continue
            found += [
                f"{path.relative_to(ROOT)}:{number}: {line.strip()}" for pattern in UNSAFE if re.search(pattern, code)
            ]
    assert found == []


def test_the_store_has_no_pickled_columns():
    pickled = [
        f"{t.name}.{c.name}"
        for t in SQLModel.metadata.sorted_tables
        for c in t.columns
        if isinstance(c.type, PickleType)
    ]
    assert pickled == []


def test_the_scheduler_keeps_its_jobs_in_memory_not_in_a_pickled_store(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'sched.db'}")
    upgrade(engine)
    with FakeSlack() as slack:
        started = scheduler.start(engine, WebClient(token="xoxb-test", base_url=slack.url))
        try:
            stores = dict(started._jobstores)
            assert stores and all(type(store) is MemoryJobStore for store in stores.values()), stores
        finally:
            scheduler.stop()
    engine.dispose()


def test_the_api_token_is_compared_in_constant_time():
    source = (ROOT / "bot" / "api.py").read_text()
    assert "hmac.compare_digest(" in source
    assert not re.search(r"(given|token)\S*\s*[!=]=\s*(expected|token)", source)
