"""Wrong tokens are throttled per client: after ``LIMIT`` failures within ``WINDOW_S`` seconds, every
request from that address is refused (429) until the oldest failure leaves the window.

Behind a reverse proxy every client has the proxy's address unless uvicorn is told to trust its
``X-Forwarded-For`` (SECURITY.md, "Behind a proxy").
"""

import logging
import threading
import time
from collections import deque

log = logging.getLogger(__name__)


class FailedTokens:
    LIMIT = 10
    WINDOW_S = 60.0
    MAX_CLIENTS = 10_000  # remembered at once; past that, clients with no recent failure are forgotten

    def __init__(self) -> None:
        self._failures: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def wait_for(self, client: str) -> int:
        """Seconds until ``client`` may try again; 0 when it may now."""
        now = time.monotonic()
        with self._lock:
            failures = self._recent(client, now)
            if len(failures) < self.LIMIT:
                return 0
            return max(1, int(failures[0] + self.WINDOW_S - now) + 1)

    def failed(self, client: str) -> None:
        now = time.monotonic()
        with self._lock:
            if len(self._failures) >= self.MAX_CLIENTS:
                self._failures = {c: f for c, f in self._failures.items() if f and now - f[-1] < self.WINDOW_S}
            failures = self._recent(client, now)
            failures.append(now)
            if len(failures) == self.LIMIT:
                log.warning(
                    "%d wrong tokens from %.45s within %d s: its requests are refused for a while",
                    self.LIMIT,
                    client,
                    self.WINDOW_S,
                )

    def _recent(self, client: str, now: float) -> deque[float]:
        failures = self._failures.setdefault(client, deque(maxlen=self.LIMIT))
        while failures and now - failures[0] >= self.WINDOW_S:
            failures.popleft()
        return failures
