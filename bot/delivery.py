"""Alert delivery: every (alert, destination) row of the outbox sent at least once, retried until it goes.

The outbox and its claims are ``models/state/outbox.py``; this module sends: Slack
messages, emails over SMTP, SMS through the gateway. Failures (Slack 429 with its
Retry-After, 5xx, timeouts, SMTP or webhook errors) are retried with exponential backoff.
"""

import http.client
import json
import logging
import smtplib
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from urllib.parse import unquote, urlparse

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from sqlalchemy import Engine

from bot.blocks import alert_blocks, escape
from bot.metrics import ALERTS_DELIVERED
from models.db.tables import Alert
from models.state import outbox
from models.state.alerts import CHANNEL_HERE, LEADS, PLAN_CHANNEL, slack_channel
from models.state.outbox import Job

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


# A request whose answer never came: it may have been done. The retry looks before sending again.
CONNECTION_LOST = (urllib.error.URLError, ConnectionError, TimeoutError, http.client.HTTPException)
IN_DOUBT = "in doubt: "


def deliver_due(engine: Engine, outlets: Outlets, clock: Callable[[], datetime]) -> int:
    """Send what is due, one row at a time, at most BATCH rows; returns how many were sent.

    The clock is read for each row, so a lease is always counted from its own claim.
    """
    sent = 0
    for _ in range(BATCH):
        job = outbox.claim_next(engine, clock())
        if job is None:
            break
        sent += _deliver_one(engine, outlets, job, clock())
    return sent


def _deliver_one(engine: Engine, outlets: Outlets, job: Job, now: datetime) -> int:
    try:
        if (
            job.attempts > 1
            and job.status == "pending"
            and (job.last_error is None or job.last_error.startswith(IN_DOUBT))
        ):
            # Claimed again with no failure recorded (the process that held it may have died after
            # posting), or after a connection lost before Slack answered: look before posting twice.
            found = already_posted(outlets.client, job, job.destination)
            if found:
                return outbox.finish(engine, job.delivery_id, "sent", ref=found, now=now)
        update_ref = job.external_ref if job.status == "update" else None
        new_ref = send(outlets, job, job.destination, update_ref=update_ref)
    except Unconfigured as exc:
        return outbox.finish(engine, job.delivery_id, "unconfigured", error=str(exc))
    except RetryLater as exc:
        return outbox.retry(engine, job.delivery_id, job.attempts, now, str(exc), exc.after)
    except Exception as exc:  # noqa: BLE001 - any other failure: retried, and logged for the operator
        log.warning("alert delivery %s to %s failed: %s", job.delivery_id, job.destination, exc)
        doubt = IN_DOUBT if isinstance(exc, CONNECTION_LOST) else ""
        return outbox.retry(engine, job.delivery_id, job.attempts, now, f"{doubt}{type(exc).__name__}: {exc}", None)
    ALERTS_DELIVERED.labels(job.destination).inc()
    return outbox.finish(engine, job.delivery_id, "sent", ref=new_ref or job.external_ref, now=now)


# --- the destinations -------------------------------------------------------------


def send(outlets: Outlets, job: Job, destination: str, update_ref: str | None = None) -> str | None:
    alert, plan_key, plan_channel, settings = job.alert, job.plan_key, job.plan_channel, job.settings
    if destination == LEADS:
        return _direct_messages(outlets.client, alert, plan_key, settings.leads)
    if destination in (CHANNEL_HERE, PLAN_CHANNEL) and not plan_channel:
        raise Unconfigured("the plan has no channel: set `channel:` in the plan file")
    channel = slack_channel(settings, plan_channel, destination)
    if channel:
        return _slack(outlets.client, channel, alert, plan_key, update_ref, here=destination == CHANNEL_HERE)
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


def already_posted(client: WebClient, job: Job, destination: str) -> str | None:
    """The ref of this alert's message if it is already in its Slack channel's recent history."""
    alert = job.alert
    channel = slack_channel(job.settings, job.plan_channel, destination)
    if not channel:
        return None  # email, SMS and direct messages cannot be looked up: at least once
    try:
        messages = client.conversations_history(channel=channel, limit=100)["messages"]
    except SlackApiError:
        return None
    marker = f"alert #{alert.id} ·"
    for message in messages:
        if marker in json.dumps(message.get("blocks", []), ensure_ascii=False):
            return f"{channel}|{message['ts']}"
    return None


def _slack(
    client: WebClient, channel: str, alert: Alert, plan_key: str, update_ref: str | None, here: bool = False
) -> str:
    text = escape(f"[{alert.level}] {plan_key}: {alert.text}")
    blocks = alert_blocks(alert, plan_key, here=here)
    try:
        if update_ref:
            posted_channel, ts = update_ref.split("|", 1)
            client.chat_update(channel=posted_channel, ts=ts, text=text, blocks=blocks)
            return update_ref
        response = client.chat_postMessage(channel=channel, text=text, blocks=blocks)
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
    """Re-send unacknowledged critical alerts to the leads, every escalate-after, up to the limit."""
    sent = 0
    for due in outbox.escalations(engine, now):
        try:
            _direct_messages(outlets.client, due.alert, due.plan_key, due.leads)
            sent += 1
        except Exception as exc:  # noqa: BLE001 - the next round tries again
            log.warning("escalating alert #%s failed: %s", due.alert.id, exc)
    return sent
