"""A real `orchestrate serve` in a subprocess, and requests signed exactly as Slack signs them."""

import itertools
import json
import os
import re
import resource
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import quote, urlencode

from slack_sdk.signature import SignatureVerifier

ORCHESTRATE = Path(sys.executable).with_name("orchestrate")
SIGNING_SECRET = "test-signing-secret-8f2a"
PAYLOADS = Path(__file__).with_name("slack_payloads")
# The tree these tests are in: the subprocess imports its code from here, first. The venv's editable
# install points at one checkout (/work/main), so a worktree's serve would otherwise run main's code.
SOURCE_ROOT = Path(__file__).resolve().parents[1]
BOT_TOKEN = "xoxb-test-token"


_LISTENING = re.compile(r"Listening on http://[^\s]+:(\d+)")
_serial = itertools.count(1)


class ServeProcess:
    """`orchestrate serve` on port 0: the system picks a free port and serve logs it; `port` reads it back.

    Picking a port here and handing it over would race with every other test binding one.
    """

    def __init__(
        self,
        workdir: Path,
        slack_url: str,
        database_url: str,
        extra_env: dict | None = None,
        mode: str = "http",
        open_files: int | None = None,
        host: str | None = "127.0.0.1",
    ):
        """``open_files``: the process's file descriptor limit (RLIMIT_NOFILE), for tests of running out;
        ``host``: the --host given (None: serve's own default)."""
        env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "DATABASE_URL"))}
        env.update(
            {
                "SLACK_BOT_TOKEN": BOT_TOKEN,
                "SLACK_API_URL": slack_url,
                "DATABASE_URL": database_url,
                "PYTHONUNBUFFERED": "1",
                "PYTHONPATH": os.pathsep.join(p for p in (str(SOURCE_ROOT), env.get("PYTHONPATH")) if p),
            }
        )
        args = ["serve", *(["--host", host] if host else []), "--port", "0"]
        if mode == "http":
            env["SLACK_SIGNING_SECRET"] = SIGNING_SECRET
            args.append("--http")
        env.update(extra_env or {})
        self._start(workdir, [str(ORCHESTRATE), *args], env, stdin=subprocess.DEVNULL, open_files=open_files)

    def _start(self, workdir: Path, command: list[str], env: dict, stdin, open_files: int | None = None) -> None:
        self._port: int | None = None
        self.log = workdir / f"serve-{os.getpid()}-{next(_serial)}.log"
        self.process = subprocess.Popen(
            command,
            cwd=workdir,
            env=env,
            stdout=self.log.open("w"),
            stderr=subprocess.STDOUT,
            stdin=stdin,
            preexec_fn=(lambda: resource.setrlimit(resource.RLIMIT_NOFILE, (open_files, open_files)))
            if open_files
            else None,
        )

    @property
    def port(self) -> int:
        """The port serve bound, read from its log (waits until it is there)."""
        deadline = time.monotonic() + 60
        while self._port is None:
            found = _LISTENING.search(self.output())
            if found:
                self._port = int(found.group(1))
            elif self.process.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"serve never said where it listens:\n{self.output()}")
            else:
                time.sleep(0.05)
        return self._port

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def wait_healthy(self, timeout: float = 60.0) -> None:  # generous: two cores shared with other tests
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"serve exited with {self.process.returncode}:\n{self.output()}")
            try:
                with urllib.request.urlopen(f"{self.base}/healthz", timeout=1) as response:
                    if response.status == 200:
                        return
            except OSError:
                time.sleep(0.1)
        raise AssertionError(f"serve did not become healthy:\n{self.output()}")

    def output(self) -> str:
        return self.log.read_text() if self.log.exists() else ""

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    # --- requests as Slack sends them ------------------------------------------

    def post(
        self,
        body: str,
        content_type: str,
        *,
        secret: str = SIGNING_SECRET,
        timestamp: int | None = None,
        signature: str | None = None,
        retry_num: int | None = None,
    ):
        timestamp = int(time.time()) if timestamp is None else timestamp
        signature = signature or SignatureVerifier(secret).generate_signature(timestamp=str(timestamp), body=body)
        headers = {
            "Content-Type": content_type,
            "X-Slack-Request-Timestamp": str(timestamp),
            "X-Slack-Signature": signature,
        }
        if retry_num is not None:
            headers["X-Slack-Retry-Num"] = str(retry_num)
        request = urllib.request.Request(
            f"{self.base}/slack/events", data=body.encode(), headers=headers, method="POST"
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return response.status, response.read().decode()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode()

    def send_fixture(self, name: str, replace: dict[str, str] | None = None, **kw):
        """POST one of tests/slack_payloads/ as Slack sends it (its encoding), with ids replaced in its text."""
        doc = fixture(name, replace)
        payload = doc["payload"]
        if doc["_encoding"] == "form":
            return self.post(urlencode(payload), "application/x-www-form-urlencoded", **kw)
        if doc["_encoding"] == "form-payload":
            return self.post("payload=" + quote(json.dumps(payload)), "application/x-www-form-urlencoded", **kw)
        return self.post(json.dumps(payload), "application/json", **kw)

    def slash(
        self,
        text: str,
        response_url: str,
        *,
        user: str = "U0LEAD0001",
        channel: str = "C0TRORCH1",
        channel_name: str = "tr-orchestration",
        **kw,
    ):
        body = urlencode(
            {
                "token": "legacy",
                "team_id": "T0TEST",
                "team_domain": "test",
                "channel_id": channel,
                "channel_name": channel_name,
                "user_id": user,
                "user_name": user.lower(),
                "command": "/orchestrate",
                "text": text,
                "api_app_id": "A0TEST",
                "response_url": response_url,
                "trigger_id": "1337.42.abcd",
            }
        )
        return self.post(body, "application/x-www-form-urlencoded", **kw)

    def interaction(self, payload: dict, **kw):
        return self.post(urlencode({"payload": json.dumps(payload)}), "application/x-www-form-urlencoded", **kw)

    def event(self, event: dict, event_id: str = "Ev0001", **kw):
        body = json.dumps(
            {
                "token": "legacy",
                "team_id": "T0TEST",
                "api_app_id": "A0TEST",
                "type": "event_callback",
                "event_id": event_id,
                "event_time": int(time.time()),
                "event": event,
            }
        )
        return self.post(body, "application/json", **kw)

    def get(self, path: str, timeout: float = 5, token: str | None = None) -> tuple[int, str]:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        request = urllib.request.Request(f"{self.base}{path}", headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                return response.status, response.read().decode()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode()


def block_action(
    action_id: str, value: str, response_url: str, *, user: str = "U0LEAD0001", channel: str = "C0TRORCH1"
) -> dict:
    return {
        "type": "block_actions",
        "team": {"id": "T0TEST"},
        "api_app_id": "A0TEST",
        "user": {"id": user, "username": user.lower(), "team_id": "T0TEST"},
        "channel": {"id": channel, "name": "tr-orchestration"},
        "trigger_id": "1337.43.efgh",
        "response_url": response_url,
        "container": {"type": "message", "message_ts": "1.2"},
        "actions": [
            {"action_id": action_id, "block_id": "b", "value": value, "type": "button", "action_ts": str(time.time())}
        ],
    }


def fixture(name: str, replace: dict[str, str] | None = None) -> dict:
    """A payload fixture (tests/slack_payloads/NAME.json), each key of ``replace`` replaced in its text by its value."""
    text = (PAYLOADS / f"{name}.json").read_text()
    for old, new in (replace or {}).items():
        text = text.replace(old, new)
    return json.loads(text)


def wait_for(condition, timeout: float, what: str):
    """What ``condition`` returns once it is truthy, polled until ``timeout``; else fails, naming ``what``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = condition()
        if found:
            return found
        time.sleep(0.1)
    raise AssertionError(f"{what} did not happen within {timeout:g} s")
