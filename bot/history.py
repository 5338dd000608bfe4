"""The one look at a channel's recent messages, for posts whose outcome is unknown (alerts, sync prompts).

``conversations.history`` is rationed for an app outside the Slack Marketplace: one call a minute,
at most 15 messages a page. A look that Slack does not answer (a 429, a 5xx, no answer at all) is
never an answer that a post is not there: it raises CannotLook, and the caller looks again later.

Slack counts the minute for the whole app, so the replicas take turns (models/state/turns.py): a
replica whose turn it is not does not call at all, and waits for the turn to open.
"""

import os
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from sqlalchemy import Engine

from models.state.turns import reopen_turn, take_turn

HISTORY_LIMIT = 15  # the most conversations.history gives an app outside the Slack Marketplace
# And one call a minute (a test on a scaled clock may say less, as Slack's stand-in does).
LOOK_AGAIN_S = float(os.environ.get("ORCHESTRATE_HISTORY_LOOK_SECONDS", "60"))
# A turn lasts a second longer than Slack's minute: two replicas' calls may take unequal times to reach it.
LOOK_TURN = timedelta(seconds=LOOK_AGAIN_S + 1)
HISTORY_TURN = "conversations.history"
CLOCK_MARGIN = timedelta(seconds=3)  # this replica's clock and Slack's may disagree a little


class CannotLook(Exception):
    """Slack did not say what is in the channel: the look is to be made again later, never read as "not there"."""

    def __init__(self, message: str, after: float = LOOK_AGAIN_S, seen_down_to: datetime | None = None):
        super().__init__(message)
        self.after = after
        self.seen_down_to = seen_down_to  # a page was seen, back to then: what is left to look at is older


@dataclass(frozen=True)
class Page:
    """The newest messages of a span, newest first, at most HISTORY_LIMIT of them."""

    channel: str
    messages: list[dict]
    has_more: bool

    @property
    def seen_from(self) -> datetime | None:
        """With more in the span than a page, the oldest message this page saw (Slack's own time); None
        when the page holds the whole span."""
        if not self.has_more:
            return None
        return datetime.fromtimestamp(min((float(m["ts"]) for m in self.messages), default=0.0), UTC)


def look_between(
    client: WebClient, engine: Engine, channel: str, since: datetime, until: datetime, *, now: datetime, by: str
) -> Page:
    """The channel's messages posted between ``since`` and ``until`` (with the clocks' margin either side),
    their metadata included, looked at for ``by`` (who waits for the turn: alert deliveries, a sync slot).
    Raises CannotLook when the turn is not ``by``'s, or Slack does not answer."""
    opens = take_turn(engine, HISTORY_TURN, now, LOOK_TURN, by)
    if opens is not None:
        raise CannotLook("another look has this minute", max((opens - now).total_seconds(), 1.0))
    try:
        response = client.conversations_history(
            channel=channel,
            oldest=f"{(since - CLOCK_MARGIN).timestamp():.6f}",
            latest=f"{(until + CLOCK_MARGIN).timestamp():.6f}",
            inclusive=True,
            limit=HISTORY_LIMIT,
            include_all_metadata=True,
        )
    except SlackApiError as exc:
        status = exc.response.status_code
        after = float(exc.response.headers.get("Retry-After", LOOK_AGAIN_S)) if status == 429 else LOOK_AGAIN_S
        refused = CannotLook(f"Slack answered {status} to the look", after)
    except Exception as exc:  # noqa: BLE001 - no answer at all (a lost connection, a timeout): look later
        refused = CannotLook(f"no answer to the look: {type(exc).__name__}")
    else:
        return Page(
            response.get("channel") or channel, list(response.get("messages", [])), bool(response.get("has_more"))
        )
    # Slack's word on when to call again (a 429 spent by a call made elsewhere) is the one that counts.
    reopen_turn(engine, HISTORY_TURN, now + timedelta(seconds=refused.after))
    raise refused
