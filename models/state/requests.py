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
from datetime import datetime, timedelta

from sqlalchemy import delete, or_
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col

from models.db.tables import ProcessedEvent

SIGNED_PREFIX = "signed:"
SIGNED_REQUEST_KEPT = timedelta(minutes=10)  # Slack's window is five minutes either side of the timestamp
EVENT_KEPT = timedelta(days=1)


def signed_request_id(timestamp: str, signature: str) -> str:
    """The key of one signed request: the same signature at the same timestamp is the same request."""
    digest = hashlib.sha256(f"{timestamp}\n{signature}".encode()).hexdigest()
    return SIGNED_PREFIX + digest[:64]


def first_time(session: Session, request_id: str, *, now: datetime) -> bool:
    """Record the request in this transaction; False when it is recorded already (by any process)."""
    try:
        with session.begin_nested():
            session.add(ProcessedEvent(event_id=request_id[:100], at=now))
    except IntegrityError:
        return False
    return True


def forget_old(session: Session, now: datetime) -> int:
    """Drop the records that can no longer match a request Slack would send (or retry)."""
    signed = col(ProcessedEvent.event_id).startswith(SIGNED_PREFIX)
    stale = or_(
        col(ProcessedEvent.at) < now - EVENT_KEPT,
        signed & (col(ProcessedEvent.at) < now - SIGNED_REQUEST_KEPT),
    )
    return session.exec(delete(ProcessedEvent).where(stale)).rowcount
