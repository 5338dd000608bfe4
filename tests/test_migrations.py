"""Schema migrations: from empty to head on SQLite and PostgreSQL, matching the models."""

import uuid

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine, text
from sqlmodel import SQLModel

from models.store import current_revision, ensure_schema, head_revision, make_engine, upgrade

POSTGRES = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def _postgres_database():
    """A fresh database on the local PostgreSQL, or a skip saying how to get one."""
    admin = create_engine(POSTGRES, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            name = f"orch_{uuid.uuid4().hex[:12]}"
            connection.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:  # noqa: BLE001 - any failure to connect means: not here
        pytest.skip(f"PostgreSQL is not reachable at 127.0.0.1:5432 ({type(exc).__name__}); start it with "
                    "`pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start`")
    return admin, name


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_store(request, tmp_path):
    if request.param == "sqlite":
        engine = make_engine(f"sqlite:///{tmp_path / 'store.db'}")
        yield engine
        engine.dispose()
        return
    admin, name = _postgres_database()
    engine = make_engine(POSTGRES.rsplit("/", 1)[0] + f"/{name}")
    yield engine
    engine.dispose()
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE "{name}" WITH (FORCE)'))
    admin.dispose()


def test_an_empty_store_is_brought_to_head_and_matches_the_models(empty_store):
    assert current_revision(empty_store) is None
    ensure_schema(empty_store)
    assert current_revision(empty_store) == head_revision()
    with empty_store.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), SQLModel.metadata)
    assert differences == []


def test_upgrading_twice_is_harmless(empty_store):
    assert upgrade(empty_store) == (None, head_revision())
    assert upgrade(empty_store) == (head_revision(), head_revision())
