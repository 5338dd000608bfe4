"""Alert delivery: every (alert, destination) row of the outbox sent at least once, retried until it goes.

The outbox and its claims are ``models/state/outbox.py``; this module sends: Slack
messages, emails over SMTP, SMS through the gateway. Failures (Slack 429 with its
Retry-After, 5xx, timeouts, SMTP or webhook errors) are retried with exponential backoff.

The worker never waits in-line: a 429 puts its row back for the Retry-After and the worker
goes on with the next row; a destination that refused (a 429, SMTP down) is not tried again
in the same round, so it holds no one else. Each Slack post carries message metadata with
its delivery's id; a post whose answer was lost (or whose worker died) is looked for once
per channel and round, among the messages since its attempt, before it is posted again
(``resolve_doubts``). A look Slack refuses (conversations.history allows one a minute) means
"look again later", never "not there".
"""

import http.client
import json
import logging
import smtplib
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.message import EmailMessage
from functools import cached_property
from urllib.parse import unquote, urlparse

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_handlers import RateLimitErrorRetryHandler
from sqlalchemy import Engine

from bot.blocks import alert_blocks, escape
from bot.history import CLOCK_MARGIN, HISTORY_TURN, LOOK_TURN, CannotLook, look_between
from bot.metrics import ALERTS_DELIVERED
from models.db.tables import Alert
from models.state import outbox
from models.state.alerts import CHANNEL_HERE, LEADS, PLAN_CHANNEL, slack_channel
from models.state.outbox import Doubt, Job
from models.state.turns import opens_at

log = logging.getLogger(__name__)
BATCH = 50


class Unconfigured(Exception):
    """The destination cannot be reached from this configuration; the text says what is missing."""


class RetryLater(Exception):
    def __init__(self, message: str, after: float | None = None):
        super().__init__(message)
        self.after = after


@dataclass(frozen=True)
class Outlets:
    """Where alerts can go from this process."""

    client: WebClient
    smtp_url: str | None = None
    sms_url: str | None = None

    @cached_property
    def slack(self) -> WebClient:
        """The client the delivery path posts with: the same, minus the SDK's in-line sleep through a
        429's Retry-After (the row is put back for that long instead, and the worker goes on)."""
        return never_waiting(self.client)


def never_waiting(client: WebClient) -> WebClient:
    """The client, minus the SDK's in-line sleep through a 429's Retry-After: the caller gets the 429."""
    handlers = [h for h in client.retry_handlers if not isinstance(h, RateLimitErrorRetryHandler)]
    if len(handlers) == len(client.retry_handlers):
        return client
    return WebClient(token=client.token, base_url=client.base_url, timeout=client.timeout, retry_handlers=handlers)


# A request whose answer never came: it may have been done. The retry looks before sending again.
CONNECTION_LOST = (urllib.error.URLError, ConnectionError, TimeoutError, http.client.HTTPException)
# The event_type of the message metadata every alert post carries; its payload names the delivery.
DELIVERY_EVENT = "orchestrate_alert_delivery"
LOOK_AFTER = timedelta(seconds=15)  # how long after an attempt in doubt it is looked for
LOOKS_FOR = "alert deliveries"  # who waits for a turn at the history look (bot/history.py)


def deliver_due(engine: Engine, outlets: Outlets, clock: Callable[[], datetime]) -> int:
    """Send what is due, one row at a time, at most BATCH rows; returns how many were sent.

    The rows in doubt are looked for first, one look per Slack channel. The clock is read for
    each row, so a lease is always counted from its own claim.
    """
    sent = resolve_doubts(engine, outlets, clock())
    refused: dict[str, datetime] = {}  # outlet -> when it may be tried again, for the rest of this round
    for _ in range(BATCH):
        job = outbox.claim_next(engine, clock())
        if job is None:
            break
        sent += _deliver_one(engine, outlets, job, clock, refused)
    return sent


def _deliver_one(
    engine: Engine, outlets: Outlets, job: Job, clock: Callable[[], datetime], refused: dict[str, datetime]
) -> int:
    now, outlet = clock(), _outlet(job)
    if outlet in refused and refused[outlet] > now:
        outbox.postpone(engine, job.delivery_id, refused[outlet], untried=f"waiting: {outlet} refused a moment ago")
        return 0
    try:
        update_ref = job.external_ref if job.status == "update" else None
        new_ref = send(outlets, job, job.destination, update_ref=update_ref)
    except Unconfigured as exc:
        return outbox.finish(engine, job.delivery_id, "unconfigured", error=str(exc))
    except RetryLater as exc:
        outbox.retry(engine, job.delivery_id, job.attempts, now, str(exc), exc.after)
        refused[outlet] = now + timedelta(seconds=exc.after if exc.after is not None else 5)
        return 0
    except Exception as exc:  # noqa: BLE001 - any other failure: retried, and logged for the operator
        log.warning("alert delivery %s to %s failed: %s", job.delivery_id, job.destination, exc)
        refused[outlet] = now + timedelta(seconds=5)
        error, after, doubt = f"{type(exc).__name__}: {exc}", None, None
        if isinstance(exc, CONNECTION_LOST):
            # It may have been done (by the time the connection failed): it is looked for before it is
            # sent again, a little later (the look is rationed, and others may join it).
            error, after, doubt = f"in doubt: {error}", LOOK_AFTER.total_seconds(), (now, clock())
        return outbox.retry(engine, job.delivery_id, job.attempts, now, error, after, doubt=doubt)
    ALERTS_DELIVERED.labels(job.destination).inc()
    return outbox.finish(engine, job.delivery_id, "sent", ref=new_ref or job.external_ref, now=now)


def _outlet(job: Job) -> str:
    """What a row is sent through: a failure there holds the rows sent the same way, no others."""
    if job.destination == LEADS:
        return "slack direct messages"
    channel = slack_channel(job.settings, job.plan_channel, job.destination)
    if channel:
        return f"Slack channel {channel}"
    target = job.settings.destinations.get(job.destination)
    return "SMTP" if target is not None and target.email else "the SMS gateway"


# --- posts whose outcome is unknown ------------------------------------------------------


def resolve_doubts(engine: Engine, outlets: Outlets, now: datetime) -> int:
    """Settle the rows in doubt: a Slack channel's are looked for together, in one conversations.history
    call; email, SMS and direct messages cannot be looked up, and are sent again (at least once).

    Slack allows the app one such call a minute, whichever replica makes it: nothing is claimed while
    another replica's turn lasts, and a turn is one channel's, the one whose rows have waited longest;
    the other channels' rows keep their place for the next turn."""
    opens = opens_at(engine, HISTORY_TURN, LOOKS_FOR)
    if opens is not None and opens > now:
        return 0
    by_channel: dict[str, list[Doubt]] = {}
    for doubt in outbox.claim_in_doubt(engine, now):  # the longest waiting first
        job = doubt.job
        channel = slack_channel(job.settings, job.plan_channel, job.destination) if job.destination != LEADS else None
        if channel:
            by_channel.setdefault(channel, []).append(doubt)
        else:
            outbox.clear_doubt(engine, job.delivery_id, "sent again: it cannot be looked up (at least once)", now)
    if not by_channel:
        return 0
    channel, *waiting = by_channel
    for other in waiting:
        for doubt in by_channel[other]:
            outbox.postpone(engine, doubt.job.delivery_id, doubt.due)
    return _look_once(engine, outlets.slack, channel, by_channel[channel], now)


def _look_once(engine: Engine, client: WebClient, channel: str, doubts: list[Doubt], now: datetime) -> int:
    """One look at the channel's messages since the earliest attempt in doubt, for all of them."""
    try:
        since, until = min(d.since for d in doubts), max(d.until for d in doubts)
        page = look_between(client, engine, channel, since, until, now=now, by=LOOKS_FOR)
    except CannotLook as exc:  # not an answer that it is not there: looked for when the next turn opens
        for doubt in doubts:
            outbox.postpone(engine, doubt.job.delivery_id, now + timedelta(seconds=exc.after))
        return 0
    # With more than a page in the span, only the newest page's part of it was seen: the rest is
    # looked at next time (the span narrowed to what is left), a page further back each turn.
    seen_from = page.seen_from
    sent = 0
    for doubt in doubts:
        found = _posted(page.messages, doubt.job)
        if found is not None:
            sent += outbox.finish(engine, doubt.job.delivery_id, "sent", ref=f"{channel}|{found}", now=now)
        elif seen_from is None or doubt.since - CLOCK_MARGIN >= seen_from:
            note = f"not in {channel} since {doubt.since.isoformat()}: sent again"
            outbox.clear_doubt(engine, doubt.job.delivery_id, note, now)
        else:
            left = seen_from - CLOCK_MARGIN  # Slack's own time: no margin
            outbox.narrow_doubt(engine, doubt.job.delivery_id, min(doubt.until, left), now + LOOK_TURN)
    return sent


def _posted(messages: list[dict], job: Job) -> str | None:
    """The ts of this delivery's message among these: by its metadata (or, for a post made before
    posts carried it, by the alert's number in its blocks)."""
    marker = f"alert #{job.alert.id} ·"
    for message in messages:
        payload = (message.get("metadata") or {}).get("event_payload") or {}
        if payload.get("delivery_id") == job.delivery_id:
            return str(message["ts"])
    for message in messages:
        if "metadata" not in message and marker in json.dumps(message.get("blocks", []), ensure_ascii=False):
            return str(message["ts"])
    return None


# --- the destinations -------------------------------------------------------------


def send(outlets: Outlets, job: Job, destination: str, update_ref: str | None = None) -> str | None:
    alert, plan_key, plan_channel, settings = job.alert, job.plan_key, job.plan_channel, job.settings
    if destination == LEADS:
        return _direct_messages(outlets.slack, alert, plan_key, job.leads)
    if destination in (CHANNEL_HERE, PLAN_CHANNEL) and not plan_channel:
        raise Unconfigured("the plan has no channel: set `channel:` in the plan file")
    channel = slack_channel(settings, plan_channel, destination)
    if channel:
        metadata = {
            "event_type": DELIVERY_EVENT,
            "event_payload": {"delivery_id": job.delivery_id, "alert_id": alert.id},
        }
        return _slack(outlets.slack, channel, alert, plan_key, update_ref, metadata, here=destination == CHANNEL_HERE)
    target = settings.destinations.get(destination)
    if target is None:
        raise Unconfigured(f"no destination {destination!r} in the plan's destinations")
    if update_ref is not None:
        return update_ref  # a repeat is shown by updating Slack messages; email and SMS are not sent again
    if target.email:
        _email(outlets.smtp_url, target.email, alert, plan_key)
    else:
        _sms(outlets.sms_url, target.sms, alert, plan_key)
    return None


def _slack(
    client: WebClient,
    channel: str,
    alert: Alert,
    plan_key: str,
    update_ref: str | None,
    metadata: dict,
    here: bool = False,
) -> str:
    text = escape(f"[{alert.level}] {plan_key}: {alert.text}")
    blocks = alert_blocks(alert, plan_key, here=here)
    try:
        if update_ref:
            posted_channel, ts = update_ref.split("|", 1)
            client.chat_update(channel=posted_channel, ts=ts, text=text, blocks=blocks)
            return update_ref
        response = client.chat_postMessage(channel=channel, text=text, blocks=blocks, metadata=metadata)
        return f"{response['channel']}|{response['ts']}"
    except SlackApiError as exc:
        status = exc.response.status_code
        if status == 429:
            raise RetryLater("Slack rate limit", float(exc.response.headers.get("Retry-After", 1))) from None
        raise RetryLater(f"Slack answered {status}: {exc.response.get('error')}") from None


def _direct_messages(client: WebClient, alert: Alert, plan_key: str, leads: list[str]) -> str | None:
    if not leads:
        raise Unconfigured("the plan names no leads (roles.leads) to message")
    for lead in leads:
        channel = client.conversations_open(users=lead)["channel"]["id"]
        client.chat_postMessage(
            channel=channel,
            text=escape(f"[{alert.level}] {plan_key}: {alert.text}"),
            blocks=alert_blocks(alert, plan_key),
        )
    return None


def _email(smtp_url: str | None, addresses: list[str], alert: Alert, plan_key: str) -> None:
    if not smtp_url:
        raise Unconfigured("email is not configured: set SMTP_URL (smtp://user:pass@host:port)")
    url = urlparse(smtp_url)
    sender = unquote(url.username) if url.username and "@" in unquote(url.username) else "orchestrate@localhost"
    message = EmailMessage()
    message["Subject"] = f"[{alert.level}] {plan_key}: {alert.event_name}"
    message["From"], message["To"] = sender, ", ".join(addresses)
    message.set_content(
        f"{alert.text}\n\nAlert #{alert.id} of {plan_key}, raised {alert.created_at:%Y-%m-%d %H:%M} UTC."
    )
    connect = smtplib.SMTP_SSL if url.scheme == "smtps" else smtplib.SMTP
    try:
        with connect(url.hostname or "", url.port or (465 if url.scheme == "smtps" else 25), timeout=10) as smtp:
            if url.username:
                smtp.login(unquote(url.username), unquote(url.password or ""))
            smtp.send_message(message)
    except (smtplib.SMTPException, OSError) as exc:
        raise RetryLater(f"SMTP: {type(exc).__name__}") from None


def _sms(sms_url: str | None, numbers: list[str], alert: Alert, plan_key: str) -> None:
    if not sms_url:
        raise Unconfigured("SMS is not configured: set SMS_WEBHOOK_URL")
    text = f"[{alert.level}] {plan_key}: {alert.text}"[:480]
    for number in numbers:
        request = urllib.request.Request(
            sms_url,
            data=json.dumps({"to": number, "text": text}).encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                response.read()
        except urllib.error.HTTPError as exc:
            raise RetryLater(f"SMS gateway answered {exc.code}") from None
        except OSError as exc:
            raise RetryLater(f"SMS gateway: {type(exc).__name__}") from None


# --- escalation -----------------------------------------------------------------------


def escalate(engine: Engine, outlets: Outlets, now: datetime) -> int:
    """Re-send unacknowledged critical alerts to the leads, every escalate-after, up to the limit.

    Never sleeping through a 429: a round that fails (a 429, a 5xx, no answer) is handed back, and the
    next tick sends it again (a lead messaged before the failure may get it twice: direct messages are
    at least once); after a 429 the rest wait for the next tick too."""
    sent, refused = 0, False
    for due in outbox.escalations(engine, now):
        if refused:
            outbox.unclaim_escalation(engine, due)
            continue
        try:
            _direct_messages(outlets.slack, due.alert, due.plan_key, due.leads)
            sent += 1
        except Exception as exc:  # noqa: BLE001 - the next round tries again
            log.warning("escalating alert #%s failed: %s", due.alert.id, exc)
            outbox.unclaim_escalation(engine, due)
            refused = isinstance(exc, SlackApiError) and exc.response.status_code == 429
    return sent
