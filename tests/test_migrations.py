"""Schema migrations: from empty, and from every revision, to head on SQLite and PostgreSQL, matching the models."""

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlmodel import SQLModel

from models.db.store import (
    MIGRATIONS,
    alembic_config,
    current_revision,
    ensure_schema,
    head_revision,
    make_engine,
    upgrade,
)
from tests import pg

# Every revision, oldest first: a store may have been left at any of them by an older release.
REVISIONS = [script.revision for script in reversed(list(ScriptDirectory(str(MIGRATIONS)).walk_revisions()))]


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_store(request, tmp_path):
    """A store with no table at all (not even Alembic's)."""
    if request.param == "sqlite":
        engine = make_engine(f"sqlite:///{tmp_path / 'store.db'}")
        yield engine
        engine.dispose()
        return
    with pg.empty_database() as (_, engine):
        yield engine


def differences_from_the_models(engine) -> list:
    with engine.connect() as connection:
        return compare_metadata(MigrationContext.configure(connection), SQLModel.metadata)


def upgrade_to(engine, revision: str) -> None:
    config = alembic_config(engine)
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, revision)


def test_the_revisions_form_one_line_ending_at_head():
    assert REVISIONS and REVISIONS[-1] == head_revision()
    assert len(ScriptDirectory(str(MIGRATIONS)).get_heads()) == 1


def test_an_empty_store_is_brought_to_head_and_matches_the_models(empty_store):
    assert current_revision(empty_store) is None
    ensure_schema(empty_store)
    assert current_revision(empty_store) == head_revision()
    assert differences_from_the_models(empty_store) == []


@pytest.mark.parametrize("revision", REVISIONS)
def test_a_store_at_any_revision_is_brought_to_head_and_matches_the_models(empty_store, revision):
    upgrade_to(empty_store, revision)
    assert current_revision(empty_store) == revision
    assert upgrade(empty_store) == (revision, head_revision())
    assert current_revision(empty_store) == head_revision()
    assert differences_from_the_models(empty_store) == []


def test_upgrading_twice_is_harmless(empty_store):
    assert upgrade(empty_store) == (None, head_revision())
    assert upgrade(empty_store) == (head_revision(), head_revision())


def test_a_store_url_with_escaped_characters_reaches_the_migrations_intact():
    # A password with "@" or "/" is written %-escaped in DATABASE_URL (as is a socket directory in
    # ?host=); Alembic's config file syntax reads "%" as interpolation and refused the whole URL.
    url = "postgresql+psycopg://orchestrate:p%40ss%2Fword@db.internal:5432/orchestrate?host=%2Frun%2Fpg"
    config = alembic_config(make_engine(url))
    assert config.get_main_option("sqlalchemy.url") == url
