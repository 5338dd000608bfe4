"""Socket Mode: `serve` with SLACK_APP_TOKEN connects to a local WebSocket server standing in for Slack's."""

import json
import queue
import subprocess
import threading
from pathlib import Path

import pytest
from websockets.sync.server import serve as websocket_serve

from tests.fake_slack import FakeSlack
from tests.serve_process import ORCHESTRATE, ServeProcess
from tests.slack_app import body_of


class SlackSocket:
    """One Socket Mode connection: says hello, forwards envelopes, collects acks."""

    def __init__(self):
        self.outgoing: queue.Queue = queue.Queue()
        self.acks: queue.Queue = queue.Queue()
        self.connected = threading.Event()
        self.server = websocket_serve(self._connection, "127.0.0.1", 0)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.server.socket.getsockname()[1]}/link"

    def _connection(self, websocket):
        websocket.send(json.dumps({"type": "hello", "num_connections": 1, "debug_info": {"host": "test"}}))
        self.connected.set()
        while True:
            try:
                envelope = self.outgoing.get(timeout=0.05)
                websocket.send(json.dumps(envelope))
            except queue.Empty:
                pass
            try:
                message = websocket.recv(timeout=0.05)
            except TimeoutError:
                continue
            except Exception:  # noqa: BLE001 - the client went away, however websockets says so
                return
            self.acks.put(json.loads(message))

    def close(self):
        self.server.shutdown()


@pytest.fixture
def slack_socket():
    socket = SlackSocket()
    yield socket
    socket.close()


def test_a_slash_command_arrives_over_the_socket_and_is_acked_then_answered(tmp_path, store, slack_socket):
    with FakeSlack() as slack:
        slack.socket_url = slack_socket.url
        process = ServeProcess(
            tmp_path, slack.url, store[0], mode="socket", extra_env={"SLACK_APP_TOKEN": "xapp-1-test"}
        )
        try:
            assert slack_socket.connected.wait(20), process.output()
            assert slack.calls_to("apps.connections.open")  # asked the stand-in where to connect
            payload = {
                "token": "legacy",
                "team_id": "T0TEST",
                "channel_id": "C0TRORCH1",
                "channel_name": "tr-orchestration",
                "user_id": "U0LEAD0001",
                "user_name": "lead",
                "command": "/orchestrate",
                "text": "pause stream-c",
                "response_url": slack.response_url("sock1"),
                "trigger_id": "1.2.3",
            }
            slack_socket.outgoing.put(
                {"envelope_id": "env-1", "type": "slash_commands", "accepts_response_payload": True, "payload": payload}
            )
            ack = slack_socket.acks.get(timeout=10)
            assert ack["envelope_id"] == "env-1"
            answer = body_of(slack.wait_for("response:sock1", timeout=10)[0])
            assert answer["response_type"] == "in_channel" and "Paused stream-c-testing" in answer["text"]
        finally:
            process.stop()
    assert "Traceback" not in process.output()


def test_socket_mode_without_a_bot_token_says_what_is_missing(tmp_path, store):
    result = subprocess.run(
        [str(ORCHESTRATE), "serve"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        env={"SLACK_APP_TOKEN": "xapp-1-test", "DATABASE_URL": store[0], "PATH": "/usr/bin:/bin"},
    )
    assert result.returncode == 1
    assert "Socket Mode also needs SLACK_BOT_TOKEN" in result.stderr


def listening_addresses(port: int) -> set[str]:
    """The addresses a socket listens on at ``port``, from the kernel's table (proc(5), /proc/net/tcp)."""
    found = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        local, state = line.split()[1], line.split()[3]
        address, port_hex = local.split(":")
        if state == "0A" and int(port_hex, 16) == port:  # 0A: LISTEN
            found.add(".".join(str(b) for b in reversed(bytes.fromhex(address))))
    return found


def test_the_api_beside_socket_mode_listens_on_loopback_only_by_default(tmp_path, store, slack_socket):
    """Nothing outside needs to reach a Socket Mode bot: its web server binds 127.0.0.1 unless --host says."""
    with FakeSlack() as slack:
        slack.socket_url = slack_socket.url
        env = {"SLACK_APP_TOKEN": "xapp-1-test", "ORCHESTRATE_API_TOKEN": "t" * 32}
        process = ServeProcess(tmp_path, slack.url, store[0], mode="socket", extra_env=env, host=None)
        try:
            assert slack_socket.connected.wait(20), process.output()
            assert "Listening on http://127.0.0.1:" in process.output()
            assert listening_addresses(process.port) == {"127.0.0.1"}, process.output()
        finally:
            process.stop()
