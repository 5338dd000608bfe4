"""Security, second round (issue 14): nothing before the signature, bounded input, replays across replicas.

One `orchestrate serve --http` process (the *roles* plans of tests/test_security.py, the API on)
is attacked as an outsider would: large bodies sent in chunks, long values in every field, long
slash texts, requests signed for another workspace, replays sent to two replicas on one store.
Each test asserts what the attacker (or the team) sees, and that nothing changed.
"""

import json
import socket
import threading
import time
from pathlib import Path
from select import select as ready
from types import SimpleNamespace

import pytest
from sqlmodel import Session, col, select

from commands.core.dispatch import execute
from commands.core.errors import CommandError
from models.db.tables import AuditEntry
from tests.conftest import EXAMPLE_PLAN
from tests.fake_slack import FakeSlack
from tests.serve_process import ServeProcess
from tests.test_commands import snapshot
from tests.test_security import (
    LED_CHANNEL,
    OPERATOR,
    PLAN_LED,
    PLAN_NOLEADS,
    STRANGER,
    LogMark,
    audit_count,
    fresh,
    load_store,
    reply_to,
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
