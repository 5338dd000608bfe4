"""Fresh PostgreSQL databases for tests, on the local server.

    with pg.empty_database() as (name, engine):   # skips the test where there is no server
        ...                                        # an empty database, dropped afterwards

Tests that need the models' tables use ``Templates``: the tables are created once
per test session in a template database, and each test gets its own copy of it
(``CREATE DATABASE … TEMPLATE``, ~0.1 s): a database nobody else has touched,
with its ids starting at 1, at a third of the cost of creating the tables again.

Every database made here is named ``orch_test_…`` and is dropped after use, so
runs sharing the server (several checkouts, CI jobs) never see each other's.
"""

from __future__ import annotations

import os
import queue
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache

import pytest

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

# The maintenance database the test databases are created from; override for another server.
ADMIN_URL = os.environ.get("ORCHESTRATE_TEST_POSTGRES", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
START_HINT = ("start it with `pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start` "
              "(or set ORCHESTRATE_TEST_POSTGRES to another server's URL)")
PREFIX = "orch_test_"


@cache
def _admin():
    return create_engine(ADMIN_URL, isolation_level="AUTOCOMMIT", pool_pre_ping=True,
                         connect_args={"connect_timeout": 3})


@cache
def unreachable() -> str | None:
    """None when the server answers (and lets us create databases); else a skip reason saying how to fix it."""
    where = make_url(ADMIN_URL).render_as_string(hide_password=True)
    try:
        with _admin().connect() as connection:
            allowed = connection.execute(text(
                "SELECT rolcreatedb OR rolsuper FROM pg_roles WHERE rolname = current_user")).scalar()
    except Exception as exc:  # noqa: BLE001 - any failure to connect means: not here
        return f"PostgreSQL is not reachable at {where} ({type(exc).__name__}); {START_HINT}"
    if not allowed:
        return f"the user of {where} may not create databases (needs CREATEDB)"
    return None


def url(name: str) -> str:
    """The SQLAlchemy URL of a database on the test server."""
    return make_url(ADMIN_URL).set(database=name).render_as_string(hide_password=False)


def create_database(template: str | None = None) -> str:
    name = f"{PREFIX}{uuid.uuid4().hex[:16]}"
    clause = f' TEMPLATE "{template}"' if template else ""
    with _admin().connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"{clause}'))
    return name


def drop_database(name: str) -> None:
    with _admin().connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@contextmanager
def empty_database() -> Iterator[tuple[str, object]]:
    """(name, engine) of a new, empty database, dropped afterwards; skips the test without a server."""
    from models.store import make_engine

    reason = unreachable()
    if reason:
        pytest.skip(reason)
    name = create_database()
    engine = make_engine(url(name))
    try:
        yield name, engine
    finally:
        engine.dispose()
        drop_database(name)


class _Dropper:
    """Drops databases on a background thread: DROP DATABASE takes longer than the next test's CREATE."""

    def __init__(self) -> None:
        self._queue: queue.Queue[str | None] = queue.Queue()
        self._thread: threading.Thread | None = None
        self.failures: list[str] = []

    def drop_later(self, name: str) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._work, name="pg-dropper", daemon=True)
            self._thread.start()
        self._queue.put(name)

    def _work(self) -> None:
        while (name := self._queue.get()) is not None:
            try:
                drop_database(name)
            except Exception as exc:  # noqa: BLE001 - reported at the end of the session
                self.failures.append(f"{name}: {type(exc).__name__}: {exc}")

    def finish(self) -> None:
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join(timeout=120)
            self._thread = None


class Templates:
    """Per-session template databases holding the models' tables, and per-test copies of them."""

    def __init__(self) -> None:
        self._template: str | None = None
        self._lock = threading.Lock()
        self._dropper = _Dropper()

    def _template_name(self) -> str:
        with self._lock:
            if self._template is None:
                from sqlmodel import SQLModel

                from models.store import make_engine

                name = create_database()
                engine = make_engine(url(name))
                try:
                    SQLModel.metadata.create_all(engine)
                finally:
                    engine.dispose()  # CREATE DATABASE … TEMPLATE needs the template to have no connection
                self._template = name
            return self._template

    def copy(self) -> str:
        """A new database with every table of the models, empty."""
        return create_database(template=self._template_name())

    def discard(self, name: str) -> None:
        self._dropper.drop_later(name)

    def close(self) -> list[str]:
        """Drop everything made; returns what could not be dropped."""
        self._dropper.finish()
        if self._template is not None:
            try:
                drop_database(self._template)
            except Exception as exc:  # noqa: BLE001
                self._dropper.failures.append(f"{self._template}: {exc}")
            self._template = None
        return self._dropper.failures
