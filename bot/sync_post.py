"""Posting what the sync schedule produces: prompts, their updates, reminders, the day's summary."""

import io
import logging
import os
from datetime import datetime

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from sqlalchemy import Engine

from bot import blocks
from bot.coalesce import Coalescer
from bot.history import CLOCK_MARGIN, HISTORY_LIMIT, CannotLook, look_between
from bot.pacing import DIRECT_MESSAGES, Pacer
from models.db.types import utcnow
from models.rules.quiet_hours import HeldDue
from models.rules.sync import posted_prompt, record_posted, reminder
from models.views.sync import DaySummary, SyncPrompt

log = logging.getLogger(__name__)

# The event_type of the message metadata a slot's posts carry; the payload names the slot (and the summary).
PROMPT_EVENT = "orchestrate_sync_prompt"


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
    client: WebClient,
    engine: Engine,
    channel: str,
    slot_id: int,
    *,
    since: datetime,
    until: datetime,
    now: datetime,
    part: str = "prompt",
) -> tuple[str, str] | None:
    """(channel, ts) of a slot's prompt (or summary) if it was posted between ``since`` and ``until``, by the
    message metadata it carries (or, for a prompt posted before prompts carried it, its Answer button's
    value); None when Slack shows it is not there. Raises CannotLook when Slack does not say."""
    page = look_between(client, engine, channel, since, until, now=now, by=f"sync slot {slot_id}")
    for message in page.messages:
        if (message.get("metadata") or {}).get("event_payload") == _marker(slot_id, part)["event_payload"]:
            return page.channel, message["ts"]
        for block in message.get("blocks", []) if part == "prompt" and "metadata" not in message else []:
            if any(
                e.get("action_id") == "sync_answer" and e.get("value") == str(slot_id)
                for e in block.get("elements", [])
            ):
                return page.channel, message["ts"]
    if page.seen_from is not None:
        # The next look goes a page further back (Slack's own time: no margin added to it).
        raise CannotLook(
            f"more than {HISTORY_LIMIT} messages in {channel} since {since.isoformat()}",
            seen_down_to=page.seen_from - CLOCK_MARGIN,
        )
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


def remind(client: WebClient, engine: Engine, slot_id: int) -> int:
    """One direct message to each required agent who has not answered; returns how many.

    Paced (bot/pacing.py), and who is silent is read again just before each one is sent, once its
    turn has come: who answered meanwhile, however shortly before, is not reminded."""
    due = reminder(engine, slot_id)
    where = f"<https://slack.com/archives/{due.channel}/p{(due.ts or '').replace('.', '')}|the prompt>"
    sent = 0
    for key, user in due.silent:
        REMIND_PACE.wait()
        if (key, user) not in set(reminder(engine, slot_id).silent):
            continue  # answered while the others were reminded
        try:
            _remind_one(client, user, key, due, where)
        except SlackApiError as exc:  # one person's DM failing must not cost the others theirs
            log.warning("the reminder to %s (%s) failed: %s", key, user, exc.response.get("error"))
            continue
        sent += 1
    return sent


def remind_held(client: WebClient, held: HeldDue) -> None:
    """A reminder held outside its recipient's working hours (models/rules/quiet_hours.py), sent now."""
    where = f"<https://slack.com/archives/{held.channel}/p{(held.ts or '').replace('.', '')}|the prompt>"
    _remind_one(client, held.user, held.key, held, where)


def _remind_one(client: WebClient, user: str, key: str, due, where: str) -> None:
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
    charts = progress_charts(summary)
    client.files_upload_v2(  # one call however many charts: a big plan's come as a gallery
        channel=response["channel"],
        file_uploads=[
            {
                "content": chart,
                "filename": f"{summary.plan}-{summary.day}" + (f"-{n + 1}" if len(charts) > 1 else "") + ".png",
                "title": f"{summary.plan}: planned vs actual, {summary.day}"
                + (f" ({n + 1} of {len(charts)})" if len(charts) > 1 else ""),
            }
            for n, chart in enumerate(charts)
        ],
        thread_ts=response["ts"],
    )


STREAMS_PER_CHART = 15  # rows of a chart lying down that stay legible in Slack's preview (about 360 px wide)


def progress_charts(summary: DaySummary) -> list[bytes]:
    """The day's chart; for many streams, one chart per 15 of them, each wider than tall (Slack shows a
    preview of at most about 360 px: one tall chart of 60 rows is unreadable there)."""
    if len(summary.streams) <= 12:
        return [progress_chart(summary)]
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot

    total = len(summary.streams)
    charts = []
    for first in range(0, total, STREAMS_PER_CHART):
        part = summary.model_copy(update={"streams": summary.streams[first : first + STREAMS_PER_CHART]})
        shown = f"streams {first + 1}–{first + len(part.streams)} of {total}"
        charts.append(_progress_chart_lying(part, pyplot, shown))
    return charts


def progress_chart(summary: DaySummary) -> bytes:
    """Planned vs actual progress per stream, with where each stream stood this morning."""
    import matplotlib

    matplotlib.use("Agg")  # no display: render to a PNG in memory
    from matplotlib import pyplot

    names = [s.key for s in summary.streams]
    positions = range(len(names))
    if len(names) > 12:
        return _progress_chart_lying(summary, pyplot, f"{len(names)} streams")
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


def _progress_chart_lying(summary: DaySummary, pyplot, shown: str) -> bytes:
    """Streams as rows, bars lying down, in large type: 800×560 px for 15 streams (a 60-stream chart
    drawn standing was a 5,400-pixel strip; one drawn lying, 1,800 px tall, a sliver in the preview)."""
    names = [s.key for s in summary.streams]
    rows = range(len(names))
    figure, axes = pyplot.subplots(figsize=(8, max(3.2, 0.3 * len(names) + 1.1)), dpi=100)
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
            s=160,
            color="black",
            label="this morning",
            zorder=3,
        )
        axes.set_yticks(list(rows), names, fontsize=14)
        axes.tick_params(axis="x", labelsize=11)
        axes.set_ylim(len(names) - 0.5, -0.5)  # the first stream on top, no empty band
        axes.set_xlim(0, 100)
        axes.set_xlabel("% of estimate done", fontsize=11)
        axes.set_title(f"{summary.plan} — {summary.day} · {shown}", fontsize=14)
        axes.legend(loc="upper center", bbox_to_anchor=(0.5, -0.13), ncol=3, fontsize=12, frameon=False)
        return _png(figure)
    finally:
        pyplot.close(figure)


def _png(figure) -> bytes:
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()
