"""Engines, sessions and schema migrations.

The schema is owned by Alembic (``models/migrations``): every process brings
an empty or older store up to date by itself before it uses it, and
``orchestrate db upgrade`` does the same by hand.
"""

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, event, make_url, text
from sqlalchemy.engine.interfaces import DBAPIConnection
from sqlalchemy.pool import ConnectionPoolEntry, StaticPool
from sqlmodel import Session

import models.db.tables  # noqa: F401  (registers the tables on SQLModel.metadata)

MIGRATIONS = Path(__file__).with_name("migrations")
DEFAULT_URL = "sqlite:///orchestrate.db"


def make_engine(url: str = DEFAULT_URL) -> Engine:
    if url.startswith("sqlite"):
        in_memory = url in ("sqlite://", "sqlite:///:memory:")
        if not in_memory:
            _create_private(make_url(url).database)
        engine = create_engine(
            url,
            connect_args={"check_same_thread": False, "timeout": 30},
            # One shared connection keeps an in-memory database alive.
            poolclass=StaticPool if in_memory else None,
        )
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return create_engine(url, pool_size=5, max_overflow=5, pool_pre_ping=True, pool_timeout=10)


_writers: dict[int, threading.RLock] = {}  # per SQLite engine; re-entrant: a refusal audits inside the turn
_writers_lock = threading.Lock()


@contextmanager
def one_writer(engine: Engine) -> Iterator[None]:
    """Hold this process's turn to write to ``engine`` for the block (a transaction that writes).

    SQLite takes one writer at a time, and a writer that finds it taken waits in SQLite's
    busy handler, which sleeps up to 100 ms between tries however soon the lock frees: at
    16 concurrent senders pause and resume had p99 over 1 s (issue 21). Here the process's
    own writers queue on a lock and go as soon as it is free. PostgreSQL has row locks
    (``models.state.locks``) and needs no turn.
    """
    if engine.dialect.name != "sqlite":
        yield
        return
    with _writers_lock:
        lock = _writers.setdefault(id(engine), threading.RLock())
    with lock:
        yield


def _create_private(path: str | None) -> None:
    """A new SQLite file is created readable by its owner only (0600): it holds the audit log and the roles.
    SQLite gives its -wal and -shm files the same mode. An existing file keeps the mode it was given."""
    if not path or path.startswith("file:") or os.path.exists(path):
        return
    try:
        os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))
    except OSError:
        return  # SQLite says why it cannot open it, in its own words, when it first connects


def _sqlite_pragmas(dbapi_connection: DBAPIConnection, _record: ConnectionPoolEntry) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")  # readers do not wait for the writer
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def alembic_config(engine: Engine) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    # Alembic's options are ConfigParser values, where "%" starts an interpolation: a %-escaped
    # password or socket path in the URL must reach it as "%%".
    config.set_main_option("sqlalchemy.url", engine.url.render_as_string(hide_password=False).replace("%", "%%"))
    return config


def head_revision() -> str:
    head = ScriptDirectory(str(MIGRATIONS)).get_current_head()
    if head is None:  # only a broken install ships without its migrations
        raise RuntimeError(f"no schema migrations found in {MIGRATIONS}")
    return head


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


MIGRATION_LOCK = 0x6F72636865  # any constant: the PostgreSQL advisory lock replicas migrate under


def upgrade(engine: Engine) -> tuple[str | None, str]:
    """Apply every pending migration; returns (revision before, revision after).

    On PostgreSQL, replicas starting together on one store take turns: the first
    migrates under an advisory lock, the others then find the store up to date.
    """
    config = alembic_config(engine)
    with engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK})
        before = MigrationContext.configure(connection).get_current_revision()
        config.attributes["connection"] = connection
        command.upgrade(config, "head")
    return before, head_revision()


def ensure_schema(engine: Engine) -> None:
    """Bring the store up to date if it is behind (one cheap query when it is not)."""
    if current_revision(engine) != head_revision():
        upgrade(engine)


@contextmanager
def session_scope(engine: Engine) -> Iterator[Session]:
    """A session whose work is committed on success and rolled back on error."""
    with Session(engine, expire_on_commit=False) as session:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise


def ping(engine: Engine) -> None:
    """One round trip to the store; raises SQLAlchemyError when it does not answer (the health check)."""
    with engine.connect() as connection:
        connection.execute(text("SELECT 1"))
