"""Console mode: Slack in a terminal, for `make run` without Slack tokens.

What you type goes through the same Bolt app as a slash command would: the
line becomes a slash-command request dispatched by Bolt, so every Slack-side
path (ack, parsing, answers, modals) runs for real. What the bot posts reaches a small local stand-in of Slack's
Web API and response URLs, which prints it as text. A confirmation modal is
asked at the prompt and submitted back as Slack would.
"""

import json
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlencode

from slack_bolt import App
from slack_bolt.request import BoltRequest

from bot.app import build_app

CONSOLE_USER = "U0CONSOLE"
CONSOLE_CHANNEL = "C0CONSOLE"
EMOJI = {
    ":white_check_mark:": "✓",
    ":x:": "✗",
    ":large_green_circle:": "●",
    ":large_yellow_circle:": "◐",
    ":red_circle:": "◉",
    ":white_circle:": "○",
    ":large_blue_circle:": "◌",
    ":double_vertical_bar:": "‖",
    ":octagonal_sign:": "■",
    ":no_entry:": "⛔",
    ":warning:": "⚠",
    ":white_large_square:": "□",
    ":checkered_flag:": "⚑",
    ":rotating_light:": "🚨",
    ":boom:": "✗",
    ":no_entry_sign:": "⛔",
    ":information_source:": "ℹ",
    ":hourglass_flowing_sand:": "⏳",
    ":arrow_upper_right:": "↗",
    ":arrow_right:": "→",
    ":arrow_lower_right:": "↘",
}
CODE_BLOCK = re.compile(r"```(.*?)```", re.DOTALL)
ITALIC = re.compile(r"(?<![\w_])_([^_\n]+)_(?![\w_])")


def blocks_to_text(blocks: list[dict]) -> str:
    """Block Kit as a terminal shows it: headers, sections, context lines, [buttons]."""
    lines = []
    for block in blocks:
        kind = block.get("type")
        if kind == "header":
            lines.append(f"== {block['text']['text']} ==")
        elif kind == "section":
            text = _mrkdwn(block.get("text", {}).get("text", ""))
            accessory = block.get("accessory")
            if accessory and accessory.get("type") == "button":
                text += f"  [{accessory['text']['text']}]"
            lines.append(text)
            lines += [_mrkdwn(field["text"]) for field in block.get("fields", [])]
        elif kind == "context":
            lines.append("  " + " · ".join(_mrkdwn(e.get("text", "")) for e in block["elements"]))
        elif kind == "actions":
            lines.append("  " + " ".join(f"[{e['text']['text']}]" for e in block["elements"] if "text" in e))
        elif kind == "divider":
            lines.append("─" * 40)
    return "\n".join(lines)


def _mrkdwn(text: str) -> str:
    """Slack's mrkdwn as plain text: emoji as symbols, *bold* and _italic_ unmarked, code as typed."""
    parts = CODE_BLOCK.split(text)  # odd parts are code blocks: Slack shows them verbatim
    return "".join(_unescape(part) if i % 2 else _inline(part) for i, part in enumerate(parts))


def _inline(text: str) -> str:
    for code, symbol in EMOJI.items():
        text = text.replace(code, symbol)
    text = re.sub(r"<@([A-Z0-9]+)>", r"@\1", text)
    text = ITALIC.sub(r"\1", text.replace("`", "").replace("*", ""))
    return _unescape(text)


def _unescape(text: str) -> str:
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


class ConsoleSlack:
    """The Slack the console talks to: prints messages, queues modals, counts answers."""

    def __init__(self, say):
        self.say = say
        self.answered: set[str] = set()
        self.modals: list[dict] = []
        self.changed = threading.Condition()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def wait(self, response: str, timeout: float = 30.0) -> bool:
        """Until the command behind ``response`` answered or opened a modal."""
        deadline = time.monotonic() + timeout
        with self.changed:
            while response not in self.answered and not self.modals:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self.changed.wait(left)
        return True

    def received(self, path: str, payload: dict) -> dict:
        if path.startswith("/response/"):
            self._show(payload)
            with self.changed:
                self.answered.add(path.rsplit("/", 1)[1])
                self.changed.notify_all()
            return {"ok": True}
        method = path.removeprefix("/api/")
        if method in ("chat.postMessage", "chat.postEphemeral", "chat.update"):
            self._show(payload)
            return {"ok": True, "channel": payload.get("channel", CONSOLE_CHANNEL), "ts": f"{time.time():.6f}"}
        if method == "views.open":
            with self.changed:
                self.modals.append(
                    payload["view"] if isinstance(payload["view"], dict) else json.loads(payload["view"])
                )
                self.changed.notify_all()
            return {"ok": True, "view": {"id": "VCONSOLE"}}
        if method == "auth.test":
            return {"ok": True, "user_id": "UBOT", "bot_id": "BBOT", "team_id": "TCONSOLE", "url": self.base}
        return {"ok": True}  # views.publish and the like have nothing to show here

    def _show(self, payload: dict) -> None:
        blocks = payload.get("blocks")
        if isinstance(blocks, str):
            blocks = json.loads(blocks)
        self.say(blocks_to_text(blocks) if blocks else _mrkdwn(payload.get("text", "")))

    def _handler(self):
        console = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()
                if "json" in (self.headers.get("Content-Type") or ""):
                    payload = json.loads(raw or "{}")
                else:
                    payload = {k: v[0] for k, v in parse_qs(raw).items()}
                answer = json.dumps(console.received(self.path, payload)).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args):  # the terminal is for the conversation
                pass

        return Handler


class Console:
    """Types lines into the Bolt app as the console's operator, and prints the answers."""

    def __init__(self, engine, stdin, stdout):
        self.stdin, self.stdout = stdin, stdout
        self.slack = ConsoleSlack(self.say)
        self.app: App = build_app(
            engine,
            token="xoxb-console",
            api_url=f"{self.slack.base}/api/",
            operators=frozenset({CONSOLE_USER}),
        )
        self.counter = 0
        self.prompt: str | None = None  # the prompt on screen, waiting for a line
        self.printing = threading.Lock()  # the scheduler's alerts print from other threads

    def say(self, text: str) -> None:
        with self.printing:
            if self.prompt is not None:  # clear the prompt's line, print, and draw the prompt again
                print("\r\033[K" + text, file=self.stdout)
                print(self.prompt, end="", file=self.stdout, flush=True)
            else:
                print(text, file=self.stdout, flush=True)

    def ask(self, prompt: str) -> str | None:
        if self.stdin.isatty():
            with self.printing:
                print(prompt, end="", file=self.stdout, flush=True)
                self.prompt = prompt
        try:
            line = self.stdin.readline()
        finally:
            self.prompt = None
        return None if not line else line.rstrip("\n")

    def run(self) -> int:
        self.say("orchestrate console: type a command (`help` lists them), Ctrl-D to quit.")
        try:
            self.send("status")
            while True:
                line = self.ask("/orchestrate ")
                if line is None or line.strip() in ("quit", "exit"):
                    self.say("bye")
                    return 0
                line = line.strip().removeprefix("/orchestrate").strip()
                if line:
                    self.send(line)
        finally:
            self.slack.close()

    def send(self, text: str) -> None:
        self.counter += 1
        response = str(self.counter)
        body = urlencode(
            {
                "token": "console",
                "team_id": "TCONSOLE",
                "channel_id": CONSOLE_CHANNEL,
                "channel_name": "console",
                "user_id": CONSOLE_USER,
                "user_name": "operator",
                "command": "/orchestrate",
                "text": text,
                "response_url": f"{self.slack.base}/response/{response}",
                "trigger_id": f"console.{response}",
            }
        )
        self._dispatch(body, "application/x-www-form-urlencoded")
        if not self.slack.wait(response):
            self.say("(no answer within 30 s)")
        while self.slack.modals:
            self._fill(self.slack.modals.pop(0), response)

    def _fill(self, view: dict, response: str) -> None:
        """Ask a modal's question at the prompt, then submit it back as Slack would."""
        self.say(f"-- {view['title']['text']} --")
        self.say(blocks_to_text([b for b in view["blocks"] if b["type"] != "input"]))
        reason = self._reason(view)
        if reason is None:
            self.say("cancelled; nothing changed")
            return
        payload = {
            "type": "view_submission",
            "team": {"id": "TCONSOLE"},
            "user": {"id": CONSOLE_USER, "username": "operator"},
            "view": {
                **view,
                "id": "VCONSOLE",
                "state": {"values": {"reason": {"value": {"type": "plain_text_input", "value": reason}}}},
            },
        }
        self._dispatch(urlencode({"payload": json.dumps(payload)}), "application/x-www-form-urlencoded")
        self.slack.wait(response)

    def _reason(self, view: dict) -> str | None:
        """The modal's reason: the one typed with the command once confirmed, else a new one; None cancels."""
        typed = next((b["element"].get("initial_value") for b in view["blocks"] if b.get("block_id") == "reason"), None)
        if typed:
            answer = self.ask(f'Reason: "{typed}". y to go ahead with it, another reason, or empty to cancel: ') or ""
            answer = answer.strip()
            return typed if answer.lower() in ("y", "yes") else answer or None
        answer = (self.ask("Reason (empty to cancel): ") or "").strip()
        return answer or None

    def _dispatch(self, body: str, content_type: str) -> None:
        response = self.app.dispatch(BoltRequest(body=body, headers={"content-type": [content_type]}))
        if response.status >= 400:
            self.say(f"(Slack request refused: {response.status} {response.body})")
