"""Pacing calls to one Slack method: the bot keeps under Slack's limit instead of running into 429s.

Slack's tiers are per method, per workspace, per app (docs.slack.dev/apis/web-api/rate-limits): Tier 3
is about 50 calls a minute. A fan-out (reminder DMs) spaces its calls by the method's budget, so it
never sleeps out a 429's Retry-After, nor gives up after the SDK's three retries.
"""

import threading
import time


class Pacer:
    """At most ``per_minute`` calls a minute, evenly spaced, across the threads of this process."""

    def __init__(self, per_minute: float):
        self.spacing = 60.0 / per_minute
        self._next = 0.0
        self._lock = threading.Lock()

    def wait(self) -> None:
        with self._lock:
            now = time.monotonic()
            start = max(now, self._next)
            self._next = start + self.spacing
        if start > now:
            time.sleep(start - now)


# Calls a minute for Tier 3 methods (conversations.open, chat.update, chat.delete): Slack's 50, less
# a margin, as each replica paces on its own and a minute's window has edges (the 600-agent bench
# saw one 429 pacing at exactly 50).
TIER_3 = 45

# Direct messages a minute: chat.postMessage is limited per conversation (about one a second each),
# not by tier, and each person's DM is a conversation of its own; this keeps a fan-out of reminders
# to a few a second for the whole app (600 people in 2.5 minutes), well inside a sync's window.
DIRECT_MESSAGES = 240
