"""A real local HTTP server that stands in for Slack's Web API in tests.

Slack cannot be reached from the test machines, so the bot's real clients
(slack_sdk's WebClient, bolt's respond(), files_upload_v2) talk to this
server instead, over real HTTP on 127.0.0.1. It records every request,
answers the Web API methods the bot uses, refuses Block Kit that Slack
would refuse, and can be told to fail the next calls to a method (429/500)
so delivery and retry code can be tested.

    with FakeSlack() as slack:
        client = WebClient(token="xoxb-test", base_url=slack.url)
        client.chat_postMessage(channel="C1", text="hi")
        [call] = slack.wait_for("chat.postMessage")
        assert slack.errors == []

Or, in a test module: ``from tests.fake_slack import fake_slack`` and take
``fake_slack`` as a fixture argument.
"""

from __future__ import annotations

import json
import math
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import yaml
from slack_sdk.models.blocks import Block
from slack_sdk.models.views import View

TEAM_ID = "T0TEST"
BOT_USER_ID = "UBOT"
BOT_ID = "BBOT"
APP_ID = "A0ORCH"

MAX_MESSAGE_BLOCKS = 50
MAX_VIEW_BLOCKS = 100
MAX_SECTION_TEXT = 3000
# chat.postMessage / chat.update: "msg_too_long — Message text is too long" past 40,000 characters
# (docs.slack.dev/reference/methods/chat.postMessage, the `text` argument and errors).
MAX_MESSAGE_TEXT = 40_000
# conversations.history for apps commercially distributed outside the Marketplace: "limited to 1 request
# per minute… The maximum and default for the limit parameter has been reduced to 15 objects"
# (docs.slack.dev/changelog/2025/05/29/rate-limit-changes-for-non-marketplace-apps; LIMITS.md).
MAX_HISTORY_PAGE = 15
TRIGGER_TTL_S = 3.0  # "Pass a valid trigger_id within 3 seconds of receiving it" (bolt-python opening-modals)


@dataclass(frozen=True)
class RateLimit:
    """At most ``calls`` calls in any ``window`` seconds, per method (and per channel when ``per_channel``)."""

    calls: int
    window: float
    per_channel: bool = False


# Slack's limits per method (tests/slack_payloads/LIMITS.md has the sources): the tiers are "per API
# method per workspace per app" (docs.slack.dev/apis/web-api/rate-limits); Tier 3 is 50 a minute,
# Tier 4 100. chat.postMessage is special: "one message per second per channel" (bursts are tolerated
# but not guaranteed: the stand-in allows none). conversations.history: the non-Marketplace cohort.
RATE_LIMITS = {
    "chat.postMessage": RateLimit(1, 1.0, per_channel=True),
    "chat.update": RateLimit(50, 60.0),
    "chat.delete": RateLimit(50, 60.0),
    "chat.postEphemeral": RateLimit(100, 60.0),
    "conversations.open": RateLimit(50, 60.0),
    "conversations.history": RateLimit(1, 60.0),
    "views.open": RateLimit(100, 60.0),
    "views.update": RateLimit(100, 60.0),
    "views.push": RateLimit(100, 60.0),
    "views.publish": RateLimit(100, 60.0),
    "users.info": RateLimit(100, 60.0),
}

# Form-encoded requests carry these structured fields as JSON strings.
JSON_FIELDS = ("blocks", "attachments", "view", "files", "metadata")

# conversations.history for apps outside the Slack Marketplace, since 2025 (new apps from 29 May 2025,
# every installation from 3 March 2026): Tier 1, one request a minute, and `limit` at most (and by
# default) 15 messages. Source: "Rate limit changes for non-Marketplace apps",
# https://api.slack.com/changelog/2025-05-terms-rate-limit-update-and-faq
HISTORY_WINDOW_S = 60.0
HISTORY_MAX_LIMIT = 15
# Bodies whose `blocks` Slack checks as a message (views are checked apart).
MESSAGE_METHODS = ("chat.postMessage", "chat.update", "chat.postEphemeral")

# The bot-token scopes each method needs, any one of them (the "Required scopes" of each method's page in
# Slack's API reference, docs.slack.dev/reference/methods/<method>); views.* and auth.test need none.
# Without one, Slack answers 200 {"ok": false, "error": "missing_scope", "needed": ..., "provided": ...}.
NEEDED_SCOPES = {
    "chat.postMessage": ("chat:write",),
    "chat.update": ("chat:write",),
    "chat.postEphemeral": ("chat:write",),
    "chat.delete": ("chat:write",),
    "conversations.history": ("channels:history", "groups:history", "im:history", "mpim:history"),
    "conversations.open": ("channels:manage", "groups:write", "im:write", "mpim:write"),
    "users.info": ("users:read",),
    "files.getUploadURLExternal": ("files:write",),
    "files.completeUploadExternal": ("files:write",),
}
MANIFEST = Path(__file__).resolve().parents[1] / "manifest.yml"


def granted_scopes() -> frozenset[str]:
    """The bot scopes manifest.yml asks for: what an installed app's token has."""
    return frozenset(yaml.safe_load(MANIFEST.read_text())["oauth_config"]["scopes"]["bot"])


@dataclass
class Call:
    """One request the server received.

    method: the Web API method ("chat.postMessage"), "response:<name>" for a
    response_url POST, "upload:<file_id>" for a file upload, or
    "http:<path>" for a path the fake does not serve (answered 404).
    body: the decoded body (JSON or form fields, plus query parameters).
    headers: request headers, keys lower-cased.
    at: time.monotonic() on arrival (immune to time-machine travel).
    failed: True when fail_next() made this call fail.
    raw: the body bytes as received.
    """

    method: str
    body: dict
    headers: dict
    at: float
    failed: bool = False
    raw: bytes = b""


@dataclass
class _Failure:
    status: int
    retry_after: int


@dataclass
class _Reply:
    status: int = 200
    payload: Any = field(default_factory=lambda: {"ok": True})
    headers: dict = field(default_factory=dict)


class FakeSlack:
    """Slack's Web API, response_urls and upload URLs on a local port."""

    def __init__(self, rate_limits: bool = False) -> None:
        # With rate_limits, each method is held to Slack's limits (RATE_LIMITS) and answers 429 with
        # Retry-After past them; ``ratelimited`` counts those answers by method.
        self.rate_limits = rate_limits
        self.ratelimited: dict[str, int] = {}
        self.refusals: list[tuple[str, str]] = []  # (method, error) of every ok:false answer
        self._recent: dict[tuple[str, str], list[float]] = {}  # (method, channel or "") -> arrival times
        self._triggers: dict[str, float | None] = {}  # trigger_id -> when issued (None once exchanged)
        self.socket_url: str | None = None  # what apps.connections.open hands out
        self.users: dict[str, dict] = {}  # users.info overrides, by user id
        self.scopes = granted_scopes()  # the bot token's, as installed from manifest.yml
        # What auth.test answers instead of a single workspace's bot (an Enterprise Grid install:
        # tests/slack_payloads/api_auth_test_enterprise.json, api_auth_test_org_install.json).
        self.auth: dict | None = None
        self.delays: dict[str, float] = {}  # seconds to wait before answering a method
        self._cond = threading.Condition()
        self._calls: list[Call] = []
        self._errors: list[str] = []
        self._failures: dict[str, list[_Failure]] = {}
        self._lost: dict[str, int] = {}  # method -> how many answers to lose
        self._counter = 0  # for ts, view ids and file ids; never reset, so they stay unique
        self._uploads: dict[str, str] = {}  # file_id -> filename
        self._channels: dict[str, list[dict]] = {}  # channel -> messages posted, for conversations.history
        # Slack's clock, in epoch seconds, for message ts (a test on a simulated clock sets its own).
        self.clock: Callable[[], float] = time.time
        self._last_ts = 0.0
        # conversations.history as a non-Marketplace app gets it (see HISTORY_WINDOW_S); False: as a
        # Marketplace app (Tier 3, limit up to 999), for tests about something else.
        self.history_limited = True
        self.history_window_s = HISTORY_WINDOW_S  # a campaign on a scaled clock shortens Slack's minute
        self._history_at: float | None = None  # time.monotonic() of the last history call let through
        # chat.postMessage: messages a channel takes per second before 429 (None: unlimited). Slack:
        # "generally allows posting one message per second per channel", with short bursts
        # (https://api.slack.com/apis/rate-limits, "Posting messages").
        self.posts_per_second: float | None = None
        self._posted_at: dict[str, float] = {}  # channel -> monotonic time its next post is allowed
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------ lifecycle

    def start(self) -> FakeSlack:
        if self._server is not None:
            return self
        # Port 0: the OS picks a free port, so parallel runs never clash.
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name="FakeSlack", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is None:
            return
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
        self._server = self._thread = None

    def __enter__(self) -> FakeSlack:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    @property
    def root(self) -> str:
        """http://127.0.0.1:PORT (no trailing slash)."""
        if self._server is None:
            raise RuntimeError("FakeSlack is not started")
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def url(self) -> str:
        """Base Web API URL, for SLACK_API_URL / WebClient(base_url=...)."""
        return f"{self.root}/api/"

    def response_url(self, name: str = "r1") -> str:
        """A response_url whose POSTs are recorded as "response:<name>"."""
        return f"{self.root}/response/{name}"

    # ------------------------------------------------------------ inspection

    @property
    def calls(self) -> list[Call]:
        """A snapshot of every request so far, in arrival order."""
        with self._cond:
            return list(self._calls)

    @property
    def errors(self) -> list[str]:
        """Block Kit violations seen so far ("method: message [json-pointer:...]")."""
        with self._cond:
            return list(self._errors)

    def calls_to(self, method: str, include_failed: bool = True) -> list[Call]:
        with self._cond:
            return self._matching(method, include_failed)

    def wait_for(self, method: str, count: int = 1, timeout: float = 5.0, include_failed: bool = True) -> list[Call]:
        """Block until `count` calls to `method` arrived; return them all.

        The bot often answers from another thread (bolt acks first, then
        works), so tests wait instead of sleeping a guessed time.
        """
        deadline = time.monotonic() + timeout
        with self._cond:
            while len(found := self._matching(method, include_failed)) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(self._timeout_message(method, count, timeout, len(found)))
                self._cond.wait(left)
            return found

    def messages(self, channel: str) -> list[dict]:
        """What the bot posted in a channel and is still there, oldest first."""
        with self._cond:
            return list(self._channels.get(channel, []))

    def trigger_id(self) -> str:
        """A trigger_id as Slack hands one out with an interaction: views.open takes it once, within 3 s.
        (Ids the stand-in did not issue are taken as before, for payloads written by hand.)"""
        number = self._next_number()
        trigger = f"{number}.{7321000000 + number}.{number:032x}"
        with self._cond:
            self._triggers[trigger] = time.monotonic()
        return trigger

    def reset(self) -> None:
        """Forget calls, errors and pending failures (settings are kept)."""
        with self._cond:
            self._calls.clear()
            self._errors.clear()
            self._failures.clear()

    # ------------------------------------------------------------ failure injection

    def fail_next(self, method: str, status: int = 429, retry_after: int = 1, times: int = 1) -> None:
        """Make the next `times` calls to `method` fail with HTTP `status`.

        429 comes with a Retry-After header, as Slack's rate limiter sends.
        `method` is matched like Call.method, so "response:r1" works too.
        """
        with self._cond:
            self._failures.setdefault(method, []).extend(_Failure(status, retry_after) for _ in range(times))

    def a_minute_passes(self) -> None:
        """Lift conversations.history's one-a-minute limit now, as if a minute had passed."""
        with self._cond:
            self._history_at = None

    def lose_answer_next(self, method: str, times: int = 1) -> None:
        """Do the next `times` calls to `method` (a post lands in the channel), then drop the
        connection without answering: the caller cannot know whether Slack has it."""
        with self._cond:
            self._lost[method] = self._lost.get(method, 0) + times

    # ------------------------------------------------------------ internals

    def _matching(self, method: str, include_failed: bool) -> list[Call]:
        return [c for c in self._calls if c.method == method and (include_failed or not c.failed)]

    def _timeout_message(self, method: str, count: int, timeout: float, got: int) -> str:
        arrived = ", ".join(c.method + (" (failed)" if c.failed else "") for c in self._calls) or "nothing"
        message = f"expected {count} call(s) to {method} within {timeout}s, got {got}; arrived: {arrived}"
        if self._errors:
            message += f"; block errors: {self._errors}"
        return message

    def _record(self, call: Call) -> None:
        with self._cond:
            self._calls.append(call)
            self._cond.notify_all()

    def _take_loss(self, method: str) -> bool:
        with self._cond:
            if self._lost.get(method):
                self._lost[method] -= 1
                return True
            return False

    def _rate_limited(self, method: str, body: dict) -> _Failure | None:
        """Slack's own limits on the methods whose limits the bot must live with."""
        now = time.monotonic()
        with self._cond:
            if method == "conversations.history" and self.history_limited:
                window = self.history_window_s
                if self._history_at is not None and now - self._history_at < window:
                    return _Failure(429, max(1, round(window - (now - self._history_at))))
                self._history_at = now
            if method == "chat.postMessage" and self.posts_per_second:
                channel = str(body.get("channel"))
                allowed = self._posted_at.get(channel, now)
                if allowed > now + 1.0:  # a burst of about one second's worth is let through
                    return _Failure(429, max(1, round(allowed - now)))
                self._posted_at[channel] = max(allowed, now) + 1.0 / self.posts_per_second
        return None

    def _take_failure(self, method: str) -> _Failure | None:
        with self._cond:
            pending = self._failures.get(method)
            return pending.pop(0) if pending else None

    def _over_the_limit(self, method: str, body: dict) -> _Failure | None:
        """A 429 when this call passes the method's limit (a refused call does not count towards it)."""
        limit = RATE_LIMITS.get(method) if self.rate_limits else None
        if limit is None:
            return None
        key = (method, str(body.get("channel", "")) if limit.per_channel else "")
        now = time.monotonic()
        with self._cond:
            recent = [t for t in self._recent.get(key, []) if now - t < limit.window]
            if len(recent) >= limit.calls:
                self._recent[key] = recent
                self.ratelimited[method] = self.ratelimited.get(method, 0) + 1
                wait = limit.window - (now - recent[0])
                return _Failure(429, max(1, math.ceil(wait)))
            self._recent[key] = [*recent, now]
        return None

    def _next_number(self) -> int:
        with self._cond:
            self._counter += 1
            return self._counter

    def _next_ts(self) -> str:
        # Slack's: the epoch time of the message, to the microsecond, unique and increasing in a workspace.
        with self._cond:
            self._last_ts = max(round(self.clock(), 6), round(self._last_ts + 0.000001, 6))
            return f"{self._last_ts:.6f}"

    # ------------------------------------------------------------ request handling

    def handle(self, path: str, body: dict, headers: dict, raw: bytes) -> _Reply:
        """Record one request and build the reply (called on server threads)."""
        kind, name = _route(path)
        method = {"api": name, "response": f"response:{name}", "upload": f"upload:{name}"}.get(kind, f"http:{path}")
        if method in self.delays:
            time.sleep(self.delays[method])  # a slow Slack, to catch a process in the middle of sending
        failure = self._take_failure(method)
        if failure is None and kind == "api":
            failure = self._over_the_limit(name, body)
        if failure is None:
            failure = self._rate_limited(method, body)
        self._record(Call(method, body, headers, time.monotonic(), failed=failure is not None, raw=raw))
        if failure is not None:
            return _failure_reply(failure)
        if kind == "response":
            return self._answer_response_url(method, body)
        if kind == "upload":
            return _Reply(200, "ok")
        if kind != "api":
            return _Reply(404, {"ok": False, "error": "unknown_path"})
        return self._answer_api(name, body, headers)

    def _answer_response_url(self, method: str, body: dict) -> _Reply:
        errors = self._check_blocks(method, body.get("blocks"), MAX_MESSAGE_BLOCKS)
        return _invalid_blocks(errors) if errors else _Reply(200, "ok")

    def _answer_api(self, method: str, body: dict, headers: dict) -> _Reply:
        token = _token(body, headers)
        wanted = "xapp-" if method == "apps.connections.open" else "xoxb-"
        if not token.startswith(wanted):
            return _Reply(200, {"ok": False, "error": "invalid_auth"})
        needed = NEEDED_SCOPES.get(method, ())
        if needed and not self.scopes & set(needed):
            provided = ",".join(sorted(self.scopes))
            return _Reply(200, {"ok": False, "error": "missing_scope", "needed": needed[0], "provided": provided})
        if method in ("chat.postMessage", "chat.update") and len(str(body.get("text") or "")) > MAX_MESSAGE_TEXT:
            self._note(method, [f"msg_too_long: text of {len(str(body['text']))} characters"])
            return _Reply(200, {"ok": False, "error": "msg_too_long"})
        if method == "views.open":
            refused = self._exchange_trigger(str(body.get("trigger_id", "")))
            if refused:
                with self._cond:
                    self.refusals.append((method, refused))
                return _Reply(200, {"ok": False, "error": refused})
        errors = self._validate(method, body)
        if errors:
            return _invalid_blocks(errors)
        answer = self._answers().get(method)
        reply = _Reply(200, answer(body) if answer else {"ok": True})
        if isinstance(reply.payload, dict) and reply.payload.get("ok") is False:
            with self._cond:
                self.refusals.append((method, str(reply.payload.get("error"))))
        return reply

    def _exchange_trigger(self, trigger: str) -> str | None:
        """views.open's errors for a trigger_id it issued: expired_trigger_id, exchanged_trigger_id."""
        with self._cond:
            if trigger not in self._triggers:
                return None
            issued = self._triggers[trigger]
            self._triggers[trigger] = None
        if issued is None:
            return "exchanged_trigger_id"
        return "expired_trigger_id" if time.monotonic() - issued > TRIGGER_TTL_S else None

    def _validate(self, method: str, body: dict) -> list[str]:
        if method in MESSAGE_METHODS:
            return self._check_blocks(method, body.get("blocks"), MAX_MESSAGE_BLOCKS)
        if method.startswith("views.") and "view" in body:
            return self._check_view(method, body["view"])
        return []

    # ------------------------------------------------------------ Block Kit checks

    def _check_blocks(self, method: str, blocks: Any, limit: int, pointer: str = "/blocks") -> list[str]:
        if blocks is None:
            return []
        errors = _block_errors(blocks, limit, pointer)
        self._note(method, errors)
        return errors

    def _check_view(self, method: str, view: Any) -> list[str]:
        if not isinstance(view, dict):
            errors = ["view must be an object [json-pointer:/view]"]
        else:
            errors = _view_errors(view) + _block_errors(view.get("blocks", []), MAX_VIEW_BLOCKS, "/view/blocks")
        self._note(method, errors)
        return errors

    def _note(self, method: str, errors: list[str]) -> None:
        if errors:
            with self._cond:
                self._errors.extend(f"{method}: {e}" for e in errors)

    # ------------------------------------------------------------ method answers

    def _answers(self) -> dict[str, Callable[[dict], dict]]:
        return {
            "auth.test": self._auth_test,
            "chat.postMessage": self._post_message,
            "chat.update": self._update,
            "chat.postEphemeral": lambda body: {"ok": True, "message_ts": self._next_ts()},
            "chat.delete": lambda body: {"ok": True, "channel": body.get("channel"), "ts": body.get("ts")},
            "views.open": self._view,
            "views.update": self._view,
            "views.push": self._view,
            "views.publish": self._view,
            "conversations.open": self._open_conversation,
            "conversations.history": self._history,
            "users.info": self._user_info,
            "apps.connections.open": self._connections_open,
            "files.getUploadURLExternal": self._upload_url,
            "files.completeUploadExternal": self._complete_upload,
        }

    def _auth_test(self, body: dict) -> dict:
        if self.auth is not None:
            return dict(self.auth)
        return {
            "ok": True,
            "url": "https://orchestrate-test.slack.com/",
            "team": "Orchestrate Test",
            "user": "orchestrate",
            "team_id": TEAM_ID,
            "user_id": BOT_USER_ID,
            "bot_id": BOT_ID,
            "is_enterprise_install": False,
        }

    def _message(self, body: dict, ts: str) -> dict:
        """The bot's message as Slack echoes it from chat.postMessage (and keeps it for history): a modern
        app's bot message carries `app_id`, `team` and `bot_profile`, and `metadata` when posted with it
        (docs.slack.dev/reference/methods/chat.postMessage; java-slack-sdk
        json-logs/samples/api/chat.postMessage.json; tests/slack_payloads/api_chat_postMessage_ok.json)."""
        team = str((self.auth or {}).get("team_id") or TEAM_ID)
        message = {
            "type": "message",
            "user": BOT_USER_ID,
            "bot_id": BOT_ID,
            "app_id": APP_ID,
            "text": body.get("text", ""),
            "ts": ts,
            "team": team,
            "bot_profile": {
                "id": BOT_ID,
                "deleted": False,
                "name": "orchestrate",
                "updated": 1716000000,
                "app_id": APP_ID,
                "icons": {
                    "image_36": "https://a.slack-edge.com/80588/img/plugins/app/bot_36.png",
                    "image_48": "https://a.slack-edge.com/80588/img/plugins/app/bot_48.png",
                    "image_72": "https://a.slack-edge.com/80588/img/plugins/app/service_72.png",
                },
                "team_id": team,
            },
        }
        for key in ("blocks", "attachments", "thread_ts", "metadata"):
            if key in body:
                message[key] = body[key]
        return message

    def _post_message(self, body: dict) -> dict:
        if not body.get("channel"):
            return {"ok": False, "error": "channel_not_found"}
        if not any(body.get(k) for k in ("text", "blocks", "attachments")):
            return {"ok": False, "error": "no_text"}
        metadata_error = _metadata_error(body.get("metadata"))
        if metadata_error:
            return {"ok": False, "error": metadata_error}
        # A user id as the channel posts in the app's direct messages with that person, and the answer
        # names that conversation (docs.slack.dev/reference/methods/chat.postMessage, "channel": "an
        # encoded ID ... or a user ID to send a message to the app's DM with that user"). Here the DM
        # with U… is D…, as conversations.open hands it out.
        channel = body["channel"]
        if channel[:1] in ("U", "W"):
            channel = f"D{channel}"
        ts = self._next_ts()
        message = self._message(body, ts)
        with self._cond:
            self._channels.setdefault(channel, []).append(message)
        return {"ok": True, "channel": channel, "ts": ts, "message": message}

    def _history(self, body: dict) -> dict:
        """What was posted in a channel, newest first, as conversations.history gives it: between
        `oldest` and `latest` (exclusive unless `inclusive`), at most `limit` (15 at most for a
        non-Marketplace app), message metadata only with `include_all_metadata`."""
        cap = HISTORY_MAX_LIMIT if self.history_limited or self.rate_limits else 999
        limit = min(int(body.get("limit") or cap), cap)
        oldest, latest = float(body.get("oldest") or 0), float(body.get("latest") or "inf")
        inclusive = str(body.get("inclusive", "")).lower() in ("1", "true")
        with self._cond:
            messages = [
                m
                for m in reversed(self._channels.get(body.get("channel"), []))
                if (oldest <= float(m["ts"]) <= latest if inclusive else oldest < float(m["ts"]) < latest)
            ]
        with_metadata = str(body.get("include_all_metadata", "")).lower() in ("1", "true")
        shown = [m if with_metadata else {k: v for k, v in m.items() if k != "metadata"} for m in messages[:limit]]
        return {"ok": True, "messages": shown, "has_more": len(messages) > limit}

    def _update(self, body: dict) -> dict:
        """chat.update of a message posted in that channel: its text replaced, its blocks, attachments and
        metadata replaced when given (kept when left out: "If you don't include this field, the message's
        previous blocks will be retained", docs.slack.dev/reference/methods/chat.update), and an `edited`
        mark as edited messages carry in conversations.history. Any other ts: message_not_found ("No
        message exists with the requested timestamp")."""
        channel, ts = body.get("channel"), str(body.get("ts", ""))
        if not channel:
            return {"ok": False, "error": "channel_not_found"}
        metadata_error = _metadata_error(body.get("metadata"))
        if metadata_error:
            return {"ok": False, "error": metadata_error}
        edited_at = self._next_ts()
        with self._cond:
            message = next((m for m in self._channels.get(channel, []) if m["ts"] == ts), None)
            if message is None:
                return {"ok": False, "error": "message_not_found"}
            if "text" in body:
                message["text"] = body.get("text") or ""
            for key in ("blocks", "attachments", "metadata"):
                if key in body:
                    message[key] = body[key]
            message["edited"] = {"user": BOT_USER_ID, "ts": edited_at}
            echo = {k: v for k, v in message.items() if k not in ("edited", "metadata")}
        return {"ok": True, "channel": channel, "ts": ts, "text": echo["text"], "message": echo}

    def _view(self, body: dict) -> dict:
        view = dict(body.get("view") or {})
        view.setdefault("id", body.get("view_id") or f"V{self._next_number():08d}")
        view.setdefault("team_id", TEAM_ID)
        view.setdefault("bot_id", BOT_ID)
        return {"ok": True, "view": view}

    def _open_conversation(self, body: dict) -> dict:
        users = [u for u in str(body.get("users", "")).split(",") if u]
        if not users:
            return {"ok": False, "error": "users_list_not_supplied"}
        channel_id = "D" + users[0] if len(users) == 1 else "G" + "".join(users)
        return {"ok": True, "channel": {"id": channel_id}}

    def _user_info(self, body: dict) -> dict:
        user_id = body.get("user")
        if not user_id:
            return {"ok": False, "error": "user_not_found"}
        user = {
            "id": user_id,
            "team_id": TEAM_ID,
            "name": user_id.lower(),
            "real_name": f"User {user_id}",
            "tz": "Europe/Paris",
            "is_bot": False,
            "profile": {"display_name": user_id.lower(), "real_name": f"User {user_id}"},
        }
        user.update(self.users.get(user_id, {}))
        return {"ok": True, "user": user}

    def _connections_open(self, body: dict) -> dict:
        if self.socket_url is None:
            return {"ok": False, "error": "not_configured"}
        return {"ok": True, "url": self.socket_url}

    def _upload_url(self, body: dict) -> dict:
        file_id = f"F{self._next_number():08d}"
        with self._cond:
            self._uploads[file_id] = body.get("filename", "")
        return {"ok": True, "file_id": file_id, "upload_url": f"{self.root}/upload/{file_id}"}

    def _complete_upload(self, body: dict) -> dict:
        files = body.get("files") if isinstance(body.get("files"), list) else []
        with self._cond:
            done = [
                {"id": f.get("id"), "title": f.get("title"), "name": self._uploads.get(f.get("id"), "")} for f in files
            ]
        return {"ok": True, "files": done}


# ---------------------------------------------------------------- pure helpers


def _route(path: str) -> tuple[str, str]:
    """'/api/chat.postMessage' -> ('api', 'chat.postMessage'); unknown -> ('', path)."""
    parts = urlsplit(path).path.strip("/").split("/")
    if len(parts) == 2 and parts[0] in ("api", "response", "upload") and parts[1]:
        return parts[0], parts[1]
    return "", path


def _token(body: dict, headers: dict) -> str:
    auth = headers.get("authorization", "")
    if auth.lower().startswith("bearer "):
        return auth[7:].strip()
    return str(body.get("token", ""))  # some clients still send it as a field


def _metadata_error(metadata: Any) -> str | None:
    """Slack's refusal of a message's `metadata`: an object with a string event_type and an object
    event_payload (https://api.slack.com/reference/metadata)."""
    if metadata is None:
        return None
    if not isinstance(metadata, dict) or not isinstance(metadata.get("event_type"), str):
        return "invalid_metadata_format"
    if not isinstance(metadata.get("event_payload"), dict):
        return "invalid_metadata_schema"
    return None


def _failure_reply(failure: _Failure) -> _Reply:
    if failure.status == 429:
        return _Reply(429, {"ok": False, "error": "ratelimited"}, {"Retry-After": str(failure.retry_after)})
    return _Reply(failure.status, {"ok": False, "error": "fatal_error"})


def _invalid_blocks(errors: list[str]) -> _Reply:
    # Slack answers HTTP 200 with ok:false, so WebClient raises SlackApiError; each error is repeated in
    # response_metadata.messages with an "[ERROR] " prefix (tests/slack_payloads/api_invalid_blocks.json:
    # java-slack-sdk json-logs/samples/api/chat.postMessage.json, docs.slack.dev/reference/methods/chat.postMessage).
    return _Reply(
        200,
        {
            "ok": False,
            "error": "invalid_blocks",
            "errors": errors,
            "response_metadata": {"messages": [f"[ERROR] {e}" for e in errors]},
        },
    )


def _block_errors(blocks: Any, limit: int, pointer: str) -> list[str]:
    if not isinstance(blocks, list):
        return [f"blocks must be an array [json-pointer:{pointer}]"]
    errors = []
    if len(blocks) > limit:
        errors.append(f"no more than {limit} items allowed, got {len(blocks)} [json-pointer:{pointer}]")
    for i, block in enumerate(blocks):
        errors += [f"{e} [json-pointer:{pointer}/{i}]" for e in _one_block_errors(block)]
    return errors


def _one_block_errors(block: Any) -> list[str]:
    """Run slack_sdk's own model validators (lengths, limits) on one block."""
    if not isinstance(block, dict):
        return ["block must be an object"]
    try:
        parsed = Block.parse(block)
        if parsed is None:
            return [f"unknown block type {block.get('type')!r}"]
        parsed.to_dict()  # raises SlackObjectFormationError on a violated limit
    except Exception as exc:  # noqa: BLE001 - slack_sdk's models raise TypeError, ValueError, their own errors: each is a refusal
        return [f"{block.get('type')} block: {exc}"]
    return _section_text_errors(block)


def _section_text_errors(block: dict) -> list[str]:
    # Also checked here so the limit holds even if slack_sdk drops its validator.
    text = block.get("text")
    if block.get("type") == "section" and isinstance(text, dict) and len(text.get("text") or "") > MAX_SECTION_TEXT:
        return [f"section text must be at most {MAX_SECTION_TEXT} characters"]
    return []


def _view_errors(view: dict) -> list[str]:
    """View-level limits (type, title, submit, close, metadata) via slack_sdk's View."""
    try:
        model = View(**{k: v for k, v in view.items() if k != "blocks"})
        model.blocks = None  # blocks are checked one by one, with their count, elsewhere
        model.to_dict()
    except Exception as exc:  # noqa: BLE001 - as in the block check above: any model error is a refusal
        return [f"view: {exc} [json-pointer:/view]"]
    return []


def _decode_body(raw: bytes, content_type: str, query: str) -> dict:
    body: dict = _flatten(parse_qs(query, keep_blank_values=True))
    if "application/json" in content_type:
        try:
            parsed = json.loads(raw or b"{}")
        except ValueError:
            parsed = {"_invalid_json": raw.decode("utf-8", "replace")}
        body.update(parsed if isinstance(parsed, dict) else {"_json": parsed})
    elif "application/x-www-form-urlencoded" in content_type:
        body.update(_flatten(parse_qs(raw.decode("utf-8", "replace"), keep_blank_values=True)))
    return {k: _maybe_json(k, v) for k, v in body.items()}


def _flatten(form: dict[str, list[str]]) -> dict:
    return {k: v[0] if len(v) == 1 else v for k, v in form.items()}


def _maybe_json(key: str, value: Any) -> Any:
    # Form-encoded requests carry blocks/view as JSON strings: decode them so
    # checks and tests see the same structure a JSON body would have.
    if key in JSON_FIELDS and isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def _handler_for(slack: FakeSlack) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self._serve()

        def do_GET(self) -> None:  # users.info is sent as a GET by WebClient
            self._serve()

        def _serve(self) -> None:
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            headers = {k.lower(): v for k, v in self.headers.items()}
            query = urlsplit(self.path).query
            # Upload URLs receive the raw file bytes, not a form.
            is_upload = self.path.startswith("/upload/")
            body = {"length": len(raw)} if is_upload else _decode_body(raw, headers.get("content-type", ""), query)
            method = _route(self.path)[1]
            reply = slack.handle(self.path, body, headers, raw)
            if slack._take_loss(method):
                self.close_connection = True  # the work is done; the answer never leaves
                return
            self._send(reply)

        def _send(self, reply: _Reply) -> None:
            is_text = isinstance(reply.payload, str)
            data = (reply.payload if is_text else json.dumps(reply.payload)).encode("utf-8")
            self.send_response(reply.status)
            content_type = "text/plain" if is_text else "application/json"
            self.send_header("Content-Type", f"{content_type}; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            for name, value in reply.headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:
            pass  # keep pytest output clean; calls are recorded instead

    return Handler


@pytest.fixture
def fake_slack() -> Iterator[FakeSlack]:
    """A started FakeSlack, stopped after the test."""
    with FakeSlack() as slack:
        yield slack
