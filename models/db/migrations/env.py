"""Alembic environment: runs on the connection the caller hands over."""

from alembic import context
from sqlalchemy import create_engine
from sqlmodel import SQLModel

import models.db.tables  # noqa: F401  (the tables the migrations describe)

target_metadata = SQLModel.metadata


def run_on(connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=True,  # SQLite alters tables by copying them
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


connection = context.config.attributes.get("connection")
if connection is not None:
    run_on(connection)
else:
    engine = create_engine(context.config.get_main_option("sqlalchemy.url"))
    with engine.begin() as new_connection:
        run_on(new_connection)
