"""Posting what the sync schedule produces: prompts, their updates, reminders, the day's summary."""

import io
import logging
import os
import time
from datetime import UTC, datetime, timedelta

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from sqlalchemy import Engine

from bot import blocks
from bot.coalesce import Coalescer
from bot.pacing import DIRECT_MESSAGES, Pacer
from models.db.types import utcnow
from models.rules.sync import posted_prompt, record_posted, reminder
from models.views.sync import DaySummary, SyncPrompt

log = logging.getLogger(__name__)

# The event_type of the message metadata a slot's posts carry; the payload names the slot (and the summary).
PROMPT_EVENT = "orchestrate_sync_prompt"
CLOCK_MARGIN = timedelta(seconds=3)  # this replica's clock and Slack's may disagree a little
HISTORY_LIMIT = 15  # the most conversations.history gives an app outside the Slack Marketplace


class CannotLook(Exception):
    """Slack did not say what is in the channel (a 429, a 5xx, no answer, more than a page since):
    the look is to be made again later; it is never an answer that the post is not there."""

    def __init__(self, message: str, after: float = 60.0, seen_down_to: datetime | None = None):
        super().__init__(message)
        self.after = after
        self.seen_down_to = seen_down_to  # a page was seen, back to then: what is left to look at is older


def post_prompt(client: WebClient, engine: Engine, prompt: SyncPrompt, channel: str, *, now: datetime) -> str:
    """Post a prompt and record where, so answers can redraw it; returns its ts."""
    response = client.chat_postMessage(
        channel=channel,
        text=f"Sync: {prompt.sync_type} ({prompt.plan})",
        blocks=blocks.render_body_dicts(prompt),
        metadata=_marker(prompt.slot_id, "prompt") if prompt.slot_id is not None else None,
    )
    if prompt.slot_id is not None:
        record_posted(engine, prompt.slot_id, channel=response["channel"], ts=response["ts"], now=now)
    return response["ts"]


def _marker(slot_id: int, part: str) -> dict:
    return {"event_type": PROMPT_EVENT, "event_payload": {"slot_id": slot_id, "part": part}}


def find_posted(
    client: WebClient, channel: str, slot_id: int, *, since: datetime, until: datetime, part: str = "prompt"
) -> tuple[str, str] | None:
    """(channel, ts) of a slot's prompt (or summary) if it was posted between ``since`` and ``until``, by the
    message metadata it carries (or, for a prompt posted before prompts carried it, its Answer button's
    value); None when Slack shows it is not there. Raises CannotLook when Slack does not say."""
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
        after = float(exc.response.headers.get("Retry-After", 60)) if exc.response.status_code == 429 else 60.0
        raise CannotLook(f"Slack answered {exc.response.status_code} to the look", after) from None
    except Exception as exc:  # noqa: BLE001 - no answer at all: the same, look later
        raise CannotLook(f"no answer to the look: {type(exc).__name__}") from None
    messages: list[dict] = response.get("messages", [])
    for message in messages:
        if (message.get("metadata") or {}).get("event_payload") == _marker(slot_id, part)["event_payload"]:
            return response.get("channel") or channel, message["ts"]
        for block in message.get("blocks", []) if part == "prompt" and "metadata" not in message else []:
            if any(
                e.get("action_id") == "sync_answer" and e.get("value") == str(slot_id)
                for e in block.get("elements", [])
            ):
                return response.get("channel") or channel, message["ts"]
    if response.get("has_more"):
        # Slack's own time (the next look adds no margin to it): the next look goes a page further back.
        oldest_seen = (
            datetime.fromtimestamp(min(float(m["ts"]) for m in messages), UTC) - CLOCK_MARGIN if messages else None
        )
        raise CannotLook(f"more than {HISTORY_LIMIT} messages in {channel} since {since.isoformat()}", 60, oldest_seen)
    return None


# One redraw of a prompt every few seconds at most, however fast the answers come (bot/coalesce.py).
PROMPT_REDRAWS = Coalescer(interval=float(os.environ.get("ORCHESTRATE_REDRAW_SECONDS", "3")))


def refresh_prompt_soon(client: WebClient, engine: Engine, slot_id: int) -> None:
    """Have the prompt redrawn: coalesced with the other answers of the moment, the latest state drawn."""
    PROMPT_REDRAWS.ask((id(engine), slot_id), lambda: refresh_prompt(client, engine, slot_id, now=utcnow()))


def refresh_prompt(client: WebClient, engine: Engine, slot_id: int, *, now: datetime) -> None:
    """Show who has answered, and what, under the prompt."""
    posted = posted_prompt(engine, slot_id, now=now)
    if posted is None:
        return
    client.chat_update(
        channel=posted.channel,
        ts=posted.ts,
        text=f"Sync: {posted.prompt.sync_type} ({posted.prompt.plan})",
        blocks=blocks.render_body_dicts(posted.prompt),
    )


REMIND_PACE = Pacer(DIRECT_MESSAGES)  # reminders are direct messages (bot/pacing.py)
REREAD_SILENT_S = 2.0  # how stale the list of the silent may get while reminders go out


def remind(client: WebClient, engine: Engine, slot_id: int) -> int:
    """One direct message to each required agent who has not answered; returns how many.

    Paced by Slack (the SDK waits out each 429's Retry-After), so the list of the silent is read
    again as it goes: who answered meanwhile is not reminded."""
    due = reminder(engine, slot_id)
    where = f"<https://slack.com/archives/{due.channel}/p{(due.ts or '').replace('.', '')}|the prompt>"
    read_at, still_silent, sent = time.monotonic(), set(due.silent), 0
    for key, user in due.silent:
        if time.monotonic() - read_at > REREAD_SILENT_S:
            read_at, still_silent = time.monotonic(), set(reminder(engine, slot_id).silent)
        if (key, user) not in still_silent:
            continue
        try:
            _remind_one(client, user, key, due, where)
        except SlackApiError as exc:  # one person's DM failing must not cost the others theirs
            log.warning("the reminder to %s (%s) failed: %s", key, user, exc.response.get("error"))
            continue
        sent += 1
    return sent


def _remind_one(client: WebClient, user: str, key: str, due, where: str) -> None:
    REMIND_PACE.wait()
    client.chat_postMessage(
        channel=user,  # Slack posts it in the app's DM with them: no conversations.open (Tier 3) first
        text=(
            f"Reminder: the {due.sync_type} sync of {due.plan} is waiting for your answer ({key}): "
            f"press Answer on {where}, or reply in its thread."
        ),
    )


def post_summary(client: WebClient, summary: DaySummary, channel: str, slot_id: int | None = None) -> None:
    """The day's summary, then its progress chart as an image."""
    response = client.chat_postMessage(
        channel=channel,
        text=f"End of day {summary.day} ({summary.plan})",
        blocks=blocks.render_body_dicts(summary),
        metadata=_marker(slot_id, "summary") if slot_id is not None else None,
    )
    client.files_upload_v2(
        channel=response["channel"],
        content=progress_chart(summary),
        filename=f"{summary.plan}-{summary.day}.png",
        title=f"{summary.plan}: planned vs actual, {summary.day}",
        thread_ts=response["ts"],
    )


def progress_chart(summary: DaySummary) -> bytes:
    """Planned vs actual progress per stream, with where each stream stood this morning."""
    import matplotlib

    matplotlib.use("Agg")  # no display: render to a PNG in memory
    from matplotlib import pyplot

    names = [s.key for s in summary.streams]
    positions = range(len(names))
    if len(names) > 12:
        return _progress_chart_lying(summary, pyplot)
    figure, axes = pyplot.subplots(figsize=(max(6, len(names) * 0.9), 4), dpi=100)
    try:
        axes.bar(
            [p - 0.2 for p in positions],
            [s.planned * 100 for s in summary.streams],
            width=0.4,
            label="planned",
            color="#b0bec5",
        )
        axes.bar(
            [p + 0.2 for p in positions],
            [s.now * 100 for s in summary.streams],
            width=0.4,
            label="actual",
            color="#2e7d32",
        )
        axes.scatter(
            [p + 0.2 for p in positions],
            [s.start * 100 for s in summary.streams],
            marker="_",
            s=400,
            color="black",
            label="this morning",
            zorder=3,
        )
        crowded = len(names) > 4
        axes.set_xticks(list(positions), names, rotation=30 if crowded else 0, ha="right" if crowded else "center")
        axes.set_ylim(0, 100)
        axes.set_ylabel("% of estimate done")
        axes.set_title(f"{summary.plan} — {summary.day}")
        axes.legend(loc="upper left")
        return _png(figure)
    finally:
        pyplot.close(figure)


def _progress_chart_lying(summary: DaySummary, pyplot) -> bytes:
    """Many streams: one row each, bars lying down, 800 px wide however many (a 60-stream chart drawn
    standing was a 5,400-pixel strip, unreadable at Slack's preview width)."""
    names = [s.key for s in summary.streams]
    rows = range(len(names))
    figure, axes = pyplot.subplots(figsize=(8, max(4, 0.28 * len(names) + 1.2)), dpi=100)
    try:
        axes.barh(
            [r - 0.2 for r in rows],
            [s.planned * 100 for s in summary.streams],
            height=0.4,
            label="planned",
            color="#b0bec5",
        )
        axes.barh(
            [r + 0.2 for r in rows], [s.now * 100 for s in summary.streams], height=0.4, label="actual", color="#2e7d32"
        )
        axes.scatter(
            [s.start * 100 for s in summary.streams],
            [r + 0.2 for r in rows],
            marker="|",
            s=120,
            color="black",
            label="this morning",
            zorder=3,
        )
        axes.set_yticks(list(rows), names, fontsize=9)
        axes.invert_yaxis()
        axes.set_xlim(0, 100)
        axes.set_xlabel("% of estimate done")
        axes.set_title(f"{summary.plan} — {summary.day}")
        axes.legend(loc="lower right")
        return _png(figure)
    finally:
        pyplot.close(figure)


def _png(figure) -> bytes:
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()
