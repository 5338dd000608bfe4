"""The outbox of alert deliveries: one row per (alert, destination), sent at least once, never twice.

A worker claims a due row by moving its ``next_attempt_at`` a lease ahead in one
conditional UPDATE: whichever process's update matches owns the row, so any number
of workers can run. A process killed mid-send leaves the row to be claimed again when
the lease runs out; a row marked sent is never sent again. The sending itself (Slack,
SMTP, the SMS gateway) is the transport's (``bot/delivery.py``); these are its units of
work on the store, each in a transaction of its own.

A row is *in doubt* when an attempt may have been done without its sender knowing: the
connection was lost after the request left (``doubt_since``/``doubt_until`` hold the span its post
may be in), or the process that claimed it died (its claim cleared ``last_error``, and the lease ran out).
``claim_next`` leaves such rows alone: ``claim_in_doubt`` hands them out, with the time of the
attempt, for the transport to look before sending again (``clear_doubt``), or to wait
(``postpone``) when it cannot look.
"""

import os
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine, and_, or_, update
from sqlmodel import Session, col, select

from models.db.store import session_scope
from models.db.tables import Alert, AlertDelivery, Plan, id_of
from models.plan.schema import PlanSettings
from models.plan.settings import settings_of
from models.state.alerts import escalations_due
from models.state.lead_hours import split_for_quiet_hours
from models.state.people import Availability

# How long a claimed row is left to its worker before another may take it (a worker that died).
LEASE = timedelta(seconds=float(os.environ.get("ORCHESTRATE_DELIVERY_LEASE_SECONDS", "60")))
MAX_ATTEMPTS = 12
DUE = ("pending", "update")  # update: an alert counted again, shown by editing what was sent
LEASE_MARGIN = timedelta(seconds=10)  # clocks that disagree a little, a slow answer


def check_lease(request_timeout_s: float, lease: timedelta | None = None) -> None:
    """Raise ValueError unless a delivery's lease outlasts the longest a send can take (one request:
    the delivery path never sleeps in-line), so that no two workers ever hold one row."""
    lease = LEASE if lease is None else lease
    least = request_timeout_s + LEASE_MARGIN.total_seconds()
    if lease.total_seconds() < least:
        raise ValueError(
            f"ORCHESTRATE_DELIVERY_LEASE_SECONDS is {lease.total_seconds():g}: it must be at least {least:g} (the "
            f"Slack client's request timeout, ORCHESTRATE_SLACK_TIMEOUT_SECONDS, {request_timeout_s:g} s, plus "
            f"{LEASE_MARGIN.total_seconds():g} s), or a send still in flight could be claimed by a second worker, "
            f"or looked for before it lands. Unset it (default 60) or raise it."
        )


def _doubted() -> Any:
    """Rows in doubt: an attempt lost its answer, or its worker died (claimed, no error, lease over)."""
    return and_(
        col(AlertDelivery.status) == "pending",
        or_(
            col(AlertDelivery.doubt_since).is_not(None),
            and_(col(AlertDelivery.last_error).is_(None), col(AlertDelivery.attempts) > 0),
        ),
    )


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
    leads: list[str]  # the leads to message: those not away (docs/semantics.md, "People and time")


def claim_next(engine: Engine, now: datetime) -> Job | None:
    """The oldest due row not in doubt, claimed for one lease; None when nothing is due (or others took it all).

    The claim clears ``last_error``: a worker that dies with the row leaves it in doubt."""
    with session_scope(engine) as session:
        for delivery_id in session.exec(
            select(AlertDelivery.id)
            .where(col(AlertDelivery.status).in_(DUE), AlertDelivery.next_attempt_at <= now, ~_doubted())
            .order_by(col(AlertDelivery.next_attempt_at), col(AlertDelivery.id))
            .limit(5)
        ).all():
            result = session.exec(
                update(AlertDelivery)
                .where(
                    col(AlertDelivery.id) == delivery_id,
                    col(AlertDelivery.status).in_(DUE),
                    col(AlertDelivery.next_attempt_at) <= now,
                    ~_doubted(),
                )
                .values(next_attempt_at=now + LEASE, attempts=AlertDelivery.attempts + 1, last_error=None)
            )
            if result.rowcount == 1 and delivery_id is not None:
                if split_for_quiet_hours(session, session.get_one(AlertDelivery, delivery_id), now):
                    break  # its rows per lead are claimed afresh, below
                return _job(session, delivery_id, now)
        else:
            return None
    return claim_next(engine, now)


@dataclass(frozen=True)
class Doubt:
    """A row in doubt, claimed for one lease: its uncertain attempt was sent at ``since``, and the post
    (if Slack took it) is no later than ``until`` (the part of that span not looked at yet)."""

    job: Job
    since: datetime
    until: datetime
    due: datetime  # when it was due before this claim: its place in the queue, kept if it waits


def claim_in_doubt(engine: Engine, now: datetime, limit: int = 100) -> list[Doubt]:
    """The due rows in doubt, each claimed for one lease (their attempts not counted: a look is not a send)."""
    doubts = []
    with session_scope(engine) as session:
        rows = session.exec(
            select(AlertDelivery)
            .where(AlertDelivery.next_attempt_at <= now, _doubted())
            .order_by(col(AlertDelivery.next_attempt_at), col(AlertDelivery.id))
            .limit(limit)
        ).all()
        for row in rows:
            due = row.next_attempt_at
            if row.doubt_since is not None:
                since, until = row.doubt_since, row.doubt_until or due
            else:  # a claim whose worker died: it had the lease to send
                since, until = due - LEASE, due
            claimed = session.exec(
                update(AlertDelivery)
                .where(
                    col(AlertDelivery.id) == row.id,
                    col(AlertDelivery.next_attempt_at) == due,
                    _doubted(),
                )
                # The time of the attempt is kept in the row: a worker dying now leaves it as it was.
                .values(
                    next_attempt_at=now + LEASE,
                    doubt_since=since,
                    doubt_until=until,
                    last_error=row.last_error or "in doubt: its worker stopped",
                )
            ).rowcount
            if claimed == 1:
                doubts.append(Doubt(_job(session, id_of(row), now), since, until, due))
    return doubts


def narrow_doubt(engine: Engine, delivery_id: int, until: datetime, next_look: datetime) -> None:
    """A look saw the messages after ``until`` and the post was not among them: only the span up to
    ``until`` is left to look at, at ``next_look``."""
    with session_scope(engine) as session:
        delivery = session.get_one(AlertDelivery, delivery_id)
        delivery.doubt_until, delivery.next_attempt_at = until, next_look
        session.add(delivery)


def clear_doubt(engine: Engine, delivery_id: int, note: str, now: datetime) -> None:
    """The doubt is resolved as "not sent": the row is due now, to be sent again."""
    with session_scope(engine) as session:
        delivery = session.get_one(AlertDelivery, delivery_id)
        delivery.last_error, delivery.next_attempt_at = note[:500], now
        delivery.doubt_since = delivery.doubt_until = None
        session.add(delivery)


def postpone(engine: Engine, delivery_id: int, until: datetime, *, untried: str | None = None) -> None:
    """Leave a claimed row as it was until ``until``: Slack asked to wait (a 429, a refused look).

    ``untried``: the row was claimed to be sent but was not tried (its destination refused a moment
    ago), said why; its claim is then not counted as an attempt."""
    with session_scope(engine) as session:
        delivery = session.get_one(AlertDelivery, delivery_id)
        delivery.next_attempt_at = until
        if untried is not None:
            delivery.attempts, delivery.last_error = max(delivery.attempts - 1, 0), untried[:500]
        session.add(delivery)


def _job(session: Session, delivery_id: int, now: datetime) -> Job:
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
        leads=Availability(session, plan, now).leads_to_reach(),
    )


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


def retry(
    engine: Engine,
    delivery_id: int,
    attempts: int,
    now: datetime,
    error: str,
    after: float | None,
    *,
    doubt: tuple[datetime, datetime] | None = None,
) -> int:
    """Try again later: after ``after`` seconds (a Retry-After), else with exponential backoff; failed for good
    after MAX_ATTEMPTS. ``doubt``: the attempt may have been done (its answer was lost), its post made in
    that span: it is looked for there before it is sent again. Returns 0 (nothing was sent)."""
    backoff = after if after is not None else min(2**attempts, 300)
    with session_scope(engine) as session:
        delivery = session.get_one(AlertDelivery, delivery_id)
        delivery.last_error = error[:500]
        delivery.doubt_since, delivery.doubt_until = doubt or (None, None)
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
    round: int  # the alert's escalations once this one is counted


def unclaim_escalation(engine: Engine, due: Escalation) -> None:
    """An escalation that could not be sent is handed back, for the next tick to send."""
    with session_scope(engine) as session:
        session.exec(
            update(Alert)
            .where(col(Alert.id) == due.alert.id, col(Alert.escalations) == due.round)
            .values(escalations=Alert.escalations - 1)
        )


def escalations(engine: Engine, now: datetime) -> list[Escalation]:
    """Critical alerts due to be re-sent to the leads (every escalate-after, up to the limit), each claimed once."""
    rounds = []
    with session_scope(engine) as session:
        for plan in session.exec(select(Plan).where(Plan.status != "draft")):
            settings = settings_of(plan)
            after, limit = timedelta(seconds=settings.escalate_after_s), settings.escalate_limit
            for alert in escalations_due(session, plan, now, after, limit):
                counted = alert.escalations + 1  # read before the update (which refreshes the object)
                claimed = session.exec(
                    update(Alert)
                    .where(
                        col(Alert.id) == alert.id,
                        col(Alert.status) == "open",
                        col(Alert.escalations) == counted - 1,
                    )
                    .values(escalations=Alert.escalations + 1)
                ).rowcount
                if claimed:
                    reminder = Alert(**{**alert.model_dump(), "text": f"Still unacknowledged: {alert.text}"})
                    rounds.append(
                        Escalation(reminder, plan.key, Availability(session, plan, now).leads_to_reach(), counted)
                    )
    return rounds
