"""The one look at a channel's recent messages, for posts whose outcome is unknown (alerts, sync prompts).

``conversations.history`` is rationed for an app outside the Slack Marketplace: one call a minute,
at most 15 messages a page. A look that Slack does not answer (a 429, a 5xx, no answer at all) is
never an answer that a post is not there: it raises CannotLook, and the caller looks again later.
"""

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

HISTORY_LIMIT = 15  # the most conversations.history gives an app outside the Slack Marketplace
LOOK_AGAIN_S = 60.0  # and one call a minute
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


def look_between(client: WebClient, channel: str, since: datetime, until: datetime) -> Page:
    """The channel's messages posted between ``since`` and ``until`` (with the clocks' margin either side),
    their metadata included. Raises CannotLook when Slack does not answer."""
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
        raise CannotLook(f"Slack answered {status} to the look", after) from None
    except Exception as exc:  # noqa: BLE001 - no answer at all (a lost connection, a timeout): look later
        raise CannotLook(f"no answer to the look: {type(exc).__name__}") from None
    return Page(response.get("channel") or channel, list(response.get("messages", [])), bool(response.get("has_more")))
