"""FakeSlack (tests/fake_slack.py) tuned for load: a deeper listen backlog, answers filed by name."""

from __future__ import annotations

import threading
from http.server import ThreadingHTTPServer

import tests.fake_slack as fake_slack
from tests.fake_slack import Call, FakeSlack


class _DeepBacklogServer(ThreadingHTTPServer):
    # socketserver listens with a backlog of 5: ten clients connecting at once (APScheduler's
    # ten threads, each WebClient call a new connection) overflow it, and the kernel's SYN
    # retry adds a whole second to some calls. Slack's servers do not do that.
    request_queue_size = 128


class BenchSlack(FakeSlack):
    """FakeSlack with a deep backlog, that also files response_url POSTs by name, so that
    16 waiting senders do not each rescan every call at every arrival (FakeSlack.wait_for does)."""

    def __init__(self) -> None:
        super().__init__()
        self._arrived: dict[str, Call] = {}
        self._events: dict[str, threading.Event] = {}
        self._filing = threading.Lock()

    def start(self) -> BenchSlack:
        server_class = fake_slack.ThreadingHTTPServer
        fake_slack.ThreadingHTTPServer = _DeepBacklogServer  # FakeSlack.start builds its server from this name
        try:
            return super().start()
        finally:
            fake_slack.ThreadingHTTPServer = server_class

    def _event(self, name: str) -> threading.Event:
        with self._filing:
            return self._events.setdefault(name, threading.Event())

    def _record(self, call: Call) -> None:
        super()._record(call)
        if call.method.startswith("response:"):
            name = call.method[len("response:") :]
            with self._filing:
                self._arrived[name] = call
            self._event(name).set()

    def answer(self, name: str, timeout: float) -> Call | None:
        """The answer POSTed to response_url(name), waited for up to ``timeout`` seconds."""
        if not self._event(name).wait(timeout):
            return None
        with self._filing:
            self._events.pop(name, None)
            return self._arrived.pop(name)

    def reset(self) -> None:
        super().reset()
        with self._filing:
            self._arrived.clear()
            self._events.clear()
