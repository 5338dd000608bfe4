"""Updates of one Slack message, coalesced: at most one every few seconds, and the latest always lands.

Every sync answer asks for its prompt to be redrawn; Slack allows chat.update about 50 times a
minute per workspace (Tier 3). So a redraw is asked for (``ask``), not made: the first one of a
quiet message goes at once, later ones wait until ``interval`` has passed since the last, and
however many were asked meanwhile, one redraw is made, reading the state as it is then. A failed
redraw is tried again (a rate-limited Slack says when) rather than dropped. The work runs on a
thread of its own, so no listener waits on it, and the modals that must open within Slack's 3 s
never queue behind it.
"""

import logging
import threading
import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass

log = logging.getLogger(__name__)


@dataclass
class _Pending:
    work: Callable[[], None]
    last: float = float("-inf")  # when the last draw started (monotonic)
    dirty: bool = False
    scheduled: bool = False
    failures: int = 0


class Coalescer:
    def __init__(self, interval: float = 3.0, attempts: int = 5):
        self.interval, self.attempts = interval, attempts
        self._lock = threading.Lock()
        self._pending: dict[Hashable, _Pending] = {}

    def ask(self, key: Hashable, work: Callable[[], None]) -> None:
        """Have ``work`` (the latest asked for ``key``) run soon, once for every call since the last run."""
        with self._lock:
            pending = self._pending.setdefault(key, _Pending(work))
            pending.work, pending.dirty = work, True
            self._schedule(key, pending)

    def _schedule(self, key: Hashable, pending: _Pending, at_least: float = 0.0) -> None:
        if pending.scheduled:
            return
        pending.scheduled = True
        delay = max(at_least, pending.last + self.interval - time.monotonic(), 0.0)
        timer = threading.Timer(delay, self._run, (key,))
        timer.daemon = True
        timer.name = f"coalesced-{key}"
        timer.start()

    def _run(self, key: Hashable) -> None:
        with self._lock:
            pending = self._pending[key]
            pending.dirty, pending.last, work = False, time.monotonic(), pending.work
        try:
            work()
            failed = False
        except Exception:
            log.exception("a coalesced update of %s failed; it is tried again", key)
            failed = True
        with self._lock:
            pending.scheduled = False
            pending.failures = pending.failures + 1 if failed else 0
            if failed and pending.failures < self.attempts:
                pending.dirty = True
            if pending.dirty:
                self._schedule(key, pending, at_least=self.interval * pending.failures)
