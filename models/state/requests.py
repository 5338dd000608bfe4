"""Requests already acted on, under a unique key, so that the same request twice acts once.

Two kinds share the ``processed_events`` table:

- Slack's event ids (``Ev…``): Slack retries an event it thinks was lost, within minutes;
  kept a day.
- signed requests (``signed:`` + a hash of the signature and its timestamp): a request
  captured and sent again, to this replica or another on the same store. Slack's signature
  check accepts a timestamp up to five minutes either side of now, so a record older than
  ten minutes can never match an accepted request again.

The record is written in the transaction of the command it lets through: a command that is
refused, or fails, leaves none, and the same request may be tried again.
"""

import hashlib
import logging
import os
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine, delete, insert, or_, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlmodel import Session, col, select

from models.db.store import one_writer
from models.db.tables import AcceptedRequest, IdempotentRequest, ProcessedEvent

log = logging.getLogger(__name__)

SIGNED_PREFIX = "signed:"
SIGNED_REQUEST_KEPT = timedelta(minutes=10)  # Slack's window is five minutes either side of the timestamp
EVENT_KEPT = timedelta(days=1)


def signed_request_id(timestamp: str, signature: str) -> str:
    """The key of one signed request: the same signature at the same timestamp is the same request."""
    digest = hashlib.sha256(f"{timestamp}\n{signature}".encode()).hexdigest()
    return SIGNED_PREFIX + digest[:64]


def first_time(session: Session, request_id: str, *, now: datetime) -> bool:
    """Record the request in this transaction; False when it is recorded already (by any process).

    One INSERT that does nothing on a conflict, not a savepoint: on SQLite (pysqlite) a savepoint opened
    before any write starts a transaction of its own, and releasing it committed the record, so a command
    refused after it (a reply in a thread not yet known to be a prompt's) was taken as handled."""
    insert = sqlite_insert if session.get_bind().dialect.name == "sqlite" else postgresql_insert
    statement = (
        insert(ProcessedEvent)
        .values(event_id=request_id[:100], at=now)
        .on_conflict_do_nothing()
        .returning(col(ProcessedEvent.event_id))
    )
    return session.exec(statement).first() is not None  # psycopg gives no rowcount for it


def forget_old(session: Session, now: datetime) -> int:
    """Drop the records that can no longer match a request Slack would send (or retry)."""
    signed = col(ProcessedEvent.event_id).startswith(SIGNED_PREFIX)
    stale = or_(
        col(ProcessedEvent.at) < now - EVENT_KEPT,
        signed & (col(ProcessedEvent.at) < now - SIGNED_REQUEST_KEPT),
    )
    forgotten = session.exec(delete(ProcessedEvent).where(stale)).rowcount + forget_accepted(session, now)
    return (
        forgotten
        + session.exec(delete(IdempotentRequest).where(col(IdempotentRequest.at) < now - IDEMPOTENCY_KEPT)).rowcount
    )


# --- API writes sent with an Idempotency-Key ------------------------------------------------
#
# The key (scoped to the credential that sent it) is claimed in the transaction of the change, before
# the command runs, and the command's answer is written into the claim before that transaction commits:
# a retry finds the answer and gets it again; a retry while the first is still running waits for it (on
# PostgreSQL the claim's INSERT waits for the other transaction; on SQLite, one writer at a time). A
# refused or failed command leaves no claim: the same key may be tried again.

IDEMPOTENCY_KEPT = timedelta(days=1)


def fingerprint(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def claim_idempotency_key(session: Session, key: str, what: str, *, now: datetime) -> IdempotentRequest | None:
    """Claim ``key`` for the request ``what`` (its command text) in this transaction: None when claimed now;
    else the earlier request's record (its fingerprint and answer)."""
    insert = sqlite_insert if session.get_bind().dialect.name == "sqlite" else postgresql_insert
    statement = (
        insert(IdempotentRequest)
        .values(key=key, fingerprint=fingerprint(what), at=now, answer={})
        .on_conflict_do_nothing()
        .returning(col(IdempotentRequest.key))
    )
    if session.exec(statement).first() is not None:
        return None
    return session.exec(select(IdempotentRequest).where(IdempotentRequest.key == key)).one()


def keep_answer(session: Session, key: str, answer: dict[str, Any]) -> None:
    session.exec(update(IdempotentRequest).where(col(IdempotentRequest.key) == key).values(answer=answer))


# --- slash commands accepted before their ack ---------------------------------------------
#
# Slack never sends a slash command twice, and shows the user nothing after its ack: a command acked by a
# replica that dies before finishing it would be lost. So it is recorded before the ack, and finished once
# answered; another replica takes over one whose lease ran out and completes it, answering through its
# response_url. Its changes are recorded under the same request id (``first_time``): applied once.

COMMAND_LEASE = timedelta(seconds=float(os.environ.get("ORCHESTRATE_COMMAND_LEASE_SECONDS", "60")))
RESPONSE_URL_LIFE = timedelta(minutes=30)  # Slack's: a command older than this can no longer be answered
ACCEPTED_KEPT = timedelta(days=1)


# Built once, its values bound at each call: building ``.values(...)`` each time cost 1.3 of its 1.9 ms.
_ACCEPT = insert(AcceptedRequest.__table__)  # type: ignore[attr-defined]


def accept(engine: Engine, request_id: str, payload: dict[str, Any], *, now: datetime, by: str) -> bool:
    """Record a command about to be acked; False when it is recorded already (a replay).

    One Core INSERT in a transaction of its own (no ORM session): it runs before the ack."""
    row = {
        "request_id": request_id[:100],
        "payload": payload,
        "accepted_at": now,
        "claimed_by": by,
        "lease_until": now + COMMAND_LEASE,
        "attempts": 1,
    }
    try:
        with one_writer(engine), engine.begin() as connection:
            connection.execute(_ACCEPT, row)
    except IntegrityError:
        return False
    return True


def finished(engine: Engine, request_id: str, *, now: datetime) -> None:
    """The command was answered: no one takes it over.

    The store may refuse this (the command met it down, and its answer said so): the finish is then kept in
    this process and recorded by the next ``take_unfinished`` here, well within the lease, so that no replica
    runs again a command whose person was told it failed."""
    try:
        _record_finished(engine, {request_id[:100]: now})
    except SQLAlchemyError as exc:
        log.warning("the store did not record a command as answered (%s); it is recorded later", type(exc).__name__)
        with _unrecorded_lock:
            _unrecorded.setdefault(id(engine), {})[request_id[:100]] = now


_unrecorded: dict[int, dict[str, datetime]] = {}  # per engine: request id -> when it was answered
_unrecorded_lock = threading.Lock()


def _record_finished(engine: Engine, answered: dict[str, datetime]) -> None:
    """Mark each request (id -> when it was answered) finished, in one transaction."""
    with one_writer(engine), Session(engine) as session:
        for request_id, at in answered.items():
            session.exec(
                update(AcceptedRequest)
                .where(col(AcceptedRequest.request_id) == request_id, col(AcceptedRequest.finished_at).is_(None))
                .values(finished_at=at)
            )
        session.commit()


def _settle_unrecorded(engine: Engine) -> None:
    """Record the finishes the store refused earlier (raises while it still does)."""
    with _unrecorded_lock:
        pending = dict(_unrecorded.get(id(engine), {}))
    if not pending:
        return
    _record_finished(engine, pending)
    with _unrecorded_lock:
        for request_id in pending:
            _unrecorded[id(engine)].pop(request_id, None)


@dataclass(frozen=True)
class Unfinished:
    request_id: str
    payload: dict[str, Any]
    accepted_at: datetime
    attempts: int  # of which this is one: above 1, an earlier attempt may have applied it


def take_unfinished(engine: Engine, *, now: datetime, by: str, limit: int = 20) -> list[Unfinished]:
    """Commands accepted, unfinished, whose lease ran out (their replica died) and whose response_url still
    works, each claimed by ``by`` for a lease (one process wins each). This process's own finishes that the
    store refused are recorded first: those commands were answered."""
    _settle_unrecorded(engine)
    taken = []
    with one_writer(engine), Session(engine) as session:
        rows = session.exec(
            select(AcceptedRequest)
            .where(
                col(AcceptedRequest.finished_at).is_(None),
                col(AcceptedRequest.lease_until) < now,
                col(AcceptedRequest.accepted_at) > now - RESPONSE_URL_LIFE,
            )
            .order_by(col(AcceptedRequest.accepted_at))
            .limit(limit)
        ).all()
        for row in rows:
            claimed = session.exec(
                update(AcceptedRequest)
                .where(
                    col(AcceptedRequest.request_id) == row.request_id,
                    col(AcceptedRequest.lease_until) == row.lease_until,
                    col(AcceptedRequest.finished_at).is_(None),
                )
                .values(claimed_by=by, lease_until=now + COMMAND_LEASE, attempts=AcceptedRequest.attempts + 1)
            ).rowcount
            if claimed == 1:
                taken.append(Unfinished(row.request_id, dict(row.payload), row.accepted_at, row.attempts + 1))
        session.commit()
    return taken


def forget_accepted(session: Session, now: datetime) -> int:
    """Drop the accepted commands past any use: finished, or too old to be answered, a day on."""
    return session.exec(delete(AcceptedRequest).where(col(AcceptedRequest.accepted_at) < now - ACCEPTED_KEPT)).rowcount
