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

import contextlib
import os
import queue
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from functools import cache

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

# The maintenance database the test databases are created from; override for another server.
ADMIN_URL = os.environ.get("ORCHESTRATE_TEST_POSTGRES", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
START_HINT = (
    "start it with `pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start` "
    "(or set ORCHESTRATE_TEST_POSTGRES to another server's URL)"
)
PREFIX = "orch_test_"


@cache
def _admin():
    return create_engine(
        ADMIN_URL, isolation_level="AUTOCOMMIT", pool_pre_ping=True, connect_args={"connect_timeout": 3}
    )


@cache
def unreachable() -> str | None:
    """None when the server answers (and lets us create databases); else a skip reason saying how to fix it."""
    where = make_url(ADMIN_URL).render_as_string(hide_password=True)
    try:
        with _admin().connect() as connection:
            allowed = connection.execute(
                text("SELECT rolcreatedb OR rolsuper FROM pg_roles WHERE rolname = current_user")
            ).scalar()
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
    from models.db.store import make_engine

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

                from models.db.store import make_engine

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


# --- a server of the test's own ---------------------------------------------------------------------


class Server:
    """A PostgreSQL server of one test's own, to stop and restart at will.

        with pg.Server() as server:            # skips the test where it cannot run one
            name = server.create_database()
            engine = make_engine(server.url(name))
            server.restart()                   # a real restart, as an operator's `pg_ctl restart`

    Restarting the shared server (``ADMIN_URL``) would break every other run using it at that
    moment (another checkout's suite, a CI job), so this runs a throwaway one: ``initdb`` in a
    temporary directory, listening only on a Unix socket in that directory (no TCP port to race
    other tests for), trust authentication, user ``postgres``.
    It needs the server's programs (``initdb``, ``pg_ctl``): found with ``pg_config --bindir``,
    under /usr/lib/postgresql, or at ``ORCHESTRATE_TEST_PG_BINDIR``. PostgreSQL refuses to run
    as root: as root, it runs as the ``postgres`` user (``runuser``).
    """

    def __init__(self) -> None:
        self.directory: str | None = None
        self.port: int | None = None

    # - finding what it needs

    @staticmethod
    def _bindir() -> str | None:
        import glob
        import shutil
        import subprocess

        candidates = [os.environ.get("ORCHESTRATE_TEST_PG_BINDIR", "")]
        if shutil.which("pg_config"):
            with suppress(OSError, subprocess.SubprocessError):
                candidates.append(
                    subprocess.run(["pg_config", "--bindir"], capture_output=True, text=True, timeout=10).stdout.strip()
                )
        candidates += sorted(
            glob.glob("/usr/lib/postgresql/*/bin"),
            key=lambda p: int(p.split("/")[-2]) if p.split("/")[-2].isdigit() else 0,
            reverse=True,
        )
        for candidate in candidates:
            if candidate and all(os.access(os.path.join(candidate, p), os.X_OK) for p in ("initdb", "pg_ctl")):
                return candidate
        return None

    @staticmethod
    def _runner() -> tuple[list[str], tuple[int, int] | None] | str:
        """(command prefix, (uid, gid) to own the files) to run the server's programs; or why we cannot."""
        import pwd
        import shutil

        if os.geteuid() != 0:
            return [], None
        try:
            user = pwd.getpwnam("postgres")
        except KeyError:
            return "running as root with no `postgres` user to run the server as (PostgreSQL refuses root)"
        if not shutil.which("runuser"):
            return "running as root without `runuser` to run the server as `postgres` (PostgreSQL refuses root)"
        return ["runuser", "-u", "postgres", "--"], (user.pw_uid, user.pw_gid)

    @classmethod
    def unavailable(cls) -> str | None:
        """None when a server of the test's own can run here; else a skip reason saying what is missing."""
        if cls._bindir() is None:
            return (
                "no PostgreSQL server programs (initdb, pg_ctl) found: install the server (Debian: "
                "`apt-get install postgresql`), or point ORCHESTRATE_TEST_PG_BINDIR at their directory"
            )
        runner = cls._runner()
        return runner if isinstance(runner, str) else None

    # - running it

    def _run(self, *args: str, timeout: float = 60) -> None:
        import subprocess

        prefix, _ = self._runner()
        result = subprocess.run(
            [*prefix, os.path.join(self._bindir(), args[0]), *args[1:]],
            capture_output=True,
            text=True,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
        )
        if result.returncode != 0:
            raise RuntimeError(
                f"{' '.join(args)} failed ({result.returncode}):\n{result.stdout}{result.stderr}\n{self.log()}"
            )

    @property
    def data(self) -> str:
        return os.path.join(self.directory, "data")

    def log(self) -> str:
        path = os.path.join(self.directory or "", "server.log")
        return open(path, encoding="utf-8", errors="replace").read()[-3000:] if os.path.exists(path) else ""

    def __enter__(self) -> Server:
        import tempfile

        reason = self.unavailable()
        if reason:
            pytest.skip(reason)
        _, owner = self._runner()
        self.directory = tempfile.mkdtemp(prefix="orch-pg-")
        if owner is not None:
            os.chown(self.directory, *owner)
        self.port = 5432  # names the socket file only: the directory is this server's alone
        try:
            self._run(
                "initdb",
                "-D",
                self.data,
                "-U",
                "postgres",
                "--auth=trust",
                "-E",
                "UTF8",
                "--no-sync",
                "--no-instructions",
            )
            self.start()
        except BaseException:
            self.__exit__()
            raise
        return self

    def __exit__(self, *exc) -> None:
        import shutil

        if self.directory is None:
            return
        if os.path.exists(os.path.join(self.data, "postmaster.pid")):
            with contextlib.suppress(Exception):  # best effort: the directory goes anyway
                self._run("pg_ctl", "-D", self.data, "-m", "immediate", "-w", "stop")
        shutil.rmtree(self.directory, ignore_errors=True)
        self.directory = None

    def _starting(self) -> list[str]:
        # The server writes to its log file, never to our pipes (else reading them would never end).
        options = f"-c listen_addresses='' -p {self.port} -k {self.directory}"
        return ["-D", self.data, "-l", os.path.join(self.directory, "server.log"), "-o", options, "-w", "-t", "30"]

    def start(self) -> None:
        """Start it, and return once it accepts connections."""
        self._run("pg_ctl", *self._starting(), "start")

    def stop(self, mode: str = "fast") -> None:
        """Stop it (``fast``: roll back open transactions and close every connection, as a restart does)."""
        self._run("pg_ctl", "-D", self.data, "-m", mode, "-w", "-t", "30", "stop")

    def restart(self, mode: str = "fast") -> None:
        """`pg_ctl restart`: stop (closing every connection) and start again; returns once it accepts."""
        self._run("pg_ctl", *self._starting(), "-m", mode, "restart")

    def running(self) -> bool:
        import subprocess

        prefix, _ = self._runner()
        return (
            subprocess.run(
                [*prefix, os.path.join(self._bindir(), "pg_ctl"), "-D", self.data, "status"],
                capture_output=True,
                timeout=10,
            ).returncode
            == 0
        )

    # - using it

    def url(self, database: str = "postgres", **query: str) -> str:
        return (
            make_url(f"postgresql+psycopg://postgres@/{database}")
            .update_query_dict({"host": self.directory or "", "port": str(self.port), **query})
            .render_as_string(hide_password=False)
        )

    def create_database(self) -> str:
        name = f"{PREFIX}{uuid.uuid4().hex[:16]}"
        engine = create_engine(self.url(), isolation_level="AUTOCOMMIT")
        try:
            with engine.connect() as connection:
                connection.execute(text(f'CREATE DATABASE "{name}"'))
        finally:
            engine.dispose()
        return name
