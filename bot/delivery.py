"""Alert delivery: every (alert, destination) row sent at least once, retried until it goes.

A worker claims a due row by moving its ``next_attempt_at`` a lease ahead in
one conditional UPDATE: whichever process's update matches owns the row, so
any number of workers can run. A process killed mid-send leaves the row to be
claimed again when the lease runs out; a row marked sent is never sent again.
Failures (Slack 429 with its Retry-After, 5xx, timeouts, SMTP or webhook
errors) are retried with exponential backoff.
"""

import http.client
import json
import logging
import os
import re
import smtplib
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.message import EmailMessage
from urllib.parse import unquote, urlparse

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from sqlalchemy import Engine, update
from sqlmodel import col, select

from bot.blocks import escape
from bot.metrics import ALERTS_DELIVERED
from models.db.store import session_scope
from models.db.tables import Alert, AlertDelivery, Plan
from models.plan.settings import settings_of
from models.state.alerts import CHANNEL_HERE, LEADS, PLAN_CHANNEL, escalations_due, slack_channel

log = logging.getLogger(__name__)
# How long a claimed row is left to its worker before another may take it (a worker that died).
LEASE = timedelta(seconds=float(os.environ.get("ORCHESTRATE_DELIVERY_LEASE_SECONDS", "60")))
MAX_ATTEMPTS = 12
BATCH = 50
LEVEL_EMOJI = {"info": ":information_source:", "warning": ":warning:", "critical": ":rotating_light:"}


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
        delivery_id = _claim_next(engine, clock())
        if delivery_id is None:
            break
        sent += _deliver_one(engine, outlets, delivery_id, clock())
    return sent


def _claim_next(engine: Engine, now: datetime) -> int | None:
    """The oldest due row, claimed for one lease; None when nothing is due (or others took it all)."""
    with session_scope(engine) as session:
        for delivery_id in session.exec(
            select(AlertDelivery.id)
            .where(col(AlertDelivery.status).in_(("pending", "update")), AlertDelivery.next_attempt_at <= now)
            .order_by(col(AlertDelivery.next_attempt_at), col(AlertDelivery.id))
            .limit(5)
        ).all():
            result = session.exec(
                update(AlertDelivery)
                .where(
                    col(AlertDelivery.id) == delivery_id,
                    col(AlertDelivery.status).in_(("pending", "update")),
                    col(AlertDelivery.next_attempt_at) <= now,
                )
                .values(next_attempt_at=now + LEASE, attempts=AlertDelivery.attempts + 1)
            )
            if result.rowcount == 1:
                return delivery_id
    return None


def _deliver_one(engine: Engine, outlets: Outlets, delivery_id: int, now: datetime) -> int:
    with session_scope(engine) as session:
        delivery = session.get_one(AlertDelivery, delivery_id)
        alert = session.get_one(Alert, delivery.alert_id)
        plan = session.get_one(Plan, alert.plan_id)
        job = (delivery.destination, delivery.status, delivery.external_ref, delivery.attempts)
        job_error = delivery.last_error
        snapshot = (Alert(**alert.model_dump()), plan.key, plan.channel, settings_of(plan))
    destination, status, ref, attempts = job
    try:
        if attempts > 1 and status == "pending" and (job_error is None or job_error.startswith(IN_DOUBT)):
            # Claimed again with no failure recorded (the process that held it may have died after
            # posting), or after a connection lost before Slack answered: look before posting twice.
            found = already_posted(outlets.client, snapshot, destination)
            if found:
                return _finish(engine, delivery_id, "sent", ref=found, now=now)
        new_ref = send(outlets, snapshot, destination, update_ref=ref if status == "update" else None)
    except Unconfigured as exc:
        return _finish(engine, delivery_id, "unconfigured", error=str(exc))
    except RetryLater as exc:
        return _retry(engine, delivery_id, attempts, now, str(exc), exc.after)
    except Exception as exc:  # noqa: BLE001 - any other failure (a bug, a library's): retried, and logged
        log.warning("alert delivery %s to %s failed: %s", delivery_id, destination, exc)
        doubt = IN_DOUBT if isinstance(exc, CONNECTION_LOST) else ""
        return _retry(engine, delivery_id, attempts, now, f"{doubt}{type(exc).__name__}: {exc}", None)
    ALERTS_DELIVERED.labels(destination).inc()
    return _finish(engine, delivery_id, "sent", ref=new_ref or ref, now=now)


def _finish(engine, delivery_id, status, *, error=None, ref=None, now=None) -> int:
    with session_scope(engine) as session:
        delivery = session.get_one(AlertDelivery, delivery_id)
        delivery.status, delivery.last_error = status, error
        if status == "sent":
            delivery.sent_at, delivery.external_ref = delivery.sent_at or now, ref
        session.add(delivery)
    return int(status == "sent")


def _retry(engine, delivery_id, attempts, now, error, after) -> int:
    backoff = after if after is not None else min(2**attempts, 300)
    with session_scope(engine) as session:
        delivery = session.get_one(AlertDelivery, delivery_id)
        delivery.last_error = error[:500]
        if attempts >= MAX_ATTEMPTS:
            delivery.status = "failed"
        delivery.next_attempt_at = now + timedelta(seconds=backoff)
        session.add(delivery)
    return 0


# --- the destinations -------------------------------------------------------------


def send(outlets: Outlets, snapshot, destination: str, update_ref: str | None = None) -> str | None:
    alert, plan_key, plan_channel, settings = snapshot
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


def already_posted(client: WebClient, snapshot, destination: str) -> str | None:
    """The ref of this alert's message if it is already in its Slack channel's recent history."""
    alert, _, plan_channel, settings = snapshot
    channel = slack_channel(settings, plan_channel, destination)
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


MOVE_KEY = re.compile(r"(M\d+) · ")  # how models.balance starts a move's announcement


def alert_blocks(alert: Alert, plan_key: str, *, here: bool = False) -> list[dict]:
    count = f" ×{alert.group_count}" if alert.group_count > 1 else ""
    head = (
        "<!here> " if here else ""
    ) + f"{LEVEL_EMOJI.get(alert.level, '')} *{alert.level.upper()}*{count} · {plan_key}"
    blocks: list[dict] = [
        {"type": "section", "text": {"type": "mrkdwn", "text": f"{head}\n{escape(alert.text)}"}},
        {"type": "context", "elements": [{"type": "mrkdwn", "text": f"alert #{alert.id} · {alert.status}"}]},
    ]
    if alert.level == "critical" and alert.status == "open":
        blocks.append(
            {
                "type": "actions",
                "elements": [
                    {
                        "type": "button",
                        "text": {"type": "plain_text", "text": "Acknowledge"},
                        "action_id": "alert_ack",
                        "value": str(alert.id),
                        "style": "primary",
                    },
                    {
                        "type": "button",
                        "text": {"type": "plain_text", "text": "Resolve"},
                        "action_id": "alert_resolve",
                        "value": str(alert.id),
                    },
                ],
            }
        )
    move = MOVE_KEY.match(alert.text) if alert.event_name == "load-balancing" else None
    if move:  # a lead undoes a move, or applies a proposal, from the announcement
        proposal = "Proposed:" in alert.text
        blocks.append(
            {
                "type": "actions",
                "elements": [
                    {
                        "type": "button",
                        "text": {"type": "plain_text", "text": "Apply" if proposal else "Undo"},
                        "action_id": "move_apply" if proposal else "move_undo",
                        "value": f"{plan_key}|{move.group(1)}",
                    },
                ],
            }
        )
    return blocks


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
    with session_scope(engine) as session:
        rounds = []
        for plan in session.exec(select(Plan).where(Plan.status != "draft")):
            settings = settings_of(plan)
            after, limit = timedelta(seconds=settings.escalate_after_s), settings.escalate_limit
            for alert in escalations_due(session, plan, now, after, limit):
                claimed = session.exec(
                    update(Alert)
                    .where(
                        col(Alert.id) == alert.id,
                        col(Alert.status) == "open",
                        col(Alert.escalations) == alert.escalations,
                    )
                    .values(escalations=Alert.escalations + 1)
                ).rowcount
                if claimed:
                    reminder = Alert(**{**alert.model_dump(), "text": f"still unacknowledged: {alert.text}"})
                    rounds.append((reminder, plan.key, settings.leads))
    for alert, plan_key, leads in rounds:
        try:
            _direct_messages(outlets.client, alert, plan_key, leads)
            sent += 1
        except Exception as exc:  # noqa: BLE001 - one lead's failure must not stop the round; the next tries again
            log.warning("escalating alert #%s failed: %s", alert.id, exc)
    return sent
