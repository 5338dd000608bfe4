"""Security, second round (issue 14): nothing before the signature, bounded input, replays across replicas.

One `orchestrate serve --http` process (the *roles* plans of tests/test_security.py, the API on)
is attacked as an outsider would: large bodies sent in chunks, long values in every field, long
slash texts, requests signed for another workspace, replays sent to two replicas on one store.
Each test asserts what the attacker (or the team) sees, and that nothing changed.
"""

import contextlib
import hashlib
import hmac
import json
import socket
import threading
import time
import urllib.error
import urllib.request
from datetime import timedelta
from pathlib import Path
from select import select as ready
from types import SimpleNamespace
from urllib.parse import urlencode

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from slack_sdk.signature import SignatureVerifier
from sqlalchemy import text as sql
from sqlmodel import Session, col, select

from commands.core.dispatch import execute
from commands.core.errors import CommandError
from models.db.store import ensure_schema, make_engine, upgrade
from models.db.tables import AuditEntry, MetricReading, ProcessedEvent, SyncAnswer, SyncSlot
from models.plan.schema import MAX_PLAN_FILE_BYTES, PlanFileError, read_plan_file, read_plan_text
from models.state.requests import SIGNED_REQUEST_KEPT, first_time, forget_old, signed_request_id
from models.time.units import UnitError, parse_condition, parse_duration, parse_quantity, parse_target
from tests import pg
from tests.conftest import EXAMPLE_PLAN
from tests.fake_slack import FakeSlack
from tests.serve_process import SIGNING_SECRET, ServeProcess, block_action
from tests.test_commands import snapshot
from tests.test_security import (
    LEAD,
    LED_CHANNEL,
    OPERATOR,
    PLAN_LED,
    PLAN_NOLEADS,
    STRANGER,
    LogMark,
    _slash_body,
    audit_count,
    fresh,
    load_store,
    reply_to,
    shown,
    wait_until,
)

API_TOKEN = "limits-api-token-0123456789abcdef"
MiB = 1024 * 1024


@pytest.fixture(scope="module")
def target(tmp_path_factory):
    directory = tmp_path_factory.mktemp("limits")
    url, engine = load_store(directory, {"SEC-LED": PLAN_LED, "SEC-NOLEADS": PLAN_NOLEADS})
    with FakeSlack() as slack:
        server = ServeProcess(directory, slack.url, url, extra_env={"ORCHESTRATE_API_TOKEN": API_TOKEN})
        try:
            server.wait_healthy()
            yield SimpleNamespace(server=server, slack=slack, engine=engine, directory=directory)
        finally:
            server.stop()
            engine.dispose()


# --- the server's memory, as the kernel counts it ------------------------------------------------


def _status_kib(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise AssertionError(f"no {field} in /proc/{pid}/status")


def reset_peak(pid: int) -> None:
    """Start counting the peak resident memory (VmHWM) again from now (proc(5), clear_refs)."""
    Path(f"/proc/{pid}/clear_refs").write_text("5")


def send_chunked(port: int, path: str, total: int, headers: dict[str, str], chunk: int = 64 * 1024) -> int | None:
    """POST ``total`` bytes in chunks, stopping as soon as the server answers; its status, or None."""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        head = [f"POST {path} HTTP/1.1", "Host: 127.0.0.1", "Transfer-Encoding: chunked"]
        head += [f"{k}: {v}" for k, v in headers.items()]
        piece = f"{chunk:x}\r\n".encode() + b"a" * chunk + b"\r\n"
        try:
            sock.sendall(("\r\n".join(head) + "\r\n\r\n").encode())
            for _ in range(total // chunk):
                if ready([sock], [], [], 0)[0]:
                    break  # the server has answered (or closed)
                sock.sendall(piece)
            else:
                sock.sendall(b"0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError):
            pass
        try:
            return _status(sock.recv(4096))
        except (ConnectionResetError, TimeoutError):
            return None


def _status(answer: bytes) -> int | None:
    if not answer.startswith(b"HTTP/1.1 "):
        return None
    return int(answer[9:12])


# =================================================================================================
# 1. Memory before the signature: a large body is refused while it arrives, on every path
# =================================================================================================


def test_large_chunked_bodies_are_refused_as_they_arrive_without_growing_memory(target):
    server = target.server
    pid = server.process.pid
    for _ in range(3):  # warm: the first requests import and allocate what every request needs
        send_chunked(server.port, "/slack/events", 2 * MiB, {"Content-Type": "application/json"})
        send_chunked(server.port, "/api/v1/metrics", 2 * MiB, {"Authorization": f"Bearer {API_TOKEN}"})
    before = _status_kib(pid, "VmRSS")
    reset_peak(pid)
    senders = [
        ("/slack/events", {"Content-Type": "application/x-www-form-urlencoded"}),
        ("/slack/events", {"Content-Type": "application/json", "X-Slack-Signature": "v0=00"}),
        ("/slack/events", {"Content-Type": "application/json"}),
        ("/api/v1/metrics", {"Content-Type": "application/json", "Authorization": f"Bearer {API_TOKEN}"}),
    ]
    answers: list[int | None] = []

    def attack(path: str, headers: dict) -> None:
        answers.append(send_chunked(server.port, path, 48 * MiB, headers))

    threads = [threading.Thread(target=attack, args=sender) for sender in senders]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    grown_mib = (_status_kib(pid, "VmHWM") - before) / 1024
    assert answers == [413] * len(senders), answers
    assert grown_mib < 16, f"the server's memory grew by {grown_mib:.0f} MiB while refusing {len(senders)} bodies"
    assert server.get("/healthz")[0] == 200


# =================================================================================================
# 3. Unbounded text: a long slash command is refused before it is read; names longer than any id
#    are refused before they are looked up; the audit log and the server log hold bounded texts
# =================================================================================================


@pytest.mark.parametrize("line", ["pause {long}", "metric code-coverage {long}", "task list --plan {long}"])
def test_a_slash_command_longer_than_slack_allows_is_refused_readably_and_changes_nothing(target, line):
    name = fresh("long")
    mark, audited = LogMark(target.server), audit_count(target.engine)
    before = snapshot(target.engine)
    text = line.format(long="x" * 300_000)
    status, _ = target.server.slash(text, target.slack.response_url(name), user=STRANGER, **LED_CHANNEL)
    assert status == 200
    refusal = reply_to(target.slack, name)
    assert refusal["response_type"] == "ephemeral"
    assert "the command is 30" in refusal["text"] and "at most 4,000 characters" in refusal["text"], refusal
    assert len(json.dumps(refusal)) < 2_000
    time.sleep(0.3)
    assert snapshot(target.engine) == before and audit_count(target.engine) == audited
    logged = mark.since()
    assert "Traceback" not in logged and len(logged) < 2_000, logged[:2_000]


@pytest.mark.parametrize("line", ["pause {long}", "task start {long}", "status {long}", "ack {long}"])
def test_a_name_longer_than_any_id_is_refused_before_it_is_looked_up(run, line):
    run(f"plan load {EXAMPLE_PLAN}")
    run("start TR-ORCH-001")
    before = snapshot(run.engine)
    with pytest.raises(CommandError) as refused:  # as the CLI gives it: one argument, no text to tokenize
        execute(run.engine, line.format(long="n" * 60_000).split(), OPERATOR)
    message = refused.value.message
    assert "(60,000 characters)" in message and len(message) < 300, message
    assert snapshot(run.engine) == before


def test_the_audit_log_keeps_a_bounded_command_text(run):
    run(f"plan load {EXAMPLE_PLAN}")
    with pytest.raises(CommandError):
        execute(run.engine, ["pause", "s" * 60_000], OPERATOR)
    with Session(run.engine) as session:
        entry = session.exec(select(AuditEntry).order_by(col(AuditEntry.id).desc())).first()
    assert entry is not None and len(entry.command) <= 1_000 and entry.command.endswith("…")


# =================================================================================================
# 2. A slow pattern stalls everyone: every value field has a documented length, patterns are
#    linear, and the server answers /healthz while it refuses the longest values
# =================================================================================================

SPACES = "1" + " " * 60_000 + "x!"  # what made the quantity pattern backtrack for minutes
API_FIELDS = [
    ("POST", "/api/v1/metrics", {"name": "code-coverage", "value": SPACES}, "value"),
    ("POST", "/api/v1/metrics", {"name": "n" * 60_000, "value": "5"}, "name"),
    ("POST", "/api/v1/metrics", {"name": "code-coverage", "value": "5", "plan": SPACES}, "plan"),
    ("POST", "/api/v1/events", {"name": SPACES}, "name"),
    ("PATCH", "/api/v1/tasks/T1", {"status": "blocked", "reason": SPACES}, "reason"),
    ("PATCH", "/api/v1/tasks/" + "T" * 30_000, {"status": "done"}, "task_id"),
    ("POST", "/api/v1/agents/" + "a" * 30_000 + "/heartbeat", {"status": "up"}, "agent_id"),
]


def api_call(
    server, method: str, path: str, body: dict, timeout: float = 30, token: str | None = API_TOKEN
) -> tuple[int, dict]:
    headers = {"Content-Type": "application/json"} | ({"Authorization": f"Bearer {token}"} if token else {})
    request = urllib.request.Request(
        f"{server.base}{path}", data=json.dumps(body).encode(), headers=headers, method=method
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def healthy_meanwhile(server, attack) -> list:
    """Run ``attack`` in a thread; /healthz must keep answering (each probe waits 3 s at most)."""
    done: list = []
    thread = threading.Thread(target=lambda: done.append(attack()))
    thread.start()
    probes = 0
    while thread.is_alive() and probes < 20:
        assert server.get("/healthz", timeout=3)[0] == 200, "the server stopped answering /healthz"
        probes += 1
        thread.join(0.05)
    thread.join(30)
    assert done, "the request got no answer"
    return done


@pytest.mark.parametrize("method,path,body,field", API_FIELDS, ids=[f"{f[1]}:{f[3]}" for f in API_FIELDS])
def test_a_long_value_in_any_api_field_is_refused_at_once_naming_its_limit(target, method, path, body, field):
    before = snapshot(target.engine)
    [(status, answer)] = healthy_meanwhile(target.server, lambda: api_call(target.server, method, path, body))
    assert status == 422, answer
    assert field in answer["error"] and "at most" in answer["error"], answer
    assert len(answer["error"]) < 500
    assert snapshot(target.engine) == before


SLASH_FIELDS = [
    "metric code-coverage '{long}'",
    "metric '{long}' 5",
    "event '{long}'",
    "task block T1 --reason '{long}'",
    "pause stream-x --reason '{long}'",
    "task add '{long}' --type Dev --agent agent-x",
    "status '{long}'",
]


@pytest.mark.parametrize("line", SLASH_FIELDS)
def test_a_long_value_in_any_slash_field_is_refused_naming_its_limit(target, line):
    name = fresh("field")
    before = snapshot(target.engine)
    text = line.format(long="1" + " " * 3_900 + "x!")
    target.server.slash(text, target.slack.response_url(name), user=LEAD, **LED_CHANNEL)
    assert target.server.get("/healthz", timeout=3)[0] == 200
    refusal = reply_to(target.slack, name)
    assert "at most" in refusal["text"] and len(refusal["text"]) < 500, refusal["text"][:500]
    assert snapshot(target.engine) == before


@pytest.mark.parametrize("parse", [parse_quantity, parse_condition, parse_target, parse_duration])
def test_the_value_patterns_refuse_long_input_naming_the_limit(parse):
    with pytest.raises(UnitError) as refused:
        parse("1" + " " * 100_000 + "x!")
    assert "at most" in str(refused.value) and len(str(refused.value)) < 300


# =================================================================================================
# 8. YAML expansion: anchors and aliases are refused before anything is built from the file
# =================================================================================================


def laughs(levels: int = 9) -> str:
    """A plan of 1 kB whose aliases expand to 10**levels criteria (the "billion laughs")."""
    lines = ["id: LAUGHS", "streams: [{id: s}]", "agents: {a: {stream: s, tasks: [t]}}", "x0: &x0 [lol]"]
    lines += [f"x{n}: &x{n} [{', '.join([f'*x{n - 1}'] * 10)}]" for n in range(1, levels + 1)]
    lines.append(f"checkpoints: [{{id: cp, name: c, day: 1, criteria: *x{levels}}}]")
    return "\n".join(lines) + "\n"


def test_a_plan_file_with_aliases_is_refused_before_it_is_expanded(run, tmp_path):
    path = tmp_path / "laughs.yml"
    path.write_text(laughs())
    assert path.stat().st_size < 1024
    before = snapshot(run.engine)
    with pytest.raises(CommandError) as refused:
        run(f"plan load {path}")
    message = refused.value.message
    assert "line 4" in message and "anchors and aliases" in message, message
    assert snapshot(run.engine) == before


def test_a_plan_file_larger_than_the_limit_is_refused_naming_it(tmp_path):
    path = tmp_path / "huge.yml"
    path.write_text("id: HUGE\n" + "#" * (MAX_PLAN_FILE_BYTES + 1) + "\n")
    with pytest.raises(PlanFileError) as refused:
        read_plan_file(str(path))
    assert f"at most {MAX_PLAN_FILE_BYTES // MiB} MiB" in str(refused.value)


# =================================================================================================
# 5. Another workspace: a request signed with the app's secret but from a workspace the bot token
#    does not belong to (auth.test: T0TEST, no enterprise) is refused, and changes nothing
# =================================================================================================


def _other_workspace_requests(response_url: str) -> dict[str, tuple[str, str]]:
    slash = {
        "token": "legacy",
        "team_id": "T0OTHER",
        "team_domain": "other",
        "channel_id": LED_CHANNEL["channel"],
        "channel_name": LED_CHANNEL["channel_name"],
        "user_id": LEAD,
        "user_name": "lead",
        "command": "/orchestrate",
        "text": "pause stream-x",
        "api_app_id": "A0TEST",
        "response_url": response_url,
        "trigger_id": "1337.42.abcd",
    }
    button = block_action("stream_pause", "SEC-LED|stream-x", response_url, user=LEAD, channel=LED_CHANNEL["channel"])
    form = "application/x-www-form-urlencoded"
    return {
        "slash-other-team": (urlencode(slash), form),
        "slash-other-enterprise": (urlencode({**slash, "team_id": "T0TEST", "enterprise_id": "E0OTHER"}), form),
        "button-other-team": (urlencode({"payload": json.dumps({**button, "team": {"id": "T0OTHER"}})}), form),
        "slash-no-team": (urlencode({k: v for k, v in slash.items() if k != "team_id"}), form),
    }


@pytest.mark.parametrize("kind", ["slash-other-team", "slash-other-enterprise", "button-other-team", "slash-no-team"])
def test_a_request_from_another_workspace_is_refused_and_changes_nothing(target, kind):
    name = fresh("ws")
    body, content_type = _other_workspace_requests(target.slack.response_url(name))[kind]
    before, audited = snapshot(target.engine), audit_count(target.engine)
    status, answer = target.server.post(body, content_type)
    assert status == 403 and "workspace" in answer, (status, answer)
    time.sleep(0.3)
    assert target.slack.calls_to(f"response:{name}") == []
    assert snapshot(target.engine) == before and audit_count(target.engine) == audited


def test_the_same_request_from_the_bots_own_workspace_acts(target):
    """The control: the lead's pause from T0TEST (what auth.test says) is obeyed."""
    name = fresh("ws")
    target.server.slash("pause stream-y", target.slack.response_url(name), user=LEAD, **LED_CHANNEL)
    assert "Paused stream-y" in shown(reply_to(target.slack, name))
    target.server.slash("resume stream-y", target.slack.response_url(fresh("ws")), user=LEAD, **LED_CHANNEL)


# =================================================================================================
# 4. A replay to another replica: each accepted signed request is recorded in the store, in the
#    command's own transaction, so the same request sent to two replicas on one store acts once
# =================================================================================================


@contextlib.contextmanager
def two_replicas(tmp_path: Path, store: str):
    """Two `serve --http` processes on one store (a SQLite file, or a PostgreSQL database), the roles plans loaded."""
    with contextlib.ExitStack() as stack:
        if store == "sqlite":
            url = f"sqlite:///{tmp_path / 'store.db'}"
        else:
            name, _ = stack.enter_context(pg.empty_database())
            url = pg.url(name)
        engine = make_engine(url)
        stack.callback(engine.dispose)
        upgrade(engine)
        for key, text in {"SEC-LED": PLAN_LED}.items():
            path = tmp_path / f"{key}.yml"
            path.write_text(text)
            execute(engine, ["plan", "load", str(path)], OPERATOR)
            execute(engine, ["start", key], OPERATOR)
        slack = stack.enter_context(FakeSlack())
        replicas = [ServeProcess(tmp_path, slack.url, url) for _ in range(2)]
        for replica in replicas:
            stack.callback(replica.stop)
        for replica in replicas:
            replica.wait_healthy()
        yield SimpleNamespace(replicas=replicas, slack=slack, engine=engine)


@pytest.mark.parametrize("store", ["sqlite", "postgresql"])
def test_a_signed_request_replayed_to_another_replica_acts_once(tmp_path, store):
    with two_replicas(tmp_path, store) as two:
        name = fresh("replica")
        body = _slash_body("metric replica-reading 5", two.slack.response_url(name), LEAD)
        stamp = str(int(time.time()))
        signature = SignatureVerifier(SIGNING_SECRET).generate_signature(timestamp=stamp, body=body)
        for replica in [*two.replicas, *two.replicas]:  # to each replica, twice
            status, _ = replica.post(
                body, "application/x-www-form-urlencoded", timestamp=int(stamp), signature=signature
            )
            assert status == 200
        assert "Recorded replica-reading = 5" in shown(reply_to(two.slack, name))
        time.sleep(1.0)  # the other replica's work, had it acted, would be done by now
        with Session(two.engine) as session:
            readings = session.exec(select(MetricReading).where(MetricReading.name == "replica-reading")).all()
            recorded = session.exec(
                select(ProcessedEvent).where(col(ProcessedEvent.event_id).startswith("signed:"))
            ).all()
        assert len(readings) == 1
        assert len(two.slack.calls_to(f"response:{name}")) == 1
        assert len(recorded) == 1


def test_the_record_of_signed_requests_is_kept_for_the_window_only(run):
    first = signed_request_id("1700000000", "v0=" + "a" * 64)
    assert first.startswith("signed:") and len(first) <= 100
    assert (
        first == signed_request_id("1700000000", "v0=" + "a" * 64) != signed_request_id("1700000001", "v0=" + "a" * 64)
    )
    with Session(run.engine) as session:
        assert first_time(session, first, now=run.now)
        assert not first_time(session, first, now=run.now)
        assert first_time(session, "Ev0TEST", now=run.now)  # an event id: kept a day
        session.commit()
        forget_old(session, run.now + SIGNED_REQUEST_KEPT + timedelta(seconds=1))
        session.commit()
        left = session.exec(select(ProcessedEvent.event_id)).all()
    assert left == ["Ev0TEST"]


# =================================================================================================
# 10. The open gaps (G7, G8, G11, G12, the default address)
# =================================================================================================


@pytest.mark.parametrize("lead", ["<!channel>", "@lead", "u0lead0001", "U0LEAD0001 ", ""])
def test_a_lead_that_is_not_a_slack_user_id_is_refused_at_load_with_its_path(lead):
    text = PLAN_LED.replace("leads: [U0LEAD0001]", f"leads: [U0LEAD0001, {json.dumps(lead)}]")
    with pytest.raises(PlanFileError) as refused:
        read_plan_text(text)
    problems = str(refused.value)
    assert "roles.leads[1]" in problems and "Slack user id" in problems, problems


def test_a_new_sqlite_store_is_readable_by_its_owner_only(tmp_path):
    path = tmp_path / "fresh.db"
    engine = make_engine(f"sqlite:///{path}")
    try:
        ensure_schema(engine)
        with engine.begin() as connection:  # a write, so the WAL file exists too
            connection.execute(sql("CREATE TABLE IF NOT EXISTS probe (x INTEGER)"))
            modes = {p.name: oct(p.stat().st_mode & 0o777) for p in tmp_path.iterdir() if p.name.startswith("fresh")}
    finally:
        engine.dispose()
    assert modes["fresh.db"] == "0o600" and set(modes.values()) == {"0o600"}, modes


@pytest.mark.parametrize("path", ["/metrics", "/api/v1/openapi.json", "/api/v1/docs"])
def test_metrics_and_the_api_description_need_the_token(target, path):
    status, answer = target.server.get(path)
    assert status == 401 and "Authorization: Bearer" in answer, answer
    assert target.server.get(path, token="not-the-token")[0] == 401
    assert target.server.get(path, token=API_TOKEN)[0] == 200


def test_a_setting_opens_metrics_and_the_api_description(tmp_path):
    url, engine = load_store(tmp_path, {"SEC-LED": PLAN_LED})
    engine.dispose()
    with FakeSlack() as slack:
        env = {"ORCHESTRATE_API_TOKEN": API_TOKEN, "ORCHESTRATE_OPEN_ENDPOINTS": "true"}
        server = ServeProcess(tmp_path, slack.url, url, extra_env=env)
        try:
            server.wait_healthy()
            assert [server.get(p)[0] for p in ("/metrics", "/api/v1/openapi.json", "/api/v1/docs")] == [200] * 3
            assert api_call(server, "POST", "/api/v1/events", {"name": "x"}, token=None)[0] == 401  # the API is not
        finally:
            server.stop()


def test_wrong_api_tokens_are_throttled_per_client_and_logged(tmp_path):
    url, engine = load_store(tmp_path, {"SEC-LED": PLAN_LED})
    with FakeSlack() as slack:
        server = ServeProcess(tmp_path, slack.url, url, extra_env={"ORCHESTRATE_API_TOKEN": API_TOKEN})
        try:
            server.wait_healthy()
            before = snapshot(engine)
            answers = [api_call(server, "POST", "/api/v1/events", {"name": "x"}, token=f"guess-{n}") for n in range(12)]
            assert [status for status, _ in answers] == [401] * 10 + [429] * 2
            assert "too many wrong tokens" in answers[-1][1]["error"]
            # Throttled, even with the right token, until the window has passed: guessing gains nothing.
            assert api_call(server, "POST", "/api/v1/events", {"name": "x"})[0] == 429
            assert snapshot(engine) == before
            assert "10 wrong tokens from 127.0.0.1" in server.output()
        finally:
            server.stop()
            engine.dispose()


# =================================================================================================
# 6. The answer modal: it answers for the person who submits it, as an agent of the slot's plan
# =================================================================================================

AGENT_X, AGENT_Y = "U0AGENT001", "U0AGENT002"


@pytest.fixture(scope="module")
def answer_form(target):
    """A sync prompt posted in SEC-LED's channel, and the Answer modal agent-x opened from it."""
    posted = len(target.slack.calls_to("chat.postMessage"))
    target.server.slash("sync", target.slack.response_url(fresh("sync")), user=LEAD, **LED_CHANNEL)
    prompt = target.slack.wait_for("chat.postMessage", count=posted + 1)[posted].body
    blocks = prompt["blocks"] if isinstance(prompt["blocks"], list) else json.loads(prompt["blocks"])
    slot = next(e["value"] for b in blocks if b["type"] == "actions" for e in b["elements"])
    opened = len(target.slack.calls_to("views.open"))
    wait_until(lambda: slot_posted(target.engine, int(slot)), what="the prompt recorded as posted")
    target.server.interaction(
        block_action(
            "sync_answer", slot, target.slack.response_url(fresh("ans")), user=AGENT_X, channel=LED_CHANNEL["channel"]
        )
    )
    view = target.slack.wait_for("views.open", count=opened + 1)[opened].body["view"]
    return SimpleNamespace(slot=int(slot), view=view if isinstance(view, dict) else json.loads(view))


def slot_posted(engine, slot: int) -> bool:
    with Session(engine) as session:
        found = session.get(SyncSlot, slot)
        return found is not None and found.status == "posted"


def submit_answer(target, view: dict, user: str, metadata_changes: dict) -> None:
    metadata = {**json.loads(view["private_metadata"]), **metadata_changes}
    state = {"today": {"value": {"type": "plain_text_input", "value": "forged answer"}}}
    target.server.interaction(
        {
            "type": "view_submission",
            "team": {"id": "T0TEST"},
            "api_app_id": "A0TEST",
            "user": {"id": user, "username": user.lower()},
            "view": {**view, "id": "V0ANS", "private_metadata": json.dumps(metadata), "state": {"values": state}},
        }
    )


def answers_of(engine, slot: int) -> list:
    with Session(engine) as session:
        return session.exec(
            select(SyncAnswer).where(SyncAnswer.slot_id == slot, col(SyncAnswer.answered_at).is_not(None))
        ).all()


@pytest.mark.parametrize(
    "user,changes",
    [
        (AGENT_X, {"agent": "agent-y"}),  # an agent answering for another
        (LEAD, {}),  # a lead submitting an agent's form
        (AGENT_X, {"agent": "agent-n"}),  # an agent of another plan
        (AGENT_Y, {}),  # someone else submitting agent-x's form
    ],
    ids=["for-another-agent", "lead-for-agent", "agent-of-another-plan", "another-submitter"],
)
def test_an_answer_modal_records_nothing_for_anyone_but_its_submitter(target, answer_form, user, changes):
    before = answers_of(target.engine, answer_form.slot)
    audited = audit_count(target.engine)
    submit_answer(target, answer_form.view, user, changes)
    wait_for_audit(target.engine, audited + 1)
    assert answers_of(target.engine, answer_form.slot) == before
    with Session(target.engine) as session:
        entry = session.exec(select(AuditEntry).order_by(col(AuditEntry.id).desc())).first()
    assert entry is not None and entry.outcome == "refused", entry


def test_the_answer_modal_records_the_submitters_own_answer(target, answer_form):
    audited = audit_count(target.engine)
    submit_answer(target, answer_form.view, AGENT_X, {})
    wait_for_audit(target.engine, audited + 1)
    [answer] = answers_of(target.engine, answer_form.slot)
    assert answer.answer == {"today": "forged answer"}


def wait_for_audit(engine, count: int) -> None:
    deadline = time.monotonic() + 10
    while audit_count(engine) < count:
        assert time.monotonic() < deadline, "the submission was not audited"
        time.sleep(0.05)


# =================================================================================================
# 9. Slow clients: a request head or body that does not arrive in time costs its connection
# =================================================================================================


def half_open(port: int, count: int, head: bytes) -> list[socket.socket]:
    sockets = []
    for _ in range(count):
        sock = socket.create_connection(("127.0.0.1", port), timeout=30)
        sock.sendall(head)
        sockets.append(sock)
    return sockets


def closed_by_server(sock: socket.socket) -> bool:
    sock.settimeout(20)
    try:
        return sock.recv(4096) == b""
    except ConnectionResetError:
        return True
    except TimeoutError:
        return False


def test_half_open_requests_are_timed_out_and_real_commands_still_run(tmp_path):
    url, engine = load_store(tmp_path, {"SEC-LED": PLAN_LED})
    with FakeSlack() as slack:
        env = {"ORCHESTRATE_HTTP_HEAD_TIMEOUT_SECONDS": "2", "ORCHESTRATE_HTTP_BODY_TIMEOUT_SECONDS": "2"}
        server = ServeProcess(tmp_path, slack.url, url, extra_env=env, open_files=256)
        try:
            server.wait_healthy()
            heads = half_open(server.port, 300, b"POST /slack/events HTTP/1.1\r\nHost: x\r\n")
            name = fresh("slow")
            status, _ = server.slash("metric slow-clients 3", slack.response_url(name), user=LEAD, **LED_CHANNEL)
            assert status == 200
            assert "Recorded slow-clients = 3" in shown(reply_to(slack, name))
            assert all(closed_by_server(sock) for sock in heads[:20])
            [body] = half_open(server.port, 1, b"POST /slack/events HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n")
            body.settimeout(20)
            assert body.recv(4096).startswith(b"HTTP/1.1 408 ")
            for sock in [*heads, body]:
                sock.close()
        finally:
            server.stop()
            engine.dispose()


# =================================================================================================
# The property: a request with a wrong, missing, stale, future, tampered or replayed signature, of
# any size and encoding, changes nothing, and costs the server bounded memory and time
# =================================================================================================


def send_raw(port: int, headers: dict[str, str], body: bytes, *, chunked: bool) -> int | None:
    """POST /slack/events as it comes (Content-Length or chunked), stopping when the server answers; its status."""
    with socket.create_connection(("127.0.0.1", port), timeout=15) as sock:
        head = ["POST /slack/events HTTP/1.1", "Host: 127.0.0.1", *(f"{k}: {v}" for k, v in headers.items())]
        head.append("Transfer-Encoding: chunked" if chunked else f"Content-Length: {len(body)}")
        pieces = [body[i : i + 64 * 1024] for i in range(0, len(body), 64 * 1024)]
        if chunked:
            pieces = [f"{len(p):x}\r\n".encode() + p + b"\r\n" for p in pieces] + [b"0\r\n\r\n"]
        try:
            sock.sendall(("\r\n".join(head) + "\r\n\r\n").encode())
            for piece in pieces:
                if ready([sock], [], [], 0)[0]:
                    break
                sock.sendall(piece)
        except (BrokenPipeError, ConnectionResetError):
            pass
        try:
            return _status(sock.recv(4096))
        except (ConnectionResetError, TimeoutError):
            return None


@pytest.fixture(scope="module")
def replayable(target):
    """A signed request that was accepted once (it recorded a reading): its replays must change nothing."""
    body = _slash_body("metric property-replay 1", target.slack.response_url(fresh("prop")), LEAD).encode()
    stamp = str(int(time.time()))
    signature = SignatureVerifier(SIGNING_SECRET).generate_signature(timestamp=stamp, body=body)
    headers = {"Content-Type": "application/x-www-form-urlencoded", "X-Slack-Request-Timestamp": stamp}
    headers["X-Slack-Signature"] = signature
    assert send_raw(target.server.port, headers, body, chunked=False) == 200
    wait_until(lambda: audit_count(target.engine) and "property-replay" in str(last_audited(target.engine)))
    pid = target.server.process.pid
    rss_before = _status_kib(pid, "VmRSS")
    reset_peak(pid)
    return SimpleNamespace(body=body, headers=headers, rss_before=rss_before)


def last_audited(engine) -> str | None:
    with Session(engine) as session:
        entry = session.exec(select(AuditEntry).order_by(col(AuditEntry.id).desc())).first()
        return entry.command if entry else None


def _signed_headers(body: bytes, how: str, replay) -> tuple[dict[str, str], bytes]:
    now = int(time.time())

    def sign(*, timestamp: str, body: bytes, secret: str = SIGNING_SECRET) -> str:
        """Slack's v0 signature of any bytes (Slack signs the raw body, whatever it holds)."""
        base = b"v0:" + timestamp.encode() + b":" + body
        return "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()

    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    if how == "missing":
        return headers, body
    if how == "replayed":
        return dict(replay.headers), replay.body
    stamp = {"stale": now - 6 * 60, "future": now + 6 * 60}.get(how, now)
    if how == "wrong":
        signature = "v0=" + hashlib.sha256(body).hexdigest()
    elif how == "tampered":
        signature = sign(timestamp=str(stamp), body=body + b"&x=1")
    else:
        signature = sign(timestamp=str(stamp), body=body)
    if how == "wrong-secret":
        signature = sign(timestamp=str(stamp), body=body, secret="not-the-secret")
    return {**headers, "X-Slack-Request-Timestamp": str(stamp), "X-Slack-Signature": signature}, body


BODIES = st.one_of(
    st.binary(max_size=2_000),
    st.text(max_size=2_000).map(lambda t: t.encode("utf-8", "surrogatepass")),
    st.sampled_from(["pause stream-x", "stop --reason x", "metric m 5"]).map(
        lambda line: _slash_body(line, "http://127.0.0.1:1/r", LEAD).encode()
    ),
    st.integers(min_value=1, max_value=3 * MiB).map(lambda n: b"payload=" + b"%7B" * (n // 3)),
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    body=BODIES,
    how=st.sampled_from(["missing", "wrong", "wrong-secret", "stale", "future", "tampered", "replayed"]),
    chunked=st.booleans(),
)
def test_any_request_without_a_fresh_valid_signature_changes_nothing(target, replayable, body, how, chunked):
    before, audited = snapshot(target.engine), audit_count(target.engine)
    headers, sent = _signed_headers(body, how, replayable)
    status = send_raw(target.server.port, headers, sent, chunked=chunked)
    expected = {200} if how == "replayed" else {401}
    if len(sent) > 1024 * 1024:
        expected = {413, None}  # refused while it arrives (None: closed before the client read the answer)
    assert status in expected, (how, len(sent), status)
    assert snapshot(target.engine) == before and audit_count(target.engine) == audited


def test_the_property_cost_bounded_memory_and_left_the_server_answering(target, replayable):
    """Run after the property (file order): the server answers, and its peak memory grew by little."""
    assert target.server.get("/healthz")[0] == 200
    grown_mib = (_status_kib(target.server.process.pid, "VmHWM") - replayable.rss_before) / 1024
    assert grown_mib < 32, f"the server's peak memory grew by {grown_mib:.0f} MiB over the property's requests"
