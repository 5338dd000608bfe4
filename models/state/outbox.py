"""The outbox of alert deliveries: one row per (alert, destination), sent at least once, never twice.

A worker claims a due row by moving its ``next_attempt_at`` a lease ahead in one
conditional UPDATE: whichever process's update matches owns the row, so any number
of workers can run. A process killed mid-send leaves the row to be claimed again when
the lease runs out; a row marked sent is never sent again. The sending itself (Slack,
SMTP, the SMS gateway) is the transport's (``bot/delivery.py``); these are its units of
work on the store, each in a transaction of its own.
"""

import os
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Engine, update
from sqlmodel import col, select

from models.db.store import session_scope
from models.db.tables import Alert, AlertDelivery, Plan, id_of
from models.plan.schema import PlanSettings
from models.plan.settings import settings_of
from models.state.alerts import escalations_due

# How long a claimed row is left to its worker before another may take it (a worker that died).
LEASE = timedelta(seconds=float(os.environ.get("ORCHESTRATE_DELIVERY_LEASE_SECONDS", "60")))
MAX_ATTEMPTS = 12
DUE = ("pending", "update")  # update: an alert counted again, shown by editing what was sent


@dataclass(frozen=True)
class Job:
    """A claimed delivery, with a copy of what it needs (no session stays open while sending)."""

    delivery_id: int
    destination: str
    status: str
    external_ref: str | None
    attempts: int
    last_error: str | None
    alert: Alert
    plan_key: str
    plan_channel: str | None
    settings: PlanSettings


def claim_next(engine: Engine, now: datetime) -> Job | None:
    """The oldest due row, claimed for one lease; None when nothing is due (or others took it all)."""
    with session_scope(engine) as session:
        for delivery_id in session.exec(
            select(AlertDelivery.id)
            .where(col(AlertDelivery.status).in_(DUE), AlertDelivery.next_attempt_at <= now)
            .order_by(col(AlertDelivery.next_attempt_at), col(AlertDelivery.id))
            .limit(5)
        ).all():
            result = session.exec(
                update(AlertDelivery)
                .where(
                    col(AlertDelivery.id) == delivery_id,
                    col(AlertDelivery.status).in_(DUE),
                    col(AlertDelivery.next_attempt_at) <= now,
                )
                .values(next_attempt_at=now + LEASE, attempts=AlertDelivery.attempts + 1)
            )
            if result.rowcount == 1:
                delivery = session.get_one(AlertDelivery, delivery_id)
                session.refresh(delivery)
                alert = session.get_one(Alert, delivery.alert_id)
                plan = session.get_one(Plan, alert.plan_id)
                return Job(
                    delivery_id=id_of(delivery),
                    destination=delivery.destination,
                    status=delivery.status,
                    external_ref=delivery.external_ref,
                    attempts=delivery.attempts,
                    last_error=delivery.last_error,
                    alert=Alert(**alert.model_dump()),
                    plan_key=plan.key,
                    plan_channel=plan.channel,
                    settings=settings_of(plan),
                )
    return None


def finish(
    engine: Engine,
    delivery_id: int,
    status: str,
    *,
    error: str | None = None,
    ref: str | None = None,
    now: datetime | None = None,
) -> int:
    """Record a delivery's outcome (sent, unconfigured…); returns 1 when it was sent."""
    with session_scope(engine) as session:
        delivery = session.get_one(AlertDelivery, delivery_id)
        delivery.status, delivery.last_error = status, error
        if status == "sent":
            delivery.sent_at, delivery.external_ref = delivery.sent_at or now, ref
        session.add(delivery)
    return int(status == "sent")


def retry(engine: Engine, delivery_id: int, attempts: int, now: datetime, error: str, after: float | None) -> int:
    """Try again later: after ``after`` seconds (a Retry-After), else with exponential backoff; failed for good
    after MAX_ATTEMPTS. Returns 0 (nothing was sent)."""
    backoff = after if after is not None else min(2**attempts, 300)
    with session_scope(engine) as session:
        delivery = session.get_one(AlertDelivery, delivery_id)
        delivery.last_error = error[:500]
        if attempts >= MAX_ATTEMPTS:
            delivery.status = "failed"
        delivery.next_attempt_at = now + timedelta(seconds=backoff)
        session.add(delivery)
    return 0


@dataclass(frozen=True)
class Escalation:
    alert: Alert  # a copy, its text saying it is still unacknowledged
    plan_key: str
    leads: list[str]


def escalations(engine: Engine, now: datetime) -> list[Escalation]:
    """Critical alerts due to be re-sent to the leads (every escalate-after, up to the limit), each claimed once."""
    rounds = []
    with session_scope(engine) as session:
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
                    rounds.append(Escalation(reminder, plan.key, settings.leads))
    return rounds
