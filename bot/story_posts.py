"""The weekly digest and the retrospective, posted by the process that claimed them: the text with
``chat.postMessage`` (carrying message metadata, so a post whose answer was lost is looked for, not sent
again blind), then the burn-up chart as a file in its thread (an upload can carry no metadata, nor buttons).

A refusal is tried again by the claimer: a 429 after its Retry-After, a 5xx with backoff (1, 2, 4 … 60 s),
for at most an hour; a lost answer is looked for (bot/history.py, the turn shared with prompts and
alerts) before anything is sent again. The retrospective is drawn again in place as the leads give their
verdicts on the criteria no metric judges.
"""

import logging
import threading
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from sqlalchemy import Engine

from bot.delivery import CONNECTION_LOST
from bot.history import CLOCK_MARGIN, CannotLook, look_between
from bot.report_post import burnup_chart
from bot.story_blocks import digest_message, retrospective_message
from models.rules.digest import Digest, record_story_posted, redraw_again, retrospectives_to_redraw
from models.views.report import Report
from models.views.retrospective import Retrospective

log = logging.getLogger(__name__)

STORY_EVENT = "orchestrate_story"  # the event_type of the metadata; the payload names the plan and the claim
TRY_FOR = timedelta(hours=1)  # how long a refused post is tried again
MAX_BACKOFF_S = 60.0
LOOK_AFTER_S = 15.0  # how long after a post whose answer was lost it is looked for


@dataclass(frozen=True)
class Story:
    """A digest or a retrospective, ready to post."""

    plan: str
    action: str  # its claim: "weekly-digest 2026-W02", "retrospective"
    what: str  # for the log: "weekly digest"
    channel: str
    text: str
    blocks: list[dict]
    report: Report  # its chart's figures
    chart_name: str
    chart_title: str

    @property
    def marker(self) -> dict:
        return {"event_type": STORY_EVENT, "event_payload": {"plan": self.plan, "action": self.action}}


def digest_story(digest: Digest) -> Story:
    report = digest.report
    text, blocks = digest_message(report)
    name = f"{report.plan}-report-{report.start}-{report.end}-burnup.png"
    title = f"{report.plan}: burn-up, week to {report.end}"
    return Story(report.plan, digest.action, "weekly digest", digest.channel, text, blocks, report, name, title)


def retrospective_story(retro: Retrospective) -> Story:
    body = retro.report
    text, blocks = retrospective_message(retro)
    name = f"{retro.plan}-retrospective-burnup.png"
    title = f"{retro.plan}: burn-up of the whole plan, {body.start} to {body.end}"
    return Story(retro.plan, "retrospective", "retrospective", retro.channel, text, blocks, body, name, title)


@dataclass(frozen=True)
class Pending:
    """A story whose post (or chart) failed, to try again at ``at``, until ``ends_at``."""

    story: Story
    at: datetime
    attempt: int
    ends_at: datetime
    landed: tuple[str, str] | None = None  # (channel, ts) of its message: only the chart is left to send
    doubt_since: datetime | None = None  # a post whose answer was lost was sent then: looked for first
    doubt_until: datetime | None = None


class StoryPoster:
    """The stories this process claimed and has yet to post (kept in memory, as the sync posts are)."""

    def __init__(self) -> None:
        self.pending: dict[tuple[str, str], Pending] = {}
        self.lock = threading.Lock()

    def post(self, client: WebClient, engine: Engine, story: Story, now: datetime) -> None:
        self._try(client, engine, Pending(story, now, 0, now + TRY_FOR), now)

    def retry_due(self, client: WebClient, engine: Engine, now: datetime) -> None:
        with self.lock:
            due = [p for p in self.pending.values() if p.at <= now]
            for post in due:
                del self.pending[(post.story.plan, post.story.action)]
        for post in due:
            try:
                self._try(client, engine, post, now)
            except Exception:
                log.exception("trying the %s of %s again failed", post.story.what, post.story.plan)

    def _try(self, client: WebClient, engine: Engine, post: Pending, now: datetime) -> None:
        story, landed = post.story, post.landed
        if landed is None and post.doubt_since is not None:
            try:
                landed = _find(client, engine, story, post.doubt_since, post.doubt_until or now, now)
            except CannotLook as exc:  # not an answer: looked for again later, never sent blind
                self._later(post, now, exc.after, f"{exc}", doubt_until=exc.seen_down_to or post.doubt_until)
                return
            if landed is not None:
                record_story_posted(engine, story.plan, story.action, channel=landed[0], ts=landed[1], now=now)
        if landed is None:
            try:
                response = client.chat_postMessage(
                    channel=story.channel, text=story.text, blocks=story.blocks, metadata=story.marker
                )
            except Exception as exc:  # noqa: BLE001 - a refusal is tried again, a lost answer looked for
                self._failed(post, exc, now, doubt_since=now)
                return
            landed = (response["channel"], response["ts"])
            record_story_posted(engine, story.plan, story.action, channel=landed[0], ts=landed[1], now=now)
        try:
            client.files_upload_v2(
                channel=landed[0],
                thread_ts=landed[1],
                content=burnup_chart(story.report),
                filename=story.chart_name,
                title=story.chart_title,
                initial_comment=story.chart_title,  # what a notification or a screen reader has of it
            )
        except Exception as exc:  # noqa: BLE001 - the chart alone is tried again on a refusal
            self._failed(replace(post, landed=landed), exc, now, doubt_since=None)

    def _failed(self, post: Pending, exc: Exception, now: datetime, *, doubt_since: datetime | None) -> None:
        part = "chart" if post.landed else "message"
        if isinstance(exc, CONNECTION_LOST):
            if post.landed is not None:  # an upload cannot be looked for: never sent twice, maybe not at all
                log.error(
                    "the %s of %s: its chart's upload got no answer; not sent again", post.story.what, post.story.plan
                )
                return
            self._later(post, now, LOOK_AFTER_S, f"no answer ({exc})", doubt_since=doubt_since, doubt_until=now)
            return
        status = exc.response.status_code if isinstance(exc, SlackApiError) else None
        if isinstance(exc, SlackApiError) and status == 429:
            after = float(exc.response.headers.get("Retry-After", 1))
        elif status is not None and status >= 500:
            after = min(2.0**post.attempt, MAX_BACKOFF_S)
        else:  # Slack said no for good (a channel gone, the bot not in it), or the chart failed to draw
            error = exc.response.get("error") if isinstance(exc, SlackApiError) else exc
            log.error(
                "the %s of %s: its %s was refused (%s); not tried again", post.story.what, post.story.plan, part, error
            )
            return
        self._later(replace(post, attempt=post.attempt + 1), now, after, f"Slack answered {status}")

    def _later(
        self,
        post: Pending,
        now: datetime,
        after: float,
        why: str,
        *,
        doubt_since: datetime | None = None,
        doubt_until: datetime | None = None,
    ) -> None:
        story = post.story
        at = now + timedelta(seconds=after)
        if at >= post.ends_at:
            log.error("the %s of %s could not be posted within %s (%s); given up", story.what, story.plan, TRY_FOR, why)
            return
        log.warning("the %s of %s: %s; trying again in %g s", story.what, story.plan, why, after)
        doubt = replace(
            post, at=at, doubt_since=doubt_since or post.doubt_since, doubt_until=doubt_until or post.doubt_until
        )
        with self.lock:
            self.pending[(story.plan, story.action)] = doubt


def _find(
    client: WebClient, engine: Engine, story: Story, since: datetime, until: datetime, now: datetime
) -> tuple[str, str] | None:
    """(channel, ts) of the story's message if Slack has it; None when Slack shows it is not there.
    Raises CannotLook when Slack does not say (a refused look, another replica's turn, a page too few)."""
    page = look_between(client, engine, story.channel, since, until, now=now, by=f"{story.action} of {story.plan}")
    for message in page.messages:
        if (message.get("metadata") or {}).get("event_payload") == story.marker["event_payload"]:
            return page.channel, message["ts"]
    if page.seen_from is not None:
        raise CannotLook(f"more messages in {story.channel} than a page", seen_down_to=page.seen_from - CLOCK_MARGIN)
    return None


def redraw_retrospectives(client: WebClient, engine: Engine, now: datetime, plan_key: str | None = None) -> None:
    """Draw again, in place, the retrospectives the leads gave a verdict on since they were drawn."""
    for drawn in retrospectives_to_redraw(engine, now=now, plan_key=plan_key):
        text, blocks = retrospective_message(drawn.story)
        try:
            client.chat_update(channel=drawn.channel, ts=drawn.ts, text=text, blocks=blocks)
        except Exception as exc:  # noqa: BLE001 - the next round (the tick's) draws it again
            log.warning("the retrospective of %s could not be drawn again: %s", drawn.story.plan, exc)
            redraw_again(engine, drawn.story.plan)
