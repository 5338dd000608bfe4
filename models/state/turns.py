"""Turns at a Slack method that Slack rations for the whole app, shared by every replica.

Slack counts an app's ``conversations.history`` calls across all its processes (one a minute for an
app outside the Marketplace). Replicas that each kept their own pace would spend each other's minute:
one is answered, the others are refused, and all come back at the same moment to collide again. So a
caller takes the turn here first, in one conditional UPDATE (whichever replica's update matches has
the turn), and a replica that does not get it waits for the turn to open instead of calling.
"""

from datetime import datetime, timedelta

from sqlalchemy import Engine, and_, insert, or_, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from models.db.store import one_writer
from models.db.tables import RationedTurn

_TURNS = RationedTurn.__table__  # type: ignore[attr-defined]
# How long a turn kept for the caller refused first stays its own once it opens; then anyone's.
RESERVED_FOR = timedelta(seconds=10)


def opens_at(engine: Engine, name: str, by: str) -> datetime | None:
    """When ``by`` may next take the turn at ``name`` (None: nobody has taken one yet). A read: no lock."""
    with Session(engine) as session:
        row = session.exec(select(RationedTurn).where(RationedTurn.name == name)).first()
    if row is None:
        return None
    return row.opens_at if row.reserved_for in (None, by) else row.opens_at + RESERVED_FOR


def take_turn(engine: Engine, name: str, now: datetime, every: timedelta, by: str) -> datetime | None:
    """Take the turn at ``name`` for ``by`` if it is open at ``now``; the next one opens ``every`` later.

    Returns None when the turn is the caller's, else when the caller may try again. The first caller
    refused while a turn lasts has the next one kept for it (for RESERVED_FOR once it opens): whichever
    job runs most often (the delivery workers, every two seconds on each replica) cannot take every
    turn from the others (a prompt in doubt waiting for its look while people answer in its thread)."""
    may_take = and_(
        _TURNS.c.name == name,
        _TURNS.c.opens_at <= now,
        or_(
            _TURNS.c.reserved_for.is_(None),
            _TURNS.c.reserved_for == by,
            _TURNS.c.opens_at <= now - RESERVED_FOR,
        ),
    )
    with one_writer(engine), engine.begin() as connection:
        taken = connection.execute(
            update(_TURNS).where(may_take).values(opens_at=now + every, reserved_for=None)
        ).rowcount
        if taken == 1:
            return None
        connection.execute(
            update(_TURNS).where(_TURNS.c.name == name, _TURNS.c.reserved_for.is_(None)).values(reserved_for=by)
        )
        row = connection.execute(select(_TURNS.c.opens_at, _TURNS.c.reserved_for).where(_TURNS.c.name == name)).first()
    if row is not None:
        opens: datetime = row.opens_at
        return opens if row.reserved_for == by else opens + RESERVED_FOR
    try:  # the first turn ever taken at it
        with one_writer(engine), engine.begin() as connection:
            connection.execute(insert(_TURNS), {"name": name, "opens_at": now + every, "reserved_for": None})
    except IntegrityError:  # another replica took that first turn at the same moment
        return (opens_at(engine, name, by) or now) + every
    return None


def reopen_turn(engine: Engine, name: str, at: datetime) -> None:
    """The next turn at ``name`` opens ``at``, as Slack said when it refused the call (a 429's Retry-After):
    Slack's count is the one that matters, sooner or later than this store's."""
    with one_writer(engine), engine.begin() as connection:
        connection.execute(update(_TURNS).where(_TURNS.c.name == name).values(opens_at=at))
