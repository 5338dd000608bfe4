"""Posting what the sync schedule produces: prompts, their updates, reminders, the day's summary."""

import io
import logging
import os
import time
from datetime import datetime

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from sqlalchemy import Engine

from bot import blocks
from bot.coalesce import Coalescer
from bot.pacing import TIER_3, Pacer
from models.db.types import utcnow
from models.rules.sync import posted_prompt, record_posted, reminder
from models.views.sync import DaySummary, SyncPrompt

log = logging.getLogger(__name__)


def post_prompt(client: WebClient, engine: Engine, prompt: SyncPrompt, channel: str, *, now: datetime) -> str:
    """Post a prompt and record where, so answers can redraw it; returns its ts."""
    response = client.chat_postMessage(
        channel=channel, text=f"Sync: {prompt.sync_type} ({prompt.plan})", blocks=blocks.render_body_dicts(prompt)
    )
    if prompt.slot_id is not None:
        record_posted(engine, prompt.slot_id, channel=response["channel"], ts=response["ts"], now=now)
    return response["ts"]


def find_posted_prompt(client: WebClient, channel: str, slot_id: int) -> tuple[str, str] | None:
    """(channel, ts) of a slot's prompt already in the channel: its Answer button carries the slot id."""
    try:
        response = client.conversations_history(channel=channel, limit=100)
    except Exception:  # noqa: BLE001 - cannot look: better a second prompt than none
        return None
    messages: list[dict] = response.get("messages", [])
    for message in messages:
        for block in message.get("blocks", []):
            if any(
                e.get("action_id") == "sync_answer" and e.get("value") == str(slot_id)
                for e in block.get("elements", [])
            ):
                return response.get("channel") or channel, message["ts"]
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


OPEN_PACE = Pacer(TIER_3)  # conversations.open is Tier 3
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
    OPEN_PACE.wait()
    channel = client.conversations_open(users=user)["channel"]["id"]
    client.chat_postMessage(
        channel=channel,
        text=(
            f"Reminder: the {due.sync_type} sync of {due.plan} is waiting for your answer ({key}): "
            f"press Answer on {where}, or reply in its thread."
        ),
    )


def post_summary(client: WebClient, summary: DaySummary, channel: str) -> None:
    """The day's summary, then its progress chart as an image."""
    response = client.chat_postMessage(
        channel=channel, text=f"End of day {summary.day} ({summary.plan})", blocks=blocks.render_body_dicts(summary)
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
        figure.tight_layout()
        buffer = io.BytesIO()
        figure.savefig(buffer, format="png")
        return buffer.getvalue()
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
        figure.tight_layout()
        buffer = io.BytesIO()
        figure.savefig(buffer, format="png")
        return buffer.getvalue()
    finally:
        pyplot.close(figure)
