"""The web server's limits against slow and many clients, for uvicorn (bot/serve.py).

- a request's head (its line and headers) must arrive within HEAD_TIMEOUT_S of the connection
  opening, or of the previous response on a kept-alive one, else the connection is closed: a
  client that opens connections and never finishes a request holds none for long;
- its body must arrive within BODY_TIMEOUT_S (bot/body_limit.py answers 408);
- an idle kept-alive connection is closed after KEEP_ALIVE_S;
- at most MAX_CONNECTIONS connections (and requests in progress) at once: beyond, uvicorn
  answers 503 at once, keeping file descriptors for the store and Slack;
- headers are at most MAX_HEAD_BYTES.

Behind a reverse proxy, let the proxy hold the slow clients (SECURITY.md, "Behind a proxy").
"""

import asyncio
import os

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

HEAD_TIMEOUT_S = float(os.environ.get("ORCHESTRATE_HTTP_HEAD_TIMEOUT_SECONDS", "10"))
BODY_TIMEOUT_S = float(os.environ.get("ORCHESTRATE_HTTP_BODY_TIMEOUT_SECONDS", "30"))
KEEP_ALIVE_S = 5
MAX_CONNECTIONS = 500
MAX_HEAD_BYTES = 16 * 1024


class HeadTimeoutH11(H11Protocol):
    """uvicorn's HTTP/1.1 protocol, closing a connection whose request head is late."""

    _head_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm_head_timer()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._arm_head_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
        super().connection_lost(exc)

    def _arm_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
        self._head_timer = self.loop.call_later(HEAD_TIMEOUT_S, self._head_late)

    def _head_late(self) -> None:
        if self.conn.their_state is h11.IDLE and not self.transport.is_closing():
            self.transport.close()  # no request head in time: nothing was read, nothing to answer


def uvicorn_options() -> dict:
    return {
        "http": HeadTimeoutH11,
        "timeout_keep_alive": KEEP_ALIVE_S,
        "limit_concurrency": MAX_CONNECTIONS,
        "h11_max_incomplete_event_size": MAX_HEAD_BYTES,
    }
