"""Turns at a Slack method that Slack rations for the whole app, shared by every replica.

Slack counts an app's ``conversations.history`` calls across all its processes (one a minute for an
app outside the Marketplace). Replicas that each kept their own pace would spend each other's minute:
one is answered, the others are refused, and all come back at the same moment to collide again. So a
caller takes the turn here first, in one conditional UPDATE (whichever replica's update matches has
the turn), and a replica that does not get it waits for the turn to open instead of calling.
"""

from datetime import datetime, timedelta

from sqlalchemy import Engine, insert, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from models.db.store import one_writer
from models.db.tables import RationedTurn

_TURNS = RationedTurn.__table__  # type: ignore[attr-defined]


def opens_at(engine: Engine, name: str) -> datetime | None:
    """When the next turn at ``name`` opens (None: nobody has taken one yet). A read: no lock taken."""
    with Session(engine) as session:
        return session.exec(select(RationedTurn.opens_at).where(RationedTurn.name == name)).first()


def take_turn(engine: Engine, name: str, now: datetime, every: timedelta) -> datetime | None:
    """Take the turn at ``name`` if it is open at ``now``; the next one opens ``every`` later.

    Returns None when the turn is the caller's, else when the next turn opens (the caller waits)."""
    with one_writer(engine), engine.begin() as connection:
        taken = connection.execute(
            update(_TURNS).where(_TURNS.c.name == name, _TURNS.c.opens_at <= now).values(opens_at=now + every)
        ).rowcount
        if taken == 1:
            return None
        opens: datetime | None = connection.execute(select(_TURNS.c.opens_at).where(_TURNS.c.name == name)).scalar()
    if opens is not None:
        return opens
    try:  # the first turn ever taken at it
        with one_writer(engine), engine.begin() as connection:
            connection.execute(insert(_TURNS), {"name": name, "opens_at": now + every})
    except IntegrityError:  # another replica took that first turn at the same moment
        return opens_at(engine, name) or now + every
    return None


def reopen_turn(engine: Engine, name: str, at: datetime) -> None:
    """The next turn at ``name`` opens ``at``, as Slack said when it refused the call (a 429's Retry-After):
    Slack's count is the one that matters, sooner or later than this store's."""
    with one_writer(engine), engine.begin() as connection:
        connection.execute(update(_TURNS).where(_TURNS.c.name == name).values(opens_at=at))
